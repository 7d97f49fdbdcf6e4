"""Token shards for M2: sequence packing over eqinfo's shard reader, and one ShardWriter.

Reading is eqinfo's: `eqinfo.shards.Shards` (python/eqinfo/shards.py; pure Python, no C++
extension needed), as strict as `eqinfo verify` (docs/format.md "Token shards",
include/eqinfo/shards.hpp). ShardSet adds what M2 needs: the method in training's names,
the vocabulary, an example table, and the sequences of PACKINGS. The only leniency, asked
for by name: the methods made in Python that eqinfo cannot decode (OTHER_METHODS: "gzip",
"sentencepiece"; make_shards.py); `eqinfo verify` rejects those directories.

Writing: ShardWriter writes eqinfo shard's layout (make_shards.py's GZip, SentencePiece and
Bytes shards; derive_16bit's EqualInfoAC v=65k shards from v=256 ones) and checks its
manifest with eqinfo's reader before writing it.

Sequences for M2 (ShardSet.sequences): eqinfo.shards.PACKINGS, the vocabulary
eqinfo.torch_data uses too. The default, "split", cuts each example's tokens into
consecutive sequences of at most seq_len tokens that never cross an example boundary; the
last, shorter one is kept (right-padded in a batch, padding masked). Every token is then in
exactly one sequence, which evaluation needs (bits/byte over whole examples with their true
byte counts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
from eqinfo.shards import (DEFAULT_PACKING, DOCUMENTS_COLUMNS, FORMAT, INDEX_COLUMNS, MANIFEST, METHODS,
                           PACKINGS, SHARD_FORMAT, STREAM_FORMATS, Shards, check_manifest)

from training.common import atomic_write_bytes

__all__ = ["ShardSet", "ShardWriter", "write_shards", "derive_16bit", "PACKINGS", "DEFAULT_PACKING",
           "OTHER_METHODS", "M1_METHODS", "EXAMPLE_BYTES", "SEPARATOR", "MANIFEST"]

EXAMPLE_BYTES = 10240
SEPARATOR = b"\n\n"
#: Methods made in Python (make_shards.py) that eqinfo's tools do not decode.
OTHER_METHODS = ("gzip", "sentencepiece")
# Methods whose tokens come from M1 (their FLOPs/byte includes M1's): AC and EqualInfoAC
# with an M1 model; StaticAC's unigram model and the uniform model cost nothing.
M1_METHODS = ("ac", "equal-info")
# Sequence table columns (ShardSet.sequences)
SEQ_SHARD, SEQ_START, SEQ_LEN, SEQ_POS, SEQ_EXAMPLE = range(5)
EQINFO_STREAM_FORMAT = max(STREAM_FORMATS)   # the newest eqinfo.shards reads (include/eqinfo/version.hpp)


# --------------------------------------------------------------------------- reading

class ShardSet(Shards):
    """A shard directory read by eqinfo's strict reader, with M2's view of it.

    method: Tokenizer's names ("equal-info", "ac", "bytes"), "static-ac" for ac with a
    unigram model, or an OTHER_METHODS name. vocab_size: the manifest's settings
    "vocab_size" (ShardWriter writes it), else 2**token_bits. check_tokens: every token
    below vocab_size (and 2**token_bits), checked at open."""

    def __init__(self, path: str, check_tokens: bool = True):
        super().__init__(path, other_methods=OTHER_METHODS)
        st = self.manifest["settings"]
        self.model_kind = self.manifest["model"]["kind"]
        self.method = METHODS.get(st["method"], st["method"])
        if self.method == "ac" and self.model_kind == "unigram":
            self.method = "static-ac"      # eqinfo writes StaticAC as method "ac" with a unigram model
        eq = st["method"] == "equal_info_ac"
        self.window_bits: Optional[int] = st["window_bits"] if eq else None
        self.precision_bits: Optional[int] = st["precision_bits"] if st["method"] in ("ac", "equal_info_ac") else None
        self.rule: Optional[str] = st["rule"] if eq else None
        self.example_bytes: int = self.manifest["example_bytes"]
        vs = st.get("vocab_size", 1 << self.token_bits)
        if isinstance(vs, bool) or not isinstance(vs, int) or not 1 <= vs <= 1 << self.token_bits:
            raise ValueError(f"{self.path}/{MANIFEST}: \"settings\" has vocab_size {vs!r}, not in "
                             f"[1, 2^{self.token_bits}]")
        self.vocab_size: int = vs
        rows = []
        for k in range(self.num_shards):
            ix = self.index(k)
            rows.append(np.stack([np.full(len(ix), k, dtype=np.int64), ix[:, 4], ix[:, 5], ix[:, 3]], axis=1))
            tokens = self.tokens(k)
            if check_tokens and len(tokens) and int(tokens.max()) >= vs:
                i = int(np.argmax(np.asarray(tokens) >= vs))
                raise ValueError(f"{os.path.join(self.path, self.records[k]['tokens_file'])}: token {i} is "
                                 f"{int(tokens[i])}, not below vocab_size {vs}")
        # examples: [n, 4] = shard, token_offset, token_count, byte_count
        self.examples = np.concatenate(rows, axis=0) if rows else np.zeros((0, 4), dtype=np.int64)

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
        if self.method == "equal-info":
            return self.window_bits // self.token_bits
        return None

    def column(self, name: str) -> np.ndarray:
        """An index column (INDEX_COLUMNS) over all examples, in example order."""
        if name not in INDEX_COLUMNS:
            raise KeyError(f"{self.path}: no index column {name!r} (have {list(INDEX_COLUMNS)})")
        c = INDEX_COLUMNS.index(name)
        return np.concatenate([self.index(k)[:, c] for k in range(self.num_shards)])

    def example_tokens(self, i: int) -> np.ndarray:
        s, off, cnt, _ = self.examples[i]
        return np.asarray(self.tokens(int(s))[int(off):int(off) + int(cnt)])

    def read(self, shard: int, start: int, length: int) -> np.ndarray:
        return np.asarray(self.tokens(int(shard))[int(start):int(start) + int(length)])

    def fingerprint(self) -> str:
        """SHA-256 of the manifest: identifies the data."""
        with open(os.path.join(self.path, MANIFEST), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]

    def sequences(self, seq_len: int, packing: str = DEFAULT_PACKING,
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
            for s_id in range(self.num_shards):
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
                f"{self.num_shards} shard(s), {self.n_examples:,} examples, {self.n_tokens:,} tokens, "
                f"{self.n_bytes:,} bytes ({self.bytes_per_token:.3f} bytes/token)")


# --------------------------------------------------------------------------- writing

def _crc_hex(data: bytes) -> str:
    return f"0x{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


def _eqinfo_version() -> str:
    try:
        import eqinfo
        return eqinfo.__version__
    except ImportError:          # the C++ extension is not built: the writer is this script
        return ""


class ShardWriter:
    """Writes examples' tokens in `eqinfo shard`'s layout: every `shard_examples` examples make
    shard-NNNNNN.npy (or .bin), .idx.npy (int64 [examples, 6], INDEX_COLUMNS) and .docs.npy
    (int64 [documents, 3], DOCUMENTS_COLUMNS); manifest.json is written last (its presence
    marks a complete directory), after eqinfo's reader has checked it.

    `settings` go into the manifest's "settings" as eqinfo's reader reads them ("method"
    bytes/ac/equal_info_ac with their fields, or an OTHER_METHODS name; "token_bits"), plus
    any keys of the writer's own, e.g. "vocab_size" (the vocabulary when it is smaller than
    2**token_bits). `model` goes into "model" (kind, path, fingerprint; defaults "none", "",
    0x00000000)."""

    def __init__(self, out_dir: str, settings: dict, model: Optional[dict] = None, shard_examples: int = 1024,
                 fmt: str = "npy", example_bytes: int = EXAMPLE_BYTES, separator: bytes = SEPARATOR,
                 keep_documents: bool = False, text_field: str = "text", eqinfo_version: Optional[str] = None,
                 stream_format: int = EQINFO_STREAM_FORMAT):
        if fmt not in ("npy", "raw"):
            raise ValueError("fmt must be npy or raw")
        os.makedirs(out_dir, exist_ok=True)
        if os.path.exists(os.path.join(out_dir, MANIFEST)):
            os.unlink(os.path.join(out_dir, MANIFEST))
        self.out_dir, self.settings, self.fmt = out_dir, dict(settings), fmt
        self.model = {"kind": "none", "path": "", "fingerprint": "0x00000000", **(model or {})}
        self.shard_examples = max(1, int(shard_examples))
        self.head = {"eqinfo_version": _eqinfo_version() if eqinfo_version is None else eqinfo_version,
                     "stream_format": stream_format}
        self.layout = {"example_bytes": example_bytes}
        try:
            self.layout["separator"] = separator.decode("utf-8")
        except UnicodeDecodeError:
            pass
        self.layout.update(separator_hex=separator.hex(), keep_documents=keep_documents)
        self.token_bits = int(self.settings["token_bits"])
        self.vocab_size = int(self.settings.get("vocab_size") or (1 << self.token_bits))
        self.dtype = np.dtype("<u2") if self.token_bits <= 16 else np.dtype("<u4")
        self.text_field = text_field
        self._tokens: List[np.ndarray] = []
        self._rows: List[List[int]] = []
        self._docs: List[Tuple[int, int, int]] = []
        self._source_crc = 0
        self._n_tok = 0
        self._stream = 0
        self.shards: List[dict] = []

    def add(self, tokens, byte_count: int, data: Optional[bytes] = None, stream_offset: Optional[int] = None,
            document: int = 0, document_offset: Optional[int] = None,
            documents: Sequence[Tuple[int, int, int]] = ()) -> None:
        """One example: its tokens and the number of bytes they encode; `data` (its bytes, for
        the shard's source_crc32), and eqinfo shard's index fields: the example's first byte is
        at `stream_offset` (default and required: right after the previous example), in
        `document` at `document_offset` (default: stream_offset); `documents` are the
        (document, stream_offset, byte_count) of the documents it touches."""
        t = np.asarray(tokens)
        if t.ndim != 1:
            raise ValueError("tokens must be 1-D")
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= self.vocab_size):
            raise ValueError(f"token out of range [0, {self.vocab_size})")
        if stream_offset is not None and stream_offset != self._stream:
            raise ValueError(f"example at stream offset {stream_offset}; the examples so far end at {self._stream}")
        off = self._stream
        for d in documents:
            if not self._docs or self._docs[-1][0] != d[0]:
                self._docs.append(tuple(d))
        if data is not None:
            self._source_crc = zlib.crc32(data, self._source_crc)
        self._rows.append([off, document, off if document_offset is None else document_offset, int(byte_count),
                           self._n_tok, len(t)])
        self._tokens.append(t.astype(self.dtype, copy=False))
        self._n_tok += len(t)
        self._stream += int(byte_count)
        if len(self._rows) >= self.shard_examples:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        toks = np.concatenate(self._tokens) if self._tokens else np.zeros(0, self.dtype)
        self.write_shard(toks, np.array(self._rows, dtype=np.int64).reshape(-1, 6),
                         np.array(self._docs, dtype=np.int64).reshape(-1, 3), self._source_crc, _pending=True)
        self._tokens, self._rows, self._docs, self._n_tok, self._source_crc = [], [], [], 0, 0

    def write_shard(self, tokens: np.ndarray, index: np.ndarray, documents: np.ndarray, source_crc32: int,
                    _pending: bool = False) -> dict:
        """The next shard, whole: its tokens, index rows (INDEX_COLUMNS), document table and the
        CRC-32 of its examples' bytes. Returns its manifest record."""
        if self._rows and not _pending:
            raise RuntimeError("ShardWriter: write_shard after add() of an unfinished shard")
        name = f"shard-{len(self.shards):06d}"
        toks = np.asarray(tokens).astype(self.dtype, copy=False)
        files = {
            "tokens": (name + (".npy" if self.fmt == "npy" else ".bin"),
                       _npy_bytes(toks) if self.fmt == "npy" else toks.tobytes()),
            "index": (name + ".idx.npy", _npy_bytes(np.ascontiguousarray(index, dtype="<i8"))),
            "documents": (name + ".docs.npy", _npy_bytes(np.ascontiguousarray(documents, dtype="<i8"))),
        }
        rec = {}
        for key, (fname, data) in files.items():
            atomic_write_bytes(os.path.join(self.out_dir, fname), data)
            rec.update({f"{key}_file": fname, f"{key}_file_size": len(data), f"{key}_crc32": _crc_hex(data)})
        rec.update({"examples": len(index), "bytes": int(np.asarray(index)[:, 3].sum()), "tokens": int(len(toks)),
                    "documents": len(documents), "source_crc32": f"0x{source_crc32 & 0xFFFFFFFF:08x}"})
        self.shards.append(rec)
        return rec

    def close(self, inputs: Optional[List[dict]] = None, extra: Optional[dict] = None) -> dict:
        self._flush()
        inputs = inputs or []
        totals = {"inputs": len(inputs), "input_bytes": sum(i["size"] for i in inputs),
                  "documents": sum(i["documents"] for i in inputs), "shards": len(self.shards),
                  "examples": sum(r["examples"] for r in self.shards), "bytes": sum(r["bytes"] for r in self.shards),
                  "tokens": sum(r["tokens"] for r in self.shards)}
        manifest = {"format": FORMAT, "shard_format": SHARD_FORMAT, **self.head,
                    "writer": "training/m2/shards.py ShardWriter", "settings": self.settings, "model": self.model,
                    **self.layout, "shard_examples": self.shard_examples, "token_format": self.fmt,
                    "token_dtype": "uint16" if self.dtype.itemsize == 2 else "uint32", "text_field": self.text_field,
                    "index_columns": list(INDEX_COLUMNS), "documents_columns": list(DOCUMENTS_COLUMNS),
                    "inputs": inputs, "shards": self.shards, "totals": totals, **(extra or {})}
        path = os.path.join(self.out_dir, MANIFEST)
        check_manifest(manifest, path, OTHER_METHODS)       # never write what the reader rejects
        atomic_write_bytes(path, (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
        return manifest


def write_shards(out_dir: str, settings: dict, examples: Iterable[Tuple[np.ndarray, int]],
                 shard_examples: int = 1024, fmt: str = "npy", model: Optional[dict] = None,
                 extra: Optional[dict] = None) -> dict:
    """Synthetic shards (one stream, no documents): examples are (tokens, byte_count), back to
    back in the example stream. Returns the manifest."""
    w = ShardWriter(out_dir, settings, model=model, shard_examples=shard_examples, fmt=fmt)
    for tokens, nb in examples:
        w.add(tokens, nb)
    return w.close(extra=extra)


def derive_16bit(src: str, dst: str) -> dict:
    """EqualInfoAC N=16 shards from the N=8 shards of the same b: token = t[2i] << 8 | t[2i+1]
    within every example (each example holds whole windows of b bits, b a multiple of 16).
    Everything else (index rows but the token columns, document tables, inputs, model) is the
    source's. Returns the new manifest."""
    s = Shards(src)
    m = s.manifest
    st = m["settings"]
    if st["method"] != "equal_info_ac" or st["token_bits"] != 8 or st["window_bits"] % 16:
        raise RuntimeError(f"{src}: cannot derive 16-bit tokens from {st['method']} N={st['token_bits']} "
                           f"b={st.get('window_bits')}")
    if os.path.exists(dst):
        shutil.rmtree(dst)
    w = ShardWriter(dst, {**st, "token_bits": 16}, model=m["model"], shard_examples=m["shard_examples"],
                    fmt=m["token_format"], example_bytes=m["example_bytes"],
                    separator=bytes.fromhex(m["separator_hex"]), keep_documents=m["keep_documents"],
                    text_field=m["text_field"], eqinfo_version=m["eqinfo_version"], stream_format=m["stream_format"])
    for k, rec in enumerate(s.records):
        tok = np.asarray(s.tokens(k)).astype(np.uint32)
        idx = np.array(s.index(k))
        if (idx[:, 4] % 2).any() or (idx[:, 5] % 2).any() or len(tok) % 2:
            raise RuntimeError(f"{src}: an example with an odd number of 8-bit tokens")
        idx[:, 4] //= 2
        idx[:, 5] //= 2
        w.write_shard(((tok[0::2] << 8) | tok[1::2]).astype(np.uint16), idx, s.documents(k),
                      int(rec["source_crc32"], 16))
    return w.close(m["inputs"], extra={"derived_from": {"shards": os.path.abspath(src),
                                                        "by": "training/m2/shards.py derive_16bit"}})
