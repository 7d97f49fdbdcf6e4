# SPDX-License-Identifier: MIT
"""Writes a token shard directory in the layout of include/eqinfo/shards.hpp
(what `eqinfo shard` writes), for tests that must not depend on the CLI."""

import json
import os
import zlib

import numpy as np

INDEX_COLUMNS = ["stream_offset", "document", "document_offset", "byte_count", "token_offset", "token_count"]


def _npy_bytes(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def write_shards(path, tok, examples, shard_examples=3, token_format="npy", stream_format=2):
    """One document made of `examples` (bytes each) back to back; returns the manifest.
    stream_format 2 (eqinfo 0.3) records equal_info_ac's segment_bytes; 1 (eqinfo 0.2) had none."""
    os.makedirs(path, exist_ok=True)
    dtype = np.dtype("<u2") if tok.token_bits <= 16 else np.dtype("<u4")
    method = {"equal-info": "equal_info_ac", "ac": "ac", "static-ac": "ac", "bytes": "bytes"}[tok.method]
    settings = {"method": method, "token_bits": tok.token_bits}
    if method == "equal_info_ac":
        settings["window_bits"] = tok.window_bits
    if method != "bytes":
        settings["precision_bits"] = tok.precision
    if method == "equal_info_ac":
        settings["rule"] = tok.rule.replace("-", "_")
        if stream_format >= 2:
            settings["segment_bytes"] = tok.segment_bytes
        else:
            assert tok.segment_bytes == 0, "stream format 1 has no segments"
    records, stream = [], 0
    for k, first in enumerate(range(0, len(examples), shard_examples)):
        group = examples[first:first + shard_examples]
        tokens, rows, token = [], [], 0
        for data in group:
            t = tok.encode(data)
            rows.append([stream, 0, stream, len(data), token, len(t)])
            tokens.append(t.astype(dtype))
            stream += len(data)
            token += len(t)
        body = np.concatenate(tokens) if tokens else np.zeros(0, dtype)
        name = f"shard-{k:06d}"
        files = {
            "tokens": (name + (".npy" if token_format == "npy" else ".bin"),
                       _npy_bytes(body) if token_format == "npy" else body.tobytes()),
            "index": (name + ".idx.npy", _npy_bytes(np.array(rows, dtype="<i8").reshape(-1, 6))),
            "documents": (name + ".docs.npy", _npy_bytes(np.array([[0, 0, stream]], dtype="<i8"))),
        }
        record = {}
        for key, (fname, data) in files.items():
            with open(os.path.join(path, fname), "wb") as f:
                f.write(data)
            record[f"{key}_file"] = fname
            record[f"{key}_file_size"] = len(data)
            record[f"{key}_crc32"] = f"0x{zlib.crc32(data):08x}"
        source_crc = 0
        for data in group:
            source_crc = zlib.crc32(data, source_crc)
        record.update(examples=len(group), bytes=sum(map(len, group)), tokens=int(token), documents=1,
                      source_crc32=f"0x{source_crc:08x}")
        records.append(record)
    manifest = {
        "format": "eqinfo-shards",
        "shard_format": 1,
        "eqinfo_version": "0.1.0",
        "stream_format": stream_format,
        "settings": settings,
        "model": {"kind": tok.model_kind, "path": tok.model_path or "", "fingerprint":
                  f"0x{tok.model_fingerprint:08x}"},
        "example_bytes": max(map(len, examples)),
        "separator": "\n\n",
        "separator_hex": "0a0a",
        "keep_documents": False,
        "shard_examples": shard_examples,
        "token_format": token_format,
        "token_dtype": "uint16" if dtype.itemsize == 2 else "uint32",
        "text_field": "text",
        "index_columns": INDEX_COLUMNS,
        "documents_columns": ["document", "stream_offset", "byte_count"],
        "inputs": [{"path": "corpus.txt", "type": "text", "size": stream,
                    "crc32": f"0x{zlib.crc32(b''.join(examples)):08x}", "first_document": 0, "documents": 1}],
        "shards": records,
        "totals": {"inputs": 1, "input_bytes": stream, "documents": 1, "shards": len(records),
                   "examples": len(examples), "bytes": stream, "tokens": sum(r["tokens"] for r in records)},
    }
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest
