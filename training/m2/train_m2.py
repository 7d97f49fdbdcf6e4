#!/usr/bin/python3
"""Trains M2 (training/m2/model.py) on token shards for a fixed token budget.

    /usr/bin/python3 -m training.m2.train_m2 --train shards/eq16/train --valid shards/eq16/valid \
        --preset 3m --tokens 20000000 --out runs/m2-eq16
    /usr/bin/python3 -m training.m2.train_m2 --out runs/m2-eq16 --resume          # continue
    torchrun --nproc_per_node 2 -m training.m2.train_m2 ...                        # data parallel

See training/m2/README.md. In short:

Data. The training shards' examples are cut into sequences of --seq-len (512) tokens
(--packing, default "split": consecutive pieces of one example, never crossing an example
boundary; the last piece shorter and right-padded with a loss mask). The inputs are
[BOS] + tokens[:-1] and every token is predicted. Step s takes global batch positions
[s*B, (s+1)*B) of an endless stream of epochs, epoch e a permutation of all sequences drawn
from PCG64 seeded with (--seed, e): the data order depends only on the seed and the step.

Loss. Sum of the batch's token cross-entropies (nats) plus --z-loss * logsumexp(logits)^2,
divided by the number of real (unpadded) target tokens of the whole global batch.

Data parallel (torchrun; gloo on CPU, NCCL on GPU). Rank r of W takes the slice [r*B/W,
(r+1)*B/W) of each global batch, processes it in micro-batches of --micro-batch sequences,
scales its loss by W (DDP averages gradients over ranks) and divides by the GLOBAL token
count, which every rank knows from the sequence table. The summed gradient is therefore the
1-process gradient of the same global batch. When the 1-process run uses the same
micro-batches (--micro-batch B/W), the arithmetic is the same operation for operation and
the two runs give bit-identical weights on the CPU (tested); otherwise they differ only by
float summation order.

Budget. --tokens T (or --steps): steps = ceil(T / (B * mean sequence length)), so the run
sees about T real target tokens. The schedule (linear warmup, cosine to --final-lr-frac)
ends at the last step.

Resume. checkpoint.pt holds the model, AdamW, the scheduler, the step, the counters and the
RNG states; the data position is a function of (seed, step). A resumed run continues
exactly (bit-identical on the CPU with 1 thread, tested).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch

from training import common
from training.cli_args import OPTIMISER, SESSION, add_flags
from training.cli_args import given_flags as _given_flags
from training.common import atomic_write, loss_terms, lr_factor, make_optimizer, truncate_log
from training.m2.evaluate import evaluate, format_metrics, m1_params
from training.m2.model import M2, M2Config, PRESETS, describe
from training.m2.shards import DEFAULT_PACKING, PACKINGS, SEQ_LEN, ShardSet

LN2 = math.log(2.0)
CHECKPOINT = "checkpoint.pt"
MODEL_FILE = "model.pt"
CHECKPOINT_VERSION = 1
ARCH_KEYS = ["preset", "layers", "d_model", "heads", "head_dim", "d_ff", "mlp", "tie_embeddings", "seq_len",
             "relative_buckets", "relative_max_distance", "init_std", "vocab_size"]
DATA_KEYS = ["packing", "batch_size", "seed"]
# per-session flags, not taken from a checkpoint
NOT_CARRIED = {"resume", "stop_at", "time_limit", "out", "device", "threads", "amp", "nproc"}


# --------------------------------------------------------------------------- data order

class BatchOrder:
    """Global batch of step s: positions [s*B, (s+1)*B) of the stream perm_0, perm_1, ...
    where perm_e is a permutation of the n sequences from PCG64((seed, e))."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if n < 1:
            raise ValueError("no training sequences")
        self.n, self.b, self.seed = n, batch_size, seed
        self._perms: Dict[int, np.ndarray] = {}

    def perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 2:
                self._perms.pop(min(self._perms))
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, epoch, 0xDA7A])))
            self._perms[epoch] = rng.permutation(self.n)
        return self._perms[epoch]

    def global_batch(self, step: int) -> np.ndarray:
        pos = np.arange(step * self.b, (step + 1) * self.b, dtype=np.int64)
        epoch, i = pos // self.n, pos % self.n
        return np.array([self.perm(int(e))[int(j)] for e, j in zip(epoch, i)], dtype=np.int64)

    def epoch_of(self, step: int) -> float:
        return step * self.b / self.n


