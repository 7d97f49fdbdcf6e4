#!/usr/bin/python3
"""The M2 learnability experiment in one command (Lester et al. 2024, Table 15 / Fig. 3, Fig. 10).

    # the full experiment (about 2.5 hours on the 2 cores of this machine; prints an estimate first)
    nice -n 10 /usr/bin/python3 -m training.m2.experiment --m1 models/m1/m1.safetensors --threads 2
    # only the estimate
    /usr/bin/python3 -m training.m2.experiment --estimate-only
    # the smoke configuration (CI; every method end to end, < 3 minutes on 1 thread)
    /usr/bin/python3 -m training.m2.experiment --smoke
    # regenerate the report from results.jsonl without training
    /usr/bin/python3 -m training.m2.experiment --report --out runs/m2-exp --report-out docs/results/m2.md

Steps (each cached, so a rerun continues where the last one stopped):

1. Data: the first --train-bytes of DATA_DIR/train.txt and the first --eval-bytes of
   DATA_DIR/<--eval-split>.txt (cut at a document boundary), copied to OUT/data/.
2. Models: M1 (--m1; the smoke makes a tiny random one with `eqinfo m1-random`), a unigram
   model of the training slice (`eqinfo train-unigram`, for StaticAC), SentencePiece (--spm).
3. Shards, train and eval, per method: `eqinfo shard` for Bytes, AC, StaticAC and
   EqualInfoAC, training/m2/make_shards.py for SentencePiece and GZip. EqualInfoAC with
   16-bit tokens is derived from the 8-bit shards of the same b (a window's b bits are the
   same; a 16-bit token is two 8-bit tokens, the first the high byte), checked against
   `eqinfo shard -N 16` on the first example. A shard directory is skipped when its stamp
   (inputs, model, settings, eqinfo version) matches.
4. M2 runs: every (method, size, seed), all with the same token budget (--tokens; the
   paper trains every M2 for the same steps and tokens), batch, sequence length and
   learning rate; the smallest size with --seeds seeds, the others with --seeds-larger.
   Runs go --jobs at a time (1 torch thread each), longest first. A finished run is in
   OUT/results.jsonl and is skipped; an interrupted one resumes from its checkpoint.
5. Samples from the EqualInfoAC (and Bytes) models of the largest size, decoded to text.
6. The report (--report-out, default docs/results/m2.md) and its plots (next to it, in a
   directory of the same name): the table against the paper's Table 15 / Table 12 /
   Table 3, bits/byte vs FLOPs/byte (Fig. 3), accuracy by window position over training
   (Fig. 10), learning curves, samples, and findings computed from the numbers.

Methods (--methods): bytes, spm, ac256, ac65k, staticac256, staticac65k, gzip256, gzip65k,
eq{b}_256 and eq{b}_65k (b = 16, 32, 64, 128).
"""
# This module is the command (flags, configuration, the session); steps 1-5 are in
# experiment_run.py, step 6 in experiment_report.py, the methods in experiment_common.py.

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional

from training.common import REPO, find_cli, write_json
from training.m2.experiment_common import (DEFAULT_METHODS, fmt_hms, machine_info, parse_method, read_json,
                                           read_jsonl, rel, say)
from training.m2.experiment_report import write_report
from training.m2.experiment_run import (eqinfo_version, estimate, make_samples, make_shards_for, measure_rates,
                                        prepare_data, prepare_models, print_estimate, plan_runs, probe_encoders,
                                        run_cmd, shard_dir, shard_key, train_all, vocab_of)
from training.m2.model import PRESETS, preset
from training.m2.shards import EXAMPLE_BYTES

# Full and smoke defaults (flags left at None take these).
FULL = dict(sizes="mini,1m", seeds=2, seeds_larger=1, tokens=1_200_000, batch_size=4, seq_len=512, lr=1e-3,
            train_bytes=4_000_000, eval_bytes=25 * EXAMPLE_BYTES, example_bytes=EXAMPLE_BYTES, evals=8,
            eval_examples=4, threads=2, out="runs/m2-exp", report_out="docs/results/m2.md", sample_tokens=256,
            m1="models/m1/m1.safetensors")
SMOKE = dict(sizes="tiny,mini", seeds=2, seeds_larger=1, tokens=2048, batch_size=4, seq_len=128, lr=3e-3,
             train_bytes=160_000, eval_bytes=2 * 2048, example_bytes=2048, evals=2, eval_examples=1, threads=1,
             out="runs/m2-smoke", report_out=None, sample_tokens=48, m1=None)


# --------------------------------------------------------------------------- configuration

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("mode")
    g.add_argument("--smoke", action="store_true",
                   help="tiny configuration: a few hundred KB, presets tiny and mini, a handful of steps, a tiny "
                        "random M1 (unless --m1); every method end to end in < 3 minutes on 1 thread")
    g.add_argument("--report", action="store_true", help="only regenerate the report from OUT/results.jsonl")
    g.add_argument("--estimate-only", action="store_true", help="measure rates, print the estimate, stop")
    g = p.add_argument_group("inputs")
    g.add_argument("--cli", help="the eqinfo tool (default: $EQINFO_CLI or the newest build*/tools/eqinfo)")
    g.add_argument("--m1", help=f"M1 model file (default {FULL['m1']}; the smoke: a tiny random M1)")
    g.add_argument("--spm", default=os.path.join(REPO, "models", "spm", "en32k.model"),
                   help="SentencePiece model (default: the repository's models/spm/en32k.model)")
    g.add_argument("--data-dir", default=os.path.expanduser("~/.cache/eqinfo/data"),
                   help="train.txt and the eval split (training/DATA.md); the smoke falls back to data/sample/")
    g.add_argument("--eval-split", default="valid", choices=["valid", "test", "heldout"],
                   help="text the M2s are evaluated on")
    g.add_argument("--train-bytes", type=int, help=f"bytes of train.txt to shard (default {FULL['train_bytes']:,})")
    g.add_argument("--eval-bytes", type=int, help=f"bytes of the eval split (default {FULL['eval_bytes']:,})")
    g.add_argument("--example-bytes", type=int,
                   help="bytes per example, each encoded on its own (default 10,240, the paper's; the smoke 2,048)")
    g = p.add_argument_group("runs")
    g.add_argument("--methods", default=DEFAULT_METHODS, help="comma-separated (see the module docstring)")
    g.add_argument("--sizes", help=f"model.py presets, comma-separated (default {FULL['sizes']})")
    g.add_argument("--seeds", type=int, help=f"seeds of the smallest size (default {FULL['seeds']})")
    g.add_argument("--seeds-larger", type=int, help=f"seeds of the other sizes (default {FULL['seeds_larger']})")
    g.add_argument("--tokens", type=int, help=f"token budget of every run (default {FULL['tokens']:,})")
    g.add_argument("--budget-minutes", type=float,
                   help="instead of --tokens: give each run the tokens its measured rate reaches in this many "
                        "CPU minutes (compute-matched; the tokens then differ by method and size)")
    g.add_argument("--batch-size", type=int, help=f"sequences per step (default {FULL['batch_size']})")
    g.add_argument("--seq-len", type=int, help=f"tokens per sequence (default {FULL['seq_len']})")
    g.add_argument("--lr", type=float, help=f"peak learning rate (default {FULL['lr']})")
    g.add_argument("--mlp", choices=["relu", "gated-relu"], default="relu", help="M2's MLP (model.py)")
    g.add_argument("--evals", type=int, help="periodic evaluations per run (learning curves, Fig. 10)")
    g.add_argument("--eval-examples", type=int, help="eval examples scored at periodic evaluations")
    g.add_argument("--sample-tokens", type=int, help="tokens per generated sample")
    g = p.add_argument_group("machine and output")
    g.add_argument("--threads", type=int, help="CPU threads in all (default 2; the smoke 1)")
    g.add_argument("--jobs", type=int, help="runs at a time (default: --threads, 1 torch thread each)")
    g.add_argument("--out", help=f"working directory (default {FULL['out']}; the smoke {SMOKE['out']})")
    g.add_argument("--report-out", help="report file (default docs/results/m2.md; the smoke OUT/m2.md)")
    g.add_argument("--no-derive", action="store_true", help="encode 16-bit EqualInfoAC with eqinfo, not derived")
    g.add_argument("--no-samples", action="store_true")
    return p


