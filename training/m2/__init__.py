"""M2: language models over compressed-token shards (the second model of Lester et al. 2024).

model.py     the decoder-only Transformer (M1's blocks, any vocabulary) and its size presets
shards.py    token shards: read (written by `eqinfo shard` or make_shards.py) and write
make_shards.py  SentencePiece and GZip shards, cut like `eqinfo shard`
train_m2.py  training (fixed token budget, exact resume, torchrun data parallel)
evaluate.py  bits/byte, FLOPs/byte, bytes/step, uniform baseline, accuracy by window position
sample.py    sample tokens and decode them to text
experiment.py  the learnability experiment in one command (experiment_run.py: the run,
             experiment_report.py: the report, experiment_common.py: the methods)

Run the scripts as modules from the repository root: /usr/bin/python3 -m training.m2.train_m2 ...

See training/m2/README.md.
"""
