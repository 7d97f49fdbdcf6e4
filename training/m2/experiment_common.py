"""What the M2 experiment's run (experiment_run.py) and report (experiment_report.py) share:
the tokenization methods and small helpers. The command is experiment.py."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import sys
from dataclasses import dataclass
from typing import List, Optional

from training.common import REPO, cpu_name

DEFAULT_METHODS = "bytes,spm,ac256,staticac256,gzip256,eq16_256,eq16_65k,eq32_256"


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



def short_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def read_json(path: str, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default



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
    cpu = cpu_name()
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
