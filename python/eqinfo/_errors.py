# SPDX-License-Identifier: MIT
"""eqinfo's exceptions: one class for every eqinfo::error, with its stable code.

The C++ extension calls :func:`from_code` for every ``eqinfo::error`` it
catches, so the class hierarchy lives here.
"""

import enum

__all__ = ["Error", "FileError", "ErrorCode"]


class ErrorCode(enum.IntEnum):
    """Stable error codes (``eqinfo::errc``, docs/format.md); values never change."""

    INVALID_SETTINGS = 1
    TRUNCATED_TOKENS = 2
    TOKEN_OUT_OF_RANGE = 3
    TRAILING_BITS = 4
    CORRUPT_STREAM = 5
    BAD_MAGIC = 6
    UNSUPPORTED_VERSION = 7
    CHECKSUM_MISMATCH = 8
    SETTINGS_MISMATCH = 9
    INVALID_MODEL_OUTPUT = 10
    BAD_MODEL_FILE = 11
    IO_ERROR = 12
    SELF_TEST_FAILED = 13
    INVALID_ARGUMENT = 14


class Error(ValueError):
    """An error reported by eqinfo (C++ ``eqinfo::error``).

    Attributes:
        code: an :class:`ErrorCode` (a plain ``int`` for codes newer than this module).
        name: the code's stable name, e.g. ``"stream.corrupt_stream"``.
        message: the full message, ``"[eqinfo.stream.corrupt_stream] window 3 ..."``
            (also ``str(error)``).
    """

    def __init__(self, message, code=ErrorCode.INVALID_ARGUMENT, name=None):
        super().__init__(message)
        try:
            self.code = ErrorCode(code)
        except ValueError:
            self.code = int(code)
        self.name = name if name is not None else _default_name(self.code)
        self.message = message


class FileError(Error, OSError):
    """An eqinfo error reading or writing a file (``ErrorCode.IO_ERROR``); also an OSError."""


def _default_name(code):
    try:
        from . import _eqinfo

        return _eqinfo.error_codes.get(int(code), "unknown")
    except ImportError:  # pragma: no cover - only without the extension
        return "unknown"


def from_code(code, name, message):
    """The exception instance for an eqinfo::error (called by the extension)."""
    cls = FileError if code == ErrorCode.IO_ERROR else Error
    return cls(message, code, name)
