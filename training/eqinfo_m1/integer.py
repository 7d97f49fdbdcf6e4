"""M1's integer numerics (model file format version 2) in PyTorch: docs/m1-integer.md.

This is the reference the C++ (include/eqinfo/detail/m1_forward.hpp, every
SIMD path) is compared with using ``==``: from (v2 tensors, input ids) to
integer CDFs, bit for bit. It runs on any device (CPU, CUDA) because every
step is one of:

- an element-wise IEEE binary32 (or binary64) operation, one torch op per
  spec operation and in the spec's order (``p = p * r`` then ``p = p + c``,
  never fused: no addcmul/addmm/rsqrt/exp/softmax on the token path); scalars
  are 0-dim float32 tensors holding the exact binary32 values the C++
  literals denote (printed with ``%a`` from the C++ literals);
- an integer sum, done as a float64 matrix product or sum of integer-valued
  tensors (exact: every partial sum is an integer below 2^53, so the order
  and blocking of the BLAS do not matter) or in int64;
- a maximum (``amax``), exact in any order;
- rint = ``torch.round`` (half to even), truncation = a cast to an integer dtype.

Rows never mix: a position's result depends only on its own sequence's
earlier positions, so batch composition and window length change nothing.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch

from .model import BOS, M1Config

F32 = torch.float32
F64 = torch.float64

# Exact binary32 values of the C++ float literals (printed with %a by a C++ program;
# each also equals the correctly rounded decimal -> binary32 conversion).
TINY = float.fromhex("0x1p-64")
LOG2E = float.fromhex("0x1.715476p+0")      # 1.44269502f
LN2_HI = float.fromhex("0x1.63p-1")         # 0.693359375f
LN2_LO = float.fromhex("0x1.bd0106p-13")    # 2.12194440e-4f
P720 = float.fromhex("0x1.6c16c2p-10")      # 1.3888889e-3f
P120 = float.fromhex("0x1.11111p-7")        # 8.3333333e-3f
P24 = float.fromhex("0x1.555556p-5")        # 4.1666667e-2f
P6 = float.fromhex("0x1.555556p-3")         # 1.6666667e-1f
TWO24 = 16777216.0

# Matrices stored as int8 + per-row scale in format version 2 (docs/m1-integer.md).
MATRIX_NAMES = ("q", "k", "v", "o", "w1", "w2")


def _f(x: float, like: torch.Tensor) -> torch.Tensor:
    """A 0-dim float32 tensor holding x (which must be a binary32 value) on like's device."""
    t = torch.tensor(x, dtype=F32, device=like.device)
    assert float(t) == x, f"{x!r} is not a binary32 value"
    return t


def _zero(like: torch.Tensor) -> torch.Tensor:
    return torch.zeros((), dtype=like.dtype, device=like.device)


