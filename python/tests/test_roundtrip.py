# SPDX-License-Identifier: MIT
"""decode(encode(x)) == x for every method, model and awkward input."""

import pickle

import numpy as np
import pytest

import eqinfo
from conftest import M1_SAMPLES, SAMPLES

# (id, model fixture or "uniform", Tokenizer keyword arguments)
CONFIGS = [
    ("uniform-bytes", "uniform", dict(method="bytes")),
    ("uniform-ac", "uniform", dict(method="ac")),
    ("uniform-eq16", "uniform", dict()),
    ("uniform-eq32-N8", "uniform", dict(window_bits=32, token_bits=8)),
    ("uniform-eq16-greedy", "uniform", dict(rule="greedy-exact")),
    ("uniform-eq20-N20", "uniform", dict(window_bits=20, token_bits=20)),
    ("unigram-static-ac", "unigram", dict(method="static-ac")),
    ("unigram-ac-N12", "unigram", dict(method="ac", token_bits=12)),
    ("unigram-eq16", "unigram", dict()),
    ("unigram-eq64-N16", "unigram", dict(window_bits=64)),
    ("unigram-eq24-N8-P12", "unigram", dict(window_bits=24, token_bits=8, precision=12)),
    ("unigram-eq16-greedy", "unigram", dict(rule="greedy-exact")),
    ("unigram-eq48-N24", "unigram", dict(window_bits=48, token_bits=24)),
]


def make_tokenizer(kind, kwargs, request):
    model = "uniform" if kind == "uniform" else request.getfixturevalue(f"{kind}_path")
    return eqinfo.Tokenizer(model, **kwargs)


@pytest.mark.parametrize("name,kind,kwargs", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_round_trip(name, kind, kwargs, request):
    tok = make_tokenizer(kind, kwargs, request)
    for label, data in SAMPLES.items():
        tokens = tok.encode(data)
        assert isinstance(tokens, np.ndarray) and tokens.ndim == 1, label
        assert tokens.dtype == tok.dtype, label
        assert tokens.size == 0 or int(tokens.max()) < tok.vocab_size, label
        assert (tokens.size == 0) == (len(data) == 0), label
        if tok.method == "equal-info":
            assert tokens.size % tok.tokens_per_window == 0, label
        back = tok.decode(tokens, len(data))
        assert isinstance(back, bytes), label
        assert back == data, label
        # The same through the parallel window decoder and from other array types.
        assert tok.decode(tokens, len(data), threads=2) == data, label
        assert tok.decode(tokens.tolist(), len(data)) == data, label
        assert tok.decode(tokens.astype(np.int64), np.int64(len(data))) == data, label
        bare = tok.decode_bare(tokens)
        assert isinstance(bare, bytes), label
        if tok.method == "bytes":
            assert bare == data


def test_m1_round_trip(m1_path):
    for kwargs in (dict(), dict(method="ac"), dict(window_bits=32, token_bits=8)):
        tok = eqinfo.Tokenizer(m1_path, **kwargs)
        assert tok.model_kind == "m1"
        assert tok.m1_config["context"] == 64
        for label, data in M1_SAMPLES.items():
            tokens = tok.encode(data)
            assert tok.decode(tokens, len(data)) == data, (kwargs, label)


def test_m1_compresses_differently_from_uniform(m1_bytes):
    data = M1_SAMPLES["text"]
    m1 = eqinfo.Tokenizer(m1_bytes)
    uniform = eqinfo.Tokenizer()
    assert not np.array_equal(m1.encode(data), uniform.encode(data))
    assert m1.model_fingerprint != uniform.model_fingerprint


def test_unigram_compresses_text(unigram_bytes):
    data = SAMPLES["text"]
    tok = eqinfo.Tokenizer(unigram_bytes, method="static-ac")
    assert tok.encode(data).size * 16 < len(data) * 8 * 0.75
    # The uniform model compresses nothing: 8 bits per byte.
    assert eqinfo.Tokenizer(method="ac").encode(data).size * 16 >= len(data) * 8


def test_input_types_give_the_same_tokens():
    tok = eqinfo.Tokenizer()
    data = "Grüße, 世界! \x00".encode()
    expected = tok.encode(data)
    for same in (bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8), data.decode()):
        assert np.array_equal(tok.encode(same), expected)
    # A non-contiguous buffer is refused, not silently copied in another order.
    with pytest.raises((TypeError, BufferError, ValueError)):
        tok.encode(memoryview(data)[::2])