def resolve(args) -> dict:
    base = SMOKE if args.smoke else FULL
    cfg = {}
    for k, v in base.items():
        a = getattr(args, k, None)
        if a is None and k in ("out", "report_out", "m1") and isinstance(v, str):
            v = os.path.join(REPO, v)          # default paths are the repository's; given ones are the caller's
        cfg[k] = a if a is not None else v
    cfg["smoke"] = bool(args.smoke)
    cfg["out"] = os.path.abspath(cfg["out"])
    if cfg["report_out"] is None:
        cfg["report_out"] = os.path.join(cfg["out"], "m2.md")
    cfg["report_out"] = os.path.abspath(cfg["report_out"])
    cfg["jobs"] = args.jobs or cfg["threads"]
    cfg["methods"] = [parse_method(m).name for m in args.methods.split(",") if m.strip()]
    if len(set(cfg["methods"])) != len(cfg["methods"]):
        raise SystemExit("experiment: a method is listed twice")
    sizes = [s.strip() for s in str(cfg["sizes"]).split(",") if s.strip()]
    for s in sizes:
        if s not in PRESETS:
            raise SystemExit(f"experiment: unknown size {s!r} (model.py presets: {', '.join(PRESETS)})")
    # smallest first (by non-embedding parameters)
    cfg["sizes"] = sorted(sizes, key=lambda s: preset(s, 256, mlp=args.mlp).non_embedding_parameters())
    for k in ("spm", "data_dir", "eval_split", "budget_minutes", "mlp", "no_derive", "no_samples"):
        cfg[k] = getattr(args, k)
    cfg["spm"] = os.path.abspath(cfg["spm"]) if cfg["spm"] else None
    if cfg["seeds"] < 1 or cfg["seeds_larger"] < 1:
        raise SystemExit("experiment: --seeds and --seeds-larger must be >= 1")
    return cfg


# --------------------------------------------------------------------------- main

