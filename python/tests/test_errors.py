# SPDX-License-Identifier: MIT
"""Every failure is a clean Python exception carrying eqinfo's code and message; nothing crashes."""

import numpy as np
import pytest

import eqinfo
from eqinfo import ErrorCode
from conftest import SAMPLES


def raises_code(code, fn, *args, **kwargs):
    with pytest.raises(eqinfo.Error) as e:
        fn(*args, **kwargs)
    assert e.value.code == code, str(e.value)
    assert isinstance(e.value, ValueError)
    assert str(e.value).startswith(f"[eqinfo.{e.value.name}]")
    assert e.value.message == str(e.value)
    return e.value


def test_bad_model_path(tmp_path):
    missing = tmp_path / "no-such.unigram"
    err = raises_code(ErrorCode.IO_ERROR, eqinfo.Tokenizer, missing)
    assert isinstance(err, OSError) and isinstance(err, eqinfo.FileError)
    assert str(missing) in str(err)
    raises_code(ErrorCode.IO_ERROR, eqinfo.Tokenizer, tmp_path)  # a directory
    raises_code(ErrorCode.IO_ERROR, eqinfo.read_eqt, missing)
    with pytest.raises(TypeError):
        eqinfo.Tokenizer(42)


def test_corrupt_unigram_file(unigram_bytes, tmp_path):
    flipped = bytearray(unigram_bytes)
    flipped[100] ^= 1
    raises_code(ErrorCode.CHECKSUM_MISMATCH, eqinfo.Tokenizer, bytes(flipped))
    raises_code(ErrorCode.BAD_MODEL_FILE, eqinfo.Tokenizer, unigram_bytes[:-9])
    raises_code(ErrorCode.BAD_MODEL_FILE, eqinfo.Tokenizer, unigram_bytes + b"x")
    raises_code(ErrorCode.BAD_MAGIC, eqinfo.Tokenizer, b"not a model at all, just text")
    raises_code(ErrorCode.BAD_MODEL_FILE, eqinfo.Tokenizer, b"")
    path = tmp_path / "bad.unigram"
    path.write_bytes(bytes(flipped))
    err = raises_code(ErrorCode.CHECKSUM_MISMATCH, eqinfo.Tokenizer, path)
    assert str(path) in str(err)


