# SPDX-License-Identifier: MIT
"""The PyTorch datasets yield exactly the expected tokens, split across DataLoader workers."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import eqinfo  # noqa: E402
from eqinfo.shards import DEFAULT_PACKING, PACKINGS  # noqa: E402
from eqinfo.torch_data import EncodeOnTheFly, ShardSequences  # noqa: E402
from conftest import SAMPLES  # noqa: E402
from shardutil import write_shards  # noqa: E402

EXAMPLES = [SAMPLES["text"][i * 50:i * 50 + 150 + 40 * i] for i in range(8)]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, unigram_bytes):
    path = tmp_path_factory.mktemp("shards")
    tok = eqinfo.Tokenizer(unigram_bytes)
    write_shards(path, tok, EXAMPLES, shard_examples=3)
    return path, tok


def expected_concat(tok, examples_per_shard, seq_len):
    out = []
    for group in examples_per_shard:
        stream = np.concatenate([tok.encode(x) for x in group]).astype(np.int64)
        for s in range(0, len(stream) - seq_len, seq_len):
            out.append(stream[s:s + seq_len + 1])
    return out


def as_chunks(items):
    return [np.concatenate([x.numpy(), y.numpy()[-1:]]) for x, y in items]


def test_shard_sequences_concat(shards):
    path, tok = shards
    ds = ShardSequences(path, seq_len=16, packing="concat")
    items = list(ds)
    assert len(items) == len(ds) > 10
    for x, y in items:
        assert x.dtype == torch.int64 and x.shape == (16,) and y.shape == (16,)
        assert torch.equal(x[1:], y[:-1])
    want = expected_concat(tok, [EXAMPLES[0:3], EXAMPLES[3:6], EXAMPLES[6:8]], 16)
    assert len(want) == len(items)
    assert all(np.array_equal(a, b) for a, b in zip(as_chunks(items), want))


def test_shard_sequences_per_example(shards):
    path, tok = shards
    items = as_chunks(ShardSequences(path, seq_len=8))  # the default: "split"
    assert DEFAULT_PACKING == "split" and ShardSequences(path, seq_len=8).packing == "split"
    want = []
    for data in EXAMPLES:
        t = tok.encode(data).astype(np.int64)
        want += [t[s:s + 9] for s in range(0, len(t) - 8, 8)]
    assert len(items) == len(want) and all(np.array_equal(a, b) for a, b in zip(items, want))
    first = as_chunks(ShardSequences(path, seq_len=8, packing="truncate"))
    assert len(first) == len(EXAMPLES) and all(np.array_equal(a, tok.encode(x)[:9]) for a, x in zip(first, EXAMPLES))
    assert set(PACKINGS) == {"split", "truncate", "concat"}
    with pytest.raises(ValueError, match="packing"):
        ShardSequences(path, seq_len=8, packing="example")
    whole = list(ShardSequences(path, seq_len=None))
    assert [n for _, n in whole] == [len(x) for x in EXAMPLES]
    assert all(tok.decode(t.numpy(), n) == x for (t, n), x in zip(whole, EXAMPLES))


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_shard_sequences_workers(shards, workers):
    path, _ = shards
    single = as_chunks(ShardSequences(path, seq_len=16))
    loader = torch.utils.data.DataLoader(ShardSequences(path, seq_len=16), batch_size=None, num_workers=workers)
    got = as_chunks(loader)
    # Each sequence exactly once, whatever the number of workers.
    assert sorted(map(tuple, got)) == sorted(map(tuple, single))


def test_shard_sequences_shuffle_and_ranks(shards):
    path, _ = shards
    base = as_chunks(ShardSequences(path, seq_len=16))
    a = ShardSequences(path, seq_len=16, shuffle=True, seed=1)
    first = as_chunks(a)
    a.set_epoch(1)
    second = as_chunks(a)
    assert sorted(map(tuple, first)) == sorted(map(tuple, base)) == sorted(map(tuple, second))
    assert [tuple(x) for x in first] != [tuple(x) for x in second]
    ranks = [as_chunks(ShardSequences(path, seq_len=16, rank=r, world_size=2)) for r in range(2)]
    assert sorted(map(tuple, ranks[0] + ranks[1])) == sorted(map(tuple, base))
    assert ranks[0] and ranks[1]


@pytest.fixture(scope="module")
def text_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("text")
    paths = []
    for i, data in enumerate([SAMPLES["text"], SAMPLES["all256"] * 2, b"short"]):
        p = d / f"{i}.txt"
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_encode_on_the_fly(text_files, unigram_bytes):
    tok = eqinfo.Tokenizer(unigram_bytes)
    stream = b"\n\n".join(p.read_bytes() for p in text_files)
    examples = [stream[i:i + 300] for i in range(0, len(stream), 300)]
    ds = EncodeOnTheFly(text_files, tok, seq_len=None, example_bytes=300, read_bytes=77)
    got = list(ds)
    assert [n for _, n in got] == [len(x) for x in examples]
    assert all(np.array_equal(t.numpy(), tok.encode(x)) for (t, _), x in zip(got, examples))
    # Fixed-length sequences over the examples' tokens, back to back.
    seqs = as_chunks(EncodeOnTheFly(text_files, tok, seq_len=32, example_bytes=300, packing="concat"))
    all_tokens = np.concatenate([tok.encode(x) for x in examples]).astype(np.int64)
    want = [all_tokens[s:s + 33] for s in range(0, len(all_tokens) - 32, 32)]
    assert len(seqs) == len(want) and all(np.array_equal(a, b) for a, b in zip(seqs, want))


def test_encode_on_the_fly_workers(text_files, unigram_path):
    # The tokenizer is pickled into the workers (rebuilt from its model path).
    ds = EncodeOnTheFly(text_files, eqinfo.Tokenizer(unigram_path, window_bits=32), seq_len=None, example_bytes=200)
    single = sorted((n, tuple(t.tolist())) for t, n in ds)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    assert sorted((int(n), tuple(t.tolist())) for t, n in loader) == single
    ds2 = EncodeOnTheFly(text_files, dict(model=str(unigram_path), method="ac"), seq_len=8, packing="split")
    assert all(x.shape == (8,) for x, _ in ds2)


def test_matches_shards_of_the_same_text(tmp_path, text_files, unigram_bytes):
    tok = eqinfo.Tokenizer(unigram_bytes)
    stream = b"\n\n".join(p.read_bytes() for p in text_files)
    write_shards(tmp_path, tok, [stream[i:i + 256] for i in range(0, len(stream), 256)], shard_examples=1000)
    a = [(t.tolist(), n) for t, n in ShardSequences(tmp_path, seq_len=None)]
    b = [(t.tolist(), n) for t, n in EncodeOnTheFly(text_files, tok, seq_len=None, example_bytes=256)]
    assert a == b
