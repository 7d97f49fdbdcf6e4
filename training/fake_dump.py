#!/usr/bin/python3
"""Stand-in for eqinfo's C++ dump program, to prove compare_with_eqinfo.py.

    fake_dump.py MODEL INPUT OUT.f32 [--perturb X] [--block-bytes N]

Writes float32 little-endian [n, 256]: row i = P(byte i | BOS + bytes[block_start:i])
under the plain-AC block rule of docs/m1.md (blocks of context bytes, reset to
BOS at each; --block-bytes overrides). Uses the incremental KV-cache path (M1.step), a different code
path from the one compare_with_eqinfo.py uses. --perturb adds X to every
probability of row 0 (then renormalises) so a failing comparison can be shown.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from eqinfo_m1 import BOS, load_m1  # noqa: E402


def main(argv):
    perturb, block_bytes = 0.0, 0
    if "--block-bytes" in argv:
        i = argv.index("--block-bytes")
        block_bytes = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if "--perturb" in argv:
        i = argv.index("--perturb")
        perturb = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, input_path, out_path = argv
    model, c, _ = load_m1(model_path)
    data = open(input_path, "rb").read()
    out = np.zeros((len(data), 256), dtype=np.float32)
    block = block_bytes or c.context
    with torch.inference_mode():
        for start in range(0, len(data), block):
            cache = model.init_cache(1)
            prev = BOS
            for i in range(start, min(start + block, len(data))):
                logits = model.step(torch.tensor([[prev]]), cache)[0]
                out[i] = torch.softmax(logits, -1).numpy()
                prev = data[i]
    if perturb and len(data):
        out[0] += perturb
        out[0] /= out[0].sum()
    out.astype("<f4").tofile(out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
