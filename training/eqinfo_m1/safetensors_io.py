"""M1 model files: safetensors written and read without the safetensors package.

Layout (docs/m1.md): 8-byte little-endian u64 header length N, N bytes of JSON
header (padded with spaces to a multiple of 8), then the raw little-endian
tensor data in the order of the data offsets. The header is written compactly
in the same key order as eqinfo's C++ serialize_m1, so both produce the same
bytes for the same weights (self_test strings aside, whose escaping may differ).

Versions: 2 (written by default; what eqinfo runs) stores each matrix of q, k,
v, o, w1, w2, lm_head as I8 [out, in] followed by "<name>.scale" F32 [out]
(docs/m1-integer.md); 1 stores them as F32 and is read so that it can be
converted (load_integer_m1 quantises it as `eqinfo m1-quantize` does).

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

from .integer import IntegerM1, is_matrix, quantize_m1, v2_tensor_names
from .model import M1, M1Config, relative_buckets_table

FORMAT = "eqinfo-m1"
FORMAT_VERSION = "2"          # written by default: int8 matrices + per-row scales (docs/m1-integer.md)
FORMAT_VERSIONS = ("1", "2")  # read (version 1 = float matrices, to convert)

_DTYPES = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4"), "I8": np.dtype("i1")}


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


def decimal_to_float32(text: str) -> float:
    """The decimal string rounded once, to nearest even, to binary32 (as C++'s from_chars into
    a float), returned as a Python float. float32(float(text)) rounds twice and can differ."""
    from fractions import Fraction
    exact = Fraction(text)
    f = np.float32(float(text))
    best = None
    for cand in (np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))):
        if not np.isfinite(cand):
            continue
        err = abs(Fraction(float(cand)) - exact)
        even = int(np.array(cand).view(np.uint32)) % 2 == 0
        if best is None or err < best[0] or (err == best[0] and even):
            best = (err, cand)
    return float(best[1])


def _json_number_text(obj_text: str, key: str) -> str:
    """The literal text of the number member `key` of a flat JSON object."""
    import re
    m = re.search(r'"' + re.escape(key) + r'"\s*:\s*(-?[0-9][0-9.eE+-]*)', obj_text)
    if not m:
        raise ValueError(f"config has no number {key!r}")
    return m.group(1)


def expected_tensors(c: M1Config, version: str = FORMAT_VERSION) -> Dict[str, Tuple[str, List[int]]]:
    """name -> (dtype, shape) of every tensor of a file of `version`, in file order (the C++
    tensor_specs): version 1 float matrices; version 2 each matrix as I8 followed by
    "<name>.scale" F32 [out]."""
    d, a = c.d_model, c.attention_width
    if version not in FORMAT_VERSIONS:
        raise ValueError(f"unsupported M1 format version {version!r}")
    shapes = {"embedding": [257, d], "final_norm": [d], "lm_head": [256, d], "relative_buckets": [c.context]}
    for i in range(c.layers):
        p = f"layers.{i}."
        shapes.update({p + "attn_norm": [d], p + "q": [a, d], p + "k": [a, d], p + "v": [a, d], p + "o": [d, a],
                       p + "rel_bias": [c.heads, c.relative_buckets], p + "mlp_norm": [d],
                       p + "w1": [c.d_ff, d], p + "w2": [d, c.d_ff]})
    out = {}
    for name in v2_tensor_names(c):
        if name.endswith(".scale"):
            if version == "2":
                out[name] = ("F32", [shapes[name[:-len(".scale")]][0]])
        elif name == "relative_buckets":
            out[name] = ("I32", shapes[name])
        elif is_matrix(name) and version == "2":
            out[name] = ("I8", shapes[name])
        else:
            out[name] = ("F32", shapes[name])
    return out


def _expected_shapes(c: M1Config) -> Dict[str, Tuple[str, List[int]]]:
    """Version 1's tensors (kept for older callers)."""
    return expected_tensors(c, "1")


