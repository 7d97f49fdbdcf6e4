#!/usr/bin/python3
"""Trains M1 (docs/m1.md) on any text: a file, a directory of files, or prepare_data's output.

    /usr/bin/python3 -m training.train_m1 --train my_corpus/ --steps 2000 --out runs/mine
    /usr/bin/python3 -m training.train_m1 --data-dir ~/.cache/eqinfo/data --steps 2000 --out runs/m1
    /usr/bin/python3 -m training.train_m1 --out runs/mine --resume          # continue a run

(from the repository root, like every script of training/: training/README.md).

See training/README.md for the flags, the expected speed and the outputs. In short:

Regime. EqualInfoAC resets M1 at every window start, so M1 must predict well from
an EMPTY context; plain AC uses long contexts. Every training example is a byte
sequence that starts at a uniformly random offset of the training text and is fed
with NO left context: the model sees [BOS] + bytes and predicts every byte. Its
length is, with probability --short-frac, uniform in [--short-min, --short-max]
(window-like), else --seq-len. A step draws examples until their bytes reach
--batch-bytes. Batching is by length bucket: the long examples all have length
--seq-len and go through the model as one unpadded batch; the short ones go as a
second batch padded (on the right) to the longest short example, with a loss mask.
Loss = mean cross-entropy over every predicted byte of the step, plus --z-loss *
mean(logsumexp(logits)^2).

Determinism. The examples of step s are drawn from numpy's PCG64 seeded with
(--seed, s), so the data order depends only on the seed and the step; model init
uses --seed too. A checkpoint holds model, optimiser, scheduler, step, bytes seen,
the RNG states and the data position, so --resume continues exactly (bit-identical
on CPU with --threads 1).

Outputs in --out: checkpoint.pt (latest, written atomically), m1.safetensors (the
eqinfo model file, format version 2: the float32 weights quantised row-wise to int8,
docs/m1-integer.md; written atomically), log.jsonl (one line per evaluation:
the learning curve), args.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from training import common
from training.cli_args import M1_SHAPE, OPTIMISER, SESSION, add_flags, m1_config_from_args
from training.common import atomic_write, loss_terms, lr_factor, make_optimizer, truncate_log
from training.eqinfo_m1 import BOS, M1, M1Config, save_m1

LN2 = math.log(2.0)
CHECKPOINT = "checkpoint.pt"
MODEL_FILE = "m1.safetensors"
SEALED_FILE = "m1.sealed.safetensors"
CHECKPOINT_VERSION = 1


# --------------------------------------------------------------------------- data

def read_text(path: str) -> bytes:
    """A file's bytes, or a directory's files (recursively, sorted by relative path,
    hidden files and directories skipped) joined with b"\\n\\n"."""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return f.read()
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no such file or directory")
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for n in names:
            if not n.startswith("."):
                full = os.path.join(root, n)
                files.append((os.path.relpath(full, path), full))
    files.sort()
    if not files:
        raise ValueError(f"{path}: directory holds no files")
    parts = []
    for _, full in files:
        with open(full, "rb") as f:
            parts.append(f.read())
    return b"\n\n".join(parts)


def load_data(args) -> Tuple[np.ndarray, np.ndarray, str]:
    """(train, valid, description) as uint8 arrays."""
    if args.data_dir:
        train_path = os.path.join(args.data_dir, "train.txt")
        valid_path = args.valid or os.path.join(args.data_dir, "valid.txt")
        train = read_text(train_path)
        valid = read_text(valid_path)
        desc = f"train {train_path}, valid {valid_path}"
    else:
        if not args.train:
            raise SystemExit("train_m1: give --train PATH or --data-dir DIR")
        train = read_text(args.train)
        if args.valid:
            valid = read_text(args.valid)
            desc = f"train {args.train}, valid {args.valid}"
        else:
            # No --valid: the last 1 % (at least 4 KB, at most 1 MB) of --train is held out.
            n_valid = min(max(len(train) // 100, 4096), 1 << 20, len(train) // 2)
            valid = train[len(train) - n_valid:]
            train = train[:len(train) - n_valid]
            desc = f"train {args.train} (last {n_valid} bytes held out as valid)"
    tr = np.frombuffer(train, dtype=np.uint8)
    va = np.frombuffer(valid, dtype=np.uint8)
    if len(tr) < 2 or len(va) < 2:
        raise SystemExit("train_m1: the training and validation texts need at least 2 bytes each")
    return tr, va, desc


class Sampler:
    """Draws the examples of a step: uniformly random offsets, no left context.

    batch(step) -> list of (offset, length); the same (seed, step) always gives
    the same list, so a resumed run sees exactly the data a straight run would.
    """

    def __init__(self, n_bytes: int, seed: int, batch_bytes: int, seq_len: int, short_frac: float,
                 short_min: int, short_max: int):
        if n_bytes < 2:
            raise ValueError("Sampler: the text needs at least 2 bytes")
        self.n = n_bytes
        self.seed = seed
        self.batch_bytes = batch_bytes
        self.seq_len = min(seq_len, n_bytes)
        self.short_frac = short_frac
        self.short_max = min(short_max, self.seq_len)
        self.short_min = min(short_min, self.short_max)

    def rng(self, step: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, step, 0x5EED])))

    def lengths(self, rng: np.random.Generator) -> List[int]:
        out, total = [], 0
        while total < self.batch_bytes:
            if rng.random() < self.short_frac:
                length = int(rng.integers(self.short_min, self.short_max + 1))
            else:
                length = self.seq_len
            out.append(length)
            total += length
        return out

    def batch(self, step: int) -> List[Tuple[int, int]]:
        rng = self.rng(step)
        lengths = self.lengths(rng)
        return [(int(rng.integers(0, self.n - length + 1)), length) for length in lengths]


def make_inputs(text: np.ndarray, examples: List[Tuple[int, int]], device) -> Tuple[torch.Tensor, torch.Tensor,
                                                                                     torch.Tensor]:
    """(input_ids [B, T], targets [B, T], mask [B, T]) for examples padded to the longest.

    input row = [BOS, x_0 .. x_{L-2}], targets = x_0 .. x_{L-1}: the model predicts
    every byte of the example from BOS and the example's own earlier bytes only."""
    t = max(length for _, length in examples)
    inputs = np.zeros((len(examples), t), dtype=np.int64)
    targets = np.zeros((len(examples), t), dtype=np.int64)
    mask = np.zeros((len(examples), t), dtype=np.float32)
    for i, (off, length) in enumerate(examples):
        seq = text[off:off + length]
        inputs[i, 0] = BOS
        inputs[i, 1:length] = seq[:length - 1]
        targets[i, :length] = seq
        mask[i, :length] = 1.0
    return (torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device),
            torch.from_numpy(mask).to(device))


