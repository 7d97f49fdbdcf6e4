"""Helpers shared by the training scripts: files written atomically, SHA-256 of a file, finding
the eqinfo CLI, and the pieces of a training run that M1 (train_m1.py) and M2
(m2/train_m2.py) share: the optimiser, the schedule, the loss, and checkpoint save/resume.

Nothing here is a command; the scripts import it (`from training.common import ...`).
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Callable, List, Optional, Tuple

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The tiny random M1 of the smoke runs (`eqinfo m1-random` flags): fast, predicts nothing useful.
TINY_M1_SHAPE = ["--layers", "1", "--d-model", "32", "--heads", "2", "--head-dim", "16", "--d-ff", "64",
                 "--context", "128"]


# --------------------------------------------------------------------------- files

def sha256_file(path, n: Optional[int] = None) -> str:
    """Hex SHA-256 of a file's contents (its first n hex digits when n is given)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n] if n else h.hexdigest()


def atomic_write(path: str, write: Callable[[str], object]) -> None:
    """write(tmp_path), then rename over `path` (same directory, so the rename is atomic): a crash
    leaves the previous version intact. The file gets the usual mode (0666 less the umask)."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; give the usual mode
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write(path, write)


def write_json(path: str, obj) -> None:
    """obj as indented JSON (and a newline), atomically; creates the directory."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), for reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


# --------------------------------------------------------------------------- the eqinfo CLI

def _optimised_build(exe: str) -> bool:
    """Whether the CMake build holding exe is optimised and without sanitizers (a Debug or
    AddressSanitizer build encodes with M1 many times slower)."""
    d = os.path.dirname(exe)
    for cache in (os.path.join(d, "CMakeCache.txt"), os.path.join(os.path.dirname(d), "CMakeCache.txt")):
        if os.path.exists(cache):
            with open(cache, errors="replace") as f:
                text = f.read()
            m = re.search(r"^CMAKE_BUILD_TYPE:STRING=(.*)$", text, re.M)
            release = bool(m) and m.group(1).strip() in ("Release", "RelWithDebInfo", "MinSizeRel")
            return release and not re.search(r"^EQINFO_SANITIZE:BOOL=(ON|1|TRUE)", text, re.M | re.I) \
                and "-fsanitize" not in text
    return False


def find_cli(path: Optional[str] = None, command: Optional[str] = None,
             accept: Optional[Callable[[str], bool]] = None) -> Optional[str]:
    """An eqinfo CLI: PATH when given; else $EQINFO_CLI, else the newest optimised (Release, no
    sanitizer) build in the repository's build dirs, else the newest build, else `eqinfo` on
    $PATH. With `command`, only a CLI that knows it (`eqinfo help COMMAND`); with `accept`, only
    one it accepts. None if none."""
    if path:
        cands = [path]
    else:
        found = []
        for pat in ("build*/tools/eqinfo", "build*/*/tools/eqinfo", "build*/eqinfo"):
            found += glob.glob(os.path.join(REPO, pat))
        cands = [os.environ.get("EQINFO_CLI")]
        cands += sorted(set(found), key=lambda p: (_optimised_build(p), os.path.getmtime(p)), reverse=True)
        cands.append(shutil.which("eqinfo"))
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            if command is not None and subprocess.run([c, "help", command], stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL).returncode != 0:
                continue
            if accept is None or accept(c):
                return os.path.abspath(c)
    return None


# --------------------------------------------------------------------------- training runs (M1 and M2)

def make_optimizer(model, args):
    """AdamW; weight decay on the weight matrices (embedding, q/k/v/o, w1/w2, lm_head) only,
    not on the norms or the relative-position biases."""
    import torch
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if ("norm" in name or name.endswith("rel_bias")) else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(args.beta1, args.beta2), eps=1e-8)


