"""M2: a decoder-only Transformer over tokens of any vocabulary (Lester et al. 2024's "M2").

The same family as M1 (training/eqinfo_m1/model.py, docs/m1.md), whose blocks it imports:
pre-norm RMSNorm, no biases, multi-head attention with a learnt T5-style causal
relative-position bias per layer (32 buckets, max distance 128), ReLU MLP, a final
RMSNorm. What differs from M1:

* the vocabulary: `vocab_size` output logits (256 for 8-bit tokens, 65,536 for 16-bit,
  SentencePiece's size, ...); the input embedding has one more row, BOS = vocab_size,
  so the first token of every sequence is predicted too (every token is scored, which
  bits/byte needs);
* `context` = the training sequence length (512, the paper's);
* embeddings are UNTIED by default (a separate lm_head, as M1 and T5 v1.1, on which the
  paper's T5X models are built). Untied keeps "non-embedding parameters" (what the
  paper counts, and FLOPs/byte uses) a property of the Transformer alone, for every
  vocabulary size. `tie_embeddings=True` shares the first vocab_size rows of the input
  embedding with the output layer (logits scaled by d_model**-0.5, as T5 does);
* `mlp="gated-relu"` (optional): w2(relu(w1 x) * w3 x). The paper's size names match the
  gated counts (3m: 3.15M, 25m: 25.2M, 403m: 402.7M non-embedding parameters) and not
  the plain ReLU counts (2.36M, 18.9M, 302M), so its models probably had a gated MLP (T5
  v1.1 style). The default is the plain ReLU MLP of M1 and docs/m1.md.

Non-embedding parameters (reported, and used for FLOPs/byte) exclude the input
embedding and the output layer (lm_head), as in the paper's Table 4 and App. D.4.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import torch
from torch import nn

from training.eqinfo_m1.model import Block, M1Cache, M1Config, RMSNorm, relative_buckets_table

MLP_KINDS = ("relu", "gated-relu")


@dataclass
class M2Config:
    vocab_size: int = 256
    layers: int = 3
    d_model: int = 256
    heads: int = 4
    head_dim: int = 64
    d_ff: int = 1024
    context: int = 512              # positions attended over (BOS included) = the sequence length
    relative_buckets: int = 32
    relative_max_distance: int = 128
    norm_epsilon: float = 1e-6
    mlp: str = "relu"               # "relu" (M1's) or "gated-relu"
    tie_embeddings: bool = False

    @property
    def bos(self) -> int:
        return self.vocab_size

    @property
    def attention_width(self) -> int:
        return self.heads * self.head_dim

    def block_config(self) -> M1Config:
        """The M1Config that eqinfo_m1's Block is built from (same fields, validated there)."""
        return M1Config(layers=self.layers, d_model=self.d_model, heads=self.heads, head_dim=self.head_dim,
                        d_ff=self.d_ff, context=self.context, relative_buckets=self.relative_buckets,
                        relative_max_distance=self.relative_max_distance, norm_epsilon=self.norm_epsilon)

    def non_embedding_parameters(self) -> int:
        """Parameters outside the input embedding and the output layer."""
        d, a = self.d_model, self.attention_width
        mlp = (3 if self.mlp == "gated-relu" else 2) * d * self.d_ff
        return self.layers * (2 * d + 4 * d * a + self.heads * self.relative_buckets + mlp) + d

    def embedding_parameters(self) -> int:
        """Input embedding (vocab + BOS rows) plus the output layer when untied."""
        return (self.vocab_size + 1) * self.d_model + (0 if self.tie_embeddings else self.vocab_size * self.d_model)

    def validate(self) -> None:
        if not (isinstance(self.vocab_size, int) and 2 <= self.vocab_size <= (1 << 24)):
            raise ValueError("M2Config: vocab_size must be an int in [2, 2^24]")
        if self.mlp not in MLP_KINDS:
            raise ValueError(f"M2Config: mlp must be one of {MLP_KINDS}")
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError("M2Config: tie_embeddings must be a bool")
        try:
            self.block_config().validate()
        except ValueError as e:
            raise ValueError(str(e).replace("M1Config", "M2Config")) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "M2Config":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"M2Config: unknown field(s) {sorted(unknown)}")
        c = cls(**d)
        c.validate()
        return c


# Named sizes (vocab_size and context are set per run). Non-embedding parameters with the
# default ReLU MLP / with mlp="gated-relu":
#   tiny   1 x 32,  2x16 heads, d_ff 64      8.4K / 10.4K     (tests, CI)
#   mini   2 x 64,  2x32 heads, d_ff 128     66K / 82K        (experiment.py --smoke's second size)
#   1m     2 x 256, 4x64 heads, d_ff 512     1.05M / 1.31M
#   3m     3 x 256, 4x64 heads, d_ff 1024    2.36M / 3.15M    (the paper's 3m = M1's shape)
#   10m    6 x 384, 6x64 heads, d_ff 1536    10.6M / 14.2M
#   25m    6 x 512, 8x64 heads, d_ff 2048    18.9M / 25.2M    (the paper's 25m shape, Table 4)
PRESETS: Dict[str, dict] = {
    "tiny": dict(layers=1, d_model=32, heads=2, head_dim=16, d_ff=64),
    "mini": dict(layers=2, d_model=64, heads=2, head_dim=32, d_ff=128),
    "1m": dict(layers=2, d_model=256, heads=4, head_dim=64, d_ff=512),
    "3m": dict(layers=3, d_model=256, heads=4, head_dim=64, d_ff=1024),
    "10m": dict(layers=6, d_model=384, heads=6, head_dim=64, d_ff=1536),
    "25m": dict(layers=6, d_model=512, heads=8, head_dim=64, d_ff=2048),
}


