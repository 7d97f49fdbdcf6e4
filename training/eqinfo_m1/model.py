"""PyTorch reference of M1, eqinfo's byte-level Transformer (docs/m1.md).

The architecture, the input convention (BOS = input id 256) and the T5 causal
relative-position buckets follow docs/m1.md exactly; the C++ inference code in
include/eqinfo/transformer.hpp implements the same function.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

BOS = 256          # input id of the beginning-of-sequence symbol (embedding row 256)
VOCAB_IN = 257     # embedding rows: 256 bytes + BOS
VOCAB_OUT = 256    # next-byte logits


@dataclass
class M1Config:
    """Shape of an M1. Field order = docs/m1.md's table = the stored config JSON."""

    layers: int = 3
    d_model: int = 256
    heads: int = 4
    head_dim: int = 64
    d_ff: int = 1024
    context: int = 1024          # positions attended over, BOS included
    relative_buckets: int = 32
    relative_max_distance: int = 128
    norm_epsilon: float = 1e-6

    @property
    def attention_width(self) -> int:
        return self.heads * self.head_dim

    def non_embedding_parameters(self) -> int:
        """Parameters outside the embedding and lm_head (same count as the C++)."""
        d, a = self.d_model, self.attention_width
        return self.layers * (2 * d + 4 * d * a + self.heads * self.relative_buckets + 2 * d * self.d_ff) + d

    def validate(self) -> None:
        """The checks of transformer_config::validate in the C++, read from the same table
        (include/eqinfo/detail/m1_config_checks.inc)."""
        for f in dataclasses.fields(self):
            if f.name != "norm_epsilon" and not isinstance(getattr(self, f.name), int):
                raise ValueError(f"M1Config: {f.name} must be an int")
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "norm_epsilon"}
        for condition, what in _config_checks():
            if not eval(condition, {"__builtins__": {}}, fields):  # integer comparisons over the fields only
                raise ValueError(f"M1Config: {what}")
        if not (math.isfinite(self.norm_epsilon) and self.norm_epsilon > 0):
            raise ValueError("M1Config: norm_epsilon must be positive and finite")

    def to_dict(self) -> dict:
        """Fields in the table's order; norm_epsilon as a float (rounded to float32's shortest decimal)."""
        d = dataclasses.asdict(self)
        # The shortest decimal of the float32 value (what inference uses), as a
        # Python float: 1e-6 -> 1e-06, as C++'s std::to_chars(float) writes it.
        d["norm_epsilon"] = float(str(np.float32(d["norm_epsilon"])))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "M1Config":
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = set(d) - set(names)
        if unknown:
            raise ValueError(f"M1Config: unknown config field(s) {sorted(unknown)}")
        missing = set(names) - set(d)
        if missing:
            raise ValueError(f"M1Config: missing config field(s) {sorted(missing)}")
        c = cls(**{k: (float(d[k]) if k == "norm_epsilon" else d[k]) for k in names})
        c.validate()
        return c


_CHECKS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include", "eqinfo", "detail",
                            "m1_config_checks.inc")
_CHECK_LINE = re.compile(r'^EQINFO_M1_CHECK\((.+), "([^"]+)"\)$')


@functools.lru_cache(maxsize=None)
def _config_checks():
    """(condition as a Python expression, message) for each line of the C++ table."""
    with open(_CHECKS_FILE, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.startswith("EQINFO_M1_CHECK")]
    checks = []
    for line in lines:
        m = _CHECK_LINE.match(line)
        if m is None:
            raise RuntimeError(f"{_CHECKS_FILE}: cannot read the check {line!r}")
        checks.append((compile(m.group(1).replace("&&", " and "), _CHECKS_FILE, "eval"), m.group(2)))
    if not checks:
        raise RuntimeError(f"{_CHECKS_FILE}: no checks")
    return tuple(checks)


# Named sizes. "3m" is the paper's default (and M1Config's defaults).
PRESETS = {
    "3m": M1Config(),
}


def relative_position_bucket(n: int, num_buckets: int, max_distance: int) -> int:
    """T5's causal bucket (``_relative_position_bucket``, bidirectional=False) of
    the distance n = t - j >= 0, in float64 with math.log.

    Mirrors eqinfo::relative_position_bucket: max_exact = num_buckets // 2;
    n < max_exact -> n; else max_exact + floor(log(n / max_exact) /
    log(max_distance / max_exact) * (num_buckets - max_exact)), capped at
    num_buckets - 1. (With num_buckets == 1, max_exact == 0 and every n maps
    to bucket 0.)
    """
    if n < 0:
        raise ValueError("relative_position_bucket: n must be >= 0")
    max_exact = num_buckets // 2
    if n < max_exact or max_exact == 0:
        return min(n, num_buckets - 1)
    denom = math.log(max_distance / max_exact)
    if denom == 0.0:
        raise ValueError("relative_position_bucket: relative_max_distance == relative_buckets // 2 "
                         "makes T5's bucket formula divide by zero")
    scaled = math.log(n / max_exact) / denom * (num_buckets - max_exact)
    return int(min(max_exact + math.floor(scaled), num_buckets - 1))


