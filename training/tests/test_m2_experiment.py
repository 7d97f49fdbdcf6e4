"""Tests of training/m2/experiment.py (with experiment_run.py and experiment_report.py): the smoke
configuration end to end (every method: shards, M2 training, evaluation, samples, report), plus
the findings logic on made-up numbers.

Run:  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m pytest -q training/tests/test_m2_experiment.py

The end-to-end test needs an eqinfo tool with the `shard` command ($EQINFO_CLI, or a build
in build*/); it is skipped without one. It takes about 1.5 minutes on one loaded core.
"""

import json
import math
import os
import signal
import subprocess

import pytest

from training.common import REPO, find_cli, module_command, module_env
from training.m2 import experiment as ex
from training.m2 import experiment_report as rep

SCRIPT = module_command("training.m2.experiment")


def _agg(mean, uniform, flops=1e6, flops_m2=1e5, acc_pos=(), std=None):
    return {"mean": mean, "std": std, "n": 1, "uniform": uniform, "flops": flops, "flops_m2": flops_m2,
            "acc_pos": list(acc_pos)}


def test_methods_and_paper_table():
    names = [m.strip() for m in ex.DEFAULT_METHODS.split(",")]
    assert names == ["bytes", "spm", "ac256", "staticac256", "gzip256", "eq16_256", "eq16_65k", "eq32_256"]
    for n in names:
        m = ex.parse_method(n)
        assert n in rep.PAPER and m.name == n
    assert ex.parse_method("eq16_65k").derive_from == "eq16_256"
    assert ex.parse_method("eq32_256").label == "EqualInfoAC[b=32, v=256]"
    assert ex.parse_method("gzip65k").token_bits == 16
    with pytest.raises(SystemExit):
        ex.parse_method("eq24_65k")          # b not a multiple of N
    with pytest.raises(SystemExit):
        ex.parse_method("lz4")


def test_interp_log():
    xs, ys = [1e4, 1e6], [4.0, 2.0]
    assert rep.interp_log(xs, ys, 1e5) == pytest.approx(3.0)
    assert rep.interp_log(xs, ys, 10.0) == 4.0 and rep.interp_log(xs, ys, 1e9) == 2.0


def test_findings_follow_the_numbers():
    sizes = ["1m", "3m"]
    agg = {
        ("bytes", "1m"): _agg(2.0, 8.0, 2e6, 2e6), ("bytes", "3m"): _agg(1.8, 8.0, 5e6, 5e6),
        ("spm", "1m"): _agg(1.5, 3.5, 5e5, 5e5), ("spm", "3m"): _agg(1.4, 3.5, 1e6, 1e6),
        ("ac256", "1m"): _agg(2.25, 2.25, 5e6), ("ac256", "3m"): _agg(2.26, 2.25, 6e6),
        ("staticac256", "1m"): _agg(4.5, 4.6, 1e6), ("staticac256", "3m"): _agg(4.0, 4.6, 2e6),   # learns: false
        ("gzip256", "1m"): _agg(3.0, 3.6, 1e6), ("gzip256", "3m"): _agg(2.9, 3.6, 2e6),
        ("eq16_256", "1m"): _agg(2.5, 3.0, 5e6, acc_pos=(0.3, 0.1)),
        ("eq16_256", "3m"): _agg(2.4, 3.0, 7e6, acc_pos=(0.35, 0.1)),
        ("eq16_65k", "1m"): _agg(2.2, 3.0, 4e6, 4e5), ("eq16_65k", "3m"): _agg(2.1, 3.0, 5e6, 1e6),
    }
    lines = rep.findings(agg, sizes)
    get = {k: next(l for l in lines if k in l) for k in (": AC[v=256] stays", "StaticAC[v=256] stays",
                                                         "b=16, v=256] learns", "improves with size", "GZip",
                                                         "SentencePiece has", "v=65k] beats", "first token")}
    assert get[": AC[v=256] stays"].startswith("**true**")
    assert get["StaticAC[v=256] stays"].startswith("**false**")      # 13% below its baseline at 3m
    assert get["b=16, v=256] learns"].startswith("**true**")
    assert get["improves with size"].startswith("**true**")
    assert get["GZip"].startswith("**true**")
    assert get["SentencePiece has"].startswith("**true**")
    assert get["v=65k] beats"].startswith("**false**")     # 2.2 at 4M vs Bytes 1.85 there
    assert get["first token"].startswith("**true**")
    agg[("eq16_256", "3m")]["mean"] = 2.6
    assert next(l for l in rep.findings(agg, sizes) if "improves with size" in l).startswith("**false**")