def lr_factor(step: int, warmup: int, total: int, final: float) -> float:
    """Multiplier of --lr for the update that follows `step` completed updates:
    linear warmup over `warmup` updates, then cosine from 1 down to `final` at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def loss_terms(model, inputs, targets, mask, amp: bool, device_type: str) -> Tuple:
    """(sum of cross-entropy in nats over masked positions, sum of logsumexp^2 over them)."""
    import torch
    import torch.nn.functional as F
    with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=amp):
        logits = model(inputs)
    logits = logits.float().reshape(-1, logits.shape[-1])
    m = mask.reshape(-1)
    ce = F.cross_entropy(logits, targets.reshape(-1), reduction="none")
    lse = torch.logsumexp(logits, dim=-1)
    return (ce * m).sum(), (lse.pow(2) * m).sum()


def optimiser_step(params, opt, sched, clip: float) -> None:
    """Clips the gradient norm to `clip` (0: no clipping), then steps the optimiser and the schedule."""
    import torch
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    sched.step()


def count_step(state: dict, seen: str, loss_sum: str, loss_count: str, n: int, loss: float, seconds: float) -> None:
    """Counts one optimiser step in a run's state: the step, the n targets seen (under the key
    `seen`), the loss sum and target count since the last evaluation, and the training time."""
    state["step"] += 1
    state[seen] += n
    state[loss_sum] += loss
    state[loss_count] += n
    state["train_s"] += seconds


def seed_all(seed: int) -> None:
    """Seeds torch, numpy and Python's random (a fresh run)."""
    import torch
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


def save_checkpoint(path: str, ckpt: dict) -> None:
    """ckpt plus the RNG states (torch, numpy, python, CUDA), written atomically."""
    import torch
    ckpt = dict(ckpt, rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                           "python": random.getstate(),
                           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None})
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def load_checkpoint(resume: str, default_path: str, version: int, prog: str) -> dict:
    """The checkpoint --resume names ("auto": default_path); exits with a message when it is
    missing or of another version."""
    import torch
    rpath = default_path if resume == "auto" else resume
    if not os.path.exists(rpath):
        raise SystemExit(f"{prog}: --resume: {rpath} does not exist")
    ckpt = torch.load(rpath, map_location="cpu")
    if ckpt.get("version") != version:
        raise SystemExit(f"{prog}: {rpath}: unsupported checkpoint version {ckpt.get('version')}")
    return ckpt


def restore_checkpoint(ckpt: dict, model, opt, sched, state: dict, lr: float, factor: Callable[[int], float]) -> None:
    """Loads model, optimiser, scheduler, the counters in `state` and the RNG states from ckpt.
    The schedule follows the current flags (lr, and factor(step) of the current warmup and
    --steps, which may have been extended): the same float as LambdaLR computes, so an
    unchanged resume is exact."""
    import torch
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    sched.base_lrs = [lr] * len(opt.param_groups)
    for g in opt.param_groups:
        g["initial_lr"] = lr
        g["lr"] = lr * factor(ckpt["step"])
    for k in state:
        state[k] = ckpt[k]
    r = ckpt["rng"]
    torch.set_rng_state(r["torch"])
    np.random.set_state(r["numpy"])
    random.setstate(r["python"])
    if r.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(r["cuda"])


def truncate_log(path: str, step: int, drop: Callable[[dict], bool] = lambda rec: False) -> None:
    """Drops log lines written after the checkpoint being resumed (they will be redone), and
    the end-of-run lines `drop` names."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    keep = [l for l in lines if json.loads(l).get("step", 0) <= step and not drop(json.loads(l))]
    if len(keep) != len(lines):
        atomic_write(path, lambda tmp: open(tmp, "w").writelines(keep))



# --------------------------------------------------------------------------- running the scripts

def module_command(module: str, *args: str) -> List[str]:
    """The command line that runs a script of this package (e.g. "training.m2.train_m2") with
    this Python; run it with module_env() so that it works from any directory."""
    return [sys.executable, "-m", module, *args]


def module_env(env: Optional[dict] = None) -> dict:
    """env (default: os.environ) with the repository root first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env