def _check_tensors(where: str, c: M1Config, version: str, tensors: Dict[str, np.ndarray],
                   check_buckets: bool = True) -> None:
    """dtype/shape of every tensor, no extra ones, int8 in [-127, 127], floats finite, scales >= 0,
    bucket indices in range (and equal to T5's formula with check_buckets)."""
    want = expected_tensors(c, version)
    for name, (dtype, shape) in want.items():
        if name not in tensors:
            raise ValueError(f"{where}: tensor {name!r} is missing")
        t = tensors[name]
        if t.dtype != _DTYPES[dtype] or list(t.shape) != shape:
            raise ValueError(f"{where}: tensor {name!r} is {t.dtype} {list(t.shape)}, expected {dtype} {shape}")
        if dtype == "I8" and (t == -128).any():
            i = int(np.flatnonzero(t.reshape(-1) == -128)[0])
            raise ValueError(f"{where}: tensor {name!r}[{i}] = -128; int8 weights must be in [-127, 127]")
        if dtype == "F32":
            bad = ~np.isfinite(t)
            if name.endswith(".scale"):
                bad |= t < 0
            if bad.any():
                i = int(np.flatnonzero(bad.reshape(-1))[0])
                what = "finite and >= 0" if name.endswith(".scale") else "finite"
                raise ValueError(f"{where}: tensor {name!r}[{i}] = {t.reshape(-1)[i]} is not {what}")
    extra = set(tensors) - set(want)
    if extra:
        raise ValueError(f"{where}: unexpected tensors {sorted(extra)}")
    table = tensors["relative_buckets"]
    if check_buckets:
        expect = relative_buckets_table(c.context, c.relative_buckets, c.relative_max_distance)
        if not np.array_equal(table, expect):
            raise ValueError(f"{where}: relative_buckets differs from T5's causal buckets")
    if table.min() < 0 or table.max() >= c.relative_buckets:
        raise ValueError(f"{where}: relative_buckets holds a bucket outside [0, {c.relative_buckets})")


def write_m1(path: str, config: M1Config, tensors: Dict[str, np.ndarray], version: str = FORMAT_VERSION,
             self_test: Optional[Union[str, list]] = None) -> Dict[str, str]:
    """Writes an M1 file of `version` from its tensors (names of expected_tensors; arrays of
    the right dtype and shape, checked). Tensor order, header and metadata (format,
    format_version, config, tensor_crc32[, self_test]) as the C++ serialize_m1 writes them,
    so the same tensors give the same bytes. Returns the metadata."""
    config.validate()
    want = expected_tensors(config, version)
    arrays = {n: np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t) for n, t in tensors.items()}
    for name, (dtype, _) in want.items():  # convert float/int inputs of the right kind, then check exactly
        if name in arrays and arrays[name].dtype != _DTYPES[dtype]:
            a = arrays[name]
            if dtype == "I8" and not (np.issubdtype(a.dtype, np.integer) and a.min() >= -128 and a.max() <= 127):
                raise ValueError(f"write_m1: tensor {name!r} must be int8")
            arrays[name] = a.astype(_DTYPES[dtype])
    _check_tensors("write_m1", config, version, arrays, check_buckets=False)
    items = [(name, arrays[name], dtype) for name, (dtype, _) in want.items()]
    body = b"".join(np.ascontiguousarray(a, dtype=_DTYPES[d]).tobytes() for _, a, d in items)
    meta = {"format": FORMAT, "format_version": version, "config": config_json(config),
            "tensor_crc32": f"{zlib.crc32(body) & 0xFFFFFFFF:08x}"}
    if self_test is not None:
        meta["self_test"] = self_test if isinstance(self_test, str) else json.dumps(self_test, separators=(",", ":"))
    written = write_safetensors(path, items, meta)
    assert written == body
    return meta


def save_m1(path: str, model, config: Optional[M1Config] = None,
            self_test: Optional[Union[str, list]] = None, format_version: str = FORMAT_VERSION) -> Dict[str, str]:
    """Writes `model` as an eqinfo M1 file (docs/m1.md, docs/m1-integer.md). model: a float M1
    (format_version "2", the default: post-training quantisation, row-wise quant8 of every
    matrix, as `eqinfo m1-quantize` does; "1": float matrices) or an IntegerM1 (version 2).
    self_test: a JSON string (stored verbatim) or a list (dumped compactly). Returns the metadata."""
    format_version = str(format_version)
    config = config if config is not None else model.config
    config.validate()
    if config != model.config:
        raise ValueError("save_m1: config differs from model.config")
    if isinstance(model, IntegerM1):
        if format_version != "2":
            raise ValueError("save_m1: an IntegerM1 is written as format version 2")
        tensors = dict(model.tensors)
    elif format_version == "2":
        tensors = quantize_m1(model)
    elif format_version == "1":
        tensors = {name: t.detach().to("cpu", torch.float32).numpy() for name, t in model.parameter_tensors()}
        c = config
        tensors["relative_buckets"] = relative_buckets_table(c.context, c.relative_buckets, c.relative_max_distance)
    else:
        raise ValueError(f"save_m1: unsupported format version {format_version!r}")
    return write_m1(path, config, tensors, format_version, self_test)