def test_defaults_and_properties(unigram_path):
    tok = eqinfo.Tokenizer()
    assert tok.settings == {
        "method": "equal-info",
        "window_bits": 16,
        "token_bits": 16,
        "precision": 16,
        "rule": "delay",
        "segment_bytes": 65536,
        "model_fingerprint": tok.model_fingerprint,
    }
    assert tok.segment_bytes == 65536 and tok.lanes == eqinfo.default_lanes == 64
    assert tok.vocab_size == 65536 and tok.tokens_per_window == 1 and tok.dtype == np.uint16
    assert tok.model_kind == "uniform" and tok.model_path is None
    b = eqinfo.Tokenizer(method="bytes")
    assert (b.token_bits, b.vocab_size, b.dtype, b.model_kind) == (8, 256, np.uint8, "none")
    u = eqinfo.Tokenizer(unigram_path, precision=12, window_bits=24, token_bits=12)
    assert (u.precision, u.window_bits, u.token_bits, u.tokens_per_window) == (12, 24, 12, 2)
    assert u.model_kind == "unigram" and u.model_path == str(unigram_path)
    assert eqinfo.Tokenizer(unigram_path).precision == 16  # the file's precision
    assert eqinfo.Tokenizer(token_bits=20, window_bits=20).dtype == np.uint32
    assert "unigram" not in repr(tok) and "equal-info" in repr(tok)
    # The model given as a path, as bytes or as os.PathLike: the same model.
    fingerprint = eqinfo.Tokenizer(unigram_path).model_fingerprint
    assert eqinfo.Tokenizer(str(unigram_path)).model_fingerprint == fingerprint
    assert eqinfo.Tokenizer(unigram_path.read_bytes()).model_fingerprint == fingerprint
    # The fingerprint names the quantised model: requantising changes it.
    assert u.model_fingerprint != fingerprint


def test_pickle_after_chdir(unigram_path, monkeypatch):
    monkeypatch.chdir(unigram_path.parent)
    tok = eqinfo.Tokenizer(unigram_path.name)
    assert tok.model_path == unigram_path.name
    monkeypatch.chdir("/")
    assert pickle.loads(pickle.dumps(tok)).model_fingerprint == tok.model_fingerprint


def test_pickle(unigram_path, m1_bytes):
    data = SAMPLES["text"]
    for tok in (
        eqinfo.Tokenizer(unigram_path, method="static-ac"),
        eqinfo.Tokenizer(m1_bytes, window_bits=32),
        eqinfo.Tokenizer(method="bytes"),
    ):
        copy = pickle.loads(pickle.dumps(tok))
        assert copy.settings == tok.settings
        assert np.array_equal(copy.encode(data[:300]), tok.encode(data[:300]))


def test_eqt_round_trip(unigram_path, tmp_path):
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32)
    data = SAMPLES["text"]
    file = tok.encode_eqt(data)
    info = eqinfo.read_eqt(file)
    assert info["n_bytes"] == len(data)
    assert info["model_fingerprint"] == tok.model_fingerprint
    assert (info["method"], info["window_bits"], info["token_bits"]) == ("equal-info", 32, 16)
    assert np.array_equal(info["tokens"], tok.encode(data))
    assert tok.decode_eqt(file) == data
    path = tmp_path / "x.eqt"
    path.write_bytes(file)
    assert tok.decode_eqt(path, threads=2) == data
    assert tok.decode_eqt(str(path), bare=True).startswith(data[: len(data) // 2])


def test_train_unigram_writes_file(tmp_path):
    path = tmp_path / "m.unigram"
    model = eqinfo.train_unigram("abcabc", precision=12, path=path)
    assert path.read_bytes() == model
    assert eqinfo.Tokenizer(path).precision == 12
    assert model == eqinfo.train_unigram([b"abc", bytearray(b"abc")], precision=12)
