"""The M2 experiment's run (experiment.py is the command, experiment_report.py the report):
the data slices, the models, the shards of every method, the encoder probes and training-rate
measurement, the plan and its estimate, the M2 runs (--jobs at a time) and the samples."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from training.common import (REPO, TINY_M1_SHAPE, atomic_write_bytes, module_command, module_env, sha256_file,
                             write_json)
from training.m2.experiment_common import (Method, fmt_hms, machine_info, parse_method, read_json, read_jsonl, rel,
                                           say, short_hash)
from training.m2.model import preset
from training.m2.shards import MANIFEST, SEQ_LEN, ShardSet, derive_16bit

STAMP_VERSION = 1
# largest logits tensor of a forward pass (elements): sets --micro-batch and --eval-batch
LOGITS_ELEMENTS = 1 << 26


def run_cmd(cmd: List[str], log: Optional[str] = None) -> float:
    """Runs cmd (stdout/stderr appended to log); returns seconds; raises on failure."""
    t0 = time.time()
    if log:
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "a") as f:
            f.write("$ " + " ".join(cmd) + "\n")
            f.flush()
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    else:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        tail = ""
        if log:
            with open(log, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
        else:
            tail = r.stdout[-3000:]
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}\n{tail}")
    return time.time() - t0


# --------------------------------------------------------------------------- data and models

def slice_text(src: str, n: int, dst: str) -> dict:
    """The first n bytes of src, cut back to the last document boundary ("\\n\\n") in the
    second half, written to dst only if different (stable mtimes)."""
    with open(src, "rb") as f:
        data = f.read(n)
    if len(data) == n:
        cut = data.rfind(b"\n\n", n // 2)
        if cut > 0:
            data = data[:cut]
    old = None
    if os.path.exists(dst):
        with open(dst, "rb") as f:
            old = f.read()
    if old != data:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        atomic_write_bytes(dst, data)
    return {"source": src, "path": dst, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def prepare_data(cfg: dict) -> dict:
    d = cfg["data_dir"]
    train_src = os.path.join(d, "train.txt")
    eval_src = os.path.join(d, f"{cfg['eval_split']}.txt")
    if not (os.path.exists(train_src) and os.path.exists(eval_src)):
        if not cfg["smoke"]:
            raise SystemExit(f"experiment: {train_src} or {eval_src} missing: run scripts/prepare-data.sh "
                             f"(training/DATA.md) or give --data-dir")
        train_src = os.path.join(REPO, "data", "sample", "sotu_sample.txt")
        eval_src = os.path.join(REPO, "data", "sample", "jargon_sample.txt")
        say(f"smoke: {d} has no train/{cfg['eval_split']}.txt; using data/sample/ (State of the Union "
            f"for training, the Jargon File for evaluation)")
    dd = os.path.join(cfg["out"], "data")
    return {"train": slice_text(train_src, cfg["train_bytes"], os.path.join(dd, "train.txt")),
            "eval": slice_text(eval_src, cfg["eval_bytes"], os.path.join(dd, "eval.txt"))}


def eqinfo_version(cli: str) -> str:
    r = subprocess.run([cli, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.stdout.strip()


def prepare_models(cfg: dict, cli: str, data: dict, methods: List[Method]) -> dict:
    models_dir = os.path.join(cfg["out"], "models")
    os.makedirs(models_dir, exist_ok=True)
    out = {}
    if any(m.uses_m1 for m in methods):
        m1 = cfg["m1"]
        if m1 is None:          # the smoke: a tiny random M1 (fast; predicts nothing useful)
            m1 = os.path.join(models_dir, "m1-tiny-random.safetensors")
            if not os.path.exists(m1):
                run_cmd([cli, "m1-random", *TINY_M1_SHAPE, "--seed", "1", "-o", m1])
        m1 = os.path.abspath(m1)
        if not os.path.exists(m1):
            raise SystemExit(f"experiment: M1 model {m1} does not exist (train one, training/README.md, or give "
                             f"--m1, e.g. models/m1-small-wip/m1.safetensors)")
        out["m1"] = {"path": m1, "sha256": sha256_file(m1), **m1_info(m1)}
    if any(m.family == "staticac" for m in methods):
        uni = os.path.join(models_dir, "train.unigram")
        key = {"v": STAMP_VERSION, "input": data["train"]["sha256"], "eqinfo": eqinfo_version(cli)}
        if read_json(uni + ".stamp.json") != key or not os.path.exists(uni):
            run_cmd([cli, "train-unigram", data["train"]["path"], "-o", uni],
                    os.path.join(cfg["out"], "logs", "train-unigram.log"))
            write_json(uni + ".stamp.json", key)
        out["unigram"] = {"path": uni, "sha256": sha256_file(uni)}
    if any(m.family == "spm" for m in methods):
        spm = cfg["spm"]
        if not spm or not os.path.exists(spm):
            if not cfg["smoke"]:
                raise SystemExit(f"experiment: SentencePiece model {spm} does not exist "
                                 f"(training/train_sentencepiece.py)")
            spm = os.path.join(models_dir, "smoke-sp.model")     # the smoke without the repo's model
            if not os.path.exists(spm):
                from training.m2.make_shards import train_sentencepiece
                with open(data["train"]["path"], "rb") as f:
                    train_sentencepiece(f.read(), spm, 512)
        import sentencepiece as sp_mod
        sp = sp_mod.SentencePieceProcessor()
        sp.Load(spm)
        out["spm"] = {"path": spm, "sha256": sha256_file(spm), "vocab_size": int(sp.GetPieceSize())}
    return out


def m1_info(path: str) -> dict:
    try:
        from training.eqinfo_m1 import M1Config, read_safetensors
        _, meta, _ = read_safetensors(path)
        c = json.loads(meta["config"])
        return {"config": c, "non_embedding_parameters": M1Config.from_dict(c).non_embedding_parameters()}
    except Exception as e:          # noqa: BLE001 - informational only
        return {"config": None, "error": str(e)}


# --------------------------------------------------------------------------- shards

def shard_dir(cfg: dict, method: str, split: str) -> str:
    return os.path.join(cfg["out"], "shards", method, split)


def shard_key(m: Method, split_info: dict, models: dict, version: str, example_bytes: int) -> dict:
    key = {"v": STAMP_VERSION, "method": m.name, "input": split_info["sha256"], "bytes": split_info["bytes"],
           "example_bytes": example_bytes, "eqinfo": version}
    if m.uses_m1:
        key["model"] = models["m1"]["sha256"]
    elif m.family == "staticac":
        key["model"] = models["unigram"]["sha256"]
    elif m.family == "spm":
        key["model"] = models["spm"]["sha256"]
    return key


def make_shards_for(cfg: dict, cli: str, m: Method, split: str, data: dict, models: dict, version: str,
                    probe: dict) -> float:
    """Makes (or keeps) the shards of one method and split; returns the seconds spent."""
    d = shard_dir(cfg, m.name, split)
    stamp = d + ".stamp.json"
    info = data[split]
    key = shard_key(m, info, models, version, cfg["example_bytes"])
    derive = m.derive_from if (m.derive_from in cfg["methods"] and not cfg["no_derive"]) else None
    key["derived"] = derive
    if read_json(stamp) == key and os.path.exists(os.path.join(d, MANIFEST)):
        return 0.0
    t0 = time.time()
    if os.path.exists(stamp):
        os.unlink(stamp)
    log = os.path.join(cfg["out"], "logs", f"shards-{m.name}-{split}.log")
    say(f"shards {m.name} {split}: {info['bytes']:,} bytes -> {rel(d)}")
    if derive:
        derive_16bit(shard_dir(cfg, derive, split), d)
        if split == "train":        # the probe encoded the training text's first example
            check_derived(d, probe.get(m.name))
    elif m.family in ("spm", "gzip"):
        if os.path.exists(d):
            shutil.rmtree(d)
        from training.m2 import make_shards as ms
        with open(log, "a") as f, contextlib.redirect_stderr(f):
            if m.family == "gzip":
                ms.make("gzip", [info["path"]], d, token_bits=m.token_bits, example_bytes=cfg["example_bytes"])
            else:
                ms.make("sentencepiece", [info["path"]], d, sp_model=models["spm"]["path"],
                        example_bytes=cfg["example_bytes"])
    else:
        cmd = [cli, "shard", *m.cli_args(models.get("m1", {}).get("path"), models.get("unigram", {}).get("path")),
               "--example-bytes", str(cfg["example_bytes"]), "--threads", str(cfg["threads"]), "--out", d, info["path"]]
        try:
            run_cmd(cmd, log)
        except RuntimeError:
            if not os.path.exists(d):
                raise
            say(f"shards {m.name} {split}: eqinfo refused or failed on the old directory; starting afresh")
            shutil.rmtree(d)
            run_cmd(cmd, log)
    write_json(stamp, key)
    return time.time() - t0


def check_derived(d: str, probe_tokens: Optional[List[int]]) -> None:
    """The derived 16-bit shards' first example equals `eqinfo shard -N 16`'s (from the probe)."""
    if probe_tokens is None:
        return
    got = ShardSet(d).example_tokens(0).astype(np.int64).tolist()
    if got != probe_tokens:
        raise RuntimeError(f"{d}: derived 16-bit tokens differ from eqinfo shard -N 16 on the first example "
                           f"(rerun with --no-derive)")


# --------------------------------------------------------------------------- probes and rates

def probe_encoders(cfg: dict, cli: str, methods: List[Method], data: dict, models: dict) -> dict:
    """Encodes the first example of the training slice with every method (1 thread): bytes/token
    for the estimate, eqinfo's M1 encoding rate, and the reference tokens for derived shards."""
    with open(data["train"]["path"], "rb") as f:
        head = f.read(cfg["example_bytes"])
    res = {"bytes": len(head), "bpt": {}, "seconds": {}, "tokens": {}}
    tmp = tempfile.mkdtemp(prefix="m2-exp-probe-")
    try:
        src = os.path.join(tmp, "head.txt")
        with open(src, "wb") as f:
            f.write(head)
        for m in methods:
            if m.family == "spm":
                from training.m2.make_shards import sp_processor, sp_tokens
                n = len(sp_tokens(sp_processor(models["spm"]["path"]), head))
                res["bpt"][m.name] = len(head) / max(1, n)
            elif m.family == "gzip":
                from training.m2.make_shards import gzip_tokens
                res["bpt"][m.name] = len(head) / len(gzip_tokens(head, m.token_bits))
            elif m.family == "bytes":
                res["bpt"][m.name] = 1.0
            else:
                out = os.path.join(tmp, m.name)
                args = m.cli_args(models.get("m1", {}).get("path"), models.get("unigram", {}).get("path"))
                secs = run_cmd([cli, "shard", *args, "--example-bytes", str(cfg["example_bytes"]), "--threads", "1",
                                "--out", out, src])
                s = ShardSet(out)
                res["bpt"][m.name] = s.bytes_per_token
                res["seconds"][m.name] = secs
                if m.derive_from:
                    res["tokens"][m.name] = s.example_tokens(0).astype(np.int64).tolist()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def vocab_of(m: Method, models: dict) -> int:
    if m.family == "spm":
        return models["spm"]["vocab_size"]
    return 1 << m.token_bits


