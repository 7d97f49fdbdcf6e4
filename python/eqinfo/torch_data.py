# SPDX-License-Identifier: MIT
"""PyTorch datasets over eqinfo tokens (this module imports torch; ``import eqinfo`` does not).

* :class:`ShardSequences` streams a token shard directory (``eqinfo shard``):
  memory-mapped, split across DataLoader workers (and, optionally, ranks),
  fixed-length sequences for language-model training.
* :class:`EncodeOnTheFly` reads text files and encodes them as it goes with an
  :class:`eqinfo.Tokenizer`, cut into examples the way ``eqinfo shard`` cuts
  them, so it yields the same tokens as streaming the shards would.

Both yield ``(x, y)`` pairs of int64 tensors of ``seq_len`` tokens, ``y`` being
``x`` shifted by one (next-token targets), or, with ``seq_len=None``, one
``(tokens, n_bytes)`` pair per example.

Sequences (``seq_len`` given): windows of ``seq_len + 1`` tokens at a stride of
``seq_len``, packed as ``packing`` says (:data:`eqinfo.shards.PACKINGS`, the
vocabulary training/m2 uses too): ``"split"`` (the default,
:data:`eqinfo.shards.DEFAULT_PACKING`) cuts each example on its own (sequences
start at an example's first token, where equal-info windows restart with a
fresh model state) and drops each example's incomplete tail; ``"truncate"``
keeps only each example's first window; ``"concat"`` reads the examples'
tokens back to back (within a shard for ShardSequences; across examples for
EncodeOnTheFly) and drops only the incomplete tail of that stream.
"""

import os

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from . import Tokenizer
from .shards import DEFAULT_PACKING, PACKINGS, Shards

__all__ = ["ShardSequences", "EncodeOnTheFly", "worker_share", "PACKINGS", "DEFAULT_PACKING"]


def worker_share(rank=0, world_size=1):
    """(index, count) of this DataLoader worker among all workers of all ranks."""
    info = get_worker_info()
    workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
    return rank * workers + worker, world_size * workers


def _windows(length, seq_len):
    """Starts of the full (seq_len + 1)-token windows, stride seq_len, in `length` tokens."""
    if length < seq_len + 1:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, length - seq_len, seq_len, dtype=np.int64)


def _example_windows(length, seq_len, packing):
    """Window starts within one example ("split" or "truncate")."""
    starts = _windows(length, seq_len)
    return starts[:1] if packing == "truncate" else starts


def _pair(chunk):
    t = torch.from_numpy(np.asarray(chunk, dtype=np.int64))
    return t[:-1], t[1:]


def _check(seq_len, packing):
    if seq_len is not None and (not isinstance(seq_len, int) or seq_len < 1):
        raise ValueError(f"seq_len must be a positive int or None, got {seq_len!r}")
    if packing not in PACKINGS:
        raise ValueError(f"packing must be one of {tuple(PACKINGS)}, got {packing!r}")


class ShardSequences(IterableDataset):
    """Token sequences streamed from a shard directory.

    Args:
        path: the shard directory.
        seq_len: tokens per sequence (``x`` and ``y`` have ``seq_len`` tokens
            each); None: one ``(tokens, n_bytes)`` pair per example.
        packing: ``"split"`` (default), ``"truncate"`` or ``"concat"`` (module docstring).
        shuffle: visit the sequences (or examples) in a random order, a new
            one every epoch (:meth:`set_epoch`), the same on every worker and
            rank for a given ``seed`` and epoch.
        rank, world_size: for distributed training, this process's share.

    Every worker of every rank gets a disjoint, interleaved share
    (``i % count == index``), so together they visit each sequence once per
    epoch. The shards are memory-mapped in the workers, not pickled.
    """

    def __init__(self, path, seq_len=512, *, packing=DEFAULT_PACKING, shuffle=False, seed=0, rank=0, world_size=1):
        super().__init__()
        _check(seq_len, packing)
        self.path = os.fspath(path)
        self.seq_len, self.packing = seq_len, packing
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.rank, self.world_size = rank, world_size
        Shards(self.path)  # fail early on a bad directory

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def _plan(self, shards):
        """int64 [n, 2]: (shard, first token) of every sequence, or (shard, example) with seq_len None."""
        rows = []
        for k in range(shards.num_shards):
            if self.seq_len is None:
                starts = np.arange(len(shards.index(k)), dtype=np.int64)
            elif self.packing == "concat":
                starts = _windows(len(shards.tokens(k)), self.seq_len)
            else:
                ix = shards.index(k)
                parts = [o + _example_windows(int(c), self.seq_len, self.packing) for o, c in ix[:, 4:6]]
                starts = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            rows.append(np.stack([np.full(len(starts), k, dtype=np.int64), starts.astype(np.int64)], axis=1))
        return np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int64)

    def __len__(self):
        """Items per epoch over all workers and ranks together."""
        return len(self._plan(Shards(self.path)))

    def __iter__(self):
        shards = Shards(self.path)
        plan = self._plan(shards)
        order = np.arange(len(plan))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(plan))
        index, count = worker_share(self.rank, self.world_size)
        for i in order[index::count]:
            k, start = int(plan[i, 0]), int(plan[i, 1])
            if self.seq_len is None:
                e = shards._example(k, start)
                yield torch.from_numpy(np.asarray(e.tokens, dtype=np.int64)), e.n_bytes
            else:
                yield _pair(shards.tokens(k)[start:start + self.seq_len + 1])


