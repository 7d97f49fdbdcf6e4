# SPDX-License-Identifier: MIT
"""The bindings give the CLI's tokens and files, byte for byte (needs the eqinfo CLI)."""

import subprocess

import numpy as np
import pytest

import eqinfo
from conftest import M1_SAMPLES, SAMPLES

# (Tokenizer keyword arguments, the same as CLI options)
SETTINGS = [
    (dict(), []),
    (dict(method="bytes"), ["--method", "bytes"]),
    (dict(method="ac"), ["--method", "ac"]),
    (dict(window_bits=32, token_bits=8), ["-b", "32", "-N", "8"]),
    (dict(window_bits=20, token_bits=20, rule="greedy-exact"), ["-b", "20", "-N", "20", "--rule", "greedy-exact"]),
    (dict(window_bits=24, token_bits=12, precision=12), ["-b", "24", "-N", "12", "-P", "12"]),
    (dict(segment_bytes=100), ["--segment-bytes", "100"]),
    (dict(window_bits=32, token_bits=8, segment_bytes=37), ["-b", "32", "-N", "8", "--segment-bytes", "37"]),
]


def run(cli, *args, stdin=None):
    result = subprocess.run([cli, *map(str, args)], input=stdin, capture_output=True)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def cli_npy(cli, tmp_path, data, options, model=None):
    src, out = tmp_path / "in.bin", tmp_path / "out.npy"
    src.write_bytes(data)
    run(cli, "encode", "--format", "npy", *(["--model", model] if model else []), *options, "-o", out, src)
    return np.load(out)


@pytest.mark.parametrize("kwargs,options", SETTINGS, ids=[" ".join(o) or "default" for _, o in SETTINGS])
@pytest.mark.parametrize("model", ["uniform", "unigram"])
def test_tokens_equal_cli_npy(cli, tmp_path, unigram_path, model, kwargs, options):
    model_path = unigram_path if model == "unigram" else None
    tok = eqinfo.Tokenizer(model_path or "uniform", **kwargs)
    for label in ("empty", "nuls", "all256", "random", "text", "text_nul_tail"):
        data = SAMPLES[label]
        ours = tok.encode(data)
        theirs = cli_npy(cli, tmp_path, data, options, model_path)
        assert ours.dtype == theirs.dtype, label
        assert np.array_equal(ours, theirs), label


def test_static_ac_equals_cli(cli, tmp_path, unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, method="static-ac")
    data = SAMPLES["text"]
    assert np.array_equal(tok.encode(data), cli_npy(cli, tmp_path, data, ["--method", "static-ac"], unigram_path))


def test_m1_tokens_equal_cli(cli, tmp_path, m1_path):
    for kwargs, options in ((dict(), []), (dict(method="ac"), ["--method", "ac"])):
        tok = eqinfo.Tokenizer(m1_path, **kwargs)
        for label, data in M1_SAMPLES.items():
            assert np.array_equal(tok.encode(data), cli_npy(cli, tmp_path, data, options, m1_path)), label


def test_eqt_files_equal_cli(cli, tmp_path, unigram_path):
    data = SAMPLES["text"]
    src, out = tmp_path / "in.txt", tmp_path / "out.eqt"
    src.write_bytes(data)
    run(cli, "encode", "--model", unigram_path, "-b", "32", "-o", out, src)
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32)
    assert tok.encode_eqt(data) == out.read_bytes()
    assert tok.decode_eqt(out) == data
    # And the CLI decodes ours.
    ours = tmp_path / "ours.eqt"
    ours.write_bytes(tok.encode_eqt(data))
    assert run(cli, "decode", "--model", unigram_path, ours) == data