def relative_buckets_table(context: int, num_buckets: int, max_distance: int) -> np.ndarray:
    """int32 table bucket[n] for n = 0 .. context-1 (stored in the model file)."""
    return np.array([relative_position_bucket(n, num_buckets, max_distance) for n in range(context)],
                    dtype=np.int32)


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight."""

    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


class Block(nn.Module):
    def __init__(self, c: M1Config):
        super().__init__()
        a = c.attention_width
        self.attn_norm = RMSNorm(c.d_model, c.norm_epsilon)
        self.q = nn.Linear(c.d_model, a, bias=False)
        self.k = nn.Linear(c.d_model, a, bias=False)
        self.v = nn.Linear(c.d_model, a, bias=False)
        self.o = nn.Linear(a, c.d_model, bias=False)
        self.rel_bias = nn.Parameter(torch.zeros(c.heads, c.relative_buckets))
        self.mlp_norm = RMSNorm(c.d_model, c.norm_epsilon)
        self.w1 = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.w2 = nn.Linear(c.d_ff, c.d_model, bias=False)
        self.heads, self.head_dim = c.heads, c.head_dim
        self.scale = 1.0 / math.sqrt(c.head_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, A] -> [B, H, T, Dh]
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def mlp(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.w2(torch.relu(self.w1(self.mlp_norm(h))))

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """h: [B, T, d]; bias: [H, T, T] with -inf above the diagonal."""
        a = self.attn_norm(h)
        q, k, v = self._split(self.q(a)), self._split(self.k(a)), self._split(self.v(a))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + bias  # [B, H, T, T]
        p = torch.softmax(scores, dim=-1)
        y = torch.matmul(p, v).transpose(1, 2).reshape(h.shape[0], h.shape[1], -1)
        h = h + self.o(y)
        return self.mlp(h)

    def step(self, h: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, pos: int,
             bias: torch.Tensor) -> torch.Tensor:
        """One position. h: [B, 1, d]; keys/values: [B, H, context, Dh] (written at pos);
        bias: [H, pos + 1] = rel_bias[:, bucket[pos - j]] for j = 0..pos."""
        a = self.attn_norm(h)
        q, k, v = self._split(self.q(a)), self._split(self.k(a)), self._split(self.v(a))
        keys[:, :, pos:pos + 1] = k
        values[:, :, pos:pos + 1] = v
        kk, vv = keys[:, :, :pos + 1], values[:, :, :pos + 1]
        scores = torch.matmul(q, kk.transpose(-1, -2)) * self.scale + bias[:, None, :]  # [B, H, 1, pos+1]
        p = torch.softmax(scores, dim=-1)
        y = torch.matmul(p, vv).transpose(1, 2).reshape(h.shape[0], 1, -1)
        h = h + self.o(y)
        return self.mlp(h)


class M1Cache:
    """KV cache of a batch of sequences that advance together."""

    def __init__(self, keys: List[torch.Tensor], values: List[torch.Tensor]):
        self.keys, self.values = keys, values
        self.length = 0


class M1(nn.Module):
    """M1: decoder-only, pre-norm, T5 relative-position biases, RMSNorm, ReLU MLP."""

    def __init__(self, config: Optional[M1Config] = None, seed: Optional[int] = 0,
                 init_std: float = 0.02, rel_bias_std: float = 0.0, norm_jitter: float = 0.0,
                 init_gain: Optional[float] = None):
        """Normal(0, init_std) for embedding and linears (linears: Normal(0,
        init_gain / sqrt(fan_in)) instead when init_gain is given), ones (plus
        uniform +-norm_jitter) for norms, Normal(0, rel_bias_std) (default
        zeros) for rel_bias, drawn from a torch.Generator seeded with `seed`."""
        super().__init__()
        c = config if config is not None else M1Config()
        c.validate()
        self.config = c
        self.embedding = nn.Embedding(VOCAB_IN, c.d_model)
        self.layers = nn.ModuleList([Block(c) for _ in range(c.layers)])
        self.final_norm = RMSNorm(c.d_model, c.norm_epsilon)
        self.lm_head = nn.Linear(c.d_model, VOCAB_OUT, bias=False)
        table = relative_buckets_table(c.context, c.relative_buckets, c.relative_max_distance)
        self.register_buffer("relative_buckets", torch.from_numpy(table.astype(np.int64)), persistent=False)
        self.reset_parameters(seed, init_std, rel_bias_std, norm_jitter, init_gain)

    @torch.no_grad()
    def reset_parameters(self, seed: Optional[int] = 0, init_std: float = 0.02, rel_bias_std: float = 0.0,
                         norm_jitter: float = 0.0, init_gain: Optional[float] = None) -> None:
        g = torch.Generator()
        g.manual_seed(0 if seed is None else int(seed))
        for name, p in self.named_parameters():
            if name.endswith("rel_bias"):
                if rel_bias_std > 0:
                    p.copy_(torch.randn(p.shape, generator=g) * rel_bias_std)
                else:
                    p.zero_()
            elif "norm" in name:
                p.fill_(1.0)
                if norm_jitter > 0:
                    p.add_((torch.rand(p.shape, generator=g) * 2 - 1) * norm_jitter)
            elif init_gain is not None and name != "embedding.weight":
                p.copy_(torch.randn(p.shape, generator=g) * (init_gain / math.sqrt(p.shape[1])))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * init_std)

    def parameter_tensors(self) -> List[Tuple[str, torch.Tensor]]:
        """(file name, tensor) in docs/m1.md order, PyTorch [out, in] layout (no buckets)."""
        out = [("embedding", self.embedding.weight)]
        for i, l in enumerate(self.layers):
            p = f"layers.{i}."
            out += [(p + "attn_norm", l.attn_norm.weight), (p + "q", l.q.weight), (p + "k", l.k.weight),
                    (p + "v", l.v.weight), (p + "o", l.o.weight), (p + "rel_bias", l.rel_bias),
                    (p + "mlp_norm", l.mlp_norm.weight), (p + "w1", l.w1.weight), (p + "w2", l.w2.weight)]
        out += [("final_norm", self.final_norm.weight), ("lm_head", self.lm_head.weight)]
        return out

    def _bias(self, layer: Block, t: int) -> torch.Tensor:
        """[H, T, T]: rel_bias[:, bucket[t - j]] for j <= t, -inf for j > t."""
        dev = layer.rel_bias.device
        pos = torch.arange(t, device=dev)
        dist = pos[:, None] - pos[None, :]
        idx = self.relative_buckets.to(dev)[dist.clamp(min=0)]            # [T, T]
        bias = layer.rel_bias[:, idx]                                      # [H, T, T]
        return bias.masked_fill(dist < 0, float("-inf"))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids: [B, T] (T <= context; first id normally BOS) -> logits [B, T, 256]."""
        t = input_ids.shape[1]
        if t > self.config.context:
            raise ValueError(f"M1.forward: {t} positions exceed the context of {self.config.context}")
        h = self.embedding(input_ids)
        for layer in self.layers:
            h = layer(h, self._bias(layer, t))
        return self.lm_head(self.final_norm(h))

    def init_cache(self, batch: int, device=None, dtype=torch.float32, capacity: Optional[int] = None) -> M1Cache:
        """An empty cache for `batch` sequences of up to `capacity` (default: context) positions."""
        c = self.config
        cap = c.context if capacity is None else min(int(capacity), c.context)
        dev = device if device is not None else self.embedding.weight.device
        shape = (batch, c.heads, cap, c.head_dim)
        return M1Cache([torch.zeros(shape, device=dev, dtype=dtype) for _ in range(c.layers)],
                       [torch.zeros(shape, device=dev, dtype=dtype) for _ in range(c.layers)])

    def step(self, input_ids: torch.Tensor, cache: M1Cache) -> torch.Tensor:
        """input_ids: [B, 1] at position cache.length -> logits [B, 256]; advances the cache."""
        pos = cache.length
        if pos >= cache.keys[0].shape[2]:
            raise ValueError("M1.step: the cache is full (capacity or context reached); start a new one")
        buckets = self.relative_buckets.to(self.embedding.weight.device)
        idx = buckets[pos - torch.arange(pos + 1, device=buckets.device)]  # bucket[pos - j], j = 0..pos
        h = self.embedding(input_ids.view(-1, 1))
        for i, layer in enumerate(self.layers):
            h = layer.step(h, cache.keys[i], cache.values[i], pos, layer.rel_bias[:, idx])
        cache.length = pos + 1
        return self.lm_head(self.final_norm(h))[:, 0]
