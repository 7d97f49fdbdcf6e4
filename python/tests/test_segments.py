# SPDX-License-Identifier: MIT
"""segment_bytes (a setting: it changes the tokens, and .eqt files record it) and lanes (never changes them)."""

import pickle
import subprocess

import numpy as np
import pytest

import eqinfo
from conftest import M1_SAMPLES, SAMPLES, TEXT

LONG = (TEXT * 35)[:10_000]  # ~10 KB


def test_segment_round_trip(unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, segment_bytes=1000)
    assert tok.segment_bytes == 1000 and tok.settings["segment_bytes"] == 1000
    tokens = tok.encode(LONG)
    assert tok.decode(tokens, len(LONG)) == LONG
    assert tok.decode(tokens, len(LONG), threads=2) == LONG
    whole = eqinfo.Tokenizer(unigram_path, segment_bytes=0)
    assert whole.segment_bytes == 0
    one = whole.encode(LONG)
    assert not np.array_equal(tokens, one)  # the segments restart the coder: other tokens
    assert whole.decode(one, len(LONG)) == LONG
    with pytest.raises(eqinfo.Error):  # and the tokens of one are not the tokens of the other
        whole.decode(tokens, len(LONG))
    # The segments in parallel: the same tokens.
    for threads in (0, 2, 3):
        assert np.array_equal(tok.encode(LONG, threads=threads), tokens), threads
    assert np.array_equal(whole.encode(LONG, threads=2), one)
    # Inputs shorter than a segment, segment ends at window ends, and every sample.
    for data in list(SAMPLES.values()) + [LONG[:1000], LONG[:1001], LONG[:2000]]:
        assert tok.decode(tok.encode(data), len(data)) == data
    assert np.array_equal(tok.encode(LONG[:999]), whole.encode(LONG[:999]))


@pytest.mark.parametrize("kwargs", [dict(window_bits=32, token_bits=8), dict(rule="greedy-exact"),
                                    dict(window_bits=24, token_bits=12, precision=12)])
def test_segments_other_settings(unigram_path, kwargs):
    for s in (1, 7, 256):
        tok = eqinfo.Tokenizer(unigram_path, segment_bytes=s, **kwargs)
        data = LONG[:3000]
        tokens = tok.encode(data)
        assert tok.decode(tokens, len(data)) == data, s
        assert np.array_equal(tok.encode(data, threads=2), tokens), s
        assert tok.decode_batch([tokens], [len(data)]) == [data]


def test_segment_bytes_other_methods(unigram_path):
    """ac and bytes have one stream: segment_bytes does not apply to them and is recorded as 0, as
    the CLI does."""
    for method in ("ac", "bytes"):
        a = eqinfo.Tokenizer(unigram_path, method=method)
        b = eqinfo.Tokenizer(unigram_path, method=method, segment_bytes=100)
        assert b.segment_bytes == 0
        assert np.array_equal(a.encode(LONG), b.encode(LONG))
        assert b.decode(b.encode(LONG), len(LONG)) == LONG


def test_segment_bytes_arguments():
    assert eqinfo.Tokenizer(segment_bytes=None).segment_bytes == 65536  # the C++ settings default
    assert eqinfo.Tokenizer(segment_bytes=np.uint32(5)).segment_bytes == 5
    with pytest.raises(ValueError):
        eqinfo.Tokenizer(segment_bytes=-1)
    with pytest.raises(TypeError):
        eqinfo.Tokenizer(segment_bytes=True)
    with pytest.raises(TypeError):
        eqinfo.Tokenizer(segment_bytes="100")
    with pytest.raises(ValueError):
        eqinfo.Tokenizer(lanes=-1)
    with pytest.raises(TypeError):
        eqinfo.Tokenizer(lanes=2.0)
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Tokenizer(lanes=0)
    assert e.value.code == eqinfo.ErrorCode.INVALID_ARGUMENT


