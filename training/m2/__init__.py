"""M2: language models over compressed-token shards (the second model of Lester et al. 2024).

model.py     the decoder-only Transformer (M1's blocks, any vocabulary) and its size presets
shards.py    token shards: read (written by `eqinfo shard` or make_shards.py) and write
make_shards.py  SentencePiece and GZip shards, cut like `eqinfo shard`
train_m2.py  training (fixed token budget, exact resume, torchrun data parallel)
evaluate.py  bits/byte, FLOPs/byte, bytes/step, uniform baseline, accuracy by window position
sample.py    sample tokens and decode them to text

See training/m2/README.md.
"""
