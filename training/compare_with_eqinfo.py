#!/usr/bin/python3
"""Compares eqinfo's C++ M1 with the PyTorch reference on one input.

    compare_with_eqinfo.py MODEL INPUT DUMP [--tolerance 1e-4] [--json OUT]

Runs ``DUMP MODEL INPUT OUT.f32`` (DUMP may carry its own arguments, split
shell-style, e.g. "build/m1_dump --threads 1"). OUT.f32 must hold float32
little-endian [n, 256] with n = size of INPUT: row i is the normalised
softmax distribution of byte i given BOS + the preceding bytes of its block.
Blocks follow docs/m1.md's plain-AC rule: INPUT is cut into blocks of
context bytes (--block-bytes) from its start and the model restarts from BOS
at each block; for inputs shorter than the block this is simply BOS + bytes[0:i].

The reference is softmax(M1.forward([BOS] + block[:-1])) in PyTorch, float32
forward and float64 softmax. Reported: max |p_cpp - p_ref| over all n*256
probabilities, max relative difference |p_cpp - p_ref| / p_ref over
probabilities with p_ref >= 1e-30 (below that the C++ exp flushes to zero),
mean and max |log p_cpp - log p_ref| of the actual next bytes, and how often
the argmax agrees.

Rows that do not sum to 1 (within 1e-3) are reported and normalised before
the comparison, so raw exp(logit - max) dumps can be checked too.

Tolerance: exit 1 if the max absolute difference exceeds --tolerance (default
1e-4). Both sides compute in float32 but sum in different orders (the C++ in
index order without FMA, PyTorch via blocked BLAS), so logits differ by a few
float32 ulps of the activations (~1e-6 relative); probabilities are <= 1, so a
correct implementation lands around 1e-6 or below, and 1e-4 leaves two orders
of magnitude of margin for random models with large activations while still
catching any wrong bucket, transpose, norm or off-by-one position (those move
probabilities by 1e-2 or more). Exit 2 on usage or dump errors.

--code-length CLI also checks what the coder makes of those probabilities: CLI
(an eqinfo binary) encodes INPUT with plain AC (N=16, M1's blocks), and its
actual code length in bits must be within --code-length-tolerance (default 1%)
of the reference cross-entropy -sum log2 p_ref(actual byte). The difference is
the coder's termination and token padding (<= 48 bits per input) plus the
quantisation of the probabilities to P bits, so on a trained model and a few
KB of text a correct coder lands well under 1 %, while feeding the coder the
wrong byte's probabilities, a wrong block rule or a coarse CDF does not.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from eqinfo_m1 import BOS, load_m1  # noqa: E402


def reference_probs(model, config, data: bytes, device="cpu", block_bytes=None) -> np.ndarray:
    """float64 [n, 256] under the plain-AC block rule (blocks of block_bytes, default context)."""
    out = np.zeros((len(data), 256), dtype=np.float64)
    block = block_bytes or config.context
    if not 1 <= block <= config.context:
        raise ValueError(f"block_bytes must be in [1, context = {config.context}]")
    with torch.inference_mode():
        for start in range(0, len(data), block):
            chunk = data[start:start + block]
            x = torch.tensor([[BOS] + list(chunk[:-1])], device=device)
            logits = model(x)[0].double()
            out[start:start + len(chunk)] = torch.softmax(logits, -1).cpu().numpy()
    return out


def compare(p_cpp: np.ndarray, p_ref: np.ndarray, data: bytes) -> dict:
    n = len(data)
    absdiff = np.abs(p_cpp - p_ref)
    mask = p_ref >= 1e-30
    rel = absdiff[mask] / p_ref[mask]
    idx = np.arange(n)
    actual = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    with np.errstate(divide="ignore"):
        lc, lr = np.log(p_cpp[idx, actual]), np.log(p_ref[idx, actual])
    dlog = np.abs(lc - lr)
    worst = np.unravel_index(np.argmax(absdiff), absdiff.shape) if n else (0, 0)
    return {
        "bytes": n,
        "max_abs_diff": float(absdiff.max()) if n else 0.0,
        "worst_position": [int(worst[0]), int(worst[1])],
        "max_rel_diff": float(rel.max()) if rel.size else 0.0,
        "mean_abs_log_diff_actual": float(dlog.mean()) if n else 0.0,
        "max_abs_log_diff_actual": float(dlog.max()) if n else 0.0,
        "argmax_agreement": float((p_cpp.argmax(-1) == p_ref.argmax(-1)).mean()) if n else 1.0,
        "max_row_sum_error": float(np.abs(p_cpp.sum(-1) - 1).max()) if n else 0.0,
        "ref_bits_per_byte": float(-lr.mean() / np.log(2)) if n else 0.0,
    }


def code_length_check(cli: str, model: str, input_path: str, ce_bits: float, tolerance: float) -> dict:
    """eqinfo's plain-AC code length of input_path against the reference cross-entropy."""
    cmd = shlex.split(cli) + ["stats", "--method", "ac", "-N", "16", "--model", model, input_path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    header = out[1].split()
    tokens = int(out[2].split()[header.index("tokens")])
    ac_bits = 16 * tokens
    overhead = (ac_bits - ce_bits) / ce_bits if ce_bits > 0 else float("inf")
    return {"ac_bits": ac_bits, "cross_entropy_bits": ce_bits, "ac_overhead": overhead,
            "code_length_pass": bool(abs(overhead) <= tolerance)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("dump", help="dump program (plus arguments); called as DUMP MODEL INPUT OUT.f32")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max abs probability difference (default 1e-4)")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--keep", help="keep the dump output at this path")
    ap.add_argument("--block-bytes", type=int, default=0,
                    help="bytes per plain-AC block (default: context, as docs/m1.md and m1_model do)")
    ap.add_argument("--code-length", metavar="CLI",
                    help="also compare the eqinfo binary CLI's plain-AC code length with the cross-entropy")
    ap.add_argument("--code-length-tolerance", type=float, default=0.01,
                    help="max |AC bits - cross-entropy bits| / cross-entropy bits (default 0.01)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    data = open(a.input, "rb").read()
    model, config, meta = load_m1(a.model)
    model.to(a.device)
    with tempfile.TemporaryDirectory() as tmp:
        out_path = a.keep or os.path.join(tmp, "probs.f32")
        cmd = shlex.split(a.dump) + [a.model, a.input, out_path]
        r = subprocess.run(cmd)
        if r.returncode != 0:
            print(f"compare_with_eqinfo: {' '.join(cmd)} exited with {r.returncode}", file=sys.stderr)
            return 2
        raw = np.fromfile(out_path, dtype="<f4")
    if raw.size != len(data) * 256:
        print(f"compare_with_eqinfo: dump wrote {raw.size} floats, expected {len(data)} x 256", file=sys.stderr)
        return 2
    p_cpp = raw.reshape(len(data), 256).astype(np.float64)
    row_err = float(np.abs(p_cpp.sum(-1) - 1).max()) if len(data) else 0.0
    if row_err > 1e-3:  # e.g. raw exp(logit - max): compare the distributions anyway
        print(f"note: dump rows are not normalised (max |sum - 1| = {row_err:.3g}); normalising them")
        p_cpp = p_cpp / p_cpp.sum(-1, keepdims=True)
    p_ref = reference_probs(model, config, data, a.device, a.block_bytes or None)
    rep = compare(p_cpp, p_ref, data)
    rep["max_row_sum_error"] = row_err
    rep.update({"model": a.model, "input": a.input, "config": meta["config"], "tolerance": a.tolerance})
    rep["pass"] = bool(np.isfinite(p_cpp).all() and rep["max_abs_diff"] <= a.tolerance)
    for k in ("bytes", "max_abs_diff", "worst_position", "max_rel_diff", "mean_abs_log_diff_actual",
              "max_abs_log_diff_actual", "argmax_agreement", "max_row_sum_error", "ref_bits_per_byte"):
        print(f"{k:26s} {rep[k]}")
    if a.code_length:
        rep.update(code_length_check(a.code_length, a.model, a.input, rep["ref_bits_per_byte"] * len(data),
                                     a.code_length_tolerance))
        rep["pass"] = rep["pass"] and rep["code_length_pass"]
        print(f"{'ac_bits':26s} {rep['ac_bits']}  (cross-entropy {rep['cross_entropy_bits']:.1f} bits, "
              f"{100 * rep['ac_overhead']:+.3f} %; {'PASS' if rep['code_length_pass'] else 'FAIL'} "
              f"at {100 * a.code_length_tolerance:g} %)")
    print(("PASS" if rep["pass"] else "FAIL") + f": max abs diff {rep['max_abs_diff']:.3g} "
          f"{'<=' if rep['pass'] else '>'} tolerance {a.tolerance:g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=1)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
