"""Token shards: the data M2 trains on. Reads what `eqinfo shard` writes and writes the same
layout for the methods made in Python (make_shards.py: GZip, SentencePiece, Bytes).

Layout of a shard directory (docs/format.md "Token shards", include/eqinfo/shards.hpp):

    DIR/manifest.json            "settings" (method, token_bits, window_bits, ...), "model",
                                 example_bytes, separator, "index_columns", the shard list
                                 ("tokens_file", "index_file", "documents_file", sizes, CRCs),
                                 totals; written last
    DIR/shard-NNNNNN.npy         1-D tokens of the shard's examples, concatenated (uint16 for
                                 token_bits <= 16, uint32 above)
      or DIR/shard-NNNNNN.bin    the same, raw little-endian (token_format "raw")
    DIR/shard-NNNNNN.idx.npy     int64 [examples, 6]: stream_offset, document, document_offset,
                                 byte_count, token_offset, token_count
    DIR/shard-NNNNNN.docs.npy    int64 [documents, 3]: document, stream_offset, byte_count

The reader is defensive: column names come from the manifest ("index_columns"; the order
above without one), settings may be top-level or under "settings", the shard list may be
missing (shard-*.npy / shard-*.bin by name), and the index is checked against the token
file (offsets inside it, in order, no overlap) and the tokens against the vocabulary.

Examples (cut_documents, the rules of `eqinfo shard`): the documents are joined with
"\\n\\n" into one stream, cut into consecutive examples of `example_bytes` (10,240, the
paper's) bytes, the last one shorter. Each example is encoded on its own (its own AC
stream, windows, GZip stream), so its token sequence starts fresh.

Sequences for M2 (ShardSet.sequences): see PACKINGS. The default, "split", cuts each
example's tokens into consecutive sequences of at most seq_len tokens that never cross an
example boundary; the last, shorter one is kept (right-padded in a batch, padding masked).
Every token is then in exactly one sequence, which evaluation needs (bits/byte over whole
examples with their true byte counts).
"""

from __future__ import annotations

import bisect
import glob
import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

MANIFEST = "manifest.json"
FORMAT = "eqinfo-shards"
FORMAT_VERSION = 1
EXAMPLE_BYTES = 10240
SEPARATOR = b"\n\n"
# eqinfo shard's columns (include/eqinfo/shards.hpp); also the reader's default order
INDEX_COLUMNS = ("stream_offset", "document", "document_offset", "byte_count", "token_offset", "token_count")
DOCUMENTS_COLUMNS = ("document", "stream_offset", "byte_count")
PACKINGS = {
    "split": "each example's tokens cut into consecutive seq_len-token sequences; the last one shorter",
    "truncate": "the first seq_len tokens of each example only",
    "concat": "each shard's token stream (examples back to back) cut into full seq_len sequences, tail dropped",
}
# Sequence table columns (ShardSet.sequences)
SEQ_SHARD, SEQ_START, SEQ_LEN, SEQ_POS, SEQ_EXAMPLE = range(5)

_METHOD_ALIASES = {
    "equal-info": "equal-info", "equal_info": "equal-info", "equal-info-ac": "equal-info",
    "equal_info_ac": "equal-info", "equalinfoac": "equal-info", "equalinfo": "equal-info",
    "ac": "ac", "static-ac": "static-ac", "static_ac": "static-ac", "staticac": "static-ac",
    "bytes": "bytes", "gzip": "gzip", "zlib": "gzip", "sentencepiece": "sentencepiece", "spm": "sentencepiece",
}
# Methods whose tokens come from M1 (their FLOPs/byte includes M1's): AC and EqualInfoAC
# with an M1 model; StaticAC's unigram model and the uniform model cost nothing.
M1_METHODS = ("ac", "equal-info")


def normalize_method(name) -> str:
    if name is None:
        return "unknown"
    key = str(name).strip().lower().replace(" ", "")
    return _METHOD_ALIASES.get(key, key)


# --------------------------------------------------------------------------- corpus and examples
#
# The same rules as `eqinfo shard` (tools/shard_pipeline.hpp): INPUTs are files or
# directories (every regular file below, hidden files and directories skipped, sorted by
# relative path); a .jsonl file holds one document per non-blank line (the --text-field
# string of a JSON object), any other file is one document; the documents are joined with
# the separator into one stream cut into example_bytes examples (the last one shorter), or
# with keep_documents each document is cut on its own.