def preset(name: str, vocab_size: int, context: int = 512, **overrides) -> M2Config:
    if name not in PRESETS:
        raise ValueError(f"unknown M2 preset {name!r} (have {', '.join(PRESETS)})")
    c = M2Config(vocab_size=vocab_size, context=context, **{**PRESETS[name], **overrides})
    c.validate()
    return c


class GatedBlock(Block):
    """M1's block with a gated ReLU MLP: h + w2(relu(w1 x) * w3 x), x = mlp_norm(h)."""

    def __init__(self, c: M1Config):
        super().__init__(c)
        self.w3 = nn.Linear(c.d_model, c.d_ff, bias=False)

    def mlp(self, h: torch.Tensor) -> torch.Tensor:
        x = self.mlp_norm(h)
        return h + self.w2(torch.relu(self.w1(x)) * self.w3(x))


class M2(nn.Module):
    """Decoder-only Transformer over tokens 0..vocab_size-1 (input id vocab_size = BOS)."""

    def __init__(self, config: M2Config, seed: int = 0, init_std: float = 0.02):
        super().__init__()
        config.validate()
        self.config = c = config
        bc = c.block_config()
        self.embedding = nn.Embedding(c.vocab_size + 1, c.d_model)
        block = GatedBlock if c.mlp == "gated-relu" else Block
        self.layers = nn.ModuleList([block(bc) for _ in range(c.layers)])
        self.final_norm = RMSNorm(c.d_model, c.norm_epsilon)
        self.lm_head = None if c.tie_embeddings else nn.Linear(c.d_model, c.vocab_size, bias=False)
        table = relative_buckets_table(c.context, c.relative_buckets, c.relative_max_distance)
        self.register_buffer("relative_buckets", torch.from_numpy(table.astype(np.int64)), persistent=False)
        self.reset_parameters(seed, init_std)

    @torch.no_grad()
    def reset_parameters(self, seed: int = 0, init_std: float = 0.02) -> None:
        """Normal(0, init_std) for the embedding and every weight matrix, ones for the norms,
        zeros for the relative-position biases; from a torch.Generator seeded with `seed`
        (the same seed gives the same model on every machine and process)."""
        g = torch.Generator()
        g.manual_seed(int(seed))
        for name, p in self.named_parameters():
            if name.endswith("rel_bias"):
                p.zero_()
            elif "norm" in name:
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * init_std)

    def count_parameters(self) -> Tuple[int, int]:
        """(all parameters, non-embedding parameters) of the instantiated module."""
        total = sum(p.numel() for p in self.parameters())
        emb = self.embedding.weight.numel() + (0 if self.lm_head is None else self.lm_head.weight.numel())
        return total, total - emb

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        h = self.final_norm(h)
        if self.lm_head is not None:
            return self.lm_head(h)
        w = self.embedding.weight[: self.config.vocab_size]
        return torch.matmul(h, w.t()) * (self.config.d_model ** -0.5)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids [B, T] (T <= context; normally BOS first) -> logits [B, T, vocab_size]."""
        t = input_ids.shape[1]
        if t > self.config.context:
            raise ValueError(f"M2.forward: {t} positions exceed the context of {self.config.context}")
        dev = input_ids.device
        pos = torch.arange(t, device=dev)
        dist = pos[:, None] - pos[None, :]                       # t - j
        idx = self.relative_buckets.to(dev)[dist.clamp(min=0)]   # [T, T]
        future = dist < 0
        h = self.embedding(input_ids)
        for layer in self.layers:
            bias = layer.rel_bias[:, idx].masked_fill(future, float("-inf"))   # [H, T, T]
            h = layer(h, bias)
        return self._logits(h)

    # ---- incremental decoding (sampling), with eqinfo_m1's KV cache and Block.step

    def init_cache(self, batch: int, device=None, dtype=torch.float32) -> M1Cache:
        c = self.config
        dev = device if device is not None else self.embedding.weight.device
        shape = (batch, c.heads, c.context, c.head_dim)
        return M1Cache([torch.zeros(shape, device=dev, dtype=dtype) for _ in range(c.layers)],
                       [torch.zeros(shape, device=dev, dtype=dtype) for _ in range(c.layers)])

    def step(self, input_ids: torch.Tensor, cache: M1Cache) -> torch.Tensor:
        """input_ids [B, 1] at position cache.length -> logits [B, vocab_size]; advances the cache."""
        pos = cache.length
        if pos >= cache.keys[0].shape[2]:
            raise ValueError("M2.step: the cache is full (context reached)")
        buckets = self.relative_buckets.to(self.embedding.weight.device)
        idx = buckets[pos - torch.arange(pos + 1, device=buckets.device)]
        h = self.embedding(input_ids.view(-1, 1))
        for i, layer in enumerate(self.layers):
            h = layer.step(h, cache.keys[i], cache.values[i], pos, layer.rel_bias[:, idx])
        cache.length = pos + 1
        return self._logits(h)[:, 0]


def describe(config: M2Config) -> str:
    return (f"{config.layers} layers x d_model {config.d_model}, {config.heads}x{config.head_dim} heads, "
            f"d_ff {config.d_ff} ({config.mlp}), vocab {config.vocab_size}, context {config.context}, "
            f"{'tied' if config.tie_embeddings else 'untied'} embeddings: "
            f"{config.non_embedding_parameters():,} non-embedding + {config.embedding_parameters():,} embedding "
            f"parameters")


__all__ = ["M2", "M2Config", "PRESETS", "preset", "GatedBlock", "MLP_KINDS", "describe"]