def micro_batch(vocab: int, seq_len: int, batch: int) -> int:
    return max(1, min(batch, LOGITS_ELEMENTS // (seq_len * vocab)))


def measure_rates(cfg: dict, vocabs: Sequence[int], threads: int = 1) -> Dict[str, float]:
    """CPU seconds per training token of every (size, vocab), from a few steps on random
    tokens with this run's shapes (1 torch thread, as each run uses)."""
    import torch
    import torch.nn.functional as F
    from training.m2.model import M2
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = {}
    try:
        for size in cfg["sizes"]:
            for v in sorted(set(vocabs)):
                c = preset(size, v, context=cfg["seq_len"], mlp=cfg["mlp"])
                model = M2(c, seed=0)
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                n = min(2, micro_batch(v, cfg["seq_len"], cfg["batch_size"]))
                g = torch.Generator().manual_seed(0)
                x = torch.randint(0, v, (n, cfg["seq_len"]), generator=g)
                ts = []
                for _ in range(4):
                    t0 = time.time()
                    lg = model(x)
                    loss = F.cross_entropy(lg.reshape(-1, v), x.reshape(-1))
                    loss.backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    ts.append(time.time() - t0)
                out[f"{size}/{v}"] = float(np.median(ts[1:])) / (n * cfg["seq_len"])   # after a warm-up step
                del model, opt
    finally:
        torch.set_num_threads(old)
    return out


# --------------------------------------------------------------------------- the plan

@dataclass
class Run:
    method: str
    size: str
    seed: int
    tokens: int
    key: dict
    hash: str
    dir: str
    vocab: int
    est_cpu_s: float = 0.0


def plan_runs(cfg: dict, methods: List[Method], models: dict, rates: Dict[str, float]) -> List[Run]:
    runs = []
    for m in methods:
        v = vocab_of(m, models)
        for i, size in enumerate(cfg["sizes"]):
            for seed in range(cfg["seeds"] if i == 0 else cfg["seeds_larger"]):
                if cfg["budget_minutes"]:
                    tokens = int(cfg["budget_minutes"] * 60 / rates[f"{size}/{v}"])
                else:
                    tokens = int(cfg["tokens"])
                key = {"method": m.name, "size": size, "seed": seed, "tokens": tokens, "batch_size": cfg["batch_size"],
                       "seq_len": cfg["seq_len"], "lr": cfg["lr"], "mlp": cfg["mlp"], "vocab": v}
                h = short_hash(key)
                runs.append(Run(m.name, size, seed, tokens, key, h, os.path.join(cfg["out"], "runs", m.name,
                                                                                 f"{size}-s{seed}-{h}"), v))
    return runs


def estimate(cfg: dict, runs: List[Run], methods: List[Method], probe: dict, rates: Dict[str, float],
             done: set, shards_todo: Dict[str, int]) -> dict:
    """CPU seconds of what is left: M1 shards, training, evaluation, and the wall time with
    --jobs runs at a time (longest first)."""
    bpt = probe["bpt"]
    m1_rate = {}
    for name, secs in probe["seconds"].items():
        m1_rate[name] = probe["bytes"] / max(secs, 1e-6)
    shard_cpu = 0.0
    for name, nbytes in shards_todo.items():
        if name in m1_rate:
            shard_cpu += nbytes / m1_rate[name]
        else:
            shard_cpu += nbytes / 2e6            # Python methods, eqinfo bytes: ~MB/s
    eval_bytes = cfg["eval_bytes"]
    for r in runs:
        spt = rates[f"{r.size}/{r.vocab}"]
        b = bpt.get(r.method, 1.0)
        exb = cfg["example_bytes"]
        eval_tokens = eval_bytes / b + cfg["evals"] * min(cfg["eval_examples"], math.ceil(eval_bytes / exb)) * exb / b
        r.est_cpu_s = r.tokens * spt + eval_tokens * spt / 3 + 6.0      # + start-up
    todo = [r for r in runs if r.hash not in done]
    train_cpu = sum(r.est_cpu_s for r in todo)
    workers = [0.0] * max(1, cfg["jobs"])
    for r in sorted(todo, key=lambda r: -r.est_cpu_s):
        i = workers.index(min(workers))
        workers[i] += r.est_cpu_s
    shard_wall = shard_cpu / max(1, cfg["threads"])
    return {"shard_cpu_s": shard_cpu, "train_cpu_s": train_cpu, "runs_left": len(todo), "runs": len(runs),
            "wall_s": shard_wall + max(workers) + 30.0 * (not cfg["no_samples"]),
            "cpu_s": shard_cpu + train_cpu, "m1_bytes_per_s": m1_rate}


def print_estimate(cfg: dict, runs: List[Run], est: dict, rates: Dict[str, float], probe: dict) -> None:
    load = machine_info()["load"]
    load = load[0] if load else "?"
    lines = [f"plan: {len(runs)} runs ({est['runs_left']} to do): methods {', '.join(cfg['methods'])}; sizes "
             f"{', '.join(cfg['sizes'])} (seeds {cfg['seeds']} for {cfg['sizes'][0]}, {cfg['seeds_larger']} for the "
             f"others); batch {cfg['batch_size']} x {cfg['seq_len']}, lr {cfg['lr']}"]
    lines.append("measured training rates (1 thread, tokens/s): " + ", ".join(
        f"{k} {1 / v:,.0f}" for k, v in sorted(rates.items())))
    if est["m1_bytes_per_s"]:
        lines.append("eqinfo encoding (1 thread, bytes/s): " + ", ".join(
            f"{k} {v:,.0f}" for k, v in est["m1_bytes_per_s"].items()))
    lines.append("bytes/token on the first example: " + ", ".join(f"{k} {v:.2f}" for k, v in probe["bpt"].items()))
    by = {}
    for r in runs:
        by.setdefault((r.method, r.size), []).append(r)
    lines.append(f"{'method':<13} {'size':<5} {'runs':>4} {'tokens/run':>11} {'CPU/run':>9}")
    for (m, s), rs in by.items():
        lines.append(f"{m:<13} {s:<5} {len(rs):>4} {rs[0].tokens:>11,} {fmt_hms(rs[0].est_cpu_s):>9}")
    lines.append(f"ESTIMATE for what is left: {est['cpu_s'] / 3600:.2f} CPU-hours (shards "
                 f"{fmt_hms(est['shard_cpu_s'])}, "
                 f"training and evaluation {fmt_hms(est['train_cpu_s'])}), about {fmt_hms(est['wall_s'])} wall with "
                 f"{cfg['jobs']} run(s) at a time on {cfg['threads']} thread(s), if each thread runs as fast as "
                 f"during the measurement (load average now {load}, {os.cpu_count()} cores: other work slows it)")
    for l in lines:
        say(l)


# --------------------------------------------------------------------------- training

def train_argv(cfg: dict, run: Run, n_seq_tokens: float, threads: int) -> List[str]:
    steps = max(1, math.ceil(run.tokens / (cfg["batch_size"] * n_seq_tokens)))
    every = max(1, steps // max(1, cfg["evals"]))
    mb = micro_batch(run.vocab, cfg["seq_len"], cfg["batch_size"])
    eb = max(1, min(16, LOGITS_ELEMENTS // (cfg["seq_len"] * run.vocab)))
    return ["--train", shard_dir(cfg, run.method, "train"), "--valid", shard_dir(cfg, run.method, "eval"),
            "--preset", run.size, "--mlp", cfg["mlp"], "--seq-len", str(cfg["seq_len"]),
            "--tokens", str(run.tokens), "--batch-size", str(cfg["batch_size"]), "--micro-batch", str(mb),
            "--lr", str(cfg["lr"]), "--seed", str(run.seed), "--eval-every", str(every),
            "--eval-examples", str(cfg["eval_examples"]), "--final-eval-examples", "0", "--eval-batch", str(eb),
            "--ckpt-every", str(every), "--device", "cpu", "--threads", str(threads), "--no-progress",
            "--out", run.dir]


def final_record(run: Run) -> Optional[dict]:
    log = read_jsonl(os.path.join(run.dir, "log.jsonl"))
    if not log or not log[-1].get("final") or not os.path.exists(os.path.join(run.dir, "model.pt")):
        return None
    last = log[-1]
    ev = {k[len("valid_"):]: v for k, v in last.items() if k.startswith("valid_")}
    args = read_json(os.path.join(run.dir, "args.json"), {})
    return {**run.key, "hash": run.hash, "dir": rel(run.dir), "steps": last["step"], "tokens_seen": last["tokens_seen"],
            "bytes_seen_est": last.get("bytes_seen_est"), "epochs": last.get("epoch"),
            "train_s": last.get("train_s"), "wall_s": last.get("wall_s"),
            "eval_s": round(sum(l.get("eval_s") or 0 for l in log), 3), "train_loss": last.get("train_loss"),
            "eval": ev, "label": parse_method(run.method).label, "warmup_steps": args.get("warmup_steps"),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}


def run_inprocess(argv: List[str], log_path: str) -> None:
    from training.m2 import train_m2
    with open(log_path, "a") as f, contextlib.redirect_stderr(f), contextlib.redirect_stdout(f):
        train_m2.main(argv)


def train_all(cfg: dict, runs: List[Run], results_path: str, done: set) -> List[str]:
    """Trains what is not done, --jobs at a time; appends results.jsonl. Returns failures."""
    todo = sorted([r for r in runs if r.hash not in done], key=lambda r: -r.est_cpu_s)
    failures = []
    mean_len = {}

    def record(run: Run) -> bool:
        rec = final_record(run)
        if rec is None:
            return False
        with open(results_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        done.add(run.hash)
        e = rec["eval"]
        say(f"done {run.method} {run.size} seed {run.seed}: {e.get('bits_per_byte', float('nan')):.4f} bits/byte "
            f"(uniform {e.get('uniform_bits_per_byte', float('nan')):.4f}), {rec['tokens_seen']:,} tokens, "
            f"{fmt_hms(rec['wall_s'] or 0)}")
        return True

    def argv_of(run: Run) -> List[str]:
        if run.method not in mean_len:
            s = ShardSet(shard_dir(cfg, run.method, "train"))
            mean_len[run.method] = float(s.sequences(cfg["seq_len"], "split")[:, SEQ_LEN].mean())
        threads = max(1, cfg["threads"] // cfg["jobs"])
        argv = train_argv(cfg, run, mean_len[run.method], threads)
        os.makedirs(run.dir, exist_ok=True)
        write_json(os.path.join(run.dir, "experiment-run.json"), {**run.key, "hash": run.hash})
        if os.path.exists(os.path.join(run.dir, "checkpoint.pt")):
            argv.append("--resume")
        return argv

    pending = []
    for r in todo:                      # finished earlier but not recorded (a crash in between)
        if not record(r):
            pending.append(r)
    if cfg["jobs"] <= 1 and cfg["smoke"]:
        for r in pending:
            say(f"train {r.method} {r.size} seed {r.seed} ({r.tokens:,} tokens)")
            try:
                run_inprocess(argv_of(r), os.path.join(r.dir, "train.log"))
            except (Exception, SystemExit) as e:  # noqa: BLE001
                failures.append(f"{r.method} {r.size} seed {r.seed}: {e!r}")
                continue
            if not record(r):
                failures.append(f"{r.method} {r.size} seed {r.seed}: no final evaluation in its log")
        return failures
    env = module_env(dict(os.environ, OMP_WAIT_POLICY="PASSIVE",
                          OMP_NUM_THREADS=str(max(1, cfg["threads"] // cfg["jobs"]))))
    active: List[Tuple[Run, subprocess.Popen, object, float]] = []
    queue = list(pending)
    try:
        while queue or active:
            while queue and len(active) < cfg["jobs"]:
                r = queue.pop(0)
                argv = argv_of(r)
                f = open(os.path.join(r.dir, "train.log"), "a")
                say(f"start {r.method} {r.size} seed {r.seed} ({r.tokens:,} tokens, estimated "
                    f"{fmt_hms(r.est_cpu_s)}){' (resuming)' if '--resume' in argv else ''}")
                p = subprocess.Popen(module_command("training.m2.train_m2", *argv), stdout=f, stderr=subprocess.STDOUT, env=env)
                active.append((r, p, f, time.time()))
            time.sleep(1.0)
            still = []
            for r, p, f, t0 in active:
                if p.poll() is None:
                    still.append((r, p, f, t0))
                    continue
                f.close()
                if p.returncode != 0 or not record(r):
                    failures.append(f"{r.method} {r.size} seed {r.seed}: exit {p.returncode} "
                                    f"(see {rel(os.path.join(r.dir, 'train.log'))})")
                    say("FAILED " + failures[-1])
            active = still
    finally:
        for r, p, f, _ in active:       # interrupted: stop our own children (they resume next time)
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
            f.close()
    return failures


# --------------------------------------------------------------------------- samples

def make_samples(cfg: dict, cli: str, runs: List[Run], results: List[dict]) -> List[dict]:
    """Samples of the EqualInfoAC and Bytes models of the largest size (seed 0), decoded."""
    from training.m2 import sample as sm
    import torch
    finished = {r["hash"] for r in results}
    largest = cfg["sizes"][-1]
    out_dir = os.path.join(cfg["out"], "samples")
    os.makedirs(out_dir, exist_ok=True)
    made = []
    for r in runs:
        m = parse_method(r.method)
        if r.size != largest or r.seed != 0 or r.hash not in finished or m.family not in ("eq", "bytes"):
            continue
        model = os.path.join(r.dir, "model.pt")
        base = os.path.join(out_dir, f"{r.method}-{r.size}-{r.hash}")
        meta_path = base + ".json"
        meta = read_json(meta_path)
        if meta is None:
            torch.set_num_threads(cfg["threads"])
            shards = shard_dir(cfg, r.method, "eval")
            n = min(cfg["sample_tokens"], cfg["seq_len"] - 1)
            log = base + ".log"
            with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                free = sm.main(["--model", model, "--shards", shards, "--eqinfo-cli", cli, "--tokens", str(n),
                                "--temperature", "0.8", "--seed", "0", "--out", base + ".free"])
                k = 32 if m.family == "eq" else 64
                k -= k % (m.window_bits // m.token_bits if m.family == "eq" else 1)
                pr = sm.main(["--model", model, "--shards", shards, "--eqinfo-cli", cli, "--tokens",
                              str(min(n, cfg["seq_len"] - 1 - k)), "--temperature", "0.8", "--seed", "1",
                              "--prompt-example", "0", "--prompt-tokens", str(k), "--out", base + ".prompted"])
            s = ShardSet(shards, check_tokens=False)
            prompt_text = sm.decode(s.example_tokens(0)[:k].astype(np.int64), s, cli)
            # what an M2 that learned nothing gives: uniformly random tokens, decoded the same way
            rnd = np.random.default_rng(0).integers(0, r.vocab, size=n).astype(np.int64)
            random_text = sm.decode(rnd, s, cli)
            meta = {"method": r.method, "size": r.size, "seed": r.seed, "hash": r.hash, "model": rel(model),
                    "tokens": n, "temperature": 0.8,
                    "free": (free["samples"][0]["text"] or b"").decode("utf-8", "replace"),
                    "prompt_tokens": k, "prompt": prompt_text.decode("utf-8", "replace"),
                    "prompted": (pr["samples"][0]["text"] or b"").decode("utf-8", "replace"),
                    "random": random_text.decode("utf-8", "replace")}
            write_json(meta_path, meta)
        made.append(meta)
    return made