def test_model_files_equal_cli(cli, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(SAMPLES["text"])
    run(cli, "train-unigram", "-P", "14", "-o", tmp_path / "cli.unigram", corpus)
    assert eqinfo.train_unigram(SAMPLES["text"], precision=14) == (tmp_path / "cli.unigram").read_bytes()
    shape = dict(layers=1, d_model=16, heads=2, head_dim=8, d_ff=32, context=32, seed=3)
    run(cli, "m1-random", *[a for k, v in shape.items() for a in (f"--{k.replace('_', '-')}", v)],
        "-o", tmp_path / "cli.safetensors")
    assert eqinfo.m1_random(**shape) == (tmp_path / "cli.safetensors").read_bytes()


def test_cli_decodes_our_npy_tokens(cli, tmp_path, unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32, token_bits=8)
    data = SAMPLES["all256x3_reversed"]
    path = tmp_path / "t.npy"
    np.save(path, tok.encode(data))
    out = run(cli, "decode", "--format", "npy", "--model", unigram_path, "-b", "32", "-N", "8",
              "--bytes", len(data), path)
    assert out == data


def _shard(cli, tmp_path, files, *options):
    out = tmp_path / "shards"
    result = subprocess.run([cli, "shard", "--out", out, *map(str, options), *files], capture_output=True)
    if result.returncode == 2 and b"unknown command" in result.stderr:
        pytest.skip("this eqinfo CLI has no 'shard' command")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return out


@pytest.mark.parametrize("options,kwargs", [
    ([], dict()),
    (["--method", "static-ac", "--format", "raw"], dict(method="static-ac")),
    (["-b", "32", "-N", "8", "--rule", "greedy-exact"], dict(window_bits=32, token_bits=8, rule="greedy-exact")),
    (["--method", "bytes"], dict(method="bytes")),
    (["-b", "20", "-N", "20"], dict(window_bits=20, token_bits=20)),
], ids=["default", "static-ac-raw", "b32-N8-greedy", "bytes", "N20"])
def test_cli_shards(cli, tmp_path, unigram_path, options, kwargs):
    texts = [SAMPLES["text"], SAMPLES["all256"], b"", SAMPLES["random"][:500]]
    files = []
    for i, data in enumerate(texts):
        files.append(tmp_path / f"doc{i}.txt")
        files[-1].write_bytes(data)
    out = _shard(cli, tmp_path, files, "--model", unigram_path, "--example-bytes", 300, "--shard-examples", 3,
                 *options)
    shards = eqinfo.Shards(out)
    tok = eqinfo.Tokenizer(unigram_path, **kwargs)
    stream = b"\n\n".join(texts)
    examples = [stream[i:i + 300] for i in range(0, len(stream), 300)]
    assert len(shards) == len(examples) and shards.num_shards == -(-len(examples) // 3)
    assert shards.check()["crcs_checked"] == 3 * shards.num_shards
    assert shards.check(tokenizer=shards.tokenizer(unigram_path))["examples_decoded"] == len(examples)
    reader_tok = shards.tokenizer(unigram_path)
    assert (reader_tok.token_bits, reader_tok.model_fingerprint) == (tok.token_bits, tok.model_fingerprint)
    for i, (e, data) in enumerate(zip(shards, examples)):
        assert e.n_bytes == len(data) and e.source["stream_offset"] == 300 * i
        assert np.array_equal(e.tokens, tok.encode(data)), i
        assert tok.decode(e.tokens, e.n_bytes) == data
    torch_data = pytest.importorskip("eqinfo.torch_data")
    a = [(t.tolist(), n) for t, n in torch_data.ShardSequences(out, seq_len=None)]
    b = [(t.tolist(), n) for t, n in torch_data.EncodeOnTheFly(files, tok, seq_len=None, example_bytes=300)]
    assert a == b


def test_cli_shards_keep_documents(cli, tmp_path):
    torch_data = pytest.importorskip("eqinfo.torch_data")
    texts = [SAMPLES["text"][:450], b"", b"x", SAMPLES["all256"]]
    files = []
    for i, data in enumerate(texts):
        files.append(tmp_path / f"doc{i}.txt")
        files[-1].write_bytes(data)
    out = _shard(cli, tmp_path, files, "--example-bytes", 200, "--keep-documents")
    tok = eqinfo.Tokenizer()
    examples = [d[i:i + 200] for d in texts for i in range(0, len(d), 200)]
    a = [(t.tolist(), n) for t, n in torch_data.ShardSequences(out, seq_len=None)]
    b = [(t.tolist(), n) for t, n in torch_data.EncodeOnTheFly(files, tok, seq_len=None, example_bytes=200,
                                                               keep_documents=True)]
    assert a == b and [n for _, n in a] == [len(x) for x in examples]
    assert [e.source["document"] for e in eqinfo.Shards(out)] == [0, 0, 0, 2, 3, 3]


def test_cli_shards_damage(cli, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(SAMPLES["text"])
    out = _shard(cli, tmp_path, [src], "--example-bytes", 100, "--shard-examples", 2)
    shards = eqinfo.Shards(out)
    assert shards.check()["examples"] == len(shards)
    tokens = out / "shard-000001.npy"
    data = bytearray(tokens.read_bytes())
    data[-2] ^= 1
    tokens.write_bytes(bytes(data))
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Shards(out).check()
    assert e.value.code == eqinfo.ErrorCode.CHECKSUM_MISMATCH and "shard-000001.npy" in str(e.value)
