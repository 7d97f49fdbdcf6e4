# SPDX-License-Identifier: MIT
"""Reading token shard directories (``eqinfo shard``; docs/format.md "Token shards").

Pure Python + numpy: ``import eqinfo.shards`` needs no C++ extension. The
token arrays are memory-mapped, never read whole.

Layout (include/eqinfo/shards.hpp is the reference)::

    DIR/manifest.json           settings, model, the shard list (file names,
                                sizes, CRC-32s, counts), totals
    DIR/shard-NNNNNN.npy        1-D tokens of the shard's examples, back to back:
                                <u2 for token_bits <= 16, else <u4
      or DIR/shard-NNNNNN.bin   the same, raw little-endian (token_format "raw")
    DIR/shard-NNNNNN.idx.npy    <i8 [examples, 6]: INDEX_COLUMNS
    DIR/shard-NNNNNN.docs.npy   <i8 [documents, 3]: DOCUMENTS_COLUMNS

The reader is as strict as the C++ one (``eqinfo::parse_shard_manifest`` and
``eqinfo::load_shard``, which ``eqinfo verify`` uses): every field the C++
requires must be there with its type and range, the totals must add up, the
tables must have exactly their dtype and width, the examples must be
contiguous. There are no aliases, no manifest-less directories and no other
index layouts: what ``eqinfo verify`` rejects, :class:`Shards` rejects, with
the same error code and, as far as practical, the same message (naming the
file and the problem). Fields the C++ does not read are ignored, as there.
Token stream formats 1 and 2 (:data:`STREAM_FORMATS`) are read: format 2
manifests must give equal_info_ac's ``"segment_bytes"`` in "settings"; format
1 had no segments (segment_bytes 0, and the field is ignored).

One difference, by design: a memory-mapped reader does not read every byte
when it opens a directory. ``Shards(path)`` checks the manifest, that every
file exists with the size the manifest gives, and each shard's index table
when it is first used; the CRC-32s and the token range are checked by
:meth:`Shards.check` (``check_tokens=True`` checks the token range at open).

``other_methods`` names methods outside eqinfo's three (``bytes``, ``ac``,
``equal_info_ac``) that a caller accepts on purpose, e.g. training/m2's
``gzip`` and ``sentencepiece`` shards: ``eqinfo verify`` cannot decode those
and rejects them; the Python reader does too unless they are named there.
"""

import json
import os
import zlib
from typing import NamedTuple

import numpy as np

from ._errors import Error, ErrorCode, FileError

__all__ = ["Shards", "Example", "read_manifest", "check_manifest", "PACKINGS", "DEFAULT_PACKING"]

MANIFEST = "manifest.json"
#: manifest "format" and "shard_format" (eqinfo::shard_format_version).
FORMAT = "eqinfo-shards"
SHARD_FORMAT = 1
#: The token stream formats (manifest "stream_format", EQINFO_STREAM_FORMAT) this reader
#: accepts, as ``eqinfo verify``: 1 (eqinfo 0.2, no segments) to 2 (equal_info_ac's
#: settings carry "segment_bytes").
STREAM_FORMATS = (1, 2)
#: Index columns of shard_format 1, in order (shard-NNNNNN.idx.npy).
INDEX_COLUMNS = ("stream_offset", "document", "document_offset", "byte_count", "token_offset", "token_count")
#: Document table columns (shard-NNNNNN.docs.npy).
DOCUMENTS_COLUMNS = ("document", "stream_offset", "byte_count")
# Python's one table of method and rule names (the C++ one is method_names /
# rule_names in include/eqinfo/settings.hpp; here so that this module needs no
# extension). eqinfo.METHODS and eqinfo.RULES are read from it.
#: The manifest's (canonical) method names and Tokenizer's (the CLI's) for each.
METHODS = {"bytes": "bytes", "ac": "ac", "equal_info_ac": "equal-info"}
#: Every method name Tokenizer and the CLI take: ``ac`` that requires a unigram
#: model is ``static-ac``.
USER_METHODS = ("bytes", "ac", "static-ac", "equal-info")
#: The manifest's window rule names and Tokenizer's for each.
RULES = {"delay": "delay", "greedy_exact": "greedy-exact"}
_MIN_PRECISION, _MAX_PRECISION, _MAX_TOKEN_BITS, _MAX_WINDOW_BITS = 8, 24, 24, 65536