@dataclass
class Document:
    index: int
    data: bytes


@dataclass
class Example:
    data: bytes
    stream_offset: int          # of its first byte in the example stream
    document: int               # the document of that byte (a separator belongs to the document before it)
    document_offset: int        # offset of that byte in the document (>= its length: in the separator after it)
    documents: List[Tuple[int, int, int]]   # (document, stream_offset, byte_count) of each document it touches


def list_inputs(paths: Sequence[str], exclude: Optional[str] = None) -> List[str]:
    files: List[str] = []
    for path in paths:
        if os.path.isfile(path):
            files.append(path)
        elif os.path.isdir(path):
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".") and not (
                    exclude and os.path.realpath(os.path.join(root, d)) == os.path.realpath(exclude))]
                for n in names:
                    full = os.path.join(root, n)
                    if not n.startswith(".") and os.path.isfile(full):
                        found.append((os.path.relpath(full, path).encode("utf-8", "surrogateescape"), full))
            files.extend(full for _, full in sorted(found))
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return files


def read_documents(paths: Sequence[str], text_field: str = "text") -> Tuple[List[bytes], List[dict]]:
    """(documents, inputs): the documents of the inputs in order, and one manifest record per
    input file (path, type, size, crc32, first_document, documents)."""
    docs: List[bytes] = []
    inputs = []
    for f in list_inputs(paths):
        with open(f, "rb") as fh:
            raw = fh.read()
        first = len(docs)
        if f.lower().endswith(".jsonl"):
            kind = "jsonl"
            for no, line in enumerate(raw.split(b"\n"), 1):
                if no == 1 and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                if not line.strip(b" \t\r"):
                    continue
                obj = json.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get(text_field), str):
                    raise ValueError(f"{f}:{no}: not a JSON object with a string field {text_field!r}")
                docs.append(obj[text_field].encode("utf-8", "surrogatepass"))
        else:
            kind = "text"
            docs.append(raw)
        inputs.append({"path": f, "type": kind, "size": len(raw), "crc32": _crc_hex(raw),
                       "first_document": first, "documents": len(docs) - first})
    return docs, inputs


def read_corpus(paths: Sequence[str], separator: bytes = SEPARATOR, text_field: str = "text") -> bytes:
    """The example stream of the inputs: their documents joined with the separator."""
    return separator.join(read_documents(paths, text_field)[0])


def cut_documents(docs: Sequence[bytes], example_bytes: int = EXAMPLE_BYTES, separator: bytes = SEPARATOR,
                  keep_documents: bool = False) -> Iterator[Example]:
    """The examples of `docs`, with eqinfo shard's index fields."""
    if example_bytes < 1:
        raise ValueError("example_bytes must be >= 1")
    sep = b"" if keep_documents else separator
    starts, pos = [], 0           # content start of each document in the example stream
    for i, d in enumerate(docs):
        if i and not keep_documents:
            pos += len(sep)
        starts.append(pos)
        pos += len(d)
    n_docs = len(docs)

    def touched(lo: int, hi: int) -> List[Tuple[int, int, int]]:
        out = []
        d = max(0, bisect.bisect_right(starts, lo) - 1)
        while d < n_docs and starts[d] < hi:
            end = starts[d] + len(docs[d]) + (len(sep) if d + 1 < n_docs else 0)
            if end > lo and end > starts[d]:
                out.append((d, starts[d], len(docs[d])))
            d += 1
        return out

    if keep_documents:
        for d, data in enumerate(docs):
            for off in range(0, len(data), example_bytes):
                chunk = data[off:off + example_bytes]
                yield Example(chunk, starts[d] + off, d, off, [(d, starts[d], len(data))])
        return
    stream = sep.join(docs)
    for off in range(0, len(stream), example_bytes):
        chunk = stream[off:off + example_bytes]
        d = bisect.bisect_right(starts, off) - 1
        yield Example(chunk, off, d, off - starts[d], touched(off, off + len(chunk)))


