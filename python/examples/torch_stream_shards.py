#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stream fixed-length token sequences from a shard directory into a PyTorch training loop.

    eqinfo shard --model en.unigram --out shards/ corpus/        # or any shard directory
    python3 python/examples/torch_stream_shards.py shards/ --seq-len 512 --batch 8 --workers 2
"""

import argparse

import torch

import eqinfo
from eqinfo.torch_data import ShardSequences

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("shards", help="shard directory (manifest.json + shard-*.npy)")
parser.add_argument("--seq-len", type=int, default=512)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--workers", type=int, default=2)
parser.add_argument("--steps", type=int, default=5, help="batches to show")
args = parser.parse_args()

shards = eqinfo.Shards(args.shards)
print(shards, shards.settings)
dataset = ShardSequences(args.shards, seq_len=args.seq_len, shuffle=True, seed=0)
loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, num_workers=args.workers)
vocab = 1 << shards.settings["token_bits"]
model = torch.nn.Sequential(torch.nn.Embedding(vocab, 64), torch.nn.Linear(64, vocab))  # stand-in for M2
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for epoch in range(2):
    dataset.set_epoch(epoch)  # a new order every epoch
    for step, (x, y) in enumerate(loader):  # x, y: int64 [batch, seq_len]; y = x shifted by one
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"epoch {epoch} step {step}: x {tuple(x.shape)}, loss {loss.item():.3f}")
        if step + 1 == args.steps:
            break
