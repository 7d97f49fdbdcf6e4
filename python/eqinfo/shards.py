# SPDX-License-Identifier: MIT
"""Reading token shard directories (``eqinfo shard``; docs/format.md "Token shards").

Pure Python + numpy; the token arrays are memory-mapped, never read whole.

Layout (include/eqinfo/shards.hpp is the reference)::

    DIR/manifest.json           settings, model, index column names, the shard list
                                (file names, sizes, CRC-32s, counts), totals
    DIR/shard-NNNNNN.npy        1-D tokens of the shard's examples, back to back:
                                uint16 for token_bits <= 16, else uint32
      or DIR/shard-NNNNNN.bin   the same, raw little-endian (token_format "raw")
    DIR/shard-NNNNNN.idx.npy    int64 [examples, k], one row per example; columns named
                                by manifest "index_columns" (stream_offset, document,
                                document_offset, byte_count, token_offset, token_count)
    DIR/shard-NNNNNN.docs.npy   int64 [documents, 3] (document, stream_offset, byte_count)

The reader takes file names, column names and the token dtype from the manifest,
and falls back for older or hand-made directories: shard entries naming their
files "tokens"/"index" (training/m2/shards.py's writer), no entry list (then
shard-*.npy / shard-*.bin with their .idx.npy), index columns by position
(6 columns: the order above; 4: byte_count, token_offset, token_count,
source_offset).
"""

import glob
import json
import os
import zlib
from typing import NamedTuple

import numpy as np

from ._errors import Error, ErrorCode

__all__ = ["Shards", "Example"]

MANIFEST = "manifest.json"
#: Index columns of `eqinfo shard` (shard_format 1), in order.
INDEX_COLUMNS = ("stream_offset", "document", "document_offset", "byte_count", "token_offset", "token_count")
#: The 4-column layout of training/m2/shards.py's writer.
LEGACY_INDEX_COLUMNS = ("byte_count", "token_offset", "token_count", "source_offset")
_COLUMN_ALIASES = {
    "byte_count": ("byte_count", "bytes", "n_bytes"),
    "token_offset": ("token_offset", "token_start", "offset"),
    "token_count": ("token_count", "tokens", "n_tokens"),
}
_METHODS = {"equal_info_ac": "equal-info", "equal-info": "equal-info", "equal_info": "equal-info", "ac": "ac",
            "static-ac": "static-ac", "static_ac": "static-ac", "bytes": "bytes"}


class Example(NamedTuple):
    """One example of a shard directory."""

    tokens: np.ndarray  #: its tokens (a read-only view of the memory-mapped shard)
    n_bytes: int  #: the number of bytes they encode (what exact decoding needs)
    shard: int  #: shard number
    index: int  #: example number within the shard
    source: dict  #: the other index columns, e.g. stream_offset, document, document_offset


def _fail(code, message):
    names = {ErrorCode.CHECKSUM_MISMATCH: "file.checksum_mismatch", ErrorCode.CORRUPT_STREAM: "stream.corrupt_stream",
             ErrorCode.BAD_MAGIC: "file.bad_magic", ErrorCode.IO_ERROR: "file.io_error",
             ErrorCode.SETTINGS_MISMATCH: "settings.settings_mismatch",
             ErrorCode.TOKEN_OUT_OF_RANGE: "stream.token_out_of_range",
             ErrorCode.UNSUPPORTED_VERSION: "file.unsupported_version"}
    name = names.get(code, "api.invalid_argument")
    if code == ErrorCode.IO_ERROR:
        from ._errors import FileError

        raise FileError(f"[eqinfo.{name}] {message}", code, name)
    raise Error(f"[eqinfo.{name}] {message}", code, name)


def _hex_or_int(v):
    if v is None:
        return None
    if isinstance(v, str):
        return int(v, 16)
    return int(v)


def _file_crc32(path, chunk=1 << 22):
    crc = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                return crc
            crc = zlib.crc32(block, crc)


def _index_name(token_name):
    base = token_name[:-4] if token_name.endswith((".npy", ".bin")) else token_name
    return base + ".idx.npy"


class _ShardFiles(NamedTuple):
    tokens: str
    index: str
    documents: str  # "" when none
    entry: dict  # the manifest's record ({} when none)


