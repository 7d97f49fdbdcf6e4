#!/usr/bin/python3
"""Writes an M1 model file with random weights (for tests and benchmarks).

The file is format version 2 (docs/m1-integer.md: the float weights drawn here
quantised row-wise to int8, as train_m1.py's export and `eqinfo m1-quantize`
do); --format-version 1 writes the float weights instead (to test conversion).
The initialisation is deliberately wider than training's so that next-byte
distributions are far from uniform, with probabilities spread over many orders
of magnitude, and so that a wrong norm weight, bias index or transpose changes
the output visibly: embedding Normal(0, 0.5); linears Normal(0, gain/sqrt(fan_in))
with gain 2 (for 3m: entropy ~5 bits/byte, top probability ~0.2, smallest
~1e-7); rel_bias Normal(0, 1); norm weights uniform in 1 +- 0.25.
A flat std (--gain 0 --std 0.5 on every matrix) is available too (attention
scores in the hundreds at d_model=256); the integer numerics make the C++ and
the reference agree exactly either way.

    /usr/bin/python3 -m training.make_random_m1 --layers 2 --d-model 64 -o m.safetensors
"""

import argparse
import math

import torch

from training.cli_args import M1_SHAPE, add_flags, m1_config_from_args
from training.eqinfo_m1 import BOS, M1, M1Config, fingerprint, load_m1, save_m1


def main(argv=None):
    d = M1Config()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(ap, M1_SHAPE, context=dict(help=None))
    ap.add_argument("--norm-epsilon", type=float, default=d.norm_epsilon)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--std", type=float, default=0.5,
                    help="std of the embedding (and of the linears when --gain is 0) (default 0.5)")
    ap.add_argument("--gain", type=float, default=2.0,
                    help="linears: std = gain / sqrt(fan_in) (default 2); 0: use --std")
    ap.add_argument("--rel-bias-std", type=float, default=1.0, help="std of rel_bias (default 1.0)")
    ap.add_argument("--norm-jitter", type=float, default=0.25, help="norm weights uniform in 1 +- this (default 0.25)")
    ap.add_argument("--self-test", help="JSON string to store as the self_test metadata")
    ap.add_argument("--format-version", choices=("1", "2"), default="2",
                    help="2: int8 matrices (default, what eqinfo runs); 1: float (for m1-quantize tests)")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    c = m1_config_from_args(a, norm_epsilon=a.norm_epsilon)
    model = M1(c, seed=a.seed, init_std=a.std, rel_bias_std=a.rel_bias_std, norm_jitter=a.norm_jitter,
               init_gain=a.gain if a.gain > 0 else None).eval()
    meta = save_m1(a.output, model, c, self_test=a.self_test, format_version=a.format_version)
    fp = fingerprint(a.output)
    if not a.quiet:
        text = b"The quick brown fox jumps over the lazy dog. " * 4
        x = torch.tensor([[BOS] + list(text[:min(len(text), c.context - 1)])])
        stored, _, _ = load_m1(a.output)  # IntegerM1 for version 2, M1 for version 1
        with torch.inference_mode():
            logp = torch.log_softmax(stored(x)[0].double(), -1)
        lo, hi = logp.min().item(), logp.max(-1).values.mean().item()
        ent = -(logp.exp() * logp).sum(-1).mean().item() / math.log(2)
        print(f"format_version {meta['format_version']}")
        print(f"config      {meta['config']}")
        print(f"tensor_crc32 {meta['tensor_crc32']}")
        print(f"sample: mean entropy {ent:.2f} bits/byte, mean max log10 p {hi / math.log(10):.2f}, "
              f"min log10 p {lo / math.log(10):.1f}")
    print(f"fingerprint 0x{fp:08x}")


if __name__ == "__main__":
    main()