def test_smoke_end_to_end(tmp_path):
    cli = find_cli(None, "shard")
    if cli is None:
        pytest.skip("no eqinfo tool with 'shard' (build it, or set EQINFO_CLI)")
    out, report = tmp_path / "exp", tmp_path / "report" / "m2.md"
    env = module_env(dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
    cmd = [*SCRIPT, "--smoke", "--cli", cli, "--out", str(out), "--report-out", str(report)]
    # SIGTERM during the first training stops the session, which stays on record; the same command continues
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    seen = []
    for line in p.stdout:
        seen.append(line)
        if line.startswith("experiment: train "):
            p.send_signal(signal.SIGTERM)
            break
    rest, _ = p.communicate(timeout=120)
    assert p.returncode == 130, "".join(seen) + rest
    assert "stopped; the same command continues" in rest
    first = json.loads((out / "experiment.json").read_text())["sessions"]
    assert len(first) == 1 and first[0]["interrupted"] and first[0]["wall_s"] > 0
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=600,
                       cwd=REPO)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "ESTIMATE" in r.stdout
    results = [json.loads(l) for l in open(out / "results.jsonl") if l.strip()]
    methods = [m.strip() for m in ex.DEFAULT_METHODS.split(",")]
    sizes = ex.SMOKE["sizes"].split(",")
    for m in methods:
        for i, s in enumerate(sizes):
            rs = [x for x in results if x["method"] == m and x["size"] == s]
            assert len(rs) == (ex.SMOKE["seeds"] if i == 0 else ex.SMOKE["seeds_larger"]), (m, s)
            for x in rs:
                e = x["eval"]
                for k in ("bits_per_byte", "uniform_bits_per_byte", "flops_per_byte", "bytes_per_token"):
                    assert e[k] is not None and math.isfinite(e[k]) and e[k] > 0, (m, s, k, e[k])
                assert x["tokens_seen"] >= ex.SMOKE["tokens"]
    # the same token budget for every run; M1's FLOPs only for AC and EqualInfoAC
    for x in results:
        m1 = x["eval"]["m1_non_embedding_parameters"]
        assert (m1 > 0) == (x["method"] in ("ac256", "eq16_256", "eq16_65k", "eq32_256")), x["method"]
    text = report.read_text()
    for m in methods:
        assert ex.parse_method(m).label in text, m
    assert "## Findings" in text and ("**true**" in text or "**false**" in text)
    assert "SMOKE CONFIGURATION" in text
    assert "over 2 session(s) (1 stopped and continued by the next)" in text
    for png in ("bpb_vs_flops.png", "window_accuracy.png", "learning_curves.png"):
        assert (tmp_path / "report" / "m2" / png).stat().st_size > 1000, png
    assert "## Samples" in text and "EqualInfoAC[b=16, v=256], mini" in text
    # derived 16-bit EqualInfoAC shards: tokens are the 8-bit shards' pairs
    from training.m2.shards import ShardSet
    a, b = ShardSet(str(out / "shards" / "eq16_256" / "train")), ShardSet(str(out / "shards" / "eq16_65k" / "train"))
    t8, t16 = a.example_tokens(0).astype(int), b.example_tokens(0).astype(int)
    assert list(t16) == [int(x) << 8 | int(y) for x, y in zip(t8[0::2], t8[1::2])]
    # --report regenerates the same tables from results.jsonl without training
    again = tmp_path / "again.md"
    r2 = subprocess.run([*SCRIPT, "--report", "--out", str(out), "--report-out", str(again)],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=300, cwd=REPO)
    assert r2.returncode == 0, r2.stdout[-3000:]
    cut = lambda s: s[s.index("## Results"):s.index("![bits/byte")]  # noqa: E731
    assert cut(again.read_text()) == cut(text)
    # a rerun skips everything that is done
    r3 = subprocess.run([*SCRIPT, "--smoke", "--cli", cli, "--out", str(out), "--report-out",
                         str(report)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                        timeout=600, cwd=REPO)
    assert r3.returncode == 0, r3.stdout[-3000:]
    assert "(0 to do)" in r3.stdout
    assert not [l for l in r3.stdout.splitlines() if l.startswith(("experiment: train ", "experiment: start "))]
    assert len([l for l in open(out / "results.jsonl") if l.strip()]) == len(results)