class Shards:
    """A token shard directory.

    ``len(shards)`` is the number of examples; iterating yields :class:`Example`
    (tokens, n_bytes, shard, index, source) in order; ``shards[i]`` is example
    ``i``. ``tokens(k)`` is shard ``k``'s token array (memory-mapped),
    ``index(k)`` its index table, ``check()`` verifies every file against the
    manifest, and ``tokenizer(model)`` gives the Tokenizer the shards were
    made with.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isdir(self.path):
            _fail(ErrorCode.IO_ERROR, f"{self.path}: not a directory")
        manifest_path = os.path.join(self.path, MANIFEST)
        self.manifest = {}
        if os.path.exists(manifest_path):
            try:
                with open(manifest_path, "rb") as f:
                    self.manifest = json.loads(f.read().decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                _fail(ErrorCode.CORRUPT_STREAM, f"{manifest_path}: not valid JSON ({e})")
            if not isinstance(self.manifest, dict):
                _fail(ErrorCode.CORRUPT_STREAM, f"{manifest_path}: not a JSON object")
            fmt = self.manifest.get("format")
            if fmt is not None and fmt != "eqinfo-shards":
                _fail(ErrorCode.BAD_MAGIC, f"{manifest_path}: format {fmt!r}, not 'eqinfo-shards'")
            version = self.manifest.get("shard_format", self.manifest.get("format_version", 1))
            if int(version) != 1:
                _fail(ErrorCode.UNSUPPORTED_VERSION, f"{manifest_path}: shard format {version}; this reader reads 1")
        self.settings = self._settings()
        self._files = self._shard_files()
        self._indexes = [None] * len(self._files)
        self._tokens = [None] * len(self._files)
        self._columns = None
        counts = [self._entry_count(k) for k in range(len(self._files))]
        self._starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])

    # ------------------------------------------------------------------ manifest
    def _find(self, *names):
        m = self.manifest
        for scope in (m.get("settings"), m):
            if isinstance(scope, dict):
                for n in names:
                    if scope.get(n) is not None:
                        return scope[n]
        return None

    def _settings(self):
        """The manifest's settings in Tokenizer's names (None where not recorded)."""
        method = self._find("method")
        method = _METHODS.get(str(method), str(method)) if method is not None else None
        rule = self._find("rule", "window_rule")
        token_bits = self._find("token_bits")
        s = {
            "method": method,
            "window_bits": self._find("window_bits"),
            "token_bits": int(token_bits) if token_bits is not None else None,
            "precision": self._find("precision_bits", "precision"),
            "rule": str(rule).replace("_", "-") if rule is not None else None,
        }
        if method == "bytes":
            s.update(window_bits=None, precision=None, rule=None, token_bits=8)
        if method != "equal-info":
            s.update(window_bits=None, rule=None)
        return s

    @property
    def model(self):
        """The manifest's model record: kind, path and fingerprint (an int), or {}."""
        m = self.manifest.get("model")
        if not isinstance(m, dict):
            fp = self.manifest.get("model_fingerprint")
            return {} if fp is None else {"fingerprint": _hex_or_int(fp)}
        out = dict(m)
        if "fingerprint" in out:
            out["fingerprint"] = _hex_or_int(out["fingerprint"])
        return out

    @property
    def model_fingerprint(self):
        """The fingerprint of the model the tokens were made with (int), or None."""
        return self.model.get("fingerprint")

    @property
    def index_columns(self):
        """Names of the index table's columns."""
        if self._columns is None:
            names = self._find("index_columns")
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                width = self.index(0).shape[1] if self._files else len(INDEX_COLUMNS)
                if width == len(INDEX_COLUMNS):
                    names = list(INDEX_COLUMNS)
                elif width == len(LEGACY_INDEX_COLUMNS):
                    names = list(LEGACY_INDEX_COLUMNS)
                else:
                    _fail(ErrorCode.CORRUPT_STREAM, f"{self.path}: no index_columns in the manifest and "
                          f"{width} index columns")
            self._columns = list(names)
        return self._columns

    def _column(self, name):
        cols = self.index_columns
        for alias in _COLUMN_ALIASES.get(name, (name,)):
            if alias in cols:
                return cols.index(alias)
        _fail(ErrorCode.CORRUPT_STREAM, f"{self.path}: the index has no {name!r} column (columns {cols})")

    def _shard_files(self):
        entries = self.manifest.get("shards")
        out = []
        if isinstance(entries, list):
            for k, e in enumerate(entries):
                if isinstance(e, str):
                    e = {"tokens_file": e}
                if not isinstance(e, dict):
                    _fail(ErrorCode.CORRUPT_STREAM, f"{self.path}/{MANIFEST}: shard {k} is not an object")
                tokens = next((e[key] for key in ("tokens_file", "tokens", "file", "path")
                               if isinstance(e.get(key), str)), None)
                if tokens is None:
                    _fail(ErrorCode.CORRUPT_STREAM, f"{self.path}/{MANIFEST}: shard {k} names no token file")
                index = next((e[key] for key in ("index_file", "index", "idx") if isinstance(e.get(key), str)),
                             _index_name(tokens))
                documents = e.get("documents_file") if isinstance(e.get("documents_file"), str) else ""
                for name in (tokens, index, documents):
                    if name and (os.path.basename(name) != name or name in (".", "..")):
                        _fail(ErrorCode.CORRUPT_STREAM, f"{self.path}/{MANIFEST}: shard {k} names the file "
                              f"{name!r}, which is not a plain file name in the directory")
                out.append(_ShardFiles(tokens, index, documents, e))
            return out
        names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.path, "shard-*"))
                       if p.endswith((".npy", ".bin")) and not p.endswith((".idx.npy", ".docs.npy")))
        return [_ShardFiles(n, _index_name(n), "", {}) for n in names]

    def _entry_count(self, k):
        n = self._files[k].entry.get("examples")
        return int(n) if isinstance(n, int) else len(self.index(k))

    # ------------------------------------------------------------------ arrays
    @property
    def num_shards(self):
        return len(self._files)

    @property
    def dtype(self):
        """numpy dtype of the stored tokens."""
        name = self._find("token_dtype", "dtype")
        if name is not None:
            return np.dtype(name).newbyteorder("<")
        bits = self.settings["token_bits"]
        return np.dtype("<u2") if bits is None or bits <= 16 else np.dtype("<u4")

    def tokens(self, k):
        """Shard ``k``'s tokens: a read-only memory-mapped 1-D array."""
        if self._tokens[k] is None:
            path = os.path.join(self.path, self._files[k].tokens)
            if not os.path.exists(path):
                _fail(ErrorCode.IO_ERROR, f"{path}: cannot open for reading (missing shard file)")
            if path.endswith(".npy"):
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
                if arr.ndim != 1 or arr.dtype.kind not in "iu":
                    _fail(ErrorCode.CORRUPT_STREAM, f"{path}: expected 1-D integer tokens, got {arr.dtype} "
                          f"{arr.shape}")
            else:
                size = os.path.getsize(path)
                dt = self.dtype
                if size % dt.itemsize:
                    _fail(ErrorCode.CORRUPT_STREAM, f"{path}: {size} bytes is not a whole number of {dt} tokens")
                arr = np.memmap(path, dtype=dt, mode="r") if size else np.zeros(0, dtype=dt)
            self._tokens[k] = arr
        return self._tokens[k]

    def index(self, k):
        """Shard ``k``'s index: int64 [examples, len(index_columns)]."""
        if self._indexes[k] is None:
            path = os.path.join(self.path, self._files[k].index)
            if not os.path.exists(path):
                _fail(ErrorCode.IO_ERROR, f"{path}: cannot open for reading (missing index file)")
            ix = np.load(path, allow_pickle=False)
            if ix.ndim != 2 or ix.dtype.kind not in "iu":
                _fail(ErrorCode.CORRUPT_STREAM, f"{path}: expected an integer [examples, k] table, got {ix.dtype} "
                      f"{ix.shape}")
            self._indexes[k] = ix.astype(np.int64, copy=False)
        return self._indexes[k]

    def documents(self, k):
        """Shard ``k``'s document table (int64 [documents, 3]: document, stream_offset,
        byte_count), or None if the directory has none."""
        name = self._files[k].documents
        if not name:
            return None
        return np.load(os.path.join(self.path, name), allow_pickle=False)

    # ------------------------------------------------------------------ examples
    def __len__(self):
        return int(self._starts[-1])

    @property
    def n_tokens(self):
        return sum(int(self.index(k)[:, self._column("token_count")].sum()) for k in range(self.num_shards))

    @property
    def n_bytes(self):
        return sum(int(self.index(k)[:, self._column("byte_count")].sum()) for k in range(self.num_shards))

    def _example(self, k, i, row=None):
        if row is None:
            row = self.index(k)[i]
        off, count = int(row[self._column("token_offset")]), int(row[self._column("token_count")])
        tokens = self.tokens(k)
        if off < 0 or count < 0 or off + count > len(tokens):
            _fail(ErrorCode.CORRUPT_STREAM, f"{os.path.join(self.path, self._files[k].index)}: example {i} "
                  f"(tokens {off}..{off + count}) lies outside the {len(tokens)} tokens of the shard")
        skip = {self._column(n) for n in ("token_offset", "token_count", "byte_count")}
        source = {name: int(row[c]) for c, name in enumerate(self.index_columns) if c not in skip}
        return Example(tokens[off:off + count], int(row[self._column("byte_count")]), k, i, source)

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
        kind = self.model.get("kind")
        if model is None:
            model = self.model.get("path") if kind in ("unigram", "m1") else "uniform"
        args = {"method": s["method"] or "equal-info"}
        for key in ("window_bits", "token_bits", "precision", "rule"):
            if s[key] is not None:
                args[key] = s[key]
        if args["method"] == "bytes":
            args.pop("token_bits", None)
        args.update(kwargs)
        tok = Tokenizer(model, **args)
        want = self.model_fingerprint
        if want is not None and s["method"] != "bytes" and tok.model_fingerprint != want:
            _fail(ErrorCode.SETTINGS_MISMATCH, f"{self.path}: the shards were made with the model with fingerprint "
                  f"0x{want:08x}, not 0x{tok.model_fingerprint:08x} ({model})")
        return tok

    def decode(self, i, tokenizer):
        """The bytes of example ``i`` (exact decoding with its byte count)."""
        e = self[i]
        return tokenizer.decode(e.tokens, e.n_bytes)

    # ------------------------------------------------------------------ checks
    def check(self, tokenizer=None, threads=0):
        """Verifies the directory against its manifest: every file's size and CRC-32
        (Error CHECKSUM_MISMATCH), the counts, that the examples tile the token
        arrays, and the token range (CORRUPT_STREAM, TOKEN_OUT_OF_RANGE). With a
        ``tokenizer`` (see :meth:`tokenizer`) it also decodes every example and
        compares the bytes with the manifest's source_crc32. Returns a summary dict.
        """
        crcs_checked = 0
        bits = self.settings["token_bits"]
        for k, files in enumerate(self._files):
            e = files.entry
            for name, size_key, crc_key in ((files.tokens, "tokens_file_size", "tokens_crc32"),
                                            (files.index, "index_file_size", "index_crc32"),
                                            (files.documents, "documents_file_size", "documents_crc32")):
                if not name:
                    continue
                path = os.path.join(self.path, name)
                if not os.path.exists(path):
                    _fail(ErrorCode.IO_ERROR, f"{path}: cannot open for reading (missing)")
                if size_key in e and os.path.getsize(path) != int(e[size_key]):
                    _fail(ErrorCode.CHECKSUM_MISMATCH, f"{path}: {os.path.getsize(path)} bytes, the manifest says "
                          f"{int(e[size_key])} (the file was modified or damaged)")
                if crc_key in e:
                    actual, stored = _file_crc32(path), _hex_or_int(e[crc_key])
                    if actual != stored:
                        _fail(ErrorCode.CHECKSUM_MISMATCH, f"{path}: CRC-32 0x{actual:08x}, the manifest says "
                              f"0x{stored:08x} (the file was modified or damaged)")
                    crcs_checked += 1
            index_path = os.path.join(self.path, files.index)
            ix, tokens = self.index(k), self.tokens(k)
            off, cnt = ix[:, self._column("token_offset")], ix[:, self._column("token_count")]
            nb = ix[:, self._column("byte_count")]
            expected_off = np.concatenate([[0], np.cumsum(cnt)[:-1]]) if len(ix) else off
            if (cnt < 0).any() or (nb < 0).any() or not np.array_equal(off, expected_off) or int(cnt.sum()) != len(
                    tokens):
                _fail(ErrorCode.CORRUPT_STREAM, f"{index_path}: the examples do not tile the {len(tokens)} tokens "
                      "of the shard (token_offset / token_count)")
            for key, actual in (("examples", len(ix)), ("tokens", len(tokens)), ("bytes", int(nb.sum()))):
                if isinstance(e.get(key), int) and e[key] != actual:
                    _fail(ErrorCode.CORRUPT_STREAM, f"{index_path}: holds {actual} {key}, the manifest says {e[key]}")
            if bits is not None and len(tokens) and int(tokens.max()) >= 1 << bits:
                _fail(ErrorCode.TOKEN_OUT_OF_RANGE, f"{os.path.join(self.path, files.tokens)}: token "
                      f"{int(tokens.max())} is not below 2^{bits}")
        decoded = 0
        if tokenizer is not None:
            for k, files in enumerate(self._files):
                examples = list(self.shard_examples(k))
                out = tokenizer.decode_batch([x.tokens for x in examples], [x.n_bytes for x in examples], threads)
                crc = 0
                for b in out:
                    crc = zlib.crc32(b, crc)
                stored = _hex_or_int(files.entry.get("source_crc32"))
                if stored is not None and crc != stored:
                    _fail(ErrorCode.CHECKSUM_MISMATCH, f"{os.path.join(self.path, files.tokens)}: the decoded "
                          f"examples have CRC-32 0x{crc:08x}, the manifest says 0x{stored:08x}")
                decoded += len(examples)
        return {"shards": self.num_shards, "examples": len(self), "tokens": self.n_tokens, "bytes": self.n_bytes,
                "crcs_checked": crcs_checked, "examples_decoded": decoded}
