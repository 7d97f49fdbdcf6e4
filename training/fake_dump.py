#!/usr/bin/python3
"""Stand-in for `eqinfo m1-dump`, to prove compare_with_eqinfo.py without the C++.

    /usr/bin/python3 -m training.fake_dump MODEL INPUT OUT.u32 [--precision P] [--perturb] [--block-bytes N]

Writes little-endian uint32 [n, 257]: row i = the integer CDF of byte i given
BOS + bytes[block_start:i] under the plain-AC block rule of docs/m1.md (blocks
of context bytes, reset to BOS at each; --block-bytes overrides), computed with
eqinfo_m1.IntegerM1 one prefix at a time (forward of BOS + bytes[block_start:i]
for every i: a different batching from compare_with_eqinfo.py's whole blocks,
which must give the same integers). --perturb moves one count of row 0 from its
heaviest symbol to symbol 0 (or back) so a failing comparison can be shown.
"""

import sys

import numpy as np
import torch

from training.eqinfo_m1 import BOS, load_integer_m1


def main(argv):
    perturb, block_bytes, precision = False, 0, 16
    for flag in ("--block-bytes", "--precision"):
        if flag in argv:
            i = argv.index(flag)
            if flag == "--block-bytes":
                block_bytes = int(argv[i + 1])
            else:
                precision = int(argv[i + 1])
            argv = argv[:i] + argv[i + 2:]
    if "--perturb" in argv:
        perturb = True
        argv = [x for x in argv if x != "--perturb"]
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, input_path, out_path = argv
    model, c, _ = load_integer_m1(model_path)
    data = open(input_path, "rb").read()
    out = np.zeros((len(data), 257), dtype=np.int64)
    block = block_bytes or c.context
    with torch.no_grad():
        for start in range(0, len(data), block):
            for i in range(start, min(start + block, len(data))):
                x = torch.tensor([[BOS] + list(data[start:i])])
                out[i] = model.cdf(model.forward(x)[0, -1], precision).numpy()
    if perturb and len(data):
        counts = np.diff(out[0])
        h = int(np.argmax(counts))
        if h == 0:
            counts[0] -= 1
            counts[1] += 1
        else:
            counts[h] -= 1
            counts[0] += 1
        out[0, 1:] = np.cumsum(counts)
    out.astype("<u4").tofile(out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
