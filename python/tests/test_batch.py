# SPDX-License-Identifier: MIT
"""encode_batch / decode_batch: the serial results for any thread count; the GIL is released."""

import threading
import time

import numpy as np
import pytest

import eqinfo
from conftest import M1_SAMPLES, SAMPLES


def examples():
    rng = np.random.default_rng(5)
    out = list(SAMPLES.values())
    for n in rng.integers(0, 700, 60):
        out.append(bytes(rng.choice(list(SAMPLES["text"]), size=int(n))))
    return out


@pytest.mark.parametrize("method", ["bytes", "ac", "equal-info"])
def test_encode_batch_equals_encode(unigram_path, method):
    tok = eqinfo.Tokenizer("uniform" if method == "bytes" else unigram_path, method=method)
    items = examples()
    serial = [tok.encode(x) for x in items]
    for threads in (1, 2, 3, 0):
        batch = tok.encode_batch(items, threads=threads)
        assert len(batch) == len(items)
        for i, (a, b) in enumerate(zip(batch, serial)):
            assert a.dtype == b.dtype and np.array_equal(a, b), (threads, i)
        assert tok.decode_batch(batch, [len(x) for x in items], threads=threads) == items
        assert tok.decode_bare_batch(batch, threads=threads) == [tok.decode_bare(t) for t in serial]
    assert tok.encode_batch([]) == [] and tok.decode_batch([], []) == []
    # Any iterable of buffers.
    assert all(np.array_equal(a, b) for a, b in zip(tok.encode_batch(bytearray(x) for x in items[:5]), serial))


def test_m1_batch(m1_bytes):
    tok = eqinfo.Tokenizer(m1_bytes)
    items = list(M1_SAMPLES.values()) * 2
    serial = [tok.encode(x) for x in items]
    for threads in (1, 2, 3):
        batch = tok.encode_batch(items, threads=threads)
        assert all(np.array_equal(a, b) for a, b in zip(batch, serial))
    assert tok.decode_batch(serial, [len(x) for x in items], threads=2) == items


def test_batch_errors_are_the_first_failure():
    tok = eqinfo.Tokenizer(window_bits=32, token_bits=16)
    good = tok.encode(b"abcdefgh")
    bad_count = [good, good[:1], good]  # item 1: a partial window
    with pytest.raises(eqinfo.Error) as e:
        tok.decode_batch(bad_count, [8, 8, 8], threads=2)
    assert e.value.code == eqinfo.ErrorCode.TRUNCATED_TOKENS
    with pytest.raises(eqinfo.Error) as e:
        tok.decode_batch([good, good, good], [8, 8, 9], threads=3)
    assert e.value.code == eqinfo.ErrorCode.CORRUPT_STREAM
    with pytest.raises(ValueError, match="byte counts"):
        tok.decode_batch([good, good], [8])
    with pytest.raises(TypeError):
        tok.encode_batch([b"ok", 5])
    with pytest.raises(ValueError):
        tok.encode_batch([b"ok"], threads=-1)


def _progress_during(call):
    """Timestamps a Python thread records while `call` runs in the main thread."""
    stamps = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.02)
    start = time.perf_counter()
    call()
    end = time.perf_counter()
    stop.set()
    thread.join()
    return start, end, stamps


@pytest.mark.parametrize("batch", [False, True], ids=["encode", "encode_batch"])
def test_gil_is_released(batch):
    # With the GIL held for the whole call, the spinning thread could only run
    # at its very start or end; released, it runs all along. A loaded machine
    # may starve it once, so up to 3 tries (with the GIL held, none can pass).
    tok = eqinfo.Tokenizer(method="ac")
    data = np.random.default_rng(0).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    seen = []
    for attempt in range(3):
        if batch:
            start, end, stamps = _progress_during(lambda: tok.encode_batch([data, data], threads=1))
        else:
            start, end, stamps = _progress_during(lambda: tok.encode(data))
        if end - start < 0.1:
            data = data * 4  # a fast machine: make the call longer
            continue
        margin = (end - start) / 4
        middle = [t for t in stamps if start + margin < t < end - margin]
        if middle:
            return
        seen.append(f"{end - start:.3f} s")
    pytest.fail(f"no Python progress during the calls ({', '.join(seen)}): the GIL was held")