def cut_examples(data: bytes, example_bytes: int = EXAMPLE_BYTES) -> Iterator[Tuple[int, bytes]]:
    """(stream offset, bytes) of consecutive example_bytes-byte examples of one stream; the
    last one holds the rest (shorter, never empty)."""
    if example_bytes < 1:
        raise ValueError("example_bytes must be >= 1")
    for off in range(0, len(data), example_bytes):
        yield off, data[off:off + example_bytes]


def _crc_hex(data: bytes) -> str:
    return f"0x{zlib.crc32(data) & 0xFFFFFFFF:08x}"


# --------------------------------------------------------------------------- reading

def _find(manifest: dict, *names, default=None):
    """The first of `names` present at the top level, under "settings" or under "tokenizer"."""
    for scope in (manifest, manifest.get("settings") or {}, manifest.get("tokenizer") or {}):
        if isinstance(scope, dict):
            for n in names:
                if n in scope and scope[n] is not None:
                    return scope[n]
    return default


@dataclass
class Shard:
    tokens: np.ndarray          # 1-D, memory-mapped
    index: np.ndarray           # int64 [n_examples, k]
    token_path: str
    index_path: str


def _token_dtype(token_bits: Optional[int], vocab_size: Optional[int]) -> np.dtype:
    top = (1 << token_bits) if token_bits else (vocab_size or 65536)
    return np.dtype("<u2") if top <= 65536 else np.dtype("<u4")