def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = resolve(args)
    out = cfg["out"]
    exp_path = os.path.join(out, "experiment.json")
    if args.report:
        report_out = cfg["report_out"]
        if not args.report_out and (read_json(os.path.join(out, "experiment.json")) or {}).get(
                "config", {}).get("smoke"):
            report_out = os.path.join(out, "m2.md")      # never a smoke over docs/results/m2.md
        write_report(out, report_out)
        say(f"report: {rel(report_out)}")
        return 0
    import signal

    def stop(*_):   # stop our runs cleanly (they resume next time); not SystemExit, which a failed run raises
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    t_start = time.time()
    session = {"argv": sys.argv[1:] if argv is None else list(argv), "start": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": machine_info()}
    cli = find_cli(args.cli, "shard")
    if cli is None:
        raise SystemExit("experiment: no eqinfo tool with 'shard': build it (cmake) or give --cli / set EQINFO_CLI")
    os.makedirs(out, exist_ok=True)
    methods = [parse_method(m) for m in cfg["methods"]]
    version = eqinfo_version(cli)
    say(f"eqinfo {cli} ({version}); out {rel(out)}")
    data = prepare_data(cfg)
    say(f"data: train {data['train']['bytes']:,} bytes, eval {data['eval']['bytes']:,} bytes")
    models = prepare_models(cfg, cli, data, methods)
    t0 = time.time()
    probe = probe_encoders(cfg, cli, methods, data, models)
    rates = measure_rates(cfg, [vocab_of(m, models) for m in methods])
    say(f"rate measurement: {time.time() - t0:.1f} s")
    runs = plan_runs(cfg, methods, models, rates)
    results_path = os.path.join(out, "results.jsonl")
    done = {r["hash"] for r in read_jsonl(results_path)}
    shards_todo = {}
    for m in methods:
        for split in ("train", "eval"):
            key = shard_key(m, data[split], models, version, cfg["example_bytes"])
            key["derived"] = m.derive_from if (m.derive_from in cfg["methods"] and not cfg["no_derive"]) else None
            if read_json(shard_dir(cfg, m.name, split) + ".stamp.json") != key and not key["derived"]:
                shards_todo[m.name] = shards_todo.get(m.name, 0) + data[split]["bytes"]
    est = estimate(cfg, runs, methods, probe, rates, done, shards_todo)
    print_estimate(cfg, runs, est, rates, probe)
    command = "/usr/bin/python3 -m training.m2.experiment " + " ".join(session["argv"])
    exp = read_json(exp_path, {}) or {}
    exp.update({"command": command.strip(), "config": cfg, "data": data, "models": models, "eqinfo": version,
                "cli": cli, "plan": [r.hash for r in runs], "probe": {k: v for k, v in probe.items() if k != "tokens"},
                "rates_s_per_token": rates, "estimate": est})
    if args.estimate_only:
        return 0
    # The session is on record from its start, so that an interrupted one still counts in the report.
    exp.setdefault("sessions", []).append(session)
    session.update({"estimate_wall_s": round(est["wall_s"], 1), "estimate_cpu_s": round(est["cpu_s"], 1),
                    "shards_s": 0.0, "train_wall_s": 0.0})

    def close_session(**fields) -> None:
        session.update({"end": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_s": round(time.time() - t_start, 1),
                        **fields})
        write_json(exp_path, exp)

    write_json(exp_path, exp)
    try:
        # shards (8-bit EqualInfoAC before the 16-bit ones derived from them)
        t0 = time.time()
        ordered = sorted(methods, key=lambda m: m.derive_from is not None)
        for m in ordered:
            for split in ("train", "eval"):
                make_shards_for(cfg, cli, m, split, data, models, version, probe["tokens"])
        session["shards_s"] = round(time.time() - t0, 1)
        if cfg["smoke"]:        # the derived 16-bit shards decode exactly (eqinfo verify decodes every example)
            for m in methods:
                if m.derive_from and m.derive_from in cfg["methods"] and not cfg["no_derive"]:
                    for split in ("train", "eval"):
                        run_cmd([cli, "verify", "--threads", str(cfg["threads"]), shard_dir(cfg, m.name, split)],
                                os.path.join(out, "logs", f"verify-{m.name}-{split}.log"))
            say("smoke: derived 16-bit EqualInfoAC shards pass eqinfo verify")
        say(f"shards ready ({fmt_hms(session['shards_s'])})")
        t0 = time.time()
        failures = train_all(cfg, runs, results_path, done)
        session["train_wall_s"] = round(time.time() - t0, 1)
        results = [r for r in read_jsonl(results_path) if r["hash"] in {x.hash for x in runs}]
        samples = []
        if not cfg["no_samples"]:
            try:
                samples = make_samples(cfg, cli, runs, results)
            except Exception as e:  # noqa: BLE001
                failures.append(f"samples: {e!r}")
                say(f"samples failed: {e!r}")
    except BaseException:
        close_session(interrupted=True)
        raise
    exp["samples"] = samples
    close_session(failures=failures)
    if results:
        write_report(out, cfg["report_out"])
        say(f"report: {rel(cfg['report_out'])}")
    say(f"session wall time {fmt_hms(time.time() - t_start)} (estimate was {fmt_hms(est['wall_s'])})")
    if failures:
        for f in failures:
            say("FAILED: " + f)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("stopped; the same command continues where this one stopped")
        sys.exit(130)
