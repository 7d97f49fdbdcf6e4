"""M1 model files: safetensors written and read without the safetensors package.

Layout (docs/m1.md): 8-byte little-endian u64 header length N, N bytes of JSON
header (padded with spaces to a multiple of 8), then the raw little-endian
tensor data in the order of the data offsets. The header is written compactly
in the same key order as eqinfo's C++ serialize_m1, so both produce the same
bytes for the same weights (self_test strings aside, whose escaping may differ).

Fingerprint
-----------
``fingerprint(path)`` = ``zlib.crc32(config.encode("utf-8") + tensor_crc32.encode("ascii"))``
where ``config`` is the metadata "config" string exactly as stored in the file
(e.g. ``{"layers":3,...,"norm_epsilon":1e-06}``) and ``tensor_crc32`` is the
metadata "tensor_crc32" string exactly as stored (8 lowercase hex digits, no
"0x"), i.e. the CRC-32 (zlib polynomial, init/xorout 0xFFFFFFFF) of the byte
string config || hex8, with nothing between them and no terminator. This is
eqinfo::detail::m1::fingerprint_of(config_json, tensor_crc) in the C++.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from .model import M1, M1Config, relative_buckets_table

FORMAT = "eqinfo-m1"
FORMAT_VERSION = "1"

_DTYPES = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4")}


def config_json(config: M1Config) -> str:
    """The compact config string stored in the file (field order of docs/m1.md)."""
    return json.dumps(config.to_dict(), separators=(",", ":"))


def fingerprint_of(config_string: str, tensor_crc32_hex: str) -> int:
    """CRC-32 of the config string's bytes followed by the 8 hex digits' bytes."""
    return zlib.crc32(config_string.encode("utf-8") + tensor_crc32_hex.encode("ascii")) & 0xFFFFFFFF


def write_safetensors(path: str, tensors: List[Tuple[str, np.ndarray, str]], metadata: Dict[str, str]) -> bytes:
    """tensors: (name, array, dtype "F32"|"I32") in file order. Returns the data section.
    Metadata is written after the tensors, keys in the given order."""
    parts, header_items, offset = [], [], 0
    for name, arr, dtype in tensors:
        a = np.ascontiguousarray(arr, dtype=_DTYPES[dtype])
        raw = a.tobytes()
        shape = ",".join(str(int(s)) for s in a.shape)
        header_items.append(f'{json.dumps(name)}:{{"dtype":"{dtype}","shape":[{shape}],'
                            f'"data_offsets":[{offset},{offset + len(raw)}]}}')
        parts.append(raw)
        offset += len(raw)
    body = b"".join(parts)
    meta = ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in metadata.items())
    header = "{" + ",".join(header_items) + ',"__metadata__":{' + meta + "}}"
    hb = header.encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        f.write(body)
    return body


def read_safetensors(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str], bytes]:
    """Returns (tensors, metadata, data section). Validates offsets against the file:
    every tensor inside the data, size = prod(shape) * itemsize, no overlaps or gaps."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header length")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the {len(data) - 8} bytes that follow")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    body = data[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    if not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{path}: metadata values must be strings")
    tensors, ranges = {}, []
    for name, t in header.items():
        dtype = t.get("dtype")
        if dtype not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dtype!r}")
        shape = [int(s) for s in t["shape"]]
        begin, end = (int(x) for x in t["data_offsets"])
        size = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize
        if not (0 <= begin <= end <= len(body)) or end - begin != size:
            raise ValueError(f"{path}: tensor {name!r} offsets [{begin}, {end}) do not fit shape {shape} "
                             f"or the {len(body)}-byte data section")
        tensors[name] = np.frombuffer(body, dtype=_DTYPES[dtype], count=size // _DTYPES[dtype].itemsize,
                                      offset=begin).reshape(shape).copy()
        ranges.append((begin, end, name))
    ranges.sort()
    pos = 0
    for begin, end, name in ranges:
        if begin != pos:
            raise ValueError(f"{path}: tensor {name!r} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(body):
        raise ValueError(f"{path}: {len(body) - pos} bytes after the last tensor")
    return tensors, meta, body


def save_m1(path: str, model: M1, config: Optional[M1Config] = None,
            self_test: Optional[Union[str, list]] = None) -> Dict[str, str]:
    """Writes `model` as an eqinfo M1 file (docs/m1.md). self_test: a JSON string
    (stored verbatim) or a list (dumped compactly). Returns the metadata."""
    config = config if config is not None else model.config
    config.validate()
    if config != model.config:
        raise ValueError("save_m1: config differs from model.config")
    tensors = [(name, t.detach().to("cpu", torch.float32).numpy(), "F32") for name, t in model.parameter_tensors()]
    c = config
    want = _expected_shapes(c)
    for name, arr, _ in tensors:
        if list(arr.shape) != want[name][1]:
            raise ValueError(f"save_m1: {name} has shape {list(arr.shape)}, expected {want[name][1]}")
    tensors.append(("relative_buckets",
                    relative_buckets_table(c.context, c.relative_buckets, c.relative_max_distance), "I32"))
    # The CRC covers the data section; compute it from the same bytes that are written.
    body = b"".join(np.ascontiguousarray(a, dtype=_DTYPES[d]).tobytes() for _, a, d in tensors)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": config_json(c),
            "tensor_crc32": f"{zlib.crc32(body) & 0xFFFFFFFF:08x}"}
    if self_test is not None:
        meta["self_test"] = self_test if isinstance(self_test, str) else json.dumps(self_test, separators=(",", ":"))
    written = write_safetensors(path, tensors, meta)
    assert written == body
    return meta