class ShardSet:
    """A shard directory, read defensively (see the module docstring)."""

    def __init__(self, path: str, check_tokens: bool = True):
        self.path = path
        mpath = os.path.join(path, MANIFEST)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: not a shard directory")
        if os.path.exists(mpath):
            with open(mpath) as f:
                self.manifest = json.load(f)
        else:
            self.manifest = {}
        m = self.manifest
        self.method = normalize_method(_find(m, "method"))
        model = m.get("model")
        self.model_kind = str(model.get("kind", "")).lower() if isinstance(model, dict) else None
        if self.method == "ac" and self.model_kind == "unigram":
            self.method = "static-ac"      # eqinfo writes StaticAC as method "ac" with a unigram model
        tb = _find(m, "token_bits", "N")
        self.token_bits: Optional[int] = int(tb) if tb is not None else None
        vs = _find(m, "vocab_size", "vocabulary", "vocab")
        if vs is None and self.token_bits is not None:
            vs = 1 << self.token_bits
        self.vocab_size: Optional[int] = int(vs) if vs is not None else None
        wb = _find(m, "window_bits", "b")
        self.window_bits: Optional[int] = int(wb) if wb is not None else None
        pb = _find(m, "precision_bits", "P")
        self.precision_bits: Optional[int] = int(pb) if pb is not None else None
        self.rule: Optional[str] = _find(m, "rule", "window_rule")
        eb = _find(m, "example_bytes", "example_size")
        self.example_bytes: Optional[int] = int(eb) if eb is not None else None
        self.columns = self._columns()
        self.shards = [self._open(t, i) for t, i in self._shard_files()]
        if not self.shards:
            raise ValueError(f"{path}: no shards (neither a manifest shard list nor shard-*.npy / shard-*.bin)")
        self._validate(check_tokens)
        rows = []
        for s_id, s in enumerate(self.shards):
            ix = s.index
            n = len(ix)
            rows.append(np.stack([np.full(n, s_id, dtype=np.int64), ix[:, self.columns["token_offset"]],
                                  ix[:, self.columns["token_count"]], ix[:, self.columns["byte_count"]]], axis=1))
        # examples: [n, 4] = shard, token_offset, token_count, byte_count
        self.examples = np.concatenate(rows, axis=0) if rows else np.zeros((0, 4), dtype=np.int64)
        if self.vocab_size is None:
            top = max((int(s.tokens.max()) for s in self.shards if len(s.tokens)), default=0)
            self.vocab_size = max(2, top + 1)

    # ---- manifest helpers
    def _columns(self) -> Dict[str, int]:
        m = self.manifest
        names = None
        for key in ("index_columns", "idx_columns", "columns", "index_fields", "idx_fields"):
            v = _find(m, key)
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                names = v
                break
        if names is None:
            idx = m.get("index") if isinstance(m.get("index"), dict) else None
            if idx and isinstance(idx.get("columns"), list):
                names = idx["columns"]
        if names is None:
            names = list(INDEX_COLUMNS)
        cols = {n: i for i, n in enumerate(names)}
        aliases = {"byte_count": ("byte_count", "bytes", "n_bytes", "byte_len"),
                   "token_offset": ("token_offset", "token_begin", "token_start", "offset"),
                   "token_count": ("token_count", "tokens", "n_tokens", "token_len")}
        out = {}
        for want, options in aliases.items():
            for o in options:
                if o in cols:
                    out[want] = cols[o]
                    break
            else:
                raise ValueError(f"{self.path}: index columns {names} lack {want}")
        for n, i in cols.items():
            out.setdefault(n, i)
        return out

    def _shard_files(self) -> List[Tuple[str, str]]:
        entries = self.manifest.get("shards")
        out = []
        if isinstance(entries, list) and entries:
            for e in entries:
                if isinstance(e, str):
                    tok, idx = e, None
                elif isinstance(e, dict):
                    tok = next((e[k] for k in ("tokens_file", "tokens", "token_file", "file", "path", "data")
                                if isinstance(e.get(k), str)), None)
                    idx = next((e[k] for k in ("index_file", "index", "idx", "idx_file")
                                if isinstance(e.get(k), str)), None)
                else:
                    tok = idx = None
                if tok is None:
                    raise ValueError(f"{self.path}/{MANIFEST}: shard entry {e!r} names no token file")
                if idx is None:
                    idx = _index_name(tok)
                out.append((os.path.join(self.path, tok), os.path.join(self.path, idx)))
                if isinstance(e, dict):    # sizes recorded by the writer: catch truncated or replaced files
                    for name, key in ((tok, "tokens_file_size"), (idx, "index_file_size")):
                        want, path = e.get(key), os.path.join(self.path, name)
                        if isinstance(want, int) and os.path.exists(path) and os.path.getsize(path) != want:
                            raise ValueError(f"{path}: {os.path.getsize(path)} bytes, the manifest says {want}")
            return out
        names = sorted(p for p in glob.glob(os.path.join(self.path, "shard-*"))
                       if (p.endswith(".npy") or p.endswith(".bin")) and not p.endswith((".idx.npy", ".docs.npy")))
        return [(p, _index_name(p)) for p in names]

    def _open(self, token_path: str, index_path: str) -> Shard:
        if not os.path.exists(index_path):
            raise FileNotFoundError(f"{index_path}: index file missing")
        index = np.load(index_path, allow_pickle=False)
        if index.ndim != 2 or index.shape[1] < 3 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"{index_path}: expected an integer [n_examples, k >= 3] array, got "
                             f"{index.dtype} {index.shape}")
        index = index.astype(np.int64, copy=False)
        if token_path.endswith(".npy"):
            tokens = np.load(token_path, mmap_mode="r", allow_pickle=False)
            if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
                raise ValueError(f"{token_path}: expected a 1-D integer array, got {tokens.dtype} {tokens.shape}")
        else:
            size = os.path.getsize(token_path)
            want = int(index[:, self.columns["token_count"]].sum()) if len(index) else 0
            dtype = _find(self.manifest, "dtype", "token_dtype")
            if dtype is not None:
                dt = np.dtype(dtype).newbyteorder("<")
            elif want > 0 and size % want == 0 and size // want in (1, 2, 4):
                dt = np.dtype(f"<u{size // want}")   # the width the index implies
            else:
                dt = _token_dtype(self.token_bits, self.vocab_size)
            if size % dt.itemsize:
                raise ValueError(f"{token_path}: {size} bytes is not a whole number of {dt} tokens")
            tokens = np.memmap(token_path, dtype=dt, mode="r") if size else np.zeros(0, dtype=dt)
        return Shard(tokens, index, token_path, index_path)

    def _validate(self, check_tokens: bool) -> None:
        c = self.columns
        for s in self.shards:
            ix = s.index
            if not len(ix):
                continue
            off, cnt, nb = ix[:, c["token_offset"]], ix[:, c["token_count"]], ix[:, c["byte_count"]]
            if (off < 0).any() or (cnt < 0).any() or (nb < 0).any():
                raise ValueError(f"{s.index_path}: negative offset or count")
            if int((off + cnt).max()) > len(s.tokens):
                raise ValueError(f"{s.index_path}: an example ends at token {int((off + cnt).max())}, past the "
                                 f"{len(s.tokens)} tokens of {os.path.basename(s.token_path)}")
            if (off[1:] < off[:-1] + cnt[:-1]).any():
                raise ValueError(f"{s.index_path}: examples overlap or are out of order (token_offset)")
            if check_tokens and self.vocab_size is not None and len(s.tokens):
                top = int(np.max(s.tokens))
                if top >= self.vocab_size:
                    raise ValueError(f"{s.token_path}: token {top} >= vocab_size {self.vocab_size}")

    # ---- properties
    @property
    def n_examples(self) -> int:
        return len(self.examples)

    @property
    def n_tokens(self) -> int:
        return int(self.examples[:, 2].sum())

    @property
    def n_bytes(self) -> int:
        return int(self.examples[:, 3].sum())

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / max(1, self.n_tokens)

    @property
    def window_tokens(self) -> Optional[int]:
        """b/N tokens per window for equal-info shards (windows start at every example's
        token 0, so a token's window position is its index in the example mod b/N)."""
        if self.method == "equal-info" and self.window_bits and self.token_bits:
            return self.window_bits // self.token_bits
        return None

    def column(self, name: str) -> np.ndarray:
        """An index column (by its manifest name) over all examples, in example order."""
        if name not in self.columns:
            raise KeyError(f"{self.path}: no index column {name!r} (have {sorted(self.columns)})")
        return np.concatenate([s.index[:, self.columns[name]] for s in self.shards])

    def example_tokens(self, i: int) -> np.ndarray:
        s, off, cnt, _ = self.examples[i]
        return np.asarray(self.shards[int(s)].tokens[int(off):int(off) + int(cnt)])

    def read(self, shard: int, start: int, length: int) -> np.ndarray:
        return np.asarray(self.shards[int(shard)].tokens[int(start):int(start) + int(length)])

    def fingerprint(self) -> str:
        """SHA-256 of the manifest (or of the index files without one): identifies the data."""
        h = hashlib.sha256()
        mpath = os.path.join(self.path, MANIFEST)
        if os.path.exists(mpath):
            with open(mpath, "rb") as f:
                h.update(f.read())
        else:
            for s in self.shards:
                h.update(np.ascontiguousarray(s.index).tobytes())
        return h.hexdigest()[:16]

    def sequences(self, seq_len: int, packing: str = "split",
                  examples: Optional[np.ndarray] = None) -> np.ndarray:
        """int64 [n_seq, 5]: shard, token start (in the shard file), length, position of the
        first token within its example (-1 for "concat"), example number (-1 for "concat").
        `examples` restricts "split"/"truncate" to those example numbers."""
        if seq_len < 1:
            raise ValueError("seq_len must be >= 1")
        if packing not in PACKINGS:
            raise ValueError(f"unknown packing {packing!r} (have {', '.join(PACKINGS)})")
        if packing == "concat":
            rows = []
            for s_id, s in enumerate(self.shards):
                sel = self.examples[self.examples[:, 0] == s_id]
                sel = sel[sel[:, 2] > 0]
                if not len(sel):
                    continue
                lo, hi = int(sel[0, 1]), int(sel[-1, 1] + sel[-1, 2])
                starts = np.arange(lo, hi - seq_len + 1, seq_len, dtype=np.int64)
                rows.append(np.stack([np.full(len(starts), s_id), starts, np.full(len(starts), seq_len),
                                      np.full(len(starts), -1), np.full(len(starts), -1)], axis=1))
            return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 5), dtype=np.int64)
        ex_ids = np.arange(self.n_examples, dtype=np.int64) if examples is None else np.asarray(examples, np.int64)
        ex = self.examples[ex_ids]
        keep = ex[:, 2] > 0
        ex, ex_ids = ex[keep], ex_ids[keep]
        if packing == "truncate":
            return np.stack([ex[:, 0], ex[:, 1], np.minimum(ex[:, 2], seq_len), np.zeros(len(ex), np.int64),
                             ex_ids], axis=1).astype(np.int64)
        n_seq = (ex[:, 2] + seq_len - 1) // seq_len
        rep = np.repeat(np.arange(len(ex)), n_seq)
        first = np.repeat(np.cumsum(n_seq) - n_seq, n_seq)
        pos = (np.arange(len(rep)) - first) * seq_len
        length = np.minimum(seq_len, ex[rep, 2] - pos)
        return np.stack([ex[rep, 0], ex[rep, 1] + pos, length, pos, ex_ids[rep]], axis=1).astype(np.int64)

    def batch(self, rows: np.ndarray, bos: int, pad_to: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
        """(inputs, targets, mask) for sequence-table rows, [B, T] with T the longest row (or
        pad_to): inputs = [BOS, t_0 .. t_{L-2}], targets = t_0 .. t_{L-1}, mask 1 on the L
        real positions. int64, int64, float32."""
        t = int(rows[:, SEQ_LEN].max()) if len(rows) else 0
        t = max(t, pad_to or 0)
        b = len(rows)
        inputs = np.zeros((b, t), dtype=np.int64)
        targets = np.zeros((b, t), dtype=np.int64)
        mask = np.zeros((b, t), dtype=np.float32)
        for i, (s, start, length, _, _) in enumerate(rows):
            seq = self.read(s, start, length).astype(np.int64)
            inputs[i, 0] = bos
            inputs[i, 1:length] = seq[:length - 1]
            targets[i, :length] = seq
            mask[i, :length] = 1.0
        return inputs, targets, mask

    def describe(self) -> str:
        extra = f" b={self.window_bits}" if self.window_bits else ""
        return (f"{self.path}: {self.method}{extra} N={self.token_bits} vocab {self.vocab_size}; "
                f"{len(self.shards)} shard(s), {self.n_examples:,} examples, {self.n_tokens:,} tokens, "
                f"{self.n_bytes:,} bytes ({self.bytes_per_token:.3f} bytes/token)")


def _index_name(token_path: str) -> str:
    base = token_path[:-4] if token_path.endswith((".npy", ".bin")) else token_path
    return base + ".idx.npy"


# --------------------------------------------------------------------------- writing

def _atomic_save(path: str, write) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


class ShardWriter:
    """Writes examples' tokens in `eqinfo shard`'s layout: every `shard_examples` examples make
    shard-NNNNNN.npy (or .bin), .idx.npy (int64 [examples, 6], INDEX_COLUMNS) and .docs.npy
    (int64 [documents, 3], DOCUMENTS_COLUMNS); manifest.json is written last (its presence
    marks a complete directory). `settings` go into the manifest's "settings" (method,
    token_bits, vocab_size, ...), `model` into "model"."""

    def __init__(self, out_dir: str, settings: dict, model: Optional[dict] = None, shard_examples: int = 1024,
                 fmt: str = "npy", example_bytes: int = EXAMPLE_BYTES, separator: bytes = SEPARATOR,
                 keep_documents: bool = False, text_field: str = "text"):
        if fmt not in ("npy", "raw"):
            raise ValueError("fmt must be npy or raw")
        os.makedirs(out_dir, exist_ok=True)
        if os.path.exists(os.path.join(out_dir, MANIFEST)):
            os.unlink(os.path.join(out_dir, MANIFEST))
        self.out_dir, self.settings, self.fmt = out_dir, dict(settings), fmt
        self.model = model or {"kind": "none", "path": "", "fingerprint": "0x00000000"}
        self.shard_examples = max(1, int(shard_examples))
        self.layout = {"example_bytes": example_bytes, "separator_hex": separator.hex(),
                       "keep_documents": keep_documents, "text_field": text_field}
        try:
            self.layout["separator"] = separator.decode("utf-8")
        except UnicodeDecodeError:
            pass
        vs = settings.get("vocab_size") or (1 << int(settings["token_bits"]))
        self.vocab_size = int(vs)
        self.dtype = np.dtype("<u2") if self.vocab_size <= 65536 else np.dtype("<u4")
        self._tokens: List[np.ndarray] = []
        self._rows: List[List[int]] = []
        self._docs: List[Tuple[int, int, int]] = []
        self._source_crc = 0
        self._n_tok = 0
        self.shards: List[dict] = []

    def add(self, tokens, example) -> None:
        """example: an Example, or (byte_count, stream_offset) for data without documents."""
        t = np.asarray(tokens)
        if t.ndim != 1:
            raise ValueError("tokens must be 1-D")
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= self.vocab_size):
            raise ValueError(f"token out of range [0, {self.vocab_size})")
        if isinstance(example, Example):
            nb, row = len(example.data), [example.stream_offset, example.document, example.document_offset]
            for d in example.documents:
                if not self._docs or self._docs[-1][0] != d[0]:
                    self._docs.append(d)
            self._source_crc = zlib.crc32(example.data, self._source_crc)
        else:
            nb, off = int(example[0]), int(example[1])
            row = [off, 0, off]
        self._rows.append(row + [nb, self._n_tok, len(t)])
        self._tokens.append(t.astype(self.dtype, copy=False))
        self._n_tok += len(t)
        if len(self._rows) >= self.shard_examples:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        name = f"shard-{len(self.shards):06d}"
        tok_name = name + (".npy" if self.fmt == "npy" else ".bin")
        toks = np.concatenate(self._tokens).astype(self.dtype, copy=False) if self._tokens else np.zeros(0, self.dtype)
        files = {
            "tokens": (tok_name, _npy_bytes(toks) if self.fmt == "npy" else toks.tobytes()),
            "index": (name + ".idx.npy", _npy_bytes(np.array(self._rows, dtype=np.int64).reshape(-1, 6))),
            "documents": (name + ".docs.npy", _npy_bytes(np.array(self._docs, dtype=np.int64).reshape(-1, 3))),
        }
        rec = {}
        for key, (fname, data) in files.items():
            _atomic_save(os.path.join(self.out_dir, fname), lambda tmp, data=data: open(tmp, "wb").write(data))
            rec.update({f"{key}_file": fname, f"{key}_file_size": len(data), f"{key}_crc32": _crc_hex(data)})
        rec.update({"examples": len(self._rows), "bytes": int(sum(r[3] for r in self._rows)),
                    "tokens": int(len(toks)), "documents": len(self._docs),
                    "source_crc32": f"0x{self._source_crc & 0xFFFFFFFF:08x}"})
        self.shards.append(rec)
        self._tokens, self._rows, self._docs, self._n_tok, self._source_crc = [], [], [], 0, 0

    def close(self, inputs: Optional[List[dict]] = None, extra: Optional[dict] = None) -> dict:
        self._flush()
        inputs = inputs or []
        totals = {"inputs": len(inputs), "input_bytes": sum(i["size"] for i in inputs),
                  "documents": sum(i["documents"] for i in inputs), "shards": len(self.shards),
                  "examples": sum(r["examples"] for r in self.shards), "bytes": sum(r["bytes"] for r in self.shards),
                  "tokens": sum(r["tokens"] for r in self.shards)}
        manifest = {"format": FORMAT, "shard_format": FORMAT_VERSION, "writer": "training/m2/make_shards.py",
                    "settings": self.settings, "model": self.model, **self.layout,
                    "shard_examples": self.shard_examples, "token_format": self.fmt,
                    "token_dtype": "uint16" if self.dtype.itemsize == 2 else "uint32",
                    "index_columns": list(INDEX_COLUMNS), "documents_columns": list(DOCUMENTS_COLUMNS),
                    "inputs": inputs, "shards": self.shards, "totals": totals, **(extra or {})}
        _atomic_save(os.path.join(self.out_dir, MANIFEST),
                     lambda tmp: open(tmp, "w").write(json.dumps(manifest, indent=1) + "\n"))
        return manifest


def write_shards(out_dir: str, settings: dict, examples: Iterable[Tuple[np.ndarray, int, int]],
                 shard_examples: int = 1024, fmt: str = "npy", model: Optional[dict] = None,
                 extra: Optional[dict] = None) -> dict:
    """Synthetic shards: examples are (tokens, byte_count, stream_offset). Returns the manifest."""
    w = ShardWriter(out_dir, settings, model=model, shard_examples=shard_examples, fmt=fmt)
    for tokens, nb, off in examples:
        w.add(tokens, (nb, off))
    return w.close(extra=extra)