def test_repr_pickle_and_eqt(unigram_path, m1_bytes):
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32, segment_bytes=500, lanes=3)
    assert "segment_bytes=500" in repr(tok) and "lanes=3" in repr(tok)
    assert "lanes" not in repr(eqinfo.Tokenizer())
    copy = pickle.loads(pickle.dumps(tok))
    assert (copy.segment_bytes, copy.lanes, copy.settings) == (500, 3, tok.settings)
    assert np.array_equal(copy.encode(LONG), tok.encode(LONG))
    file = tok.encode_eqt(LONG)
    info = eqinfo.read_eqt(file)
    assert info["segment_bytes"] == 500 and np.array_equal(info["tokens"], tok.encode(LONG))
    assert tok.decode_eqt(file) == LONG and tok.decode_eqt(file, threads=2) == LONG
    # segment_bytes is a setting: decoding with another one is refused; lanes is not.
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Tokenizer(unigram_path, window_bits=32).decode_eqt(file)
    assert e.value.code == eqinfo.ErrorCode.SETTINGS_MISMATCH and "segment_bytes" in str(e.value)
    assert eqinfo.Tokenizer(unigram_path, window_bits=32, segment_bytes=500, lanes=64).decode_eqt(file) == LONG
    m1 = eqinfo.Tokenizer(m1_bytes, window_bits=32, segment_bytes=200, lanes=5)
    assert pickle.loads(pickle.dumps(m1)).lanes == 5


def test_lanes_never_change_tokens(m1_bytes):
    data = (TEXT * 5)[:1500]
    items = list(M1_SAMPLES.values()) + [data]
    for kwargs in (dict(window_bits=32), dict(window_bits=32, segment_bytes=200), dict(rule="greedy-exact")):
        results = {}
        for lanes in (1, 3, 64):
            tok = eqinfo.Tokenizer(m1_bytes, lanes=lanes, **kwargs)
            assert tok.lanes == lanes
            serial = [tok.encode(x) for x in items]
            for threads in (1, 2):
                batch = tok.encode_batch(items, threads=threads)
                assert all(np.array_equal(a, b) for a, b in zip(batch, serial)), (kwargs, lanes, threads)
            if kwargs.get("segment_bytes"):
                assert np.array_equal(tok.encode(data, threads=2), serial[-1]), (kwargs, lanes)
            assert tok.decode_batch(serial, [len(x) for x in items], threads=2) == items
            assert tok.decode(serial[-1], len(data), threads=2) == data
            results[lanes] = serial
        for lanes in (3, 64):
            assert all(np.array_equal(a, b) for a, b in zip(results[lanes], results[1])), (kwargs, lanes)


def test_lanes_other_models(unigram_path):
    """Models without batched calls (uniform, unigram) take lanes too and give the same tokens."""
    for model in ("uniform", unigram_path):
        a = eqinfo.Tokenizer(model, segment_bytes=300)
        b = eqinfo.Tokenizer(model, segment_bytes=300, lanes=2)
        assert b.lanes == 2 and np.array_equal(a.encode(LONG), b.encode(LONG))


def test_cli_segment_bytes_eqt(cli, tmp_path, unigram_path):
    """The .eqt file `eqinfo encode --segment-bytes` writes records it, and the bindings read it back."""
    src, out = tmp_path / "in.txt", tmp_path / "out.eqt"
    src.write_bytes(LONG)
    r = subprocess.run([cli, "encode", "--model", str(unigram_path), "--segment-bytes", "1000", "-o", str(out),
                        str(src)], capture_output=True)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    info = eqinfo.read_eqt(out)
    assert info["segment_bytes"] == 1000 and info["n_bytes"] == len(LONG)
    tok = eqinfo.Tokenizer(unigram_path, segment_bytes=1000)
    assert np.array_equal(info["tokens"], tok.encode(LONG))
    assert tok.encode_eqt(LONG) == out.read_bytes()
    assert tok.decode_eqt(out) == LONG
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Tokenizer(unigram_path).decode_eqt(out)
    assert e.value.code == eqinfo.ErrorCode.SETTINGS_MISMATCH
    # And the CLI decodes ours (it takes segment_bytes from the file).
    ours = tmp_path / "ours.eqt"
    ours.write_bytes(eqinfo.Tokenizer(unigram_path, segment_bytes=777).encode_eqt(LONG))
    r = subprocess.run([cli, "decode", "--model", str(unigram_path), str(ours)], capture_output=True)
    assert r.returncode == 0 and r.stdout == LONG, r.stderr.decode(errors="replace")