def read_m1(path: str, check_buckets: bool = True) -> Tuple[str, M1Config, Dict[str, np.ndarray], Dict[str, str]]:
    """Reads and validates an M1 file of either version: format/version, config, every
    tensor's dtype and shape (expected_tensors), no extra tensors, the data CRC, int8 weights
    in [-127, 127] (-128 refused), float tensors finite, scales >= 0, and (check_buckets) the
    stored bucket table equal to T5's formula. Returns (version, config, tensors in file
    order, metadata)."""
    tensors, meta, body = read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not an eqinfo M1 file (metadata format = {meta.get('format')!r})")
    version = meta.get("format_version")
    if version not in FORMAT_VERSIONS:
        raise ValueError(f"{path}: unsupported M1 format version {version!r} (this reads 1 and 2)")
    if "config" not in meta or "tensor_crc32" not in meta:
        raise ValueError(f"{path}: metadata lacks config or tensor_crc32")
    config = M1Config.from_dict(json.loads(meta["config"]))
    eps32 = decimal_to_float32(_json_number_text(meta["config"], "norm_epsilon"))
    if np.float32(config.norm_epsilon) != np.float32(eps32):  # double rounding; the C++ rounds once
        config.norm_epsilon = eps32
    crc = meta["tensor_crc32"]
    if len(crc) != 8 or any(ch not in "0123456789abcdef" for ch in crc):
        raise ValueError(f"{path}: tensor_crc32 {crc!r} is not 8 lowercase hex digits")
    actual = zlib.crc32(body) & 0xFFFFFFFF
    if actual != int(crc, 16):
        raise ValueError(f"{path}: tensor data CRC-32 is {actual:08x}, the file says {crc} (corrupt file)")
    _check_tensors(path, config, version, tensors, check_buckets)
    order = list(expected_tensors(config, version))
    return version, config, {n: tensors[n] for n in order}, meta


def _float_model(config: M1Config, tensors: Dict[str, np.ndarray]) -> M1:
    model = M1(config, seed=0)
    with torch.no_grad():
        for name, p in model.parameter_tensors():
            p.copy_(torch.from_numpy(np.ascontiguousarray(tensors[name], dtype=np.float32)))
        model.relative_buckets.copy_(torch.from_numpy(tensors["relative_buckets"].astype(np.int64)))
    return model.eval()


def load_m1(path: str, check_buckets: bool = True, device="cpu"):
    """Reads an M1 file (read_m1's checks) -> (model, config, metadata): an IntegerM1 for a
    version 2 file (what eqinfo runs), the float M1 for a version 1 file. Both map ids
    [B, T] to logits [B, T, 256]."""
    version, config, tensors, meta = read_m1(path, check_buckets)
    if version == "2":
        return IntegerM1(config, tensors, device), config, meta
    return _float_model(config, tensors).to(device), config, meta


def load_integer_m1(path: str, check_buckets: bool = True, device="cpu") -> Tuple[IntegerM1, M1Config, Dict[str, str]]:
    """An IntegerM1 from either version (version 1 quantised row-wise, as `eqinfo m1-quantize`)."""
    version, config, tensors, meta = read_m1(path, check_buckets)
    if version == "1":
        tensors = quantize_m1(tensors, config)
    return IntegerM1(config, tensors, device), config, meta


def load_float_m1(path: str, check_buckets: bool = True) -> Tuple[M1, M1Config, Dict[str, str]]:
    """The float M1 of either version (version 2 matrices dequantised: scale[n] * W[n, :]),
    e.g. to fine-tune from a v2 file. Not eqinfo's numerics: use load_integer_m1 for those."""
    from .integer import dequantize_m1
    version, config, tensors, meta = read_m1(path, check_buckets)
    if version == "2":
        tensors = dequantize_m1(tensors, config)
    return _float_model(config, tensors), config, meta


def fingerprint(path: str) -> int:
    """The model's fingerprint (see the module docstring): CRC-32 of the stored
    config string's bytes followed by the stored tensor_crc32 string's bytes."""
    _, meta, _ = read_safetensors(path)
    return fingerprint_of(meta["config"], meta["tensor_crc32"])
