#!/usr/bin/python3
"""Token shards for the baselines made in Python: GZip, SentencePiece and Bytes.

    # GZip[v=256] and GZip[v=65k]: each 10,240-byte example zlib-compressed on its own
    /usr/bin/python3 -m training.m2.make_shards gzip --token-bits 8 --input ~/.cache/eqinfo/data/train.txt \
        --out shards/gzip-v256/train
    # SentencePiece with the project's 32k unigram model (training/train_sentencepiece.py)
    /usr/bin/python3 -m training.m2.make_shards sentencepiece --model models/spm/en32k.model \
        --input ~/.cache/eqinfo/data/valid.txt --out shards/sp32k/valid
    # or train a model here (lossless settings, below) and encode with it
    /usr/bin/python3 -m training.m2.make_shards sentencepiece --train-model shards/sp.model --vocab-size 32000 \
        --input ~/.cache/eqinfo/data/train.txt --out shards/sp/train

Inputs and examples follow `eqinfo shard` exactly (read_documents / cut_documents below,
tested against the CLI): files or directories (hidden entries skipped, sorted by relative
path), .jsonl files with one document per non-blank line (--text-field), the documents
joined with --separator ("\\n\\n") and cut into --example-bytes (10,240) byte examples, the
last one shorter (--keep-documents: each document on its own). The output directory has
eqinfo shard's layout (index and document tables, manifest with sizes and CRC-32s); its
"settings" name the method ("gzip", "sentencepiece", "bytes"), which the C++ tools do not
decode (`eqinfo verify` refuses such a directory; Bytes shards are also made by
`eqinfo shard --method bytes`, identically).

GZip (the paper's GZip[v] baseline, sec. 3.3): zlib at the default level (6) with its
header and checksum kept (--wrapper zlib, what zlib.compress writes; gzip and raw deflate
are options), each example compressed on its own, the compressed bytes packed into tokens
most significant bit first like eqinfo's (N=8: one byte per token; N=16: token = byte0 << 8
| byte1, an odd last byte padded with a zero byte).

SentencePiece (the paper used T5's 32k unigram vocabulary, trained on C4; we use a unigram
model trained on our training split). Each example is encoded on its own and decodes back
to its bytes (--train-model trains with lossless settings: identity normalisation, no dummy
prefix, whitespace kept, byte fallback). An example cut inside a multi-byte UTF-8
character gets U+FFFD for the partial character (at most 3 bytes at each end of such an
example); bits/byte always uses the example's true byte count.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zlib
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from training.m2.shards import EXAMPLE_BYTES, SEPARATOR, ShardWriter

GZIP_WBITS = {"zlib": 15, "gzip": 31, "raw": -15}
SP_MODEL_FILE = "sentencepiece.model"


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


# --------------------------------------------------------------------------- bytes <-> N-bit tokens

def bytes_to_tokens(data: bytes, token_bits: int) -> np.ndarray:
    """N = 8: one token per byte; N = 16: big-endian byte pairs (MSB first), zero-padded."""
    a = np.frombuffer(data, dtype=np.uint8)
    if token_bits == 8:
        return a.astype(np.uint16)
    if token_bits == 16:
        if len(a) % 2:
            a = np.concatenate([a, np.zeros(1, np.uint8)])
        return (a[0::2].astype(np.uint32) << 8 | a[1::2]).astype(np.uint16)
    raise ValueError("token_bits must be 8 or 16")


def tokens_to_bytes(tokens, token_bits: int) -> bytes:
    t = np.asarray(tokens, dtype=np.int64)
    if token_bits == 8:
        if len(t) and (t.min() < 0 or t.max() > 255):
            raise ValueError("8-bit token out of range")
        return t.astype(np.uint8).tobytes()
    if token_bits == 16:
        if len(t) and (t.min() < 0 or t.max() > 65535):
            raise ValueError("16-bit token out of range")
        return t.astype(">u2").tobytes()
    raise ValueError("token_bits must be 8 or 16")


# --------------------------------------------------------------------------- GZip

def gzip_compress(example: bytes, level: int = zlib.Z_DEFAULT_COMPRESSION, wrapper: str = "zlib") -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS[wrapper])
    return c.compress(example) + c.flush()


def gzip_tokens(example: bytes, token_bits: int, level: int = zlib.Z_DEFAULT_COMPRESSION,
                wrapper: str = "zlib") -> np.ndarray:
    return bytes_to_tokens(gzip_compress(example, level, wrapper), token_bits)


def gzip_decode(tokens, token_bits: int, wrapper: str = "zlib", strict: bool = True) -> bytes:
    """Bytes of GZip tokens. strict: the tokens must be exactly one complete stream (plus the
    zero pad byte of N=16), else ValueError. Not strict (sampled tokens): the bytes that
    decompress before the stream ends or breaks."""
    data = tokens_to_bytes(tokens, token_bits)
    d = zlib.decompressobj(GZIP_WBITS[wrapper])
    if strict:
        try:
            out = d.decompress(data)
        except zlib.error as e:
            raise ValueError(f"gzip_decode: {e}") from None
        if not d.eof:
            raise ValueError("gzip_decode: the stream is truncated")
        if d.unused_data not in (b"", b"\0") or (d.unused_data == b"\0" and token_bits != 16):
            raise ValueError(f"gzip_decode: {len(d.unused_data)} bytes after the stream")
        return out
    out = []
    for i in range(0, len(data), 64):      # small pieces: keep what decodes before an error
        try:
            out.append(d.decompress(data[i:i + 64]))
        except zlib.error:
            break
        if d.eof:
            break
    return b"".join(out)


# --------------------------------------------------------------------------- SentencePiece

def _sp():
    try:
        import sentencepiece as spm
    except ImportError:
        raise SystemExit("make_shards: SentencePiece needs python3-sentencepiece "
                         "(apt-get install -y python3-sentencepiece)") from None
    return spm


def train_sentencepiece(text: bytes, model_path: str, vocab_size: int, train_bytes: int = 16 << 20,
                        seed_sentences: int = 2_000_000, threads: int = 1) -> None:
    """A lossless unigram model (see the module docstring) trained on the first train_bytes of text."""
    spm = _sp()
    d = tempfile.mkdtemp(prefix="m2-sp-")
    try:
        src = os.path.join(d, "train.txt")
        with open(src, "wb") as f:
            f.write(text[:train_bytes])
        prefix = os.path.join(d, "sp")
        if hasattr(spm, "set_random_generator_seed"):
            spm.set_random_generator_seed(0)      # sentence sampling: the same model every time
        spm.SentencePieceTrainer.train(
            input=src, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
            character_coverage=1.0, normalization_rule_name="identity", add_dummy_prefix=False,
            remove_extra_whitespaces=False, byte_fallback=True, allow_whitespace_only_pieces=True,
            split_digits=False, input_sentence_size=seed_sentences, shuffle_input_sentence=True,
            max_sentence_length=1 << 16, num_threads=threads, hard_vocab_limit=False,
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, user_defined_symbols=["\n"], minloglevel=2)
        os.makedirs(os.path.dirname(os.path.abspath(model_path)), exist_ok=True)
        shutil.copyfile(prefix + ".model", model_path)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def sp_processor(model_path: str):
    spm = _sp()
    sp = spm.SentencePieceProcessor()
    if not sp.Load(model_path):
        raise SystemExit(f"make_shards: cannot load SentencePiece model {model_path}")
    return sp


def sp_tokens(sp, example: bytes) -> np.ndarray:
    return np.asarray(sp.EncodeAsIds(example.decode("utf-8", errors="replace")), dtype=np.int64)


def sp_decode(sp, tokens) -> bytes:
    return sp.DecodeIds([int(t) for t in tokens]).encode("utf-8")


# --------------------------------------------------------------------------- driver

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make(method: str, inputs: List[str], out: str, token_bits: int = 8, example_bytes: int = EXAMPLE_BYTES,
         max_bytes: int = 0, shard_examples: int = 1024, fmt: str = "npy", level: int = -1,
         wrapper: str = "zlib", sp_model: Optional[str] = None, separator: bytes = SEPARATOR,
         keep_documents: bool = False, text_field: str = "text", progress: bool = False) -> dict:
    """Writes the shard directory `out`; returns its manifest."""
    docs, input_records = read_documents(inputs, text_field)
    model = None
    extra = {}
    if method == "gzip":
        settings = {"method": "gzip", "token_bits": token_bits, "vocab_size": 1 << token_bits,
                    "gzip_level": level, "gzip_wrapper": wrapper, "zlib_version": zlib.ZLIB_VERSION,
                    "packing": "compressed bytes -> tokens MSB first; N=16: an odd last byte padded with 0"}

        def encode(ex: bytes) -> np.ndarray:
            return gzip_tokens(ex, token_bits, level, wrapper)
    elif method == "bytes":
        settings = {"method": "bytes", "token_bits": 8, "vocab_size": 256}

        def encode(ex: bytes) -> np.ndarray:
            return bytes_to_tokens(ex, 8)
    elif method == "sentencepiece":
        if not sp_model:
            raise SystemExit("make_shards: sentencepiece needs --model or --train-model")
        sp = sp_processor(sp_model)
        os.makedirs(out, exist_ok=True)
        shutil.copyfile(sp_model, os.path.join(out, SP_MODEL_FILE))
        with open(sp_model, "rb") as f:
            sp_bytes = f.read()
        vocab = int(sp.GetPieceSize())
        settings = {"method": "sentencepiece", "token_bits": max(1, (vocab - 1).bit_length()), "vocab_size": vocab}
        model = {"kind": "sentencepiece", "path": SP_MODEL_FILE, "source": os.path.abspath(sp_model),
                 "sha256": _sha256(sp_bytes), "fingerprint": f"0x{zlib.crc32(sp_bytes) & 0xFFFFFFFF:08x}"}

        def encode(ex: bytes) -> np.ndarray:
            return sp_tokens(sp, ex)
    else:
        raise ValueError(f"unknown method {method}")
    writer = ShardWriter(out, settings, model=model, shard_examples=shard_examples, fmt=fmt,
                         example_bytes=example_bytes, separator=separator, keep_documents=keep_documents,
                         text_field=text_field)
    total = sum(len(d) for d in docs) + (0 if keep_documents else len(separator) * max(0, len(docs) - 1))
    if max_bytes > 0:
        total = min(total, max_bytes)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=method, file=sys.stderr, dynamic_ncols=True)
    for ex in cut_documents(docs, example_bytes, separator, keep_documents):
        if max_bytes > 0 and ex.stream_offset >= max_bytes:
            break
        writer.add(encode(ex.data), len(ex.data), ex.data, ex.stream_offset, ex.document, ex.document_offset,
                   ex.documents)
        if bar is not None:
            bar.update(len(ex.data))
    if bar is not None:
        bar.close()
    manifest = writer.close(input_records, extra)
    t = manifest["totals"]
    print(f"make_shards: {out}: {method}: {t['examples']:,} examples, {t['tokens']:,} tokens, {t['bytes']:,} bytes, "
          f"{t['bytes'] / max(1, t['tokens']):.3f} bytes/token, {t['shards']} shard(s)", file=sys.stderr)
    return manifest


def _unescape(text: str) -> bytes:
    """C escapes as `eqinfo shard --separator` takes them: \\n \\t \\r \\\\ \\0 \\xHH."""
    out, i = bytearray(), 0
    raw = text.encode("utf-8")
    simple = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("\\"): 92, ord("0"): 0}
    while i < len(raw):
        c = raw[i]
        if c == 92 and i + 1 < len(raw):
            n = raw[i + 1]
            if n in simple:
                out.append(simple[n])
                i += 2
                continue
            if n == ord("x") and i + 3 < len(raw):
                out.append(int(raw[i + 2:i + 4].decode(), 16))
                i += 4
                continue
            raise SystemExit(f"make_shards: unknown escape in --separator {text!r}")
        out.append(c)
        i += 1
    return bytes(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=["gzip", "sentencepiece", "bytes"])
    p.add_argument("--input", nargs="+", required=True,
                   help="files or directories, as eqinfo shard's INPUTs (.jsonl: one document per line)")
    p.add_argument("--out", required=True, help="shard directory to write")
    p.add_argument("--token-bits", type=int, default=8, choices=[8, 16], help="gzip: 8 (v=256) or 16 (v=65k)")
    p.add_argument("--example-bytes", type=int, default=EXAMPLE_BYTES)
    p.add_argument("--separator", default="\\n\\n", help="bytes between joined documents (C escapes)")
    p.add_argument("--keep-documents", action="store_true", help="cut each document on its own")
    p.add_argument("--text-field", default="text", help="the .jsonl field holding the document")
    p.add_argument("--max-bytes", type=int, default=0,
                   help="stop after the examples that start in the first MAX bytes of the stream (0: all)")
    p.add_argument("--shard-examples", type=int, default=1024, help="examples per shard")
    p.add_argument("--format", choices=["npy", "raw"], default="npy", help="token files: .npy or raw .bin")
    p.add_argument("--level", type=int, default=-1, help="gzip: zlib level (-1: zlib's default, 6)")
    p.add_argument("--wrapper", choices=list(GZIP_WBITS), default="zlib",
                   help="gzip: zlib (header + Adler-32, what zlib.compress writes), gzip, or raw deflate")
    p.add_argument("--model", help="sentencepiece: an existing model file")
    p.add_argument("--train-model", metavar="PATH",
                   help="sentencepiece: train a model on --train-input (default: --input) and write it to PATH")
    p.add_argument("--train-input", nargs="+", help="sentencepiece: text to train the model on")
    p.add_argument("--vocab-size", type=int, default=32000, help="sentencepiece: vocabulary (paper: 32k)")
    p.add_argument("--train-bytes", type=int, default=16 << 20, help="sentencepiece: bytes of text to train on")
    p.add_argument("--threads", type=int, default=1, help="sentencepiece training threads")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Optional[List[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    sp_model = args.model
    separator = _unescape(args.separator)
    if args.method == "sentencepiece" and args.train_model:
        text = read_corpus(args.train_input or args.input, separator, args.text_field)
        print(f"make_shards: training a {args.vocab_size}-piece SentencePiece unigram model on "
              f"{min(len(text), args.train_bytes):,} bytes -> {args.train_model}", file=sys.stderr)
        train_sentencepiece(text, args.train_model, args.vocab_size, args.train_bytes, threads=args.threads)
        sp_model = args.train_model
    return make(args.method, args.input, args.out, token_bits=args.token_bits, example_bytes=args.example_bytes,
                max_bytes=args.max_bytes, shard_examples=args.shard_examples, fmt=args.format, level=args.level,
                wrapper=args.wrapper, sp_model=sp_model, separator=separator, keep_documents=args.keep_documents,
                text_field=args.text_field, progress=not args.no_progress)


if __name__ == "__main__":
    main()
