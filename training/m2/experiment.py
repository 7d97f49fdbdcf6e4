#!/usr/bin/python3
"""The M2 learnability experiment in one command (Lester et al. 2024, Table 15 / Fig. 3, Fig. 10).

    # the full experiment (about 2.5 hours on the 2 cores of this machine; prints an estimate first)
    nice -n 10 /usr/bin/python3 training/m2/experiment.py --m1 models/m1/m1.safetensors --threads 2
    # only the estimate
    /usr/bin/python3 training/m2/experiment.py --estimate-only
    # the smoke configuration (CI; every method end to end, < 3 minutes on 1 thread)
    /usr/bin/python3 training/m2/experiment.py --smoke
    # regenerate the report from results.jsonl without training
    /usr/bin/python3 training/m2/experiment.py --report --out runs/m2-exp --report-out docs/results/m2.md

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

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

TRAINING = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TRAINING)
sys.path.insert(0, TRAINING)

from m2.model import PRESETS, preset  # noqa: E402
from m2.shards import EXAMPLE_BYTES, MANIFEST, SEQ_LEN, ShardSet, derive_16bit  # noqa: E402

STAMP_VERSION = 1
DEFAULT_METHODS = "bytes,spm,ac256,staticac256,gzip256,eq16_256,eq16_65k,eq32_256"
LN2 = math.log(2.0)
# "stays at the uniform baseline" / "learns": bits/byte at least this fraction below it
LEARN_MARGIN = 0.02

# Full and smoke defaults (flags left at None take these).
FULL = dict(sizes="mini,1m", seeds=2, seeds_larger=1, tokens=1_200_000, batch_size=4, seq_len=512, lr=1e-3,
            train_bytes=4_000_000, eval_bytes=25 * EXAMPLE_BYTES, example_bytes=EXAMPLE_BYTES, evals=8,
            eval_examples=4, threads=2, out="runs/m2-exp", report_out="docs/results/m2.md", sample_tokens=256,
            m1="models/m1/m1.safetensors")
SMOKE = dict(sizes="tiny,mini", seeds=2, seeds_larger=1, tokens=2048, batch_size=4, seq_len=128, lr=3e-3,
             train_bytes=160_000, eval_bytes=2 * 2048, example_bytes=2048, evals=2, eval_examples=1, threads=1,
             out="runs/m2-smoke", report_out=None, sample_tokens=48, m1=None)
SMOKE_M1_SHAPE = ["--layers", "1", "--d-model", "32", "--heads", "2", "--head-dim", "16", "--d-ff", "64",
                  "--context", "128", "--seed", "1"]
# largest logits tensor of a forward pass (elements): sets --micro-batch and --eval-batch
LOGITS_ELEMENTS = 1 << 26


# --------------------------------------------------------------------------- the paper's numbers
# ../shared/docs/method.md: Table 12 (bytes/token), Table 3 (uniform bits/byte), Table 15
# (M2 bits/byte at 25m / 113m / 403m / 2b, FLOPs/byte where the paper gives it).

PAPER_SIZES = ("25m", "113m", "403m", "2b")
PAPER_25M_PARAMS = 25.2e6    # non-embedding, gated MLP (the paper's size names count it so; model.py)
PAPER = {
    "bytes": dict(bpt=1.0, uniform=8.000, bpb=(1.29, 1.16, 1.08, 1.03), flops={"25m": 50e6, "2b": 4.0e9}),
    "spm": dict(bpt=4.28, uniform=3.497, bpb=(1.12, 1.01, 0.94, 0.87), flops={"25m": 11.7e6, "2b": 935e6}),
    "ac256": dict(bpt=5.49, uniform=1.457, bpb=(1.46, 1.46, 1.46, 1.46)),
    "ac65k": dict(bpt=10.98, uniform=1.457),
    "staticac256": dict(bpt=1.73, uniform=4.624, bpb=(4.61, 4.61, 4.61, 4.61)),
    "staticac65k": dict(bpt=3.46, uniform=4.624),
    "gzip256": dict(bpt=2.23, uniform=3.587, bpb=(2.34, 1.93, 1.69, 1.56)),
    "gzip65k": dict(bpt=4.47, uniform=3.587),
    "eq16_256": dict(bpt=2.66, uniform=3.008, bpb=(1.47, 1.23, 1.09, 0.99), flops={"25m": 24.8e6, "2b": 1.51e9}),
    "eq16_65k": dict(bpt=5.31, uniform=3.008, bpb=(1.25, 1.12, 1.02, 0.94), flops={"25m": 15.4e6, "2b": 759e6}),
    "eq32_256": dict(bpt=3.49, uniform=2.292), "eq32_65k": dict(bpt=6.97, uniform=2.292),
    "eq64_256": dict(bpt=4.16, uniform=1.923), "eq64_65k": dict(bpt=8.33, uniform=1.923),
    "eq128_256": dict(bpt=4.61, uniform=1.735), "eq128_65k": dict(bpt=9.22, uniform=1.735),
}


# --------------------------------------------------------------------------- methods

@dataclass(frozen=True)
class Method:
    name: str
    family: str          # bytes | spm | ac | staticac | gzip | eq
    token_bits: int = 8
    window_bits: int = 0

    @property
    def v(self) -> str:
        return "256" if self.token_bits == 8 else "65k"

    @property
    def label(self) -> str:
        return {"bytes": "Bytes", "spm": "SentencePiece", "ac": f"AC[v={self.v}]",
                "staticac": f"StaticAC[v={self.v}]", "gzip": f"GZip[v={self.v}]",
                "eq": f"EqualInfoAC[b={self.window_bits}, v={self.v}]"}[self.family]

    @property
    def uses_m1(self) -> bool:
        return self.family in ("ac", "eq")

    @property
    def derive_from(self) -> Optional[str]:
        """EqualInfoAC with 16-bit tokens is made from the 8-bit shards of the same b."""
        return f"eq{self.window_bits}_256" if self.family == "eq" and self.token_bits == 16 else None

    def cli_args(self, m1: str, unigram: str) -> List[str]:
        n = str(self.token_bits)
        if self.family == "bytes":
            return ["--method", "bytes"]
        if self.family == "ac":
            return ["--method", "ac", "-N", n, "--model", m1]
        if self.family == "staticac":
            return ["--method", "static-ac", "-N", n, "--model", unigram]
        if self.family == "eq":
            return ["--method", "equal-info", "-b", str(self.window_bits), "-N", n, "--model", m1]
        raise ValueError(f"{self.name} is not made by eqinfo shard")


def parse_method(name: str) -> Method:
    name = name.strip().lower()
    if name == "bytes":
        return Method("bytes", "bytes")
    if name in ("spm", "sentencepiece"):
        return Method("spm", "spm", token_bits=0)
    m = re.fullmatch(r"(ac|staticac|gzip)(256|65k)", name)
    if m:
        return Method(name, m.group(1), 8 if m.group(2) == "256" else 16)
    m = re.fullmatch(r"eq(\d+)_(256|65k)", name)
    if m:
        b, n = int(m.group(1)), 8 if m.group(2) == "256" else 16
        if b % n or b < 16:
            raise SystemExit(f"experiment: method {name}: b must be a multiple of N and >= 16 (P)")
        return Method(name, "eq", n, b)
    raise SystemExit(f"experiment: unknown method {name!r} (bytes, spm, ac256, ac65k, staticac256, "
                     f"staticac65k, gzip256, gzip65k, eq16_256, eq16_65k, eq32_256, ...)")


# --------------------------------------------------------------------------- small helpers

def say(msg: str) -> None:
    print(f"experiment: {msg}", file=sys.stderr, flush=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def short_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def read_json(path: str, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def read_jsonl(path: str) -> List[dict]:
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass            # a line cut by a crash
    return out


def rel(path: str) -> str:
    """A path relative to the repository when inside it (for the report)."""
    p = os.path.abspath(path)
    return os.path.relpath(p, REPO) if p.startswith(REPO + os.sep) else p


def fmt_si(x: Optional[float], digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.{digits}g}{suf}"
    return f"{x:.{digits}g}"


def fmt_hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = None
    os_name = platform.platform()
    try:
        with open("/etc/os-release") as f:
            kv = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        os_name = kv.get("PRETTY_NAME", os_name).strip('"')
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load": load, "torch": tv, "python": platform.python_version(),
            "os": os_name}


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


def find_cli(path: Optional[str]) -> Optional[str]:
    """An eqinfo tool with the shard command: PATH, else $EQINFO_CLI, else the newest optimised
    (Release, no sanitizer) build in the repository's build dirs, else the newest build."""
    cands = [path] if path else [os.environ.get("EQINFO_CLI")]
    if not path:
        found = []
        for pat in ("build*/tools/eqinfo", "build*/*/tools/eqinfo", "build*/eqinfo"):
            found += glob.glob(os.path.join(REPO, pat))
        cands += sorted(set(found), key=lambda p: (_optimised_build(p), os.path.getmtime(p)), reverse=True)
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            r = subprocess.run([c, "help", "shard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return os.path.abspath(c)
    return None


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
        with open(dst + ".tmp", "wb") as f:
            f.write(data)
        os.replace(dst + ".tmp", dst)
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
                run_cmd([cli, "m1-random", *SMOKE_M1_SHAPE, "-o", m1])
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
                from m2.make_shards import train_sentencepiece
                with open(data["train"]["path"], "rb") as f:
                    train_sentencepiece(f.read(), spm, 512)
        import sentencepiece as sp_mod
        sp = sp_mod.SentencePieceProcessor()
        sp.Load(spm)
        out["spm"] = {"path": spm, "sha256": sha256_file(spm), "vocab_size": int(sp.GetPieceSize())}
    return out


def m1_info(path: str) -> dict:
    try:
        from eqinfo_m1 import M1Config, read_safetensors
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
        from m2 import make_shards as ms
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
                from m2.make_shards import sp_processor, sp_tokens
                n = len(sp_tokens(sp_processor(models["spm"]["path"]), head))
                res["bpt"][m.name] = len(head) / max(1, n)
            elif m.family == "gzip":
                from m2.make_shards import gzip_tokens
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
    from m2.model import M2
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
    from m2 import train_m2
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
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(max(1, cfg["threads"] // cfg["jobs"])))
    script = os.path.join(TRAINING, "m2", "train_m2.py")
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
                p = subprocess.Popen([sys.executable, script, *argv], stdout=f, stderr=subprocess.STDOUT, env=env)
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
    from m2 import sample as sm
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


# --------------------------------------------------------------------------- report

def aggregate(results: List[dict]) -> Dict[Tuple[str, str], dict]:
    """(method, size) -> mean/std of bits/byte over seeds and the run's other numbers."""
    groups: Dict[Tuple[str, str], List[dict]] = {}
    for r in results:
        groups.setdefault((r["method"], r["size"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        bpb = np.array([r["eval"]["bits_per_byte"] for r in rs], dtype=float)
        e0 = rs[0]["eval"]
        out[k] = {"runs": rs, "seeds": [r["seed"] for r in rs], "n": len(rs), "mean": float(bpb.mean()),
                  "std": float(bpb.std(ddof=1)) if len(rs) > 1 else None,
                  "uniform": e0.get("uniform_bits_per_byte"), "flops": e0.get("flops_per_byte"),
                  "flops_m2": e0.get("flops_per_byte_m2"), "bpt": e0.get("bytes_per_token"),
                  "m2_params": e0.get("m2_non_embedding_parameters"), "tokens": rs[0]["tokens_seen"],
                  "bytes_seen": rs[0].get("bytes_seen_est"), "epochs": rs[0].get("epochs"),
                  "acc_pos": [np.mean([r["eval"]["accuracy_by_window_position"][i] for r in rs])
                              for i in range(len(e0.get("accuracy_by_window_position") or []))],
                  "finite": bool(np.isfinite(bpb).all())}
    return out


def interp_log(xs: List[float], ys: List[float], x: float) -> float:
    """Piecewise linear in log x through the points, constant beyond the ends."""
    pts = sorted(zip(xs, ys))
    if x <= pts[0][0]:
        return pts[0][1]
    if x >= pts[-1][0]:
        return pts[-1][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0)) if x1 > x0 else 0.0
            return y0 + t * (y1 - y0)
    return pts[-1][1]


def findings(agg: Dict[Tuple[str, str], dict], sizes: List[str]) -> List[str]:
    """One line per claim of the paper, true/false from our numbers (or n/a)."""
    lines = []

    def g(m, s):
        return agg.get((m, s))

    def num(m, s):
        a = g(m, s)
        return f"{a['mean']:.3f}" if a else "–"

    def pp(m, i=0):
        p = PAPER.get(m, {}).get("bpb")
        return f"{p[i]:.2f}" if p else "–"

    def verdict(ok: Optional[bool]) -> str:
        return "n/a" if ok is None else ("**true**" if ok else "**false**")

    def below(a) -> float:
        return 1.0 - a["mean"] / a["uniform"]

    def vs_uniform(a) -> str:
        x = 100 * below(a)
        return f"{x:.2f}% below" if x >= 0 else f"{-x:.2f}% above"

    have_sizes = lambda m: [s for s in sizes if g(m, s)]  # noqa: E731
    # 1, 2: AC and StaticAC stay at their uniform baseline
    for m in ("ac256", "staticac256", "ac65k", "staticac65k"):
        ss = have_sizes(m)
        if not ss:
            continue
        ok = all(below(g(m, s)) < LEARN_MARGIN for s in ss)
        detail = "; ".join(f"{s}: {g(m, s)['mean']:.3f} vs uniform {g(m, s)['uniform']:.3f} "
                           f"({vs_uniform(g(m, s))})" for s in ss)
        pu = PAPER[m]["uniform"]
        lines.append(f"{verdict(ok)}: {parse_method(m).label} stays at its uniform baseline (less than "
                     f"{100 * LEARN_MARGIN:.0f}% below it) at every size — {detail}. Paper: {pp(m)} vs {pu:.3f} "
                     f"at 25m "
                     f"to 2b.")
    # 3: EqualInfoAC[b=16, v=256] learns below its uniform baseline and improves with size
    m = "eq16_256"
    ss = have_sizes(m)
    if ss:
        ok = all(below(g(m, s)) >= LEARN_MARGIN for s in ss)
        detail = "; ".join(f"{s}: {g(m, s)['mean']:.3f} vs uniform {g(m, s)['uniform']:.3f} "
                           f"({vs_uniform(g(m, s))})" for s in ss)
        lines.append(f"{verdict(ok)}: EqualInfoAC[b=16, v=256] learns: at least {100 * LEARN_MARGIN:.0f}% below its "
                     f"uniform baseline at every size — {detail}. Paper: 1.47 (25m) vs 3.008.")
        if len(ss) > 1:
            means = [g(m, s)["mean"] for s in ss]
            ok = all(b < a for a, b in zip(means, means[1:]))
            lines.append(f"{verdict(ok)}: EqualInfoAC[b=16, v=256] improves with size — "
                         + " → ".join(f"{s} {x:.3f}" for s, x in zip(ss, means))
                         + ". Paper: 1.47 → 1.23 → 1.09 → "
                         "0.99 (25m → 2b).")
        else:
            lines.append("n/a: EqualInfoAC[b=16, v=256] improves with size (one size only).")
    # 4: GZip learns but is worse than Bytes, SentencePiece and EqualInfoAC[b=16]
    m = "gzip256"
    ss = have_sizes(m)
    if ss:
        learns = all(below(g(m, s)) >= LEARN_MARGIN for s in ss)
        others = [o for o in ("bytes", "spm", "eq16_256") if any(g(o, s) for s in ss)]
        worse = all(g(m, s)["mean"] > g(o, s)["mean"] for s in ss for o in others if g(o, s))
        detail = "; ".join(f"{s}: GZip {g(m, s)['mean']:.3f} (uniform {g(m, s)['uniform']:.3f}), "
                           + ", ".join(f"{parse_method(o).label} {num(o, s)}" for o in others) for s in ss)
        lines.append(f"{verdict(learns and worse)}: GZip[v=256] learns (at least {100 * LEARN_MARGIN:.0f}% below its "
                     f"uniform baseline: {'yes' if learns else 'no'}) but is worse than "
                     f"{', '.join(parse_method(o).label for o in others) or '–'} ({'yes' if worse else 'no'}) — "
                     f"{detail}. Paper (25m): GZip {pp('gzip256')} vs Bytes {pp('bytes')}, SentencePiece {pp('spm')}, "
                     f"EqualInfoAC[b=16, v=256] {pp('eq16_256')}.")
    # 5: SentencePiece is best per parameter (lowest bits/byte at every size)
    if have_sizes("spm"):
        oks = []
        for s in have_sizes("spm"):
            best = min((a["mean"], k[0]) for k, a in agg.items() if k[1] == s)
            oks.append(best[1] == "spm")
        parts = []
        for s in have_sizes("spm"):
            oth = [(a["mean"], k[0]) for k, a in agg.items() if k[1] == s and k[0] != "spm"]
            if oth:
                b, bm = min(oth)
                parts.append(f"{s}: SentencePiece {num('spm', s)}, best other {parse_method(bm).label} {b:.3f}")
        lines.append(f"{verdict(all(oks))}: SentencePiece has the lowest bits/byte at every model size (best per "
                     f"non-embedding parameter, as the paper counts them) — {'; '.join(parts)}. Paper (25m): "
                     f"1.12, next EqualInfoAC[b=16, v=65k] 1.25.")
    # 6: EqualInfoAC[b=16, v=65k] beats Bytes per FLOP
    if have_sizes("eq16_65k") and have_sizes("bytes"):
        bx = [g("bytes", s)["flops"] for s in have_sizes("bytes")]
        by = [g("bytes", s)["mean"] for s in have_sizes("bytes")]
        bx2 = [g("bytes", s)["flops_m2"] for s in have_sizes("bytes")]
        parts, oks, oks2 = [], [], []
        for s in have_sizes("eq16_65k"):
            a = g("eq16_65k", s)
            if a["flops"] is None:
                continue
            ref = interp_log(bx, by, a["flops"])
            ref2 = interp_log(bx2, by, a["flops_m2"])
            oks.append(a["mean"] < ref)
            oks2.append(a["mean"] < ref2)
            parts.append(f"{s}: {a['mean']:.3f} at {fmt_si(a['flops'])} FLOPs/byte vs Bytes {ref:.3f} at the same "
                         f"FLOPs/byte (M2 alone: {fmt_si(a['flops_m2'])}, Bytes {ref2:.3f})")
        if oks:
            lines.append(f"{verdict(all(oks))}: EqualInfoAC[b=16, v=65k] beats Bytes per FLOP (lower bits/byte than "
                         f"the Bytes curve at the same FLOPs/byte, M1 included; the Bytes curve is piecewise linear in "
                         f"log FLOPs between its sizes and flat beyond them) — {'; '.join(parts)}; counting M2's "
                         f"FLOPs "
                         f"only: **{'true' if all(oks2) else 'false'}**. Paper: 1.25 at 15.4M vs Bytes 1.29 at 50M "
                         f"(25m).")
    # 7: Fig. 10: the first token of a window is predicted best
    for m in [k for k in sorted({k[0] for k in agg}) if k.startswith("eq")]:
        ss = [s for s in have_sizes(m) if len(g(m, s)["acc_pos"]) > 1]
        if not ss:
            continue
        ok = all(g(m, s)["acc_pos"][0] > max(g(m, s)["acc_pos"][1:]) for s in ss)
        detail = "; ".join(f"{s}: " + " / ".join(f"{x:.3f}" for x in g(m, s)["acc_pos"]) for s in ss)
        lines.append(f"{verdict(ok)}: {parse_method(m).label}: the first token of a window is predicted more "
                     f"accurately than the later ones (accuracy by window position, final evaluation) — {detail}. "
                     f"Paper (Fig. 8/10): learning proceeds left to right within a window.")
    return lines


def make_plots(agg, results, cfg_rec: dict, plot_dir: str, logs: Dict[str, List[dict]]) -> Dict[str, str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(plot_dir, exist_ok=True)
    files = {}
    methods = list(dict.fromkeys(r["method"] for r in results))
    sizes = cfg_rec["sizes"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    col = {m: colors[i % len(colors)] for i, m in enumerate(methods)}

    # Fig. 3: bits/byte vs FLOPs/byte
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for m in methods:
        pts = [(agg[(m, s)]["flops"], agg[(m, s)]["mean"], agg[(m, s)]["std"] or 0.0, agg[(m, s)]["uniform"])
               for s in sizes if (m, s) in agg and agg[(m, s)]["flops"]]
        if not pts:
            continue
        x, y, e, u = zip(*pts)
        ax.errorbar(x, y, yerr=e, marker="o", color=col[m], label=parse_method(m).label, capsize=3)
        ax.plot(x, u, linestyle=":", marker="x", color=col[m], alpha=0.6)
        p = PAPER.get(m, {})
        if p.get("flops"):
            px = [p["flops"][s] for s in PAPER_SIZES if s in p["flops"]]
            py = [p["bpb"][PAPER_SIZES.index(s)] for s in PAPER_SIZES if s in p["flops"]]
            ax.plot(px, py, linestyle="--", marker="o", mfc="none", color=col[m], alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs/byte (M2, plus M1 for AC and EqualInfoAC)")
    ax.set_ylabel("bits/byte (eval)")
    ax.set_title("M2 bits/byte vs FLOPs/byte (Fig. 3 style)\nfilled: ours (sizes " + ", ".join(sizes)
                 + "); x/dotted: uniform baseline; hollow/dashed: paper 25m and 2b", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    files["fig3"] = os.path.join(plot_dir, "bpb_vs_flops.png")
    fig.savefig(files["fig3"], dpi=110)
    plt.close(fig)

    # Fig. 10: accuracy by window position over training
    eq = [m for m in methods if parse_method(m).family == "eq" and parse_method(m).window_bits
          // parse_method(m).token_bits > 1]
    if eq:
        fig, axes = plt.subplots(1, len(eq), figsize=(6.5 * len(eq), 4.5), squeeze=False)
        for ax, m in zip(axes[0], eq):
            for si, s in enumerate(sizes):
                rs = [r for r in results if r["method"] == m and r["size"] == s and r["seed"] == 0]
                if not rs:
                    continue
                log = [l for l in logs.get(rs[0]["hash"], []) if l.get("valid_accuracy_by_window_position")]
                if not log:
                    continue
                x = [l["tokens_seen"] for l in log]
                acc = np.array([l["valid_accuracy_by_window_position"] for l in log], dtype=float)
                for pos in range(acc.shape[1]):
                    ax.plot(x, acc[:, pos], marker=".", linestyle=["-", "--", ":", "-."][pos % 4],
                            color=colors[si % len(colors)], label=f"{s}, token {pos + 1} of the window")
            ax.axhline(1 / 256, color="grey", linewidth=0.8, linestyle=":", label="chance (1/256)")
            ax.set_xlabel("training tokens seen")
            ax.set_ylabel("eval accuracy")
            ax.set_title(f"{parse_method(m).label}: accuracy by position in the window (Fig. 10 style)", fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        files["fig10"] = os.path.join(plot_dir, "window_accuracy.png")
        fig.savefig(files["fig10"], dpi=110)
        plt.close(fig)

    # learning curves (largest size, seed 0)
    fig, ax = plt.subplots(figsize=(8.5, 5))
    s = sizes[-1]
    for m in methods:
        rs = [r for r in results if r["method"] == m and r["size"] == s and r["seed"] == 0]
        if not rs:
            continue
        log = [l for l in logs.get(rs[0]["hash"], []) if l.get("valid_bits_per_byte") is not None]
        if not log:
            continue
        ax.plot([max(1, l["tokens_seen"]) for l in log], [l["valid_bits_per_byte"] for l in log], marker=".",
                color=col[m], label=parse_method(m).label)
        ax.axhline(log[-1]["valid_uniform_bits_per_byte"], color=col[m], linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training tokens seen")
    ax.set_ylabel("eval bits/byte")
    ax.set_title(f"learning curves, {s}, seed 0 (dotted: uniform baselines; periodic points on the first "
                 f"{cfg_rec['eval_examples']} eval examples, the last on all)", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    files["curves"] = os.path.join(plot_dir, "learning_curves.png")
    fig.savefig(files["curves"], dpi=110)
    plt.close(fig)
    return files


def opt(x: Optional[float], spec: str) -> str:
    return "–" if x is None else format(x, spec)


def _text_block(s: str, limit: int = 700) -> str:
    s = "".join(c if (c in "\n\t" or c.isprintable()) else "\ufffd" for c in s)
    if len(s) > limit:
        s = s[:limit] + " […]"
    return "```text\n" + s.replace("```", "`\u200b``") + "\n```"


def write_report(out: str, report_out: str) -> str:
    exp = read_json(os.path.join(out, "experiment.json"))
    if exp is None:
        raise SystemExit(f"experiment: {out}/experiment.json missing: nothing to report")
    cfg = exp["config"]
    all_results = read_jsonl(os.path.join(out, "results.jsonl"))
    plan = set(exp.get("plan") or [])
    latest: Dict[Tuple[str, str, int], dict] = {}
    for r in all_results:
        if plan and r["hash"] not in plan:
            continue
        latest[(r["method"], r["size"], r["seed"])] = r
    results = list(latest.values())
    if not results:
        raise SystemExit(f"experiment: no results in {out}/results.jsonl")
    order = {m: i for i, m in enumerate(cfg["methods"])}
    results.sort(key=lambda r: (order.get(r["method"], 99), cfg["sizes"].index(r["size"])
                                if r["size"] in cfg["sizes"] else 99, r["seed"]))
    agg = aggregate(results)
    logs = {r["hash"]: read_jsonl(os.path.join(REPO, r["dir"], "log.jsonl") if not os.path.isabs(r["dir"])
                                  else os.path.join(r["dir"], "log.jsonl")) for r in results}
    plot_dir = os.path.splitext(report_out)[0]
    plots = make_plots(agg, results, cfg, plot_dir, logs)
    rd = os.path.dirname(os.path.abspath(report_out))
    relp = lambda p: os.path.relpath(p, rd)  # noqa: E731
    sessions = exp.get("sessions", [])
    wall = sum(s.get("wall_s", 0) for s in sessions)
    cpu_train = sum((r.get("train_s") or 0) + (r.get("eval_s") or 0) for r in results)
    shards_s = sum(s.get("shards_s", 0) for s in sessions)
    mach = sessions[-1]["machine"] if sessions else machine_info()
    loads = [s["machine"].get("load") for s in sessions if s.get("machine", {}).get("load")]
    d = exp["data"]
    models = exp.get("models", {})
    L = []
    L.append("# M2 over compressed tokens: the learnability experiment (paper Table 15, Fig. 3, Fig. 10)")
    L.append("")
    smoke = " **SMOKE CONFIGURATION: a pipeline check, not a result.**" if cfg.get("smoke") else ""
    L.append(f"Generated by `{exp.get('command', 'training/m2/experiment.py')}` (report: `/usr/bin/python3 "
             f"training/m2/experiment.py --report --out {rel(out)} --report-out {rel(report_out)}`). Do not edit "
             f"by hand.{smoke}")
    L.append("")
    L.append("## Setup")
    L.append("")
    L.append(f"- **Machine:** {mach.get('cpu')}, {mach.get('cores')} cores, {mach.get('os')}, Python "
             f"{mach.get('python')}, torch {mach.get('torch')} (CPU). Load average at the session starts: "
             f"{', '.join(str(l[0]) for l in loads) or '–'} (other jobs shared the machine; times are pessimistic).")
    stopped = sum(1 for s in sessions if s.get("interrupted"))
    L.append(f"- **Wall time:** {fmt_hms(wall)} over {len(sessions)} session(s)"
             f"{f' ({stopped} stopped and continued by the next)' if stopped else ''} (shards {fmt_hms(shards_s)}); CPU "
             f"time of the M2 runs (training + evaluation, 1 thread each) {cpu_train / 3600:.2f} h; "
             f"{cfg['jobs']} run(s) at a time on {cfg['threads']} thread(s)"
             + (f"; estimated before the first session: {fmt_hms(sessions[0]['estimate_wall_s'])} wall, "
                f"{sessions[0]['estimate_cpu_s'] / 3600:.2f} CPU-hours" if sessions and "estimate_wall_s" in sessions[0]
                else "") + ".")
    L.append(f"- **Data:** training text: the first {d['train']['bytes']:,} bytes of `{d['train']['source']}` "
             f"(cut at a document boundary); evaluation: the first {d['eval']['bytes']:,} bytes of "
             f"`{d['eval']['source']}` ({math.ceil(d['eval']['bytes'] / cfg['example_bytes'])} examples of up to "
             f"{cfg['example_bytes']:,} bytes). Every method's examples are the same {cfg['example_bytes']:,}-byte "
             f"pieces{'' if cfg['example_bytes'] == EXAMPLE_BYTES else ' (the paper: 10,240)'}, each encoded on "
             f"its own.")
    if "m1" in models:
        m1 = models["m1"]
        L.append(f"- **M1:** `{rel(m1['path'])}` (SHA-256 `{m1['sha256'][:16]}`, "
                 f"{fmt_si(m1.get('non_embedding_parameters'))} non-embedding parameters, config "
                 f"`{json.dumps(m1.get('config'), separators=(',', ':'))}`)"
                 + (f"; its AC code on the eval text: {agg[('ac256', cfg['sizes'][0])]['uniform']:.3f} bits/byte "
                    f"(the paper's M1: 1.457)" if ("ac256", cfg["sizes"][0]) in agg else "") + ".")
    if "spm" in models:
        L.append(f"- **SentencePiece:** `{rel(models['spm']['path'])}` ({models['spm']['vocab_size']:,} pieces); "
                 f"**StaticAC:** `eqinfo train-unigram` on the training text; **GZip:** zlib level 6, header and "
                 f"checksum kept, each example on its own.")
    budget = (f"the same **{cfg['tokens']:,} training tokens** per run" if not cfg.get("budget_minutes") else
              f"**{cfg['budget_minutes']} CPU minutes** per run (compute-matched: tokens differ per run)")
    L.append(f"- **Budget:** {budget} (the paper trains every M2 for the same number of steps and tokens; the "
             f"issue asks for the same token budget at every size), batch {cfg['batch_size']} x {cfg['seq_len']} "
             f"tokens, AdamW lr {cfg['lr']} (5% warmup, cosine to 10%), z-loss 1e-4, {cfg['mlp']} MLP, untied "
             f"embeddings; sizes {', '.join(cfg['sizes'])} (training/m2/model.py presets; the paper's smallest is "
             f"25m); seeds {cfg['seeds']} for {cfg['sizes'][0]}, {cfg['seeds_larger']} for larger sizes.")
    L.append("- **Metrics** (training/m2/evaluate.py): bits/byte = token NLL / ln 2 / true bytes over every token "
             "of every eval example; uniform = log2(v) x tokens/bytes; FLOPs/byte = 2 x M2 non-embedding params / "
             "(bytes/token) + 2 x M1 non-embedding params for AC and EqualInfoAC.")
    L.append("")
    L.append("## Results (paper Table 15 beside ours)")
    L.append("")
    L.append("| method | M2 | params | seeds | bits/byte | uniform | paper 25m / 2b | FLOPs/byte | paper FLOPs/byte "
             "25m | bytes/token | paper | tokens/run | text seen (epochs) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in cfg["methods"]:
        p = PAPER.get(m, {})
        for s in cfg["sizes"]:
            a = agg.get((m, s))
            if not a:
                continue
            bpb = f"{a['mean']:.3f}" + (f" ± {a['std']:.3f}" if a["std"] is not None else "")
            pb = f"{p['bpb'][0]:.2f} / {p['bpb'][3]:.2f}" if p.get("bpb") else "–"
            pf = fmt_si(p["flops"]["25m"]) if p.get("flops") else "–"
            ep = f" ({a['epochs']:.2f})" if a.get("epochs") is not None else ""
            L.append(f"| {parse_method(m).label} | {s} | {fmt_si(a['m2_params'])} | {a['n']} | {bpb} | "
                     f"{a['uniform']:.3f} ({opt(p.get('uniform'), '.3f')}) | {pb} | {fmt_si(a['flops'])} | "
                     f"{pf} | {a['bpt']:.2f} | {opt(p.get('bpt'), '.2f')} | {a['tokens']:,} | "
                     f"{fmt_si(a['bytes_seen'])}B{ep} |")
    L.append("")
    L.append("bits/byte: mean ± standard deviation over seeds (one seed: no ±). uniform: ours (the paper's Table 3 "
             "in brackets). bytes/token: ours on the eval text vs the paper's Table 12 (C4). params: M2 non-embedding "
             "parameters. text seen: training bytes the run's tokens stand for (estimated from the training "
             "shards' mean bytes/token).")
    L.append("")
    L.append(f"![bits/byte vs FLOPs/byte]({relp(plots['fig3'])})")
    L.append("")
    L.append("## Findings (the paper's claims, checked against the numbers above)")
    L.append("")
    for f in findings(agg, cfg["sizes"]):
        L.append(f"- {f}")
    L.append("")
    params = [a["m2_params"] for a in agg.values() if a.get("m2_params")]
    smaller = "much"
    if params:
        lo, hi = PAPER_25M_PARAMS / max(params), PAPER_25M_PARAMS / min(params)
        smaller = f"{lo:.0f}x" if lo == hi else f"{lo:.0f}-{hi:.0f}x"
    L.append(f"The thresholds are fixed in the script: \"stays at the uniform baseline\" means less than "
             f"{100 * LEARN_MARGIN:.0f}% below it, \"learns\" at least {100 * LEARN_MARGIN:.0f}% below. Our models "
             f"are {smaller} smaller than the paper's smallest (25m: {fmt_si(PAPER_25M_PARAMS)} non-embedding "
             f"parameters) and see about "
             f"{fmt_si(max(a['tokens'] for a in agg.values()))} tokens instead of 26G, and our M1 is not the "
             f"paper's, so these are small-scale checks of the trends, not a reproduction of the numbers.")
    L.append("")
    if "fig10" in plots:
        L.append("## Accuracy by position in the window (Fig. 10 style)")
        L.append("")
        L.append("Eval accuracy of each token position within an EqualInfoAC window over training (seed 0; periodic "
                 f"evaluations on the first {cfg['eval_examples']} eval example(s), the last point on all).")
        L.append("")
        L.append(f"![accuracy by window position]({relp(plots['fig10'])})")
        L.append("")
    L.append("## Learning curves")
    L.append("")
    L.append(f"![learning curves]({relp(plots['curves'])})")
    L.append("")
    samples = exp.get("samples") or []
    if samples:
        L.append("## Samples (decoded to text)")
        L.append("")
        L.append("Drawn with `training/m2/sample.py` (temperature 0.8, KV cache) from the largest models, seed 0, "
                 "and decoded with eqinfo's bare decoding (EqualInfoAC: every whole window decodes on its own).")
        L.append("")
        for smp in samples:
            L.append(f"**{parse_method(smp['method']).label}, {smp['size']}**, {smp['tokens']} tokens from BOS:")
            L.append("")
            L.append(_text_block(smp["free"]))
            L.append("")
            L.append(f"Prompted with the first {smp['prompt_tokens']} tokens of eval example 0 "
                     f"({len(smp['prompt'].encode('utf-8'))} bytes: "
                     f"`{smp['prompt'][:80].replace('`', ' ').replace(chr(10), '⏎')}`…), prompt + continuation:")
            L.append("")
            L.append(_text_block(smp["prompted"]))
            L.append("")
            if smp.get("random") is not None and parse_method(smp["method"]).family == "eq":
                L.append(f"For comparison, {smp['tokens']} uniformly random tokens decoded the same way (what an M2 "
                         f"that learned nothing would give: M1 turns any bits into M1-like text, so compare the two):")
                L.append("")
                L.append(_text_block(smp["random"]))
                L.append("")
    L.append("## Runs")
    L.append("")
    L.append("| method | size | seed | steps | tokens seen | bits/byte | accuracy | train s | eval s | run |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        e = r["eval"]
        L.append(f"| {r['label']} | {r['size']} | {r['seed']} | {r['steps']} | {r['tokens_seen']:,} | "
                 f"{e['bits_per_byte']:.4f} | {e.get('accuracy', float('nan')):.3f} | {r.get('train_s') or 0:.0f} | "
                 f"{r.get('eval_s') or 0:.0f} | `{r['dir']}` |")
    L.append("")
    text = "\n".join(L) + "\n"
    os.makedirs(rd, exist_ok=True)
    with open(report_out, "w") as f:
        f.write(text)
    return text


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
    cli = find_cli(args.cli)
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
    command = "/usr/bin/python3 training/m2/experiment.py " + " ".join(session["argv"])
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