def _expected_shapes(c: M1Config) -> Dict[str, Tuple[str, List[int]]]:
    d, a = c.d_model, c.attention_width
    s = {"embedding": ("F32", [257, d])}
    for i in range(c.layers):
        p = f"layers.{i}."
        s.update({p + "attn_norm": ("F32", [d]), p + "q": ("F32", [a, d]), p + "k": ("F32", [a, d]),
                  p + "v": ("F32", [a, d]), p + "o": ("F32", [d, a]),
                  p + "rel_bias": ("F32", [c.heads, c.relative_buckets]), p + "mlp_norm": ("F32", [d]),
                  p + "w1": ("F32", [c.d_ff, d]), p + "w2": ("F32", [d, c.d_ff])})
    s.update({"final_norm": ("F32", [d]), "lm_head": ("F32", [256, d]), "relative_buckets": ("I32", [c.context])})
    return s


def load_m1(path: str, check_buckets: bool = True) -> Tuple[M1, M1Config, Dict[str, str]]:
    """Reads and validates an M1 file: format/version, config, every tensor's
    dtype and shape, no extra tensors, the data CRC, and (check_buckets) that the
    stored bucket table equals T5's formula. The model uses the stored table."""
    tensors, meta, body = read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not an eqinfo M1 file (metadata format = {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported M1 format version {meta.get('format_version')!r}")
    if "config" not in meta or "tensor_crc32" not in meta:
        raise ValueError(f"{path}: metadata lacks config or tensor_crc32")
    config = M1Config.from_dict(json.loads(meta["config"]))
    want = _expected_shapes(config)
    for name, (dtype, shape) in want.items():
        if name not in tensors:
            raise ValueError(f"{path}: tensor {name!r} is missing")
        if tensors[name].dtype != _DTYPES[dtype] or list(tensors[name].shape) != shape:
            raise ValueError(f"{path}: tensor {name!r} is {tensors[name].dtype} {list(tensors[name].shape)}, "
                             f"expected {dtype} {shape}")
    extra = set(tensors) - set(want)
    if extra:
        raise ValueError(f"{path}: unexpected tensors {sorted(extra)}")
    crc = meta["tensor_crc32"]
    if len(crc) != 8 or any(ch not in "0123456789abcdef" for ch in crc):
        raise ValueError(f"{path}: tensor_crc32 {crc!r} is not 8 lowercase hex digits")
    actual = zlib.crc32(body) & 0xFFFFFFFF
    if actual != int(crc, 16):
        raise ValueError(f"{path}: tensor data CRC-32 is {actual:08x}, the file says {crc} (corrupt file)")
    table = tensors["relative_buckets"]
    if check_buckets:
        expect = relative_buckets_table(config.context, config.relative_buckets, config.relative_max_distance)
        if not np.array_equal(table, expect):
            raise ValueError(f"{path}: relative_buckets differs from T5's causal buckets")
    if table.min() < 0 or table.max() >= config.relative_buckets:
        raise ValueError(f"{path}: relative_buckets holds a bucket outside [0, {config.relative_buckets})")
    model = M1(config, seed=0)
    with torch.no_grad():
        for name, p in model.parameter_tensors():
            p.copy_(torch.from_numpy(tensors[name]))
        model.relative_buckets.copy_(torch.from_numpy(table.astype(np.int64)))
    model.eval()
    return model, config, meta


def fingerprint(path: str) -> int:
    """The model's fingerprint (see the module docstring): CRC-32 of the stored
    config string's bytes followed by the stored tensor_crc32 string's bytes."""
    _, meta, _ = read_safetensors(path)
    return fingerprint_of(meta["config"], meta["tensor_crc32"])