class EncodeOnTheFly(IterableDataset):
    """Token sequences of text files, encoded as they are read.

    Args:
        files: paths of the input files (one document each).
        tokenizer: an :class:`eqinfo.Tokenizer` (pickled into the workers: it
            is rebuilt there from its model path or bytes), or a dict of
            Tokenizer arguments.
        seq_len, packing: as for :class:`ShardSequences`.
        example_bytes: bytes per example (the last one shorter), 10,240 as
            ``eqinfo shard`` and the paper.
        separator: bytes joining consecutive files into one stream, b"\\n\\n" as
            ``eqinfo shard``.
        keep_documents: cut every file into examples on its own (no example
            spans two files; no separator), as ``eqinfo shard --keep-documents``.
        rank, world_size: for distributed training.

    Examples (not files) are shared out among the workers of all ranks
    (example ``i`` goes to worker ``i % count``); every worker reads the
    files, but encodes only its own examples. Each example is encoded on its
    own, so the tokens equal those of the shards ``eqinfo shard`` would write
    for the same files and settings. With ``packing="concat"`` a worker
    concatenates its own examples' tokens, so the sequences (not the tokens)
    depend on the number of workers.
    """

    def __init__(self, files, tokenizer, seq_len=512, *, packing=DEFAULT_PACKING, example_bytes=10240,
                 separator=b"\n\n", keep_documents=False, rank=0, world_size=1, read_bytes=1 << 20):
        super().__init__()
        _check(seq_len, packing)
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        self.files = [os.fspath(f) for f in files]
        self.tokenizer = tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer(**dict(tokenizer))
        if example_bytes < 1:
            raise ValueError("example_bytes must be >= 1")
        self.seq_len, self.packing = seq_len, packing
        self.example_bytes, self.separator = int(example_bytes), bytes(separator)
        self.keep_documents = bool(keep_documents)
        self.rank, self.world_size, self.read_bytes = rank, world_size, int(read_bytes)

    def examples(self):
        """Every example's bytes, in order (all of them, for any worker)."""
        pending = bytearray()
        for n, path in enumerate(self.files):
            if self.keep_documents:
                while pending:
                    yield bytes(pending[:self.example_bytes])
                    del pending[:self.example_bytes]
            elif n:
                pending += self.separator
            with open(path, "rb") as f:
                while True:
                    block = f.read(self.read_bytes)
                    if not block:
                        break
                    pending += block
                    while len(pending) > self.example_bytes:
                        yield bytes(pending[:self.example_bytes])
                        del pending[:self.example_bytes]
        while pending:
            yield bytes(pending[:self.example_bytes])
            del pending[:self.example_bytes]

    def __iter__(self):
        index, count = worker_share(self.rank, self.world_size)
        tok = self.tokenizer
        carry = np.zeros(0, dtype=np.int64)
        for i, data in enumerate(self.examples()):
            if i % count != index:
                continue
            tokens = tok.encode(data).astype(np.int64)
            if self.seq_len is None:
                yield torch.from_numpy(tokens), len(data)
                continue
            if self.packing == "concat":
                tokens = np.concatenate([carry, tokens])
            starts = _windows(len(tokens), self.seq_len) if self.packing == "concat" else \
                _example_windows(len(tokens), self.seq_len, self.packing)
            for s in starts:
                yield _pair(tokens[s:s + self.seq_len + 1])
            if self.packing == "concat":
                used = int(starts[-1]) + self.seq_len if len(starts) else 0
                carry = tokens[used:]