# --------------------------------------------------------------------------- distributed

def init_distributed(device_arg: str):
    """(rank, world, local_rank, device); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_arg == "auto":
        device_arg = "cuda" if torch.cuda.is_available() else "cpu"
    if device_arg == "cuda" and world > 1:
        device_arg = f"cuda:{local}"
    device = torch.device(device_arg)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return rank, world, local, device


def all_reduce_sum(t: torch.Tensor, world: int, device) -> torch.Tensor:
    if world <= 1:
        return t
    import torch.distributed as dist
    x = t.to(device) if device.type == "cuda" else t
    dist.all_reduce(x)
    return x.cpu()


# --------------------------------------------------------------------------- model / loss

def config_from_args(args, vocab_size: int) -> M2Config:
    base = dict(PRESETS[args.preset])
    for k in ("layers", "d_model", "heads", "head_dim", "d_ff"):
        v = getattr(args, k)
        if v is not None:
            base[k] = v
    c = M2Config(vocab_size=vocab_size, context=args.seq_len, relative_buckets=args.relative_buckets,
                 relative_max_distance=args.relative_max_distance, mlp=args.mlp,
                 tie_embeddings=bool(args.tie_embeddings), **base)
    c.validate()
    return c


def save_checkpoint(path: str, model, opt, sched, state: dict, args, config: M2Config, data: dict) -> None:
    common.save_checkpoint(path, {"version": CHECKPOINT_VERSION, "config": config.to_dict(),
                                  "model": model.state_dict(), "optimizer": opt.state_dict(),
                                  "scheduler": sched.state_dict(), **state, "data": data, "args": vars(args)})


def save_model(path: str, model, config: M2Config, state: dict, data: dict) -> None:
    """model.pt: what evaluate.py and sample.py need (config, weights, provenance)."""
    obj = {"config": config.to_dict(), "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
           "step": state["step"], "tokens_seen": state["tokens_seen"], "data": data}
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


# --------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train M2 on token shards. See training/m2/README.md.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--train", help="training shard directory")
    g.add_argument("--valid", help="held-out shard directory (evaluated every --eval-every steps and at the end)")
    g.add_argument("--packing", choices=list(PACKINGS), default=DEFAULT_PACKING,
                   help="how examples become sequences (eqinfo.shards.PACKINGS)")
    g.add_argument("--vocab-size", type=int, default=0, help="model vocabulary (0: the shards')")
    g = p.add_argument_group("architecture")
    g.add_argument("--preset", choices=list(PRESETS), default="3m", help="size (model.py PRESETS)")
    shape = ["--layers", "--d-model", "--heads", "--head-dim", "--d-ff"]
    add_flags(g, shape, **{f[2:].replace("-", "_"): dict(default=None, help="override the preset") for f in shape})
    g.add_argument("--mlp", choices=["relu", "gated-relu"], default="relu")
    g.add_argument("--tie-embeddings", action="store_true", help="share input embedding and output layer")
    add_flags(g, ["--seq-len", "--relative-buckets", "--relative-max-distance", "--init-std"],
              seq_len=dict(default=512, help="tokens per sequence (= the model's context)"), init_std=dict(help=None))
    g = p.add_argument_group("budget and optimisation")
    g.add_argument("--tokens", type=int, default=0, help="training budget in target tokens (sets --steps)")
    add_flags(g, ["--steps"], steps=dict(default=0, help="optimiser steps (if --tokens is not given)"))
    g.add_argument("--batch-size", type=int, default=32, help="GLOBAL batch in sequences (all ranks)")
    g.add_argument("--micro-batch", type=int, default=0,
                   help="sequences per forward pass on a rank (0: the rank's whole slice)")
    add_flags(g, OPTIMISER, warmup_steps=dict(default=-1, help="linear warmup (-1: 5%% of the steps)"),
              clip=dict(help="gradient-norm clipping (0: off)"), seed=dict(help="init and data order"))
    g = p.add_argument_group("evaluation and logging")
    add_flags(g, ["--eval-every"], eval_every=dict(default=500))
    g.add_argument("--eval-examples", type=int, default=32, help="valid examples scored at periodic evals (0: all)")
    g.add_argument("--final-eval-examples", type=int, default=0, help="valid examples scored at the end (0: all)")
    g.add_argument("--eval-batch", type=int, default=16, help="sequences per eval forward pass")
    g.add_argument("--m1-params", type=int, help="M1 non-embedding parameters, for FLOPs/byte")
    g.add_argument("--m1-model", help="the M1 model file the shards were made with, for FLOPs/byte")
    add_flags(g, ["--log", "--no-progress"], no_progress=dict(help="no tqdm bar"))
    g = p.add_argument_group("checkpoints")
    add_flags(g, ["--out", "--ckpt-every"] + SESSION, out=dict(help="run directory"), ckpt_every=dict(default=500),
              stop_at=dict(help="end this session after STEP"), time_limit=dict(help="end this session after SECONDS"))
    g = p.add_argument_group("hardware")
    add_flags(g, ["--device"], device=dict(default="auto", help="cpu, cuda, cuda:N, or auto (CUDA when present)"))
    g.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes on this machine, started by this script (instead of torchrun)")
    add_flags(g, ["--threads", "--amp"], threads=dict(help="torch CPU threads per process (0: cores / processes)"),
              amp=dict(help="bf16 autocast (GPUs)"))
    return p


def given_flags(argv: Optional[List[str]]) -> set:
    """The destinations of the flags given on the command line (not defaulted)."""
    return _given_flags(build_parser(), sys.argv[1:] if argv is None else argv)


def _free_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, argv: List[str]) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    main(argv)


def launch_local(nproc: int, argv: List[str]) -> dict:
    """--nproc N: N processes on this machine, like `torchrun --standalone --nproc_per_node N`
    (whose launcher fails on Debian's torch 1.13 with Python 3.11)."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, nproc, port, argv)) for r in range(nproc)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    bad = [(r, p.exitcode) for r, p in enumerate(procs) if p.exitcode != 0]
    if bad:
        raise SystemExit(f"train_m2: --nproc {nproc}: process(es) failed (rank, exit code): {bad}")
    return {"nproc": nproc}


def main(argv: Optional[List[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return launch_local(args.nproc, sys.argv[1:] if argv is None else list(argv))
    given = given_flags(argv)
    rank, world, local, device = init_distributed(args.device)
    try:
        return _main(args, given, rank, world, device)
    finally:
        if world > 1:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


def _main(args, given: set, rank: int, world: int, device) -> dict:
    lead = rank == 0
    os.makedirs(args.out, exist_ok=True)
    log_path = args.log or os.path.join(args.out, "log.jsonl")
    ckpt_path = os.path.join(args.out, CHECKPOINT)
    model_path = os.path.join(args.out, MODEL_FILE)
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    amp = args.amp == "bf16"

    def say(msg: str) -> None:
        if lead:
            print(f"train_m2: {msg}", file=sys.stderr)

    # ---- resume: the checkpoint fixes the architecture and the data order
    ckpt = None
    if args.resume:
        ckpt = common.load_checkpoint(args.resume, ckpt_path, CHECKPOINT_VERSION, "train_m2")
        # Flags not given now are taken from the checkpoint; given ones that would change the
        # model or the data order are overridden (with a message); others (--tokens, --lr, ...)
        # apply from here on.
        saved = ckpt["args"]
        for k, v in saved.items():
            if k in NOT_CARRIED or not hasattr(args, k):
                continue
            if k not in given:
                setattr(args, k, v)
            elif getattr(args, k) != v:
                if k in ARCH_KEYS + DATA_KEYS:
                    say(f"resume: --{k.replace('_', '-')} taken from the checkpoint ({v}), not {getattr(args, k)}")
                    setattr(args, k, v)
                else:
                    say(f"resume: note: --{k.replace('_', '-')} is {getattr(args, k)}, the checkpoint had {v}")
        if "steps" in given and "tokens" not in given:
            args.tokens = 0          # a new --steps replaces the checkpoint's token budget
    if not args.train:
        raise SystemExit("train_m2: give --train DIR")
    if args.batch_size % world:
        raise SystemExit(f"train_m2: --batch-size {args.batch_size} is not a multiple of the {world} processes")

    # ---- data
    train = ShardSet(args.train)
    valid = ShardSet(args.valid) if args.valid else None
    vocab = args.vocab_size or train.vocab_size
    if train.vocab_size > vocab:
        raise SystemExit(f"train_m2: the shards' vocabulary {train.vocab_size} exceeds --vocab-size {vocab}")
    args.vocab_size = vocab
    seqs = train.sequences(args.seq_len, args.packing)
    if not len(seqs):
        raise SystemExit(f"train_m2: {args.train}: no training sequences")
    order = BatchOrder(len(seqs), args.batch_size, args.seed)
    mean_len = float(seqs[:, SEQ_LEN].mean())
    if args.tokens > 0:
        args.steps = max(1, math.ceil(args.tokens / (args.batch_size * mean_len)))
    if args.steps <= 0:
        raise SystemExit("train_m2: give --tokens or --steps")
    warmup = args.warmup_steps if args.warmup_steps >= 0 else max(1, round(0.05 * args.steps))
    data = {"train": os.path.abspath(args.train), "train_fingerprint": train.fingerprint(),
            "train_method": train.method, "sequences": int(len(seqs)), "seed": args.seed}
    if ckpt is not None and ckpt["data"].get("train_fingerprint") != data["train_fingerprint"]:
        say(f"resume: warning: the training shards differ from the checkpoint's ({ckpt['data']})")

    # ---- model, optimiser, schedule
    config = config_from_args(args, vocab)
    core = M2(config, seed=args.seed, init_std=args.init_std).to(device)
    core.train()
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(core, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        model = core
    opt = make_optimizer(core, args)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, warmup, args.steps, args.final_lr_frac))
    state = {"step": 0, "tokens_seen": 0, "train_s": 0.0, "wall_s": 0.0, "loss_sum": 0.0, "loss_tokens": 0}
    if ckpt is not None:
        common.restore_checkpoint(ckpt, core, opt, sched, state, args.lr,
                                  lambda step: lr_factor(step, warmup, args.steps, args.final_lr_frac))
        if lead:
            truncate_log(log_path, state["step"], drop=lambda rec: rec.get("final"))
    else:
        common.seed_all(args.seed)
        if lead and os.path.exists(log_path):
            os.unlink(log_path)
    del ckpt
    if lead:
        with open(os.path.join(args.out, "args.json"), "w") as f:
            json.dump(vars(args), f, indent=1)
    m1_ne = m1_params(valid if valid is not None else train, args.m1_params, args.m1_model)
    say(f"{train.describe()}")
    if valid is not None:
        say(f"valid {valid.describe()}")
    say(f"M2 {describe(config)}; {len(seqs):,} sequences ({args.packing}, mean {mean_len:.1f} tokens); global "
        f"batch {args.batch_size} x {args.seq_len} on {world} process(es), device {device}; steps "
        f"{state['step']} -> {args.steps} (warmup {warmup}), about {args.steps * args.batch_size * mean_len:,.0f} "
        f"tokens = {args.steps * args.batch_size / len(seqs):.2f} epochs")

    wall0, t_session = state["wall_s"], time.time()

    def run_eval(n_examples: int) -> Optional[dict]:
        if valid is None:
            return None
        return evaluate(model, valid, device, args.eval_batch, n_examples, amp, rank, world, m1_ne)

    def log(rec: dict) -> None:
        if lead:
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    def record(train_loss: Optional[float], ev: Optional[dict], eval_s: float, final: bool = False) -> dict:
        rec = {"step": state["step"], "tokens_seen": state["tokens_seen"],
               "bytes_seen_est": round(state["tokens_seen"] * train.bytes_per_token),
               "epoch": round(order.epoch_of(state["step"]), 4), "train_loss": train_loss,
               "train_bpb_est": None if train_loss is None else train_loss / LN2 / train.bytes_per_token,
               "lr": opt.param_groups[0]["lr"], "train_s": round(state["train_s"], 3),
               "wall_s": round(wall0 + time.time() - t_session, 3), "eval_s": round(eval_s, 3)}
        if ev is not None:
            rec.update({f"valid_{k}": v for k, v in ev.items()})
        if final:
            rec["final"] = True
        return rec

    if state["step"] == 0 and args.eval_every > 0 and valid is not None:
        t0 = time.time()
        ev = run_eval(args.eval_examples)
        log(record(None, ev, time.time() - t0))
        say(f"step 0: valid {format_metrics(ev)}")

    bar = None
    if lead and not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, initial=state["step"], unit="step", dynamic_ncols=True, file=sys.stderr)
    per_rank = args.batch_size // world
    micro = args.micro_batch if args.micro_batch > 0 else per_rank
    stop_at = min(args.steps, args.stop_at) if args.stop_at > 0 else args.steps
    session_tokens, session_s = 0, 0.0
    last = {"train_loss": None, "eval": None}
    while state["step"] < stop_at:
        t0 = time.time()
        rows_all = seqs[order.global_batch(state["step"])]
        n_glob = int(rows_all[:, SEQ_LEN].sum())
        rows = rows_all[rank * per_rank:(rank + 1) * per_rank]
        opt.zero_grad(set_to_none=True)
        ce_local = torch.zeros((), dtype=torch.float64)
        chunks = [rows[i:i + micro] for i in range(0, len(rows), micro)]
        for ci, chunk in enumerate(chunks):
            inp, tgt, mask = (torch.from_numpy(a).to(device) for a in train.batch(chunk, config.bos))
            sync = world == 1 or ci == len(chunks) - 1
            ctx = model.no_sync() if (world > 1 and not sync) else _nullcontext()
            with ctx:
                ce, z = loss_terms(model, inp, tgt, mask, amp, device.type)
                loss = (ce + args.z_loss * z) / n_glob * world
                loss.backward()
            ce_local += ce.detach().double().cpu()
        common.optimiser_step(core.parameters(), opt, sched, args.clip)
        ce_glob = float(all_reduce_sum(ce_local.view(1), world, device)[0])
        dt = time.time() - t0
        common.count_step(state, "tokens_seen", "loss_sum", "loss_tokens", n_glob, ce_glob, dt)
        session_tokens += n_glob
        session_s += dt
        rate = session_tokens / max(1e-9, session_s)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{ce_glob / n_glob:.3f}", tok_s=f"{rate:,.0f}", refresh=False)
        step = state["step"]
        timed_out = args.time_limit > 0 and time.time() - t_session >= args.time_limit
        if world > 1 and args.time_limit > 0:   # every rank must stop at the same step
            flag = all_reduce_sum(torch.tensor([float(timed_out)], dtype=torch.float64), world, device)
            timed_out = bool(flag[0] > 0)
        is_last = step == stop_at or timed_out
        final = step == args.steps
        if (args.eval_every > 0 and step % args.eval_every == 0) or is_last:
            mean_loss = state["loss_sum"] / max(1, state["loss_tokens"])
            state["loss_sum"], state["loss_tokens"] = 0.0, 0
            t1 = time.time()
            ev = run_eval(args.final_eval_examples if final else args.eval_examples)
            last["train_loss"], last["eval"] = mean_loss, ev
            log(record(mean_loss, ev, time.time() - t1, final=final))
            msg = f"step {step}: train loss {mean_loss:.4f} nats/token, {rate:,.0f} tokens/s" + (
                f"; valid {format_metrics(ev)}" if ev else "")
            if lead:
                (bar.write("train_m2: " + msg, file=sys.stderr) if bar is not None else say(msg))
        state["wall_s"] = wall0 + time.time() - t_session
        if lead and ((args.ckpt_every > 0 and step % args.ckpt_every == 0) or is_last):
            save_checkpoint(ckpt_path, core, opt, sched, state, args, config, data)
            if is_last:
                save_model(model_path, core, config, state, data)
        if timed_out:
            break
    if bar is not None:
        bar.close()
    if lead and not os.path.exists(model_path):
        save_model(model_path, core, config, state, data)
    say(f"{'done' if state['step'] >= args.steps else 'stopped (continue with --resume)'}: step {state['step']}, "
        f"{state['tokens_seen']:,} tokens seen; this session {session_tokens:,} tokens in {session_s:.1f} s "
        f"({session_tokens / max(session_s, 1e-9):,.0f} tokens/s); model {model_path}")
    return {"step": state["step"], "tokens_seen": state["tokens_seen"], "steps": args.steps, "model": model_path,
            "checkpoint": ckpt_path, "log": log_path, "train_loss": last["train_loss"], "eval": last["eval"],
            "tokens_per_s": session_tokens / max(session_s, 1e-9)}


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


if __name__ == "__main__":
    main()
