#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Encode text files on the fly (no shards on disk) and feed the tokens to PyTorch.

    python3 python/examples/torch_encode_on_the_fly.py data/sample/*.txt --model en.unigram --workers 2
"""

import argparse

import torch

import eqinfo
from eqinfo.torch_data import EncodeOnTheFly

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("files", nargs="+", help="text files (one document each)")
parser.add_argument("--model", default="uniform", help="'uniform', a unigram model or an M1 .safetensors file")
parser.add_argument("--method", default="equal-info")
parser.add_argument("-b", "--window-bits", type=int, default=16)
parser.add_argument("-N", "--token-bits", type=int, default=16)
parser.add_argument("--seq-len", type=int, default=128)
parser.add_argument("--batch", type=int, default=4)
parser.add_argument("--workers", type=int, default=2)
parser.add_argument("--steps", type=int, default=5)
args = parser.parse_args()

tok = eqinfo.Tokenizer(args.model, method=args.method, window_bits=args.window_bits, token_bits=args.token_bits)
print(tok)
dataset = EncodeOnTheFly(args.files, tok, seq_len=args.seq_len)  # 10,240-byte examples, like `eqinfo shard`
loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, num_workers=args.workers)
for step, (x, y) in enumerate(loader):  # int64 [batch, seq_len]
    print(f"step {step}: x {tuple(x.shape)}, first tokens {x[0, :6].tolist()}")
    if step + 1 == args.steps:
        break

# Without seq_len: one (tokens, n_bytes) per example, e.g. to check decoding.
tokens, n_bytes = next(iter(EncodeOnTheFly(args.files, tok, seq_len=None)))
stream = b"\n\n".join(open(f, "rb").read() for f in args.files)  # the files, joined as eqinfo shard does
assert tok.decode(tokens.numpy(), n_bytes) == stream[:n_bytes]
print(f"first example: {n_bytes} bytes -> {len(tokens)} tokens, decodes exactly")
