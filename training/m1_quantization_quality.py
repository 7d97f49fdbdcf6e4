#!/usr/bin/python3
"""What post-training int8 quantisation costs M1 (docs/m1-integer.md), measured.

    /usr/bin/python3 -m training.m1_quantization_quality --checkpoint models/m1/checkpoint.pt \
        --data-dir ~/.cache/eqinfo/data [--cli build/release/tools/eqinfo --float-cli OLD/tools/eqinfo \
        --float-model OLD_V1.safetensors]

Compares the float32 M1 of a training checkpoint (PyTorch, training/eqinfo_m1/model.py) with
its row-wise int8 quantisation in the integer numerics (training/eqinfo_m1/integer.py, which
computes exactly the CDFs eqinfo's C++ codes with), on valid.txt and heldout.txt:

- window regime: bits/byte of the first 16 bytes of --windows random windows from an empty
  context (what EqualInfoAC[b=16] sees); float: -log2 softmax; integer: -log2(count / 2^P)
  of the integer CDF (so it includes the CDF quantisation at P);
- long context: bits/byte over --blocks random blocks of `context` bytes from BOS;
- with --cli (and --float-cli/--float-model for eqinfo 0.1's float M1): EqualInfoAC[b=16,
  N=16] bytes/token and the plain-AC code length (bits/byte of the actual bitstream) of
  `eqinfo stats` on the first --stats-bytes of each file.

Prints a Markdown table (ratios integer / float) to stdout.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess

import torch

from training.eqinfo_m1 import BOS
from training.eqinfo_m1.integer import IntegerM1
from training.eqinfo_m1.model import M1, M1Config


def load_float(checkpoint: str) -> M1:
    ck = torch.load(checkpoint, map_location="cpu")
    cfg = ck.get("config") or ck.get("args", {})
    if isinstance(cfg, dict):
        names = [f for f in M1Config.__dataclass_fields__]
        cfg = M1Config(**{k: cfg[k] for k in names if k in cfg})
    model = M1(cfg)
    model.load_state_dict(ck["model"])
    return model.eval()


def sample(data: bytes, length: int, count: int, seed: int):
    rng = random.Random(seed)
    return [data[s:s + length] for s in (rng.randrange(0, len(data) - length) for _ in range(count))]


def cdf_bits(cdf: torch.Tensor, y: torch.Tensor, precision: int) -> float:
    count = cdf.gather(-1, y[..., None] + 1) - cdf.gather(-1, y[..., None])
    return -(torch.log2(count.double()) - precision).sum().item()


def float_bits(model: M1, pieces, precision=16, batch=64):
    """(-log2 softmax, the same logits through the integer CDF at P) in bits/byte."""
    raw = coded = 0.0
    for i in range(0, len(pieces), batch):
        chunk = pieces[i:i + batch]
        x = torch.tensor([[BOS] + list(p[:-1]) for p in chunk])
        y = torch.tensor([list(p) for p in chunk])
        with torch.inference_mode():
            logits = model(x)
        logp = torch.log_softmax(logits.double(), -1)
        raw += -logp.gather(-1, y[..., None]).sum().item() / math.log(2)
        coded += cdf_bits(IntegerM1.cdf(logits.float(), precision), y, precision)
    n = sum(len(p) for p in pieces)
    return raw / n, coded / n


def integer_bits(model: IntegerM1, pieces, precision=16, batch=64) -> float:
    total = 0.0
    for i in range(0, len(pieces), batch):
        chunk = pieces[i:i + batch]
        x = torch.tensor([[BOS] + list(p[:-1]) for p in chunk])
        y = torch.tensor([list(p) for p in chunk])
        total += cdf_bits(model.cdf(model.forward(x), precision), y, precision)
    return total / sum(len(p) for p in pieces)


def stats(cli: str, model: str, method: list, path: str):
    out = subprocess.run([cli, "stats", "--model", model] + method + [path], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    header, row = out[1].split(), out[2].split()
    return float(row[header.index("bytes/token")]), float(row[header.index("bits/byte")])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="models/m1/checkpoint.pt")
    ap.add_argument("--data-dir", default=os.path.expanduser("~/.cache/eqinfo/data"))
    ap.add_argument("--windows", type=int, default=4000)
    ap.add_argument("--blocks", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cli", help="this build's eqinfo (EqualInfoAC and AC via eqinfo stats)")
    ap.add_argument("--model", default="models/m1/m1.safetensors", help="the int8 model file for --cli")
    ap.add_argument("--float-cli", help="an eqinfo 0.1 build (float M1)")
    ap.add_argument("--float-model", help="the float (format 1) model file for --float-cli")
    ap.add_argument("--stats-bytes", type=int, default=150000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fm = load_float(a.checkpoint)
    im = IntegerM1.from_float(fm)
    ctx = fm.config.context
    print(f"M1 {fm.config}; {a.windows} windows of 16 bytes, {a.blocks} blocks of {ctx} bytes, seed {a.seed}\n")
    print("Bits/byte are code lengths at P=16 (the same integer CDF quantisation of both models' logits, so")
    print("the ratio isolates the int8 network); -log2 softmax of the float model in brackets.\n")
    print("| text | metric | float32 | int8 (integer numerics) | int8 / float |")
    print("|---|---|---|---|---|")
    for name in ("valid.txt", "heldout.txt"):
        path = os.path.join(a.data_dir, name)
        data = open(path, "rb").read()
        for label, pieces in (("bits/byte, windows of 16 from BOS", sample(data, 16, a.windows, a.seed)),
                              (f"bits/byte, blocks of {ctx} from BOS", sample(data, ctx, a.blocks, a.seed + 1))):
            (raw, f), i = float_bits(fm, pieces), integer_bits(im, pieces)
            print(f"| {name} | {label} | {f:.4f} ({raw:.4f}) | {i:.4f} | {i / f:.4f} |", flush=True)
        if a.cli and a.float_cli and a.float_model:
            part = f"/tmp/m1q_{name}"
            with open(part, "wb") as out:
                out.write(data[:a.stats_bytes])
            fe, _ = stats(a.float_cli, a.float_model, ["--method", "equal-info"], part)
            ie, _ = stats(a.cli, a.model, ["--method", "equal-info"], part)
            _, fa = stats(a.float_cli, a.float_model, ["--method", "ac"], part)
            _, ia = stats(a.cli, a.model, ["--method", "ac"], part)
            kb = a.stats_bytes // 1000
            print(f"| {name} | EqualInfoAC[b=16, N=16] bytes/token, first {kb} KB | {fe:.3f} | {ie:.3f} | "
                  f"{ie / fe:.4f} |")
            print(f"| {name} | plain AC code length, bits/byte, first {kb} KB | {fa:.3f} | {ia:.3f} | "
                  f"{ia / fa:.4f} |", flush=True)


if __name__ == "__main__":
    main()