#: How a consumer of shards makes fixed-length training sequences of the examples'
#: tokens: eqinfo.torch_data and training/m2 both take these names.
PACKINGS = {
    "split": "each example on its own, cut into consecutive sequences that never cross an example boundary "
             "(they start at an example's first token, where the code stream and the equal-info windows "
             "restart); the shorter last piece is kept where the consumer pads (training/m2) and dropped "
             "where every sequence has the same length (eqinfo.torch_data)",
    "truncate": "the first sequence of each example only",
    "concat": "a shard's examples back to back, cut into full sequences; the incomplete tail is dropped",
}
#: The default packing: sequences never mix two examples' code streams.
DEFAULT_PACKING = "split"


class Example(NamedTuple):
    """One example of a shard directory."""

    tokens: np.ndarray  #: its tokens (a read-only view of the memory-mapped shard)
    n_bytes: int  #: the number of bytes they encode (what exact decoding needs)
    shard: int  #: shard number
    index: int  #: example number within the shard
    source: dict  #: stream_offset, document, document_offset


_NAMES = {ErrorCode.CHECKSUM_MISMATCH: "file.checksum_mismatch", ErrorCode.CORRUPT_STREAM: "stream.corrupt_stream",
          ErrorCode.BAD_MAGIC: "file.bad_magic", ErrorCode.IO_ERROR: "file.io_error",
          ErrorCode.SETTINGS_MISMATCH: "settings.settings_mismatch",
          ErrorCode.TOKEN_OUT_OF_RANGE: "stream.token_out_of_range",
          ErrorCode.TRUNCATED_TOKENS: "stream.truncated_tokens",
          ErrorCode.UNSUPPORTED_VERSION: "file.unsupported_version"}


def _fail(code, message):
    name = _NAMES.get(code, "api.invalid_argument")
    if code == ErrorCode.IO_ERROR:
        raise FileError(f"[eqinfo.{name}] {message}", code, name)
    raise Error(f"[eqinfo.{name}] {message}", code, name)


def _file_crc32(path, chunk=1 << 22):
    crc = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                return crc
            crc = zlib.crc32(block, crc)


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        _fail(ErrorCode.IO_ERROR, f"{path}: cannot open for reading")


# --------------------------------------------------------------------------- manifest

class _Object:
    """The fields of a JSON object, read as include/eqinfo/shards.hpp's object_reader reads
    them (same checks, same messages)."""

    def __init__(self, value, source):
        self.v, self.source = value, source
        if not isinstance(value, dict):
            self.fail("is not a JSON object")

    def fail(self, why):
        _fail(ErrorCode.CORRUPT_STREAM, f"{self.source} {why}")

    def field(self, key, types):
        if key not in self.v:
            self.fail(f'lacks "{key}"')
        v = self.v[key]
        if not isinstance(v, types) or (types is not bool and isinstance(v, bool)):
            self.fail(f'has a "{key}" of the wrong type')
        return v

    def number(self, key):
        v = self.field(key, (int, float))
        if not isinstance(v, int) or v < 0 or v >= 1 << 64:
            _fail(ErrorCode.CORRUPT_STREAM, f"{self.source}: {key} = {v} is not a non-negative integer below 2^64")
        return v

    def small(self, key):
        v = self.number(key)
        if v > 1 << 20:
            self.fail(f'has "{key}" out of range')
        return v

    def text(self, key):
        return self.field(key, str)

    def flag(self, key):
        return self.field(key, bool)

    def crc(self, key):
        s = self.text(key)
        if not (len(s) == 10 and s.startswith("0x") and all(c in "0123456789abcdef" for c in s[2:])):
            self.fail(f'has "{key}" = "{s}", not a 0x-prefixed 8-digit hex number')
        return int(s, 16)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _parse_json(data, source):
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        _fail(ErrorCode.CORRUPT_STREAM, f"{source}: not valid JSON ({e})")


