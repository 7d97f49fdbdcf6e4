"""The command-line flags that several training scripts share, defined once.

train_m1.py and m2/train_m2.py share the optimiser, schedule, evaluation, checkpoint and
hardware flags; train_m1.py and make_random_m1.py the M1 shape flags (whose defaults are
M1Config's, the paper's 3m); m2/train_m2.py takes the same shape flags as overrides of its
preset. Each script adds the flags it takes to its own argument groups, in its own order,
with `add_flags(group, names, **overrides)`: a flag's type, metavar and choices are fixed
here; its default and help may differ by script (e.g. --steps is 2000 steps for M1, a token
budget for M2) and are given as overrides keyed by the flag's destination:

    add_flags(g, ["--steps", "--lr"], steps=dict(default=2000, help="total optimiser steps"))
"""

from __future__ import annotations

import argparse
from typing import Dict, Iterable

from training.eqinfo_m1 import M1Config

_M1 = M1Config()

#: flag -> add_argument keywords (the base default and help; scripts may override them)
FLAGS: Dict[str, dict] = {
    # M1 shape (M1Config; the defaults are the paper's 3m)
    "--layers": dict(type=int, default=_M1.layers),
    "--d-model": dict(type=int, default=_M1.d_model),
    "--heads": dict(type=int, default=_M1.heads),
    "--head-dim": dict(type=int, default=_M1.head_dim),
    "--d-ff": dict(type=int, default=_M1.d_ff),
    "--context": dict(type=int, default=_M1.context, help="positions attended over, BOS included"),
    "--relative-buckets": dict(type=int, default=_M1.relative_buckets),
    "--relative-max-distance": dict(type=int, default=_M1.relative_max_distance),
    "--init-std": dict(type=float, default=0.02),
    "--seq-len": dict(type=int),
    # optimisation
    "--steps": dict(type=int),
    "--lr": dict(type=float, default=1e-3),
    "--warmup-steps": dict(type=int),
    "--final-lr-frac": dict(type=float, default=0.1, help="cosine decays to this fraction of --lr"),
    "--beta1": dict(type=float, default=0.9),
    "--beta2": dict(type=float, default=0.98),
    "--weight-decay": dict(type=float, default=0.01, help="on weight matrices only"),
    "--clip": dict(type=float, default=1.0),
    "--z-loss": dict(type=float, default=1e-4),
    "--seed": dict(type=int, default=0),
    # evaluation and logging
    "--eval-every": dict(type=int, help="steps between validations (0: only at the end)"),
    "--log": dict(help="JSONL learning curve (default: OUT/log.jsonl)"),
    "--no-progress": dict(action="store_true"),
    # checkpoints
    "--out": dict(required=True),
    "--ckpt-every": dict(type=int, help="steps between checkpoints (0: only at the end)"),
    "--stop-at": dict(type=int, default=0, metavar="STEP"),
    "--time-limit": dict(type=float, default=0, metavar="SECONDS"),
    "--resume": dict(nargs="?", const="auto", default=None, metavar="CKPT",
                     help="continue from CKPT (default: OUT/checkpoint.pt)"),
    # hardware
    "--device": dict(),
    "--threads": dict(type=int, default=0),
    "--amp": dict(choices=["none", "bf16"], default="none"),
}

#: the M1 shape flags, in M1Config's order
M1_SHAPE = ["--layers", "--d-model", "--heads", "--head-dim", "--d-ff", "--context", "--relative-buckets",
            "--relative-max-distance"]
#: the optimiser flags of train_m1.py and m2/train_m2.py (after --steps)
OPTIMISER = ["--lr", "--warmup-steps", "--final-lr-frac", "--beta1", "--beta2", "--weight-decay", "--clip",
             "--z-loss", "--seed"]
#: the session flags of train_m1.py and m2/train_m2.py
SESSION = ["--stop-at", "--time-limit", "--resume"]


def add_flags(group, names: Iterable[str], **overrides: dict) -> None:
    """Adds the shared flags `names` to `group` (an ArgumentParser or one of its groups);
    overrides[dest] updates a flag's keywords (help=None: no help text)."""
    for name in names:
        kw = dict(FLAGS[name])
        kw.update(overrides.get(name[2:].replace("-", "_"), {}))
        if kw.get("help", "") is None:
            del kw["help"]
        group.add_argument(name, **kw)


def m1_config_from_args(args, norm_epsilon: float = _M1.norm_epsilon) -> M1Config:
    """The M1Config of the shape flags, validated."""
    c = M1Config(layers=args.layers, d_model=args.d_model, heads=args.heads, head_dim=args.head_dim,
                 d_ff=args.d_ff, context=args.context, relative_buckets=args.relative_buckets,
                 relative_max_distance=args.relative_max_distance, norm_epsilon=norm_epsilon)
    c.validate()
    return c


def given_flags(parser: argparse.ArgumentParser, argv) -> set:
    """The destinations of the flags given on the command line (not defaulted)."""
    for a in parser._actions:
        a.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))