def _abs_max_ok(v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(m, ok) over the last dim: m = max |v_i| (1 where not ok), ok = all finite and m >= tiny."""
    m = v.abs().amax(-1)
    ok = torch.isfinite(v).all(-1) & (m >= _f(TINY, v))
    return torch.where(ok, m, torch.ones_like(m)), ok


def _quant(v: torch.Tensor, levels: float, lo: float, out_dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    v = v.to(F32)
    m, ok = _abs_max_ok(v)
    lv = _f(levels, v)
    c = lv / m                                              # F(levels / m)
    r = torch.round(v * c.unsqueeze(-1))                    # rint(F(v_i * c))
    r = r.clamp(lo, levels)
    r = torch.where(ok.unsqueeze(-1), r, _zero(r))
    s = torch.where(ok, m / lv, _zero(m))                   # F(m / levels)
    return r.to(out_dtype), s


def quant8(v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantisation of each row (last dim): (q int8 [..., n], s float32 [...])."""
    return _quant(v, 127.0, -127.0, torch.int8)


def quant8u(v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """quant8 for rows of v >= 0: (q uint8 [..., n] in [0, 255], s float32 [...])."""
    return _quant(v, 255.0, 0.0, torch.uint8)


def norm_quant(h: torch.Tensor, g: torch.Tensor, eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """RMSNorm(h) * g quantised: (x int8 [..., d], sx float32 [...]); eps is the float32 epsilon
    (a Python float holding a binary32 value)."""
    h = h.to(F32)
    d = h.shape[-1]
    m, ok = _abs_max_ok(h)
    c16 = _f(32767.0, h) / m                                # F(32767 / m)
    u = torch.round(h * c16.unsqueeze(-1)).clamp(-32767.0, 32767.0)
    u = torch.where(ok.unsqueeze(-1), u, _zero(u)).to(torch.int64)
    ss = (u * u).sum(-1)                                    # int64, exact
    a = m.to(F64) / 32767.0                                 # D(double(m) / 32767)
    mean = ss.to(F64) / float(d)                            # D(double(ss) / double(d))
    ms = (a * a) * mean                                     # D(D(a * a) * mean)
    root = torch.sqrt(ms + float(eps))                      # D(sqrt(D(ms + double(eps))))
    inv = (1.0 / root).to(F32)                              # float(D(1 / root))
    v = h * g.to(F32)                                       # F(h_i * g_i)
    x, s = quant8(v)
    sx = s * inv                                            # F(s * inv)
    x = torch.where(ok.unsqueeze(-1), x, torch.zeros_like(x))
    sx = torch.where(ok, sx, _zero(sx))
    return x, sx


def exp_nonpositive(x: torch.Tensor) -> torch.Tensor:
    """e^x for x <= 0 in binary32, the spec's Cody-Waite + degree-6 polynomial (0 for x <= -87 or NaN)."""
    x = x.to(F32)
    keep = x > _f(-87.0, x)
    x = torch.where(keep, x, _zero(x))
    t = x * _f(LOG2E, x)
    n = (t - _f(0.5, x)).to(torch.int32)                    # truncation toward 0
    nf = n.to(F32)
    hi = nf * _f(LN2_HI, x)
    r = x - hi
    lo = nf * _f(LN2_LO, x)
    r = r + lo
    p = _f(P720, x) * r
    p = p + _f(P120, x)
    p = p * r
    p = p + _f(P24, x)
    p = p * r
    p = p + _f(P6, x)
    p = p * r
    p = p + _f(0.5, x)
    p = p * r
    p = p + _f(1.0, x)
    p = p * r
    p = p + _f(1.0, x)
    scale = ((n + 127) << 23).view(F32)                     # bits_as_float((n + 127) << 23)
    y = p * scale
    return torch.where(keep, y, _zero(y))


def linear(x: torch.Tensor, sx: torch.Tensor, w64: torch.Tensor, sw: torch.Tensor) -> torch.Tensor:
    """y[..., n] = F(F(float(sum_k x[..., k] W[n, k])) * F(sx[...] * sw[n])).

    x: int8 [..., K]; sx: float32 [...]; w64: the int8 matrix [N, K] as float64 (exact);
    sw: float32 [N]. The sum is a float64 matrix product of integers (exact)."""
    acc = torch.matmul(x.to(F64), w64.t())
    scale = sx.unsqueeze(-1) * sw                           # F(sx[r] * sw[n])
    return acc.to(F32) * scale


def att_scale(head_dim: int) -> float:
    """float(D(1 / D(sqrt(double(head_dim)))))."""
    import math
    return float(np.float32(1.0 / math.sqrt(float(head_dim))))


def logits_to_cdf(logits: torch.Tensor, precision: int = 16) -> torch.Tensor:
    """CDFs int64 [..., 257] of rows of 256 logits (the spec's "Logits to CDF", quantize_cdf)."""
    if not 8 <= precision <= 24:
        raise ValueError("precision must be in [8, 24]")
    logits = logits.to(F32)
    finite = torch.isfinite(logits).all(-1, keepdim=True)
    mx = torch.where(finite, logits, _zero(logits)).amax(-1, keepdim=True)
    diff = torch.where(finite, logits - mx, _zero(logits))   # F(logit_s - M); rows with a non-finite
    e = exp_nonpositive(diff)                                 # logit never reach exp_nonpositive
    w = (e * _f(TWO24, e)).to(torch.int64)                  # trunc(F(e * 2^24))
    w = torch.where(finite, w, torch.full_like(w, 1 << 24))  # the uniform CDF
    full = 1 << precision
    spare = full - 256
    total = w.sum(-1, keepdim=True)
    share = torch.div(w * spare, total.clamp(min=1), rounding_mode="floor")
    share = torch.where(total == 0, torch.full_like(share, spare // 256), share)
    counts = 1 + share
    wmax = w.amax(-1, keepdim=True)
    idx = torch.arange(256, device=w.device).expand_as(w)
    heaviest = torch.where(w == wmax, idx, torch.full_like(idx, 256)).amin(-1, keepdim=True)  # first argmax
    counts = counts.scatter_add(-1, heaviest, full - counts.sum(-1, keepdim=True))
    zero = torch.zeros(counts.shape[:-1] + (1,), dtype=torch.int64, device=counts.device)
    return torch.cat([zero, counts.cumsum(-1)], -1)


# --------------------------------------------------------------------------- weights

def _as_numpy(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu").numpy()
    return np.asarray(t)


def quantize_matrix(w) -> Tuple[np.ndarray, np.ndarray]:
    """Row-wise quant8 of a float matrix [out, in]: (int8 [out, in], float32 scale [out])."""
    t = torch.from_numpy(np.ascontiguousarray(_as_numpy(w), dtype=np.float32))
    q, s = quant8(t)
    return q.numpy(), s.numpy()


def v2_tensor_names(config: M1Config) -> List[str]:
    """Every tensor of a format version 2 file, in file order (the C++ tensor_specs):
    as version 1, each matrix followed by its "<name>.scale"."""
    out = ["embedding"]

    def matrix(name):
        out.extend([name, name + ".scale"])
    for i in range(config.layers):
        p = f"layers.{i}."
        out.append(p + "attn_norm")
        for n in ("q", "k", "v", "o"):
            matrix(p + n)
        out += [p + "rel_bias", p + "mlp_norm"]
        matrix(p + "w1")
        matrix(p + "w2")
    out.append("final_norm")
    matrix("lm_head")
    out.append("relative_buckets")
    return out


def is_matrix(name: str) -> bool:
    return name == "lm_head" or (name.startswith("layers.") and name.rsplit(".", 1)[1] in MATRIX_NAMES)


def quantize_m1(float_state, config: Optional[M1Config] = None) -> Dict[str, np.ndarray]:
    """Version 1 (float) tensors -> version 2 tensors (docs/m1-integer.md): each matrix of
    q, k, v, o, w1, w2, lm_head becomes int8 [out, in] + "<name>.scale" float32 [out] by
    row-wise quant8; the rest is copied (float32; relative_buckets int32).

    float_state: an M1 (its parameter_tensors() and bucket table) or a dict of the v1 file's
    tensor names -> arrays/tensors (relative_buckets optional when config is given).
    Returns a dict in file order (v2_tensor_names)."""
    from .model import M1, relative_buckets_table
    if isinstance(float_state, M1):
        config = float_state.config
        src = {n: t for n, t in float_state.parameter_tensors()}
        src["relative_buckets"] = float_state.relative_buckets
    else:
        src = dict(float_state)
        if config is None:
            raise ValueError("quantize_m1: give the config with a tensor dict")
    if "relative_buckets" not in src:
        src["relative_buckets"] = relative_buckets_table(config.context, config.relative_buckets,
                                                         config.relative_max_distance)
    out: Dict[str, np.ndarray] = {}
    for name in v2_tensor_names(config):
        if name.endswith(".scale"):
            continue
        if name == "relative_buckets":
            out[name] = np.ascontiguousarray(_as_numpy(src[name]), dtype=np.int32)
        else:
            a = np.ascontiguousarray(_as_numpy(src[name]), dtype=np.float32)
            if not np.isfinite(a).all():  # as the C++ refuses a version 1 file with one (diverged training?)
                raise ValueError(f"quantize_m1: tensor {name!r} holds a non-finite value")
            if is_matrix(name):
                out[name], out[name + ".scale"] = quantize_matrix(a)
            else:
                out[name] = a
    return {n: out[n] for n in v2_tensor_names(config)}


def dequantize_m1(tensors: Dict[str, np.ndarray], config: M1Config) -> Dict[str, np.ndarray]:
    """Version 2 tensors -> float tensors (scale[n] * W[n, :] in float32), e.g. to load a v2
    file into the float M1 (training, studies). Not used on the token path."""
    out = {}
    for name in v2_tensor_names(config):
        if name.endswith(".scale"):
            continue
        if is_matrix(name):
            out[name] = tensors[name].astype(np.float32) * tensors[name + ".scale"][:, None]
        else:
            out[name] = tensors[name]
    return out


# --------------------------------------------------------------------------- the model

class IntegerM1:
    """M1 in the integer numerics of docs/m1-integer.md (format version 2 tensors).

    ``forward(ids [B, T]) -> logits float32 [B, T, 256]`` runs whole windows (causal attention
    with the relative-bias table); ``cdf(logits, precision)`` turns logits into the integer
    CDFs eqinfo codes with. Results depend only on each row's own sequence up to that position.
    """

    def __init__(self, config: M1Config, tensors: Dict[str, np.ndarray], device="cpu"):
        config.validate()
        self.config = config
        self.device = torch.device(device)
        self.tensors = {n: np.asarray(tensors[n]) for n in v2_tensor_names(config)}
        for name, t in self.tensors.items():
            if is_matrix(name):
                if t.dtype != np.int8:
                    raise ValueError(f"IntegerM1: {name} must be int8, got {t.dtype}")
                if (t == -128).any():
                    raise ValueError(f"IntegerM1: {name} holds -128; int8 weights must be in [-127, 127]")
            elif name.endswith(".scale"):
                if t.dtype != np.float32 or not np.isfinite(t).all() or (t < 0).any():
                    raise ValueError(f"IntegerM1: {name} must be finite float32 >= 0")
            elif name != "relative_buckets":
                if t.dtype != np.float32 or not np.isfinite(t).all():
                    raise ValueError(f"IntegerM1: {name} must be finite float32")
        # float32 epsilon: the config's value rounded to binary32, as the C++ reads it.
        self.eps = float(np.float32(config.norm_epsilon))
        self.att_scale = att_scale(config.head_dim)
        self._load(self.device)

    @classmethod
    def from_float(cls, float_state, config: Optional[M1Config] = None, device="cpu") -> "IntegerM1":
        """Quantises a float M1 (or v1 tensor dict) as the export / `eqinfo m1-quantize` does."""
        from .model import M1
        if isinstance(float_state, M1):
            config = float_state.config
        return cls(config, quantize_m1(float_state, config), device)

    def _load(self, device):
        dev = torch.device(device)

        def f32(n):
            return torch.from_numpy(np.ascontiguousarray(self.tensors[n], dtype=np.float32)).to(dev)

        def mat(n):
            return (torch.from_numpy(self.tensors[n].astype(np.float64)).to(dev), f32(n + ".scale"))
        self.embedding = f32("embedding")
        self.layers = []
        for i in range(self.config.layers):
            p = f"layers.{i}."
            self.layers.append({"attn_norm": f32(p + "attn_norm"), "q": mat(p + "q"), "k": mat(p + "k"),
                                "v": mat(p + "v"), "o": mat(p + "o"), "rel_bias": f32(p + "rel_bias"),
                                "mlp_norm": f32(p + "mlp_norm"), "w1": mat(p + "w1"), "w2": mat(p + "w2")})
        self.final_norm = f32("final_norm")
        self.lm_head = mat("lm_head")
        self.buckets = torch.from_numpy(self.tensors["relative_buckets"].astype(np.int64)).to(dev)
        self.device = dev

    def to(self, device) -> "IntegerM1":
        self._load(device)
        return self

    # ---- forward

    def _attention(self, L: dict, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q, k, v: float32 [B, T, A] -> out float32 [B, T, A]."""
        c = self.config
        B, T, _ = q.shape
        H, hd = c.heads, c.head_dim

        def heads(x):  # [B, T, A] -> quant8 per (row, head): int8 [B, H, T, hd], scale [B, H, T]
            x8, xs = quant8(x.view(B, T, H, hd))
            return x8.transpose(1, 2), xs.transpose(1, 2)
        q8, qs = heads(q)
        k8, ks = heads(k)
        v8, vs = heads(v)
        dot = torch.matmul(q8.to(F64), k8.to(F64).transpose(-1, -2)).to(F32)   # [B, H, T, T], exact
        pos = torch.arange(T, device=q.device)
        dist = pos[:, None] - pos[None, :]
        causal = dist >= 0                                                      # j <= t
        bias = L["rel_bias"][:, self.buckets[dist.clamp(min=0)]]                # [H, T, T]
        sc = qs.unsqueeze(-1) * ks.unsqueeze(-2)                                # F(qs[t] * ks[j])
        s = dot * sc
        s = s * _f(self.att_scale, s)
        s = s + bias
        finite = (torch.isfinite(s) | ~causal).all(-1)                          # [B, H, T]
        neg_inf = torch.tensor(float("-inf"), dtype=F32, device=s.device)
        mx = torch.where(causal, s, neg_inf).amax(-1)
        mx = torch.where(finite, mx, _zero(mx))
        diff = s - mx.unsqueeze(-1)                                             # F(s[j] - M)
        keep = causal & finite.unsqueeze(-1)
        e = exp_nonpositive(torch.where(keep, diff, _zero(diff)))
        e = torch.where(keep, e, _zero(e))
        z = (e * _f(TWO24, e)).to(torch.int64).sum(-1)                          # int64, exact
        w = e * vs.unsqueeze(-2)                                                # F(e[j] * vs[j])
        p8, ps = quant8u(w)
        acc = torch.matmul(p8.to(F64), v8.to(F64))                              # [B, H, T, hd], exact
        zs = torch.where(finite, z, torch.ones_like(z)).to(F64)
        os_ = ((ps.to(F64) * TWO24) / zs).to(F32)                               # float(D(D(ps * 2^24) / Z))
        out = acc.to(F32) * os_.unsqueeze(-1)
        out = torch.where(finite.unsqueeze(-1), out, _zero(out))
        return out.transpose(1, 2).reshape(B, T, H * hd)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: int [B, T] (0..256, 256 = BOS; T <= context) -> logits float32 [B, T, 256]."""
        c = self.config
        ids = torch.as_tensor(ids, device=self.device)
        if ids.dim() != 2:
            raise ValueError("IntegerM1.forward: ids must be [B, T]")
        if ids.shape[1] > c.context:
            raise ValueError(f"IntegerM1.forward: {ids.shape[1]} positions exceed the context of {c.context}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) > BOS):
            raise ValueError("IntegerM1.forward: ids must be in [0, 256]")
        h = self.embedding[ids.long()]
        for L in self.layers:
            x, sx = norm_quant(h, L["attn_norm"], self.eps)
            q = linear(x, sx, *L["q"])
            k = linear(x, sx, *L["k"])
            v = linear(x, sx, *L["v"])
            out = self._attention(L, q, k, v)
            x, sx = quant8(out)
            h = h + linear(x, sx, *L["o"])
            x, sx = norm_quant(h, L["mlp_norm"], self.eps)
            f = linear(x, sx, *L["w1"])
            f = torch.where(f > 0, f, _zero(f))                                  # NaN -> 0
            x, sx = quant8(f)
            h = h + linear(x, sx, *L["w2"])
        x, sx = norm_quant(h, self.final_norm, self.eps)
        return linear(x, sx, *self.lm_head)

    __call__ = forward

    @staticmethod
    def cdf(logits: torch.Tensor, precision: int = 16) -> torch.Tensor:
        return logits_to_cdf(logits, precision)

    def byte_cdfs(self, data: bytes, precision: int = 16, block_bytes: Optional[int] = None) -> np.ndarray:
        """int64 [n, 257]: row i = CDF of data[i] under docs/m1.md's plain-AC block rule (blocks of
        block_bytes, default context, each from BOS): what `eqinfo m1-dump` writes."""
        block = block_bytes or self.config.context
        if not 1 <= block <= self.config.context:
            raise ValueError(f"block_bytes must be in [1, context = {self.config.context}]")
        out = np.zeros((len(data), 257), dtype=np.int64)
        with torch.no_grad():
            for start in range(0, len(data), block):
                chunk = data[start:start + block]
                x = torch.tensor([[BOS] + list(chunk[:-1])], device=self.device)
                out[start:start + len(chunk)] = self.cdf(self.forward(x)[0], precision).cpu().numpy()
        return out

    def cdfs_for_bytes(self, data: bytes, precision: int = 16, block_bytes: Optional[int] = None) -> np.ndarray:
        """Another name of byte_cdfs."""
        return self.byte_cdfs(data, precision, block_bytes)


def cross_entropy_bits(cdfs: np.ndarray, data: Iterable[int], precision: int) -> float:
    """-sum log2(count / 2^P) of the actual bytes under integer CDFs [n, 257]."""
    d = np.frombuffer(bytes(data), dtype=np.uint8).astype(np.int64)
    if len(d) == 0:
        return 0.0
    idx = np.arange(len(d))
    counts = (cdfs[idx, d + 1] - cdfs[idx, d]).astype(np.float64)
    return float(-(np.log2(counts) - precision).sum())