def check_manifest(manifest, source, other_methods=()):
    """Checks a parsed manifest.json as ``eqinfo::parse_shard_manifest`` does; raises
    :class:`eqinfo.Error` (``BAD_MAGIC``, ``UNSUPPORTED_VERSION`` or ``CORRUPT_STREAM``)
    naming ``source`` and the problem. ``other_methods``: method names accepted besides
    eqinfo's (module docstring); for those only token_bits is read from the settings."""
    o = _Object(manifest, source)
    if manifest.get("format") != FORMAT:
        _fail(ErrorCode.BAD_MAGIC, f'{source}: not an eqinfo shard manifest (no "format": "{FORMAT}")')
    if o.number("shard_format") != SHARD_FORMAT:
        _fail(ErrorCode.UNSUPPORTED_VERSION, f"{source}: shard format {o.number('shard_format')}; this build reads "
              f"{SHARD_FORMAT}")
    o.text("eqinfo_version")
    stream_format = o.small("stream_format")

    s = _Object(o.field("settings", dict), f'{source}: "settings"')
    method = s.text("method")
    if method not in METHODS and method not in other_methods:
        s.fail(f'has an unknown method "{method}"')
    token_bits = s.small("token_bits")
    problem = None
    if method == "bytes":
        if token_bits != 8:
            problem = f"method bytes uses 8-bit tokens; token_bits is {token_bits}"
    elif method in METHODS:
        precision = s.small("precision_bits")
        window_bits = s.small("window_bits") if method == "equal_info_ac" else None
        if method == "equal_info_ac" and s.text("rule") not in RULES:
            s.fail(f'has an unknown rule "{s.text("rule")}"')
        if method == "equal_info_ac" and stream_format >= 2:  # stream format 1 had no segments
            s.number("segment_bytes")
        if not _MIN_PRECISION <= precision <= _MAX_PRECISION:
            problem = f"precision_bits {precision} is outside [{_MIN_PRECISION}, {_MAX_PRECISION}]"
        elif not 1 <= token_bits <= _MAX_TOKEN_BITS:
            problem = f"token_bits {token_bits} is outside [1, {_MAX_TOKEN_BITS}]"
        elif window_bits is not None and window_bits % token_bits:
            problem = f"window_bits {window_bits} is not a multiple of token_bits {token_bits}"
        elif window_bits is not None and window_bits > _MAX_WINDOW_BITS:
            problem = f"window_bits {window_bits} exceeds {_MAX_WINDOW_BITS}"
        elif window_bits is not None and window_bits < precision:
            problem = (f"window_bits {window_bits} cannot hold a byte of probability 2^-{precision}, whose code "
                       f"needs {precision} bits; use window_bits >= precision_bits")
    elif not 1 <= token_bits <= _MAX_TOKEN_BITS:
        problem = f"token_bits {token_bits} is outside [1, {_MAX_TOKEN_BITS}]"
    if problem:
        _fail(ErrorCode.CORRUPT_STREAM, f"{source}: invalid settings: [eqinfo.settings.invalid_settings] {problem}")

    model = _Object(o.field("model", dict), f'{source}: "model"')
    model.text("kind")
    model.text("path")
    model.crc("fingerprint")
    if o.number("example_bytes") == 0:
        o.fail('has "example_bytes": 0')
    sep = o.text("separator_hex")
    if len(sep) % 2:
        o.fail('has an odd-length "separator_hex"')
    if any(c not in "0123456789abcdef" for c in sep):
        o.fail('has a "separator_hex" that is not lowercase hex')
    o.flag("keep_documents")
    shard_examples = o.number("shard_examples")
    if shard_examples == 0:
        o.fail('has "shard_examples": 0')
    if o.text("token_format") not in ("npy", "raw"):
        o.fail(f'has an unknown token_format "{o.text("token_format")}"')
    o.text("text_field")
    window_bytes = o.flag("window_bytes") if "window_bytes" in manifest else False
    if window_bytes and method != "equal_info_ac":
        o.fail('has "window_bytes": true, which only equal_info_ac shards have')

    inputs = o.field("inputs", list)
    next_document = input_bytes = 0
    for i, item in enumerate(inputs):
        r = _Object(item, f"{source}: input {i}")
        r.text("path")
        if r.text("type") not in ("text", "jsonl"):
            r.fail(f'has an unknown type "{r.text("type")}"')
        input_bytes += r.number("size")
        r.crc("crc32")
        if r.number("first_document") != next_document:
            r.fail(f"does not start at document {next_document}")
        next_document += r.number("documents")
    shards = o.field("shards", list)
    examples = total_bytes = tokens = 0
    for k, item in enumerate(shards):
        r = _Object(item, f"{source}: shard {k}")
        for key in ("tokens", "index", "documents"):
            r.text(f"{key}_file")
            r.number(f"{key}_file_size")
            r.crc(f"{key}_crc32")
        for key in ("examples", "bytes", "tokens", "documents"):
            r.number(key)
        r.crc("source_crc32")
        names = ["tokens_file", "index_file", "documents_file"]
        if "windows_file" in item:
            r.text("windows_file")
            r.number("windows_file_size")
            r.crc("windows_crc32")
            names.append("windows_file")
        for key in names:
            name = item[key]
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                r.fail(f'names the file "{name}", which is not a plain file name in the directory')
        if ("windows_file" in item) != window_bytes:
            o.fail(f"shard {k} {'lacks' if window_bytes else 'has'} a windows_file; the manifest's "
                   f'"window_bytes" is {"true" if window_bytes else "false"}')
        n = item["examples"]
        if n == 0 or n > shard_examples or (n < shard_examples and k + 1 < len(shards)):
            o.fail(f"shard {k} holds {n} examples; every shard but the last holds shard_examples = "
                   f"{shard_examples}")
        examples += n
        total_bytes += item["bytes"]
        tokens += item["tokens"]
    t = _Object(o.field("totals", dict), f'{source}: "totals"')
    for key, value in (("inputs", len(inputs)), ("input_bytes", input_bytes), ("documents", next_document),
                       ("shards", len(shards)), ("examples", examples), ("bytes", total_bytes),
                       ("tokens", tokens)):
        if t.number(key) != value:
            t.fail(f"says {key} = {t.number(key)}, the lists add up to {value}")
    # eqinfo verify checks this after parsing the whole manifest, so it comes last here too.
    if stream_format not in STREAM_FORMATS:
        _fail(ErrorCode.UNSUPPORTED_VERSION, f"{source}: token stream format {stream_format}; this build reads "
              f"formats {STREAM_FORMATS[0]} to {STREAM_FORMATS[-1]}")
    return manifest


