"""Tests of training/study/compression_study.py: runs its --smoke mode (a few KB of data/sample,
a random tiny M1, a tiny SentencePiece) and checks properties of what it computed.

Run:  /usr/bin/python3 -m pytest training/study/test_compression_study.py
Needs an eqinfo CLI (EQINFO_CLI, or a build training.common.find_cli finds), CMake
and a C++20 compiler (the helper is built on first use, ~10 s).
"""
import json
import math
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from training.common import find_cli, module_command, module_env
from training.study import compression_study as cs
from training.study import measure

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _cli():
    cli = find_cli()
    if cli is None:
        pytest.skip("no eqinfo CLI built (set EQINFO_CLI)")
    return Path(cli)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    work = tmp_path_factory.mktemp("study")
    cli = _cli()
    cs.build_helper(ROOT / "build/study")  # not timed: a one-off build
    t0 = time.time()
    subprocess.run(module_command("training.study.compression_study", "--smoke", "--work", str(work),
                                  "--cli", str(cli)), check=True, capture_output=True, env=module_env())
    elapsed = time.time() - t0
    res = json.loads((work / "results.json").read_text())
    return dict(work=work, cli=cli, res=res, elapsed=elapsed)


def test_runs_fast_and_writes_report(smoke):
    assert smoke["elapsed"] < 60
    md = (smoke["work"] / "compression.md").read_text()
    for section in ("Compression ratios", "Window rules", "Trivial models", "KL divergence", "Token stability",
                    "Throughput"):
        assert section in md
    for png in ("token_ratio", "trivial_models", "kl_bits", "kl_tokens", "stability", "throughput"):
        assert (smoke["work"] / "compression" / f"{png}.png").stat().st_size > 1000


def test_ratios_are_bytes_over_tokens(smoke):
    res = smoke["res"]
    rows = res["rows"]
    total = res["sample_bytes"]
    by = {}
    for r in rows:
        assert r["bytes"] == total
        assert r["tokens"] == sum(r["tokens_per_example"])
        assert r["token_ratio"] == pytest.approx(total / r["tokens"], rel=1e-12)
        assert r["bit_ratio"] == pytest.approx(8 * total / (r["tokens"] * math.log2(r["v"])), rel=1e-12)
        assert r["uniform_bpb"] == pytest.approx(8 / r["bit_ratio"], rel=1e-12)
        by[(r["key"], r["v"])] = r
    assert by[("bytes", 256)]["tokens"] == total
    # 16-bit tokens of a padded code: ceil(ceil(L / 8) / 2) per example.
    for key in ("gzip", "ac", "static_ac"):
        t8, t16 = by[(key, 256)]["tokens_per_example"], by[(key, 65536)]["tokens_per_example"]
        assert t16 == [math.ceil(t / 2) for t in t8]
    # Equal-info windows are b bits: tokens = windows * b / N.
    for b in measure.WINDOW_BITS:
        r = by[(f"eq{b}", 256)]
        assert r["tokens"] == r["windows"] * b // 8
        if (f"eq{b}", 65536) in by:
            assert by[(f"eq{b}", 65536)]["tokens"] * 2 == r["tokens"]
    # The unigram can only help in-sample.
    for r in rows:
        assert r["unigram_bpb"] <= r["uniform_bpb"] + 1e-9


def test_kl_random_near_zero_and_text_far_from_it(smoke):
    kl = smoke["res"]["bit_kl"]
    for d in kl.values():
        bits = d["bits"]
        for n in range(1, 9):  # finite-sample bias ~ (2^n - 1) / (2 L ln 2); allow 5x
            assert 0 <= d["random"][n - 1] < 5 * (2 ** n - 1) / (2 * bits * math.log(2)) + 1e-3
        assert all(k >= -1e-9 for k in d["kl"])
    assert kl["bytes"]["kl"][7] > 0.3  # text: far from uniform
    assert kl["bytes"]["kl"][7] > 20 * kl["bytes"]["random"][7]
    assert kl["ac"]["kl"][7] < kl["bytes"]["kl"][7]


def test_stability_sentencepiece_one_text_per_piece(smoke):
    st = smoke["res"]["stability"]
    sp = [s for s in st if s["label"].startswith("SentencePiece")]
    assert sp
    for s in sp:
        assert s["max_texts"] == 1 and s["mean_texts"] == 1
        assert s["concatenates_back"]
    # b=16, v=65k: a token is a whole window, which decodes to one text.
    one = [s for s in st if s["label"] == "EqualInfoAC[b=16, v=65k]"]
    assert one and one[0]["max_texts"] == 1
    for s in st:
        assert s["occurrences"] > 0 and 1 <= s["mean_texts"] <= s["max_texts"]


def test_spans_concatenate_back_and_match_cli(smoke):
    work, cli = smoke["work"], smoke["cli"]
    res = smoke["res"]
    sample = (work / "sample.bin").read_bytes()
    e = res["args"]["example_bytes"]
    examples = [sample[i:i + e] for i in range(0, len(sample), e)]
    enc = measure.load_encoding(work / "enc", "eq16")
    assert measure.check_spans(examples, enc)
    assert all(res["cli_check"].values())
    # Each non-final window's two 8-bit tokens decode (bare, by the rule) to exactly its bytes, and its
    # per-token texts are a split of those bytes.
    m1 = work / "smoke_m1.safetensors"
    ex, meta, code = examples[0], enc["examples"][0], enc["codes"][0]
    rows = measure.window_token_texts(ex, meta, code, 16, 8)
    start, checked = 0, 0
    for i, k in enumerate(meta["windows"][:12]):
        if start + k == len(ex):
            break
        raw = work / "window.raw"
        raw.write_bytes(code[2 * i:2 * i + 2])
        out = subprocess.run([str(cli), "decode", "--format", "raw", "--bare", "--method", "equal-info", "-b", "16",
                              "-N", "8", "--model", str(m1), str(raw)], check=True, capture_output=True).stdout
        assert out == ex[start:start + k]
        assert b"".join(t for _, _, t in rows[i]) == out
        assert [v for _, v, _ in rows[i]] == list(code[2 * i:2 * i + 2])
        start += k
        checked += 1
    assert checked >= 5


def test_window_rules(smoke):
    g = smoke["res"]["window_rules"]
    assert g["eq16_greedy"]["bytes_per_window"] >= g["eq16"]["bytes_per_window"] * 0.99
    assert g["eq16_greedy"]["bytes_per_window"] >= g["eq16_greedy_exact"]["bytes_per_window"] * 0.99
    assert 0 <= g["eq16_greedy"]["misread_delay_pct"] <= 100


def test_bit_ngram_kl_exact_on_known_streams():
    # all-zero bits: every n-gram is 0...0, so KL = n exactly
    assert measure.bit_ngram_kl(bytes(64), 6) == pytest.approx([1, 2, 3, 4, 5, 6])
    # the period-2 stream 0101...: 1-grams uniform (KL 0); n >= 2 has two equally likely n-grams: KL = n - 1
    kl = measure.bit_ngram_kl(b"\x55" * 1000, 5)
    assert kl[0] == pytest.approx(0, abs=1e-6)
    assert kl[1:] == pytest.approx([1, 2, 3, 4], abs=1e-3)
    assert measure.token_kl(np.arange(256, dtype=np.uint32), 256) == pytest.approx(0)