def test_corrupt_m1_file(m1_bytes):
    flipped = bytearray(m1_bytes)
    flipped[-5] ^= 0x40  # a weight
    raises_code(ErrorCode.CHECKSUM_MISMATCH, eqinfo.Tokenizer, bytes(flipped))
    raises_code(ErrorCode.BAD_MODEL_FILE, eqinfo.Tokenizer, m1_bytes[: len(m1_bytes) // 2])
    with pytest.raises(ValueError, match="static-ac"):
        eqinfo.Tokenizer(m1_bytes, method="static-ac")


def test_invalid_settings():
    bad = [
        dict(window_bits=24),  # not a multiple of N = 16
        dict(window_bits=8, token_bits=8),  # b < P
        dict(token_bits=25, window_bits=25),
        dict(token_bits=0),
        dict(precision=7),
        dict(precision=25),
        dict(window_bits=0),
        dict(method="bytes", token_bits=16),
        dict(window_bits=65536 + 16),
    ]
    for kwargs in bad:
        raises_code(ErrorCode.INVALID_SETTINGS, eqinfo.Tokenizer, **kwargs)
    for kwargs in (dict(method="lzw"), dict(rule="eager"), dict(method="static-ac"), dict(window_bits=-16)):
        with pytest.raises(ValueError):
            eqinfo.Tokenizer(**kwargs)
    for kwargs in (dict(window_bits="16"), dict(token_bits=16.0), dict(method=2)):
        with pytest.raises(TypeError):
            eqinfo.Tokenizer(**kwargs)
    with pytest.raises(eqinfo.Error):
        eqinfo.train_unigram(b"abc", precision=30)


def test_tampered_tokens(unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32)
    data = SAMPLES["text"]
    tokens = tok.encode(data)
    n = len(data)
    raises_code(ErrorCode.TRUNCATED_TOKENS, tok.decode, tokens[:-1], n)
    raises_code(ErrorCode.CORRUPT_STREAM, tok.decode, tokens[:-2], n)  # a whole window short
    raises_code(ErrorCode.CORRUPT_STREAM, tok.decode, tokens, n + 1000)
    raises_code(ErrorCode.CORRUPT_STREAM, tok.decode, tokens, 2**40)
    ac = eqinfo.Tokenizer(unigram_path, method="ac")
    raises_code(ErrorCode.TRUNCATED_TOKENS, ac.decode, ac.encode(data), 2**63)
    raises_code(ErrorCode.CORRUPT_STREAM, tok.decode, np.concatenate([tokens, tokens[:2]]), n)
    raises_code(ErrorCode.TOKEN_OUT_OF_RANGE, tok.decode, np.append(tokens[:-2], [70000, 1]), n)
    raises_code(ErrorCode.TOKEN_OUT_OF_RANGE, tok.decode, np.array([-1, 0]), 2)
    raises_code(ErrorCode.TOKEN_OUT_OF_RANGE, tok.decode, np.array([2**63, 0], dtype=np.uint64), 2)
    raises_code(ErrorCode.TOKEN_OUT_OF_RANGE, tok.decode_bare, np.array([0, 2**32 + 1]))
    # Every single-token change is detected (or decodes to the same bytes, never to other bytes silently).
    rng = np.random.default_rng(3)
    detected = 0
    for _ in range(200):
        t = tokens.copy()
        i = int(rng.integers(0, t.size))
        t[i] ^= np.uint16(1 << int(rng.integers(0, 16)))
        try:
            back = tok.decode(t, n)
        except eqinfo.Error as e:
            assert e.code in (ErrorCode.CORRUPT_STREAM, ErrorCode.TRAILING_BITS, ErrorCode.TRUNCATED_TOKENS)
            detected += 1
        else:
            assert back != data  # tokens <-> bytes one to one: other tokens, other bytes
    assert detected > 0
    with pytest.raises(TypeError):
        tok.decode(np.array([1.5, 2.0]), 2)
    with pytest.raises(ValueError):
        tok.decode(np.zeros((2, 2), dtype=np.uint16), 4)
    with pytest.raises(ValueError):
        tok.decode(tokens, -1)


def test_ac_tampering():
    tok = eqinfo.Tokenizer(method="ac", token_bits=8)
    data = b"hello, world"
    tokens = tok.encode(data)
    raises_code(ErrorCode.TRAILING_BITS, tok.decode, np.append(tokens, [0, 0]), len(data))
    raises_code(ErrorCode.TRUNCATED_TOKENS, tok.decode, tokens[:-3], len(data))


def test_eqt_errors(unigram_path):
    tok = eqinfo.Tokenizer(unigram_path)
    file = tok.encode_eqt(b"some bytes")
    raises_code(ErrorCode.SETTINGS_MISMATCH, eqinfo.Tokenizer(unigram_path, window_bits=32).decode_eqt, file)
    raises_code(ErrorCode.SETTINGS_MISMATCH, eqinfo.Tokenizer().decode_eqt, file)
    tampered = bytearray(file)
    tampered[-5] ^= 1  # the last token byte (the CRC-32 follows), whatever the header's length
    raises_code(ErrorCode.CHECKSUM_MISMATCH, tok.decode_eqt, bytes(tampered))
    raises_code(ErrorCode.BAD_MAGIC, tok.decode_eqt, b"X" + file[1:])
    raises_code(ErrorCode.TRUNCATED_TOKENS, eqinfo.read_eqt, file[:20])


def test_random_tokens_never_crash(unigram_bytes, m1_bytes):
    rng = np.random.default_rng(11)
    for tok in (
        eqinfo.Tokenizer(unigram_bytes),
        eqinfo.Tokenizer(unigram_bytes, method="ac", token_bits=8),
        eqinfo.Tokenizer(unigram_bytes, window_bits=64, token_bits=8, rule="greedy-exact"),
        eqinfo.Tokenizer(m1_bytes, window_bits=32),
    ):
        for _ in range(40):
            tokens = rng.integers(0, tok.vocab_size, int(rng.integers(0, 24)))
            for call in (lambda: tok.decode(tokens, int(rng.integers(0, 64))), lambda: tok.decode_bare(tokens)):
                try:
                    assert isinstance(call(), bytes)
                except eqinfo.Error:
                    pass


def test_encode_refuses_non_buffers():
    tok = eqinfo.Tokenizer()
    for bad in (5, None, [1, 2, 3], object()):
        with pytest.raises(TypeError):
            tok.encode(bad)


def test_error_codes_are_complete():
    from eqinfo import _eqinfo

    assert {int(c) for c in ErrorCode} == set(_eqinfo.error_codes)
    for c in ErrorCode:
        assert _eqinfo.error_codes[int(c)].endswith("." + c.name.lower())