def read_manifest(path, other_methods=()):
    """DIR/manifest.json (or the file ``path``), parsed and checked (:func:`check_manifest`)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, MANIFEST)
    return check_manifest(_parse_json(_read_bytes(path), path), path, other_methods)


def _npy(path, descr, columns, mmap):
    """A .npy file of exactly dtype ``descr``, C order, 1-D (columns 0) or [rows, columns];
    checked as eqinfo::detail::parse_npy checks it (same codes and messages)."""
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                _fail(ErrorCode.BAD_MAGIC, f"{path}: not a .npy file")
            f.seek(0)
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                _fail(ErrorCode.UNSUPPORTED_VERSION, f"{path}: .npy version {version[0]}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            try:
                shape, fortran, dtype = read_header(f)
            except ValueError as e:
                _fail(ErrorCode.BAD_MAGIC, f"{path}: malformed .npy header ({e})")
            body = os.fstat(f.fileno()).st_size - f.tell()
    except OSError:
        _fail(ErrorCode.IO_ERROR, f"{path}: cannot open for reading")
    if dtype != np.dtype(descr):
        _fail(ErrorCode.UNSUPPORTED_VERSION, f"{path}: .npy dtype {dtype.str} is not supported here")
    if fortran:
        _fail(ErrorCode.UNSUPPORTED_VERSION, f"{path}: Fortran-order arrays are not supported")
    if len(shape) != (2 if columns else 1) or tuple(shape[1:]) != ((columns,) if columns else ()):
        _fail(ErrorCode.UNSUPPORTED_VERSION, f"{path}: shape is not (n,{columns if columns else ''}) (shape "
              f"{shape})")
    row_bytes = (columns or 1) * dtype.itemsize
    if body != shape[0] * row_bytes:
        _fail(ErrorCode.TRUNCATED_TOKENS, f"{path}: header promises {shape[0]} rows of {row_bytes} bytes of data, "
              f"the file has {body}")
    if not shape[0]:
        return np.zeros(shape, dtype=dtype)
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


class Shards:
    """A token shard directory, checked as ``eqinfo verify`` reads it (module docstring).

    ``len(shards)`` is the number of examples; iterating yields :class:`Example`
    (tokens, n_bytes, shard, index, source) in order; ``shards[i]`` is example
    ``i``. ``tokens(k)`` is shard ``k``'s token array (memory-mapped),
    ``index(k)`` its index table, ``check()`` verifies every file against the
    manifest, and ``tokenizer(model)`` gives the Tokenizer the shards were
    made with.

    Raises :class:`eqinfo.FileError` (``IO_ERROR``) for a missing directory,
    manifest or shard file, and :class:`eqinfo.Error` for anything
    ``eqinfo verify`` rejects: ``BAD_MAGIC``, ``UNSUPPORTED_VERSION``,
    ``CORRUPT_STREAM`` (a missing or mistyped field, totals that do not add
    up, an index table of another shape, examples that are not contiguous),
    ``CHECKSUM_MISMATCH`` (a file of another size; CRCs: :meth:`check`),
    ``TOKEN_OUT_OF_RANGE``.
    """

    def __init__(self, path, *, other_methods=(), check_tokens=False):
        self.path = os.fspath(path)
        if not os.path.isdir(self.path):
            _fail(ErrorCode.IO_ERROR, f"{self.path}: not a directory")
        self.manifest = read_manifest(self.path, other_methods)
        self.records = self.manifest["shards"]
        self.window_bytes_stored = bool(self.manifest.get("window_bytes", False))
        for r in self.records:
            for key in ("tokens", "index", "documents") + (("windows",) if self.window_bytes_stored else ()):
                self._checked_size(r[f"{key}_file"], r[f"{key}_file_size"])
        self._indexes = [None] * len(self.records)
        self._tokens = [None] * len(self.records)
        self._starts = np.concatenate([[0], np.cumsum([r["examples"] for r in self.records], dtype=np.int64)])
        if check_tokens:
            for k in range(self.num_shards):
                self._check_token_range(k)

    def _checked_size(self, name, size):
        path = os.path.join(self.path, name)
        try:
            actual = os.path.getsize(path)
        except OSError:
            _fail(ErrorCode.IO_ERROR, f"{path}: cannot open for reading")
        if actual != size:
            _fail(ErrorCode.CHECKSUM_MISMATCH, f"{path}: {actual} bytes, the manifest says {size} (the file was "
                  "modified or damaged)")
        return path

    # ------------------------------------------------------------------ manifest
    @property
    def settings(self):
        """The manifest's settings in Tokenizer's names (None where they do not apply;
        segment_bytes is 0 for equal-info shards of stream format 1, which had no segments)."""
        st = self.manifest["settings"]
        method = METHODS.get(st["method"], st["method"])
        s = {"method": method, "window_bits": None, "token_bits": st["token_bits"], "precision": None, "rule": None,
             "segment_bytes": None}
        if st["method"] in ("ac", "equal_info_ac"):
            s["precision"] = st["precision_bits"]
        if st["method"] == "equal_info_ac":
            s.update(window_bits=st["window_bits"], rule=RULES[st["rule"]],
                     segment_bytes=st["segment_bytes"] if self.manifest["stream_format"] >= 2 else 0)
        return s

    @property
    def model(self):
        """The manifest's model record: kind, path and fingerprint (an int)."""
        out = dict(self.manifest["model"])
        out["fingerprint"] = int(out["fingerprint"], 16)
        return out

    @property
    def model_fingerprint(self):
        """The fingerprint of the model the tokens were made with (int)."""
        return self.model["fingerprint"]

    @property
    def index_columns(self):
        """Names of the index table's columns (INDEX_COLUMNS)."""
        return list(INDEX_COLUMNS)

    @property
    def num_shards(self):
        return len(self.records)

    @property
    def token_bits(self):
        return self.manifest["settings"]["token_bits"]

    @property
    def dtype(self):
        """numpy dtype of the stored tokens: <u2 for token_bits <= 16, else <u4."""
        return np.dtype("<u2") if self.token_bits <= 16 else np.dtype("<u4")

    # ------------------------------------------------------------------ arrays
    def tokens(self, k):
        """Shard ``k``'s tokens: a read-only memory-mapped 1-D array."""
        if self._tokens[k] is None:
            r = self.records[k]
            path = self._checked_size(r["tokens_file"], r["tokens_file_size"])
            dt = self.dtype
            if self.manifest["token_format"] == "npy":
                arr = _npy(path, dt.str, 0, mmap=True)
            else:
                size = os.path.getsize(path)
                if size % dt.itemsize:
                    _fail(ErrorCode.TRUNCATED_TOKENS, f"{path}: {size} bytes is not a whole number of "
                          f"{dt.itemsize}-byte tokens")
                arr = np.memmap(path, dtype=dt, mode="r") if size else np.zeros(0, dtype=dt)
            self._tokens[k] = arr
        return self._tokens[k]

    def index(self, k):
        """Shard ``k``'s index: int64 [examples, 6] (INDEX_COLUMNS), checked as
        ``eqinfo::load_shard`` checks it (counts, contiguity, byte counts)."""
        if self._indexes[k] is None:
            r = self.records[k]
            path = self._checked_size(r["index_file"], r["index_file_size"])
            ix = np.asarray(_npy(path, "<i8", 6, mmap=False), dtype=np.int64)
            if (ix < 0).any():
                _fail(ErrorCode.CORRUPT_STREAM, f"{path}: negative value in an index table")
            n_tokens = len(self.tokens(k))
            n_docs = len(self.documents(k))
            if len(ix) != r["examples"] or n_tokens != r["tokens"] or n_docs != r["documents"]:
                _fail(ErrorCode.CORRUPT_STREAM, f"{path}: holds {len(ix)} examples, {n_tokens} tokens and {n_docs} "
                      f"documents; the manifest says {r['examples']}, {r['tokens']} and {r['documents']}")
            so, nb, off, cnt = ix[:, 0], ix[:, 3], ix[:, 4], ix[:, 5]
            token_starts = np.concatenate([[0], np.cumsum(cnt)[:-1]]) if len(ix) else off
            bad = (off != token_starts) | (nb == 0) | (nb > self.manifest["example_bytes"])
            bad[1:] |= so[1:] != so[:-1] + nb[:-1]
            if bad.any():
                i = int(np.argmax(bad))
                _fail(ErrorCode.CORRUPT_STREAM, f"{path}: example {i} is not contiguous with the one before it, or "
                      "empty or too long")
            if int(cnt.sum()) != n_tokens or int(nb.sum()) != r["bytes"]:
                _fail(ErrorCode.CORRUPT_STREAM, f"{path}: the examples hold {int(cnt.sum())} tokens and "
                      f"{int(nb.sum())} bytes; the shard has {n_tokens} and the manifest says {r['bytes']} bytes")
            ix.setflags(write=False)
            self._indexes[k] = ix
        return self._indexes[k]

    def window_bytes(self, k):
        """Shard ``k``'s window byte counts (manifest ``"window_bytes": true``, made with
        ``eqinfo shard --window-offsets``): uint32, one per equal-info window of
        ``tokens(k)``, checked to add up to each example's byte count. Raises
        ValueError for shards made without them."""
        if not self.window_bytes_stored:
            raise ValueError(f"{self.path}: the shards hold no window byte counts (made without "
                             "'eqinfo shard --window-offsets')")
        r = self.records[k]
        path = self._checked_size(r["windows_file"], r["windows_file_size"])
        counts = np.asarray(_npy(path, "<u4", 0, mmap=False))
        per = self.settings["window_bits"] // self.token_bits
        ix = self.index(k)
        if len(counts) * per != len(self.tokens(k)):
            _fail(ErrorCode.CORRUPT_STREAM, f"{path}: {len(counts)} windows for {len(self.tokens(k))} tokens")
        sums = np.add.reduceat(counts.astype(np.int64), ix[:, 4] // per) if len(ix) and len(counts) else 0
        bad = (ix[:, 5] % per != 0) | (sums != ix[:, 3]) if len(ix) else np.zeros(0, dtype=bool)
        if np.any(bad):
            i = int(np.argmax(bad))
            _fail(ErrorCode.CORRUPT_STREAM, f"{path}: the windows of example {i} do not hold its "
                  f"{int(ix[i, 3])} bytes")
        counts.setflags(write=False)
        return counts

    def token_offsets(self, i):
        """Example ``i``'s token offsets, as ``Tokenizer.encode(..., return_offsets=True)``
        gives them for its bytes: int64 [tokens, 2], rows ``[begin, end)`` relative to the
        example's first byte (needs shards made with ``--window-offsets``)."""
        e = self[i]
        ix = self.index(e.shard)[e.index]
        per = self.settings["window_bits"] // self.token_bits
        first = int(ix[4]) // per
        counts = self.window_bytes(e.shard)[first:first + int(ix[5]) // per].astype(np.int64)
        ends = np.cumsum(counts)
        spans = np.stack([ends - counts, ends], axis=1)
        return np.repeat(spans, per, axis=0)

    def documents(self, k):
        """Shard ``k``'s document table: int64 [documents, 3] (DOCUMENTS_COLUMNS)."""
        r = self.records[k]
        path = self._checked_size(r["documents_file"], r["documents_file_size"])
        d = np.asarray(_npy(path, "<i8", 3, mmap=False), dtype=np.int64)
        if (d < 0).any():
            _fail(ErrorCode.CORRUPT_STREAM, f"{path}: negative value in an index table")
        return d

    def _check_token_range(self, k):
        tokens, bits = self.tokens(k), self.token_bits
        if len(tokens) and int(tokens.max()) >= 1 << bits:
            i = int(np.argmax(np.asarray(tokens) >= 1 << bits))
            _fail(ErrorCode.TOKEN_OUT_OF_RANGE, f"{os.path.join(self.path, self.records[k]['tokens_file'])}: token "
                  f"{i} is {int(tokens[i])}, not below 2^{bits} (outside the vocabulary)")

    # ------------------------------------------------------------------ examples
    def __len__(self):
        return int(self._starts[-1])

    @property
    def n_tokens(self):
        return sum(r["tokens"] for r in self.records)

    @property
    def n_bytes(self):
        return sum(r["bytes"] for r in self.records)

    def _example(self, k, i, row=None):
        if row is None:
            row = self.index(k)[i]
        off, count = int(row[4]), int(row[5])
        source = {"stream_offset": int(row[0]), "document": int(row[1]), "document_offset": int(row[2])}
        return Example(self.tokens(k)[off:off + count], int(row[3]), k, i, source)

    def __getitem__(self, i):
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"example {i} of {n}")
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self._example(k, int(i - self._starts[k]))

    def __iter__(self):
        for k in range(self.num_shards):
            yield from self.shard_examples(k)

    def shard_examples(self, k):
        """The examples of shard ``k``, in order."""
        for i, row in enumerate(self.index(k)):
            yield self._example(k, i, row)

    def __repr__(self):
        s = self.settings
        return (f"eqinfo.Shards({self.path!r}: {self.num_shards} shards, {len(self)} examples, "
                f"method={s['method']}, token_bits={s['token_bits']})")

    # ------------------------------------------------------------------ decoding
    def tokenizer(self, model=None, **kwargs):
        """The Tokenizer with the manifest's settings. ``model``: the model file the
        shards were made with (default: the manifest's model path, for unigram and
        M1; the uniform model otherwise). Raises Error(SETTINGS_MISMATCH) if its
        fingerprint differs from the manifest's."""
        from . import Tokenizer

        s = self.settings
        if s["method"] not in METHODS.values():
            _fail(ErrorCode.INVALID_ARGUMENT, f"{self.path}: method {s['method']!r} is not one of eqinfo's")
        kind = self.model["kind"]
        if model is None:
            model = self.model["path"] if kind in ("unigram", "m1") else "uniform"
        args = {key: s[key] for key in ("method", "window_bits", "token_bits", "precision", "rule", "segment_bytes")
                if s[key] is not None}
        if args["method"] == "bytes":
            args.pop("token_bits", None)
        args.update(kwargs)
        tok = Tokenizer(model, **args)
        want = self.model_fingerprint
        if s["method"] != "bytes" and tok.model_fingerprint != want:
            _fail(ErrorCode.SETTINGS_MISMATCH, f"{self.path}: the shards were made with the model with fingerprint "
                  f"0x{want:08x}, not 0x{tok.model_fingerprint:08x} ({model})")
        return tok

    def decode(self, i, tokenizer):
        """The bytes of example ``i`` (exact decoding with its byte count)."""
        e = self[i]
        return tokenizer.decode(e.tokens, e.n_bytes)

    # ------------------------------------------------------------------ checks
    def check(self, tokenizer=None, threads=0):
        """Verifies the directory against its manifest as ``eqinfo::load_shard`` does:
        every file's size and CRC-32 (Error CHECKSUM_MISMATCH), the tables and counts
        (CORRUPT_STREAM), the token range (TOKEN_OUT_OF_RANGE). With a ``tokenizer``
        (see :meth:`tokenizer`) it also decodes every example and compares the bytes
        with the manifest's source_crc32. Returns a summary dict.
        """
        crcs_checked = 0
        for k, r in enumerate(self.records):
            for key in ("tokens", "index", "documents") + (("windows",) if self.window_bytes_stored else ()):
                path = self._checked_size(r[f"{key}_file"], r[f"{key}_file_size"])
                actual, stored = _file_crc32(path), int(r[f"{key}_crc32"], 16)
                if actual != stored:
                    _fail(ErrorCode.CHECKSUM_MISMATCH, f"{path}: CRC-32 0x{actual:08x}, the manifest says "
                          f"0x{stored:08x} (the file was modified or damaged)")
                crcs_checked += 1
            self._check_token_range(k)
            self.index(k)
            if self.window_bytes_stored:
                self.window_bytes(k)
        decoded = 0
        if tokenizer is not None:
            for k, r in enumerate(self.records):
                examples = list(self.shard_examples(k))
                out = tokenizer.decode_batch([x.tokens for x in examples], [x.n_bytes for x in examples], threads)
                crc = 0
                for b in out:
                    crc = zlib.crc32(b, crc)
                stored = int(r["source_crc32"], 16)
                if crc != stored:
                    _fail(ErrorCode.CHECKSUM_MISMATCH, f"{os.path.join(self.path, r['tokens_file'])}: the decoded "
                          f"examples have CRC-32 0x{crc:08x}, the manifest says 0x{stored:08x}")
                decoded += len(examples)
        return {"shards": self.num_shards, "examples": len(self), "tokens": self.n_tokens, "bytes": self.n_bytes,
                "crcs_checked": crcs_checked, "examples_decoded": decoded}
