# SPDX-License-Identifier: MIT
"""Shared fixtures. Run: PYTHONPATH=<build>/python python3 -m pytest python/tests

EQINFO_CLI=<path to the eqinfo tool> enables the comparisons with the CLI
(else `eqinfo` on PATH is used, else they are skipped).
"""

import os
import shutil

import numpy as np
import pytest

import eqinfo

# The CLI's default model is the bundled M1; these tests compare it with Tokenizer's default,
# the uniform model, so the CLI runs they make use the uniform model unless they name one.
os.environ.setdefault("EQINFO_MODEL", "uniform")

TEXT = (
    b"It was the best of times, it was the worst of times, it was the age of wisdom, "
    b"it was the age of foolishness, it was the epoch of belief, it was the epoch of "
    b"incredulity, it was the season of Light, it was the season of Darkness.\n"
    b"The quick brown fox jumps over the lazy dog; 0123456789 -- \xc3\xa9t\xc3\xa9, \xe2\x82\xac 5.\n"
)


def _random(n, seed):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


#: Byte strings every configuration must round-trip.
SAMPLES = {
    "empty": b"",
    "nul": b"\x00",
    "nuls": b"\x00" * 300,
    "one": b"a",
    "all256": bytes(range(256)),
    "all256x3_reversed": bytes(range(255, -1, -1)) * 3,
    "ff": b"\xff" * 77,
    "random": _random(1500, 1),
    "text": TEXT * 6,
    "text_nul_tail": TEXT + b"\x00\x00\x00",
    "run": b"a" * 1000,
}

#: A shorter set for the (slower) M1 model.
M1_SAMPLES = {k: SAMPLES[k] for k in ("empty", "nul", "all256", "text", "random")}
M1_SAMPLES["text"] = TEXT * 2
M1_SAMPLES["random"] = _random(200, 2)


@pytest.fixture(scope="session")
def unigram_bytes():
    """A unigram model file trained on text (P = 16)."""
    return eqinfo.train_unigram([TEXT * 20, bytes(range(256))])


def _model_file(tmp_path_factory, name, data):
    path = tmp_path_factory.mktemp("models") / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def unigram_path(tmp_path_factory, unigram_bytes):
    return _model_file(tmp_path_factory, "text.unigram", unigram_bytes)


@pytest.fixture(scope="session")
def m1_bytes():
    """A tiny random-weight M1 model file (context 64, so blocks restart within the samples)."""
    return eqinfo.m1_random(layers=1, d_model=32, heads=2, head_dim=16, d_ff=64, context=64, seed=7)


@pytest.fixture(scope="session")
def m1_path(tmp_path_factory, m1_bytes):
    return _model_file(tmp_path_factory, "tiny.safetensors", m1_bytes)


@pytest.fixture(scope="session")
def cli():
    """The eqinfo command-line tool, or skip."""
    path = os.environ.get("EQINFO_CLI")
    if path:
        if not os.access(path, os.X_OK):
            pytest.fail(f"EQINFO_CLI={path} is not an executable")
        return path
    path = shutil.which("eqinfo")
    if not path:
        pytest.skip("the eqinfo CLI is not available (set EQINFO_CLI)")
    return path