def buckets(examples: List[Tuple[int, int]], seq_len: int) -> List[List[Tuple[int, int]]]:
    """Length buckets: the full-length examples (no padding) and the short ones."""
    long_ = [e for e in examples if e[1] == seq_len]
    short = [e for e in examples if e[1] != seq_len]
    return [b for b in (long_, short) if b]


# --------------------------------------------------------------------------- model / optimiser

def config_from_args(args) -> M1Config:
    return m1_config_from_args(args)


def make_scheduler(opt, args) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, args.warmup_steps, args.steps, args.final_lr_frac))


# --------------------------------------------------------------------------- evaluation

class Evaluator:
    """Validation bits/byte in the two regimes, on fixed examples (the same at every eval).

    windows: --eval-windows examples at random offsets of the valid text, empty
             context ([BOS] + bytes), scored on their first --window-bytes bytes:
             what EqualInfoAC asks of M1 right after a reset.
    context: up to --eval-bytes of the valid text in blocks of `context` bytes at
             evenly spaced offsets, each from BOS, every byte scored: what plain
             AC asks of M1 (docs/m1.md's block rule)."""

    def __init__(self, valid: np.ndarray, context: int, n_windows: int, window_bytes: int, eval_bytes: int,
                 seed: int, device, batch_bytes: int):
        self.valid, self.device = valid, device
        n = len(valid)
        wlen = min(window_bytes, n)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xE7A1])))
        self.windows = [(int(o), wlen) for o in rng.integers(0, n - wlen + 1, size=n_windows)] if n_windows else []
        block = min(context, n)
        n_blocks = max(1, min(eval_bytes // block, n // block)) if eval_bytes > 0 else 0
        if n_blocks:
            offs = np.linspace(0, n - block, n_blocks).astype(np.int64)
            self.blocks = [(int(o), block) for o in offs]
        else:
            self.blocks = []
        self.batch_bytes = max(batch_bytes, block)

    def _bpb(self, model: M1, examples, amp: bool) -> Optional[float]:
        if not examples:
            return None
        total, count = 0.0, 0
        per = max(1, self.batch_bytes // examples[0][1])
        with torch.no_grad():
            for i in range(0, len(examples), per):
                inp, tgt, mask = make_inputs(self.valid, examples[i:i + per], self.device)
                ce, _ = loss_terms(model, inp, tgt, mask, amp, self.device.type)
                total += float(ce)
                count += int(mask.sum().item())
        return total / count / LN2

    def __call__(self, model: M1, amp: bool) -> Dict[str, Optional[float]]:
        was_training = model.training
        model.eval()
        out = {"valid_bpb_windows": self._bpb(model, self.windows, amp),
               "valid_bpb_context": self._bpb(model, self.blocks, amp)}
        model.train(was_training)
        return out


# --------------------------------------------------------------------------- files

def export_model(model: M1, path: str) -> None:
    """The eqinfo model file, atomically: format version 2 (docs/m1-integer.md), i.e. the
    float32 weights quantised after training, each matrix row-wise to int8 + a float32 scale
    per row (the same quant8 as `eqinfo m1-quantize`; embedding, norms and rel_bias stay
    float32)."""
    cpu = M1(model.config, seed=0)
    cpu.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()})
    atomic_write(path, lambda tmp: save_m1(tmp, cpu))


def data_id(text: np.ndarray) -> Dict[str, int]:
    return {"bytes": int(len(text)), "crc32": zlib.crc32(text.tobytes()) & 0xFFFFFFFF}


def save_checkpoint(path: str, model, opt, sched, state: dict, args, config: M1Config, data: dict) -> None:
    common.save_checkpoint(path, {
        "version": CHECKPOINT_VERSION,
        "config": config.to_dict(),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "step": state["step"],
        "bytes_seen": state["bytes_seen"],
        "train_s": state["train_s"],
        "wall_s": state["wall_s"],
        "train_loss_sum": state["train_loss_sum"],
        "train_loss_bytes": state["train_loss_bytes"],
        # The data position: examples of step s are drawn from PCG64((seed, s)), so the
        # next step and the seed fix it; the sampler settings are in "args".
        "data": {"seed": args.seed, "next_step": state["step"], **data},
        "args": vars(args),
    })


# --------------------------------------------------------------------------- eqinfo CLI

def run_eqinfo_cli(cli: str, model_path: str, valid: np.ndarray, out_dir: str, n_bytes: int) -> Dict[str, float]:
    """Seals the model with the C++ CLI (which loads and checks it), then prints
    bytes/token of EqualInfoAC[b=16, N=16] and [b=16, N=8] on the first n_bytes of valid."""
    sealed = os.path.join(out_dir, SEALED_FILE)
    subprocess.run([cli, "m1-seal", model_path, "-o", sealed], check=True)
    sample = os.path.join(out_dir, "valid.sample.txt")
    with open(sample, "wb") as f:
        f.write(valid[:n_bytes].tobytes())
    procs = {}
    for n in (16, 8):
        procs[n] = subprocess.Popen([cli, "stats", "--json", "--model", sealed, "--method", "equal-info", "-b", "16",
                                     "-N", str(n), sample], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
    results = {}
    for n, p in procs.items():
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"eqinfo stats -N {n} failed ({p.returncode}): {err.strip()}")
        row = json.loads(out)["results"][0]
        print(f"eqinfo stats: {row['method']} model={row['model']}: {row['bytes']} bytes -> {row['tokens']} tokens, "
              f"{row['bytes_per_token']:.3f} bytes/token")
        results[f"bytes_per_token_b16_N{n}"] = float(row["bytes_per_token"])
    return results


# --------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train M1 (docs/m1.md) on text. See training/README.md.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--train", help="training text: a file, or a directory of files (sorted, joined with \\n\\n)")
    g.add_argument("--valid", help="validation text (file or directory); default: the last 1%% of --train")
    g.add_argument("--data-dir", help="prepare_data.py output: uses DIR/train.txt and DIR/valid.txt")
    g = p.add_argument_group("architecture (defaults: the paper's 3m)")
    add_flags(g, M1_SHAPE + ["--init-std"], init_std=dict(help="init std of the embedding and linear weights"))
    g = p.add_argument_group("examples")
    add_flags(g, ["--seq-len"], seq_len=dict(default=256, help="length of the long examples (<= context)"))
    g.add_argument("--short-frac", type=float, default=0.5, help="probability that an example is short")
    g.add_argument("--short-min", type=int, default=8)
    g.add_argument("--short-max", type=int, default=64)
    g.add_argument("--batch-bytes", type=int, default=8192, help="target predicted bytes (tokens) per step")
    g = p.add_argument_group("optimisation")
    add_flags(g, ["--steps"] + OPTIMISER, steps=dict(default=2000, help="total optimiser steps"),
              warmup_steps=dict(default=100), clip=dict(help="gradient norm clipping (0: off)"),
              z_loss=dict(help="coefficient of mean(logsumexp(logits)^2)"), seed=dict(help="data order and init"))
    g = p.add_argument_group("evaluation and logging")
    add_flags(g, ["--eval-every"], eval_every=dict(default=100))
    g.add_argument("--eval-windows", type=int, default=1024, help="windows-regime examples")
    g.add_argument("--window-bytes", type=int, default=16, help="bytes scored per windows-regime example")
    g.add_argument("--eval-bytes", type=int, default=32768, help="bytes scored in the long-context regime")
    add_flags(g, ["--log", "--no-progress"], no_progress=dict(help="no tqdm bar (one line per eval instead)"))
    g = p.add_argument_group("checkpoints and export")
    add_flags(g, ["--out", "--ckpt-every"], out=dict(help="run directory (checkpoint.pt, m1.safetensors, log.jsonl)"),
              ckpt_every=dict(default=100))
    g.add_argument("--export-every", type=int, default=0, help="steps between model-file exports (0: at the end)")
    add_flags(g, SESSION,
              stop_at=dict(help="stop this session after STEP (checkpoint + export; --resume continues) (0: --steps)"),
              time_limit=dict(help="stop this session after SECONDS of wall time, cleanly (0: no limit)"))
    g.add_argument("--eqinfo-cli", metavar="PATH",
                   help="after export: seal with PATH m1-seal and print bytes/token of EqualInfoAC b=16 N=16/8")
    g.add_argument("--eqinfo-cli-bytes", type=int, default=65536, help="valid bytes measured by --eqinfo-cli")
    g = p.add_argument_group("hardware")
    add_flags(g, ["--device", "--threads", "--amp"], device=dict(default="cpu", help="cpu, cuda, cuda:1, ... or auto"),
              threads=dict(help="torch CPU threads (0: all cores)"),
              amp=dict(help="bf16 autocast for the forward pass (for GPUs; the export quantises the float32 weights)"))
    return p


ARCH_KEYS = ["layers", "d_model", "heads", "head_dim", "d_ff", "context", "relative_buckets",
             "relative_max_distance"]


def main(argv: Optional[List[str]] = None) -> dict:
    cli_args = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(cli_args)
    os.makedirs(args.out, exist_ok=True)
    log_path = args.log or os.path.join(args.out, "log.jsonl")
    ckpt_path = os.path.join(args.out, CHECKPOINT)
    model_path = os.path.join(args.out, MODEL_FILE)

    # ---- hardware
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    threads = args.threads or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    amp = args.amp == "bf16"

    # ---- resume: the checkpoint fixes the architecture
    ckpt = None
    if args.resume:
        ckpt = common.load_checkpoint(args.resume, ckpt_path, CHECKPOINT_VERSION, "train_m1")
        saved = ckpt["args"]
        # The example mix may change on resume when its flags are given again (a new training
        # phase; the data of step s stays a function of (seed, s, mix)); otherwise it is kept.
        mix_keys = ["seq_len", "short_frac", "short_min", "short_max", "batch_bytes"]
        given = {k for k in mix_keys if any(a == "--" + k.replace("_", "-") or
                                            a.startswith("--" + k.replace("_", "-") + "=") for a in cli_args)}
        for k in sorted(given):
            if getattr(args, k) != saved[k]:
                print(f"train_m1: resume: note: --{k.replace('_', '-')} is {getattr(args, k)}, the checkpoint "
                      f"had {saved[k]} (the example mix changes from here on)", file=sys.stderr)
        for k in ARCH_KEYS + ["init_std", "seed"] + [k for k in mix_keys if k not in given]:
            if getattr(args, k) != saved[k]:
                print(f"train_m1: resume: --{k.replace('_', '-')} taken from the checkpoint ({saved[k]}),"
                      f" not {getattr(args, k)}", file=sys.stderr)
                setattr(args, k, saved[k])
        for k in ["lr", "warmup_steps", "steps", "final_lr_frac", "weight_decay", "beta1", "beta2"]:
            if getattr(args, k) != saved[k]:
                print(f"train_m1: resume: note: --{k.replace('_', '-')} is {getattr(args, k)}, the checkpoint "
                      f"had {saved[k]} (the schedule changes from here on)", file=sys.stderr)
    if not args.short_min >= 1 or args.short_max < args.short_min:
        raise SystemExit("train_m1: need 1 <= --short-min <= --short-max")
    if not 1 <= args.seq_len <= args.context:
        raise SystemExit("train_m1: --seq-len must be in [1, --context]")
    config = config_from_args(args)

    # ---- data
    train, valid, desc = load_data(args)
    train_id = data_id(train)
    if ckpt is not None and {k: ckpt["data"].get(k) for k in train_id} != train_id:
        print(f"train_m1: resume: warning: the training text differs from the checkpoint's "
              f"({train_id} vs {ckpt['data']})", file=sys.stderr)
    sampler = Sampler(len(train), args.seed, args.batch_bytes, args.seq_len, args.short_frac, args.short_min,
                      args.short_max)
    evaluator = Evaluator(valid, config.context, args.eval_windows, args.window_bytes, args.eval_bytes,
                          args.seed, device, args.batch_bytes)

    # ---- model, optimiser, schedule
    model = M1(config, seed=args.seed, init_std=args.init_std).to(device)
    model.train()
    opt = make_optimizer(model, args)
    sched = make_scheduler(opt, args)
    # train_s: time in training steps; wall_s: wall time of all sessions (evals, checkpoints included)
    state = {"step": 0, "bytes_seen": 0, "train_s": 0.0, "wall_s": 0.0, "train_loss_sum": 0.0,
             "train_loss_bytes": 0}
    if ckpt is not None:
        common.restore_checkpoint(ckpt, model, opt, sched, state, args.lr,
                                  lambda step: lr_factor(step, args.warmup_steps, args.steps, args.final_lr_frac))
        truncate_log(log_path, state["step"], drop=lambda rec: "eqinfo_stats" in rec)
    else:
        common.seed_all(args.seed)
        if os.path.exists(log_path):
            os.unlink(log_path)
    del ckpt
    with open(os.path.join(args.out, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)

    n_params = sum(p.numel() for p in model.parameters())
    print(f"train_m1: {desc}: {len(train):,} train / {len(valid):,} valid bytes; M1 "
          f"{json.dumps(config.to_dict(), separators=(',', ':'))}, {n_params:,} parameters "
          f"({config.non_embedding_parameters():,} non-embedding); device {device}, {threads} threads; "
          f"steps {state['step']} -> {args.steps}", file=sys.stderr)

    wall0, session_t0 = state["wall_s"], time.time()

    def log_eval(last_train_loss: Optional[float]) -> dict:
        t0 = time.time()
        ev = evaluator(model, amp)
        rec = {"step": state["step"], "bytes_seen": state["bytes_seen"],
               "train_loss": last_train_loss,
               "train_bpb": None if last_train_loss is None else last_train_loss / LN2,
               "valid_bpb_windows": ev["valid_bpb_windows"], "valid_bpb_context": ev["valid_bpb_context"],
               "lr": opt.param_groups[0]["lr"], "train_s": round(state["train_s"], 3),
               "wall_s": round(wall0 + time.time() - session_t0, 3),
               "eval_s": round(time.time() - t0, 3)}
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return rec

    def fmt(x):
        return "n/a" if x is None else f"{x:.4f}"

    last_eval = None
    if state["step"] == 0 and args.eval_every > 0:
        last_eval = log_eval(None)
        print(f"train_m1: step 0: valid bpb windows {fmt(last_eval['valid_bpb_windows'])}, "
              f"context {fmt(last_eval['valid_bpb_context'])}", file=sys.stderr)

    # ---- training loop
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, initial=state["step"], unit="step", dynamic_ncols=True, file=sys.stderr)
    session_bytes, session_train_s = 0, 0.0
    last_loss = None
    stop_at = min(args.steps, args.stop_at) if args.stop_at > 0 else args.steps
    while state["step"] < stop_at:
        t0 = time.time()
        examples = sampler.batch(state["step"])
        n_pred = sum(length for _, length in examples)
        opt.zero_grad(set_to_none=True)
        ce_total = 0.0
        for group in buckets(examples, sampler.seq_len):
            inp, tgt, mask = make_inputs(train, group, device)
            ce, z = loss_terms(model, inp, tgt, mask, amp, device.type)
            loss = (ce + args.z_loss * z) / n_pred
            loss.backward()
            ce_total += float(ce.detach())
        common.optimiser_step(model.parameters(), opt, sched, args.clip)
        last_loss = ce_total / n_pred
        dt = time.time() - t0
        common.count_step(state, "bytes_seen", "train_loss_sum", "train_loss_bytes", n_pred, ce_total, dt)
        session_bytes += n_pred
        session_train_s += dt
        rate = session_bytes / max(1e-9, session_train_s)   # training only (evals excluded)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.3f}", bpb=f"{last_loss / LN2:.3f}", B_s=f"{rate:,.0f}",
                            refresh=False)
        step = state["step"]
        timed_out = args.time_limit > 0 and time.time() - session_t0 >= args.time_limit
        final = step == args.steps
        last = final or step == stop_at or timed_out
        if (args.eval_every > 0 and step % args.eval_every == 0) or last:
            mean_loss = state["train_loss_sum"] / max(1, state["train_loss_bytes"])
            state["train_loss_sum"], state["train_loss_bytes"] = 0.0, 0
            last_eval = log_eval(mean_loss)
            msg = (f"step {step}: train bpb {mean_loss / LN2:.4f}, valid bpb windows "
                   f"{fmt(last_eval['valid_bpb_windows'])}, context {fmt(last_eval['valid_bpb_context'])}, "
                   f"{rate:,.0f} B/s")
            (bar.write(msg, file=sys.stderr) if bar is not None else print("train_m1: " + msg, file=sys.stderr))
        if (args.export_every > 0 and step % args.export_every == 0) or last:
            export_model(model, model_path)
        state["wall_s"] = wall0 + time.time() - session_t0
        if (args.ckpt_every > 0 and step % args.ckpt_every == 0) or last:
            save_checkpoint(ckpt_path, model, opt, sched, state, args, config, train_id)
        if timed_out:
            break
    if bar is not None:
        bar.close()
    if not os.path.exists(model_path):   # e.g. resumed at the final step
        export_model(model, model_path)
    session_s = time.time() - session_t0
    train_rate = session_bytes / max(session_train_s, 1e-9)
    print(f"train_m1: {'done' if state['step'] >= args.steps else 'stopped (continue with --resume)'}: "
          f"step {state['step']}, {state['bytes_seen']:,} bytes seen; this session "
          f"{session_bytes:,} bytes in {session_train_s:.1f} s of training ({train_rate:,.0f} B/s), "
          f"{session_s:.1f} s with evals and checkpoints; model {model_path}", file=sys.stderr)

    result = {"step": state["step"], "bytes_seen": state["bytes_seen"], "model": model_path,
              "checkpoint": ckpt_path, "log": log_path, "last_eval": last_eval,
              "train_bytes_per_s": train_rate}
    if args.eqinfo_cli:
        stats = run_eqinfo_cli(args.eqinfo_cli, model_path, valid, args.out, args.eqinfo_cli_bytes)
        print(f"train_m1: EqualInfoAC[b=16,N=16] {stats['bytes_per_token_b16_N16']:.3f} bytes/token, "
              f"[b=16,N=8] {stats['bytes_per_token_b16_N8']:.3f} bytes/token "
              f"(first {min(args.eqinfo_cli_bytes, len(valid)):,} bytes of valid)", file=sys.stderr)
        with open(log_path, "a") as f:
            f.write(json.dumps({"step": state["step"], "eqinfo_stats": stats,
                                "sample_bytes": int(min(args.eqinfo_cli_bytes, len(valid)))}) + "\n")
        result["eqinfo_stats"] = stats
    return result


if __name__ == "__main__":
    main()
