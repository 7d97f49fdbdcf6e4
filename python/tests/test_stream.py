# SPDX-License-Identifier: MIT
"""Token offsets, the streaming decoder and Utf8Stream (issue #14)."""

import numpy as np
import pytest

import eqinfo
from conftest import TEXT

CHINESE = "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。😀 é".encode()


def _chunks(tokens, max_size, seed):
    rng = np.random.default_rng(seed)
    at = 0
    while at < len(tokens):
        n = int(rng.integers(0, max_size + 1))
        yield tokens[at : at + n]
        at += n


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(method="bytes"),
        dict(method="ac"),
        dict(method="equal-info", window_bits=16, token_bits=16),
        dict(method="equal-info", window_bits=16, token_bits=8, segment_bytes=100),
        dict(method="equal-info", window_bits=32, token_bits=8, rule="greedy-exact"),
    ],
)
def test_offsets_tile_the_input(unigram_path, kwargs):
    tok = eqinfo.Tokenizer(unigram_path, **kwargs)
    data = TEXT * 5
    tokens, offsets = tok.encode(data, return_offsets=True)
    assert np.array_equal(tokens, tok.encode(data))
    assert offsets.dtype == np.int64 and offsets.shape == (len(tokens), 2)
    assert offsets[0, 0] == 0 and offsets[-1, 1] == len(data)
    assert np.all(offsets[:, 0] <= offsets[:, 1])
    # Each span starts where the previous one ended, or repeats it (one window's tokens).
    same = np.all(offsets[1:] == offsets[:-1], axis=1)
    assert np.all(same | (offsets[1:, 0] == offsets[:-1, 1]))
    if kwargs["method"] == "equal-info":
        per = tok.tokens_per_window
        spans = offsets[::per]
        for w in range(len(spans) - 1):  # every window but the final one decodes alone to its span
            b, e = spans[w]
            assert tok.decode_bare(tokens[w * per : (w + 1) * per]) == data[b:e]
    # Batch and threads: the same offsets.
    batch = tok.encode_batch([data, data[:77]], threads=2, return_offsets=True)
    assert np.array_equal(batch[0][1], offsets)
    assert np.array_equal(batch[1][1], tok.encode(data[:77], return_offsets=True)[1])
    assert np.array_equal(tok.encode(data, threads=2, return_offsets=True)[1], offsets)


@pytest.mark.parametrize("token_bits", [8, 16])
def test_stream_decoder_every_chunking(unigram_path, token_bits):
    tok = eqinfo.Tokenizer(unigram_path, method="equal-info", window_bits=16, token_bits=token_bits)
    data = TEXT * 3
    tokens = tok.encode(data)
    bare = tok.decode_bare(tokens)
    for max_size in (1, 2, 5):
        dec = tok.stream_decoder()
        out = b"".join(dec.push(c) for c in _chunks(tokens, max_size, max_size))
        end = dec.finish()
        assert out + end.data == bare and end.leftover_tokens == 0
        exact = tok.stream_decoder(n_bytes=len(data))
        out = b"".join(exact.push(c) for c in _chunks(tokens, max_size, 7))
        assert out + exact.finish().data == data
    # One int at a time; a trailing partial window is reported, not decoded.
    dec = tok.stream_decoder()
    got = b"".join(dec.push(int(t)) for t in tokens[:-1])
    end = dec.finish()
    per = tok.tokens_per_window
    assert end.leftover_tokens == per - 1
    assert got == tok.decode_bare(tokens[: len(tokens) - per])


def test_stream_decoder_errors(unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, method="equal-info", window_bits=16, token_bits=8)
    dec = tok.stream_decoder()
    dec.push([1, 2, 3])
    with pytest.raises(eqinfo.Error) as e:
        dec.push([4, 256])
    assert e.value.code == eqinfo.ErrorCode.TOKEN_OUT_OF_RANGE and "token 4 is 256" in str(e.value)
    assert dec.tokens_seen == 3
    dec.finish()
    with pytest.raises(eqinfo.Error) as e:
        dec.finish()
    assert e.value.code == eqinfo.ErrorCode.INVALID_ARGUMENT
    tokens = tok.encode(TEXT)
    bad = tokens.copy()
    bad[10] ^= 0x5A
    with pytest.raises(eqinfo.Error) as want:
        tok.decode(bad, len(TEXT))
    with pytest.raises(eqinfo.Error) as got:
        dec = tok.stream_decoder(n_bytes=len(TEXT))
        for t in bad:
            dec.push(int(t))
        dec.finish()
    assert got.value.code == want.value.code
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Tokenizer(unigram_path, method="ac").stream_decoder()
    assert e.value.code == eqinfo.ErrorCode.INVALID_SETTINGS


def test_batch_stream_decoder(m1_bytes):
    tok = eqinfo.Tokenizer(m1_bytes, method="equal-info", window_bits=16, token_bits=8, lanes=4)
    rng = np.random.default_rng(3)
    streams = [tok.encode(TEXT[: 40 * (i + 1)]) for i in range(4)]
    streams.append(rng.integers(0, 256, 60).astype(np.uint8))  # tokens no encoder wrote
    batch = tok.stream_decoder_batch(len(streams))
    assert len(batch) == len(streams)
    got = [b""] * len(streams)
    at = [0] * len(streams)
    while any(a < len(s) for a, s in zip(at, streams)):
        chunks = []
        for i, s in enumerate(streams):
            n = int(rng.integers(0, 4))
            chunks.append(s[at[i] : at[i] + n])
            at[i] += n
        for i, b in enumerate(batch.push(chunks)):
            got[i] += b
    for i, s in enumerate(streams):
        assert batch.finish(i).leftover_tokens == 0
        assert got[i] == tok.decode_bare(s)


def test_text_streaming_chinese(unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, method="equal-info", window_bits=16, token_bits=8)
    tokens = tok.encode(CHINESE)
    dec = tok.stream_decoder(n_bytes=len(CHINESE), text=True)
    pieces = [dec.push(int(t)) for t in tokens]
    pieces.append(dec.finish().data)
    assert "".join(pieces) == CHINESE.decode()
    assert all(isinstance(p, str) and "\ufffd" not in p for p in pieces)
    # Utf8Stream alone, split at every byte.
    for cut in range(len(CHINESE) + 1):
        u = eqinfo.Utf8Stream()
        a = u.push(CHINESE[:cut])
        b = u.push(CHINESE[cut:])
        assert a + b + u.finish() == CHINESE.decode()
        assert "\ufffd" not in a + b
    u = eqinfo.Utf8Stream()
    assert u.push(b"ok\xe4\xba") == "ok" and u.held == 2
    assert u.finish() == "\ufffd"  # an incomplete character at the very end
