#!/usr/bin/python3
"""Compares eqinfo's C++ M1 with the PyTorch integer reference on one input, exactly.

    /usr/bin/python3 -m training.compare_with_eqinfo MODEL INPUT DUMP [--precision P] [--json OUT] [--code-length CLI]

MODEL is a format version 2 M1 file (docs/m1-integer.md). Runs
``DUMP MODEL INPUT OUT.u32 --precision P`` (DUMP may carry its own arguments,
split shell-style, e.g. "build/tools/eqinfo m1-dump"). OUT.u32 must hold
little-endian uint32 [n, 257] with n = size of INPUT: row i is the integer CDF
(cdf[0] = 0, cdf[256] = 2^P) of byte i given BOS + the preceding bytes of its
block. Blocks follow docs/m1.md's plain-AC rule: INPUT is cut into blocks of
context bytes (--block-bytes) from its start and the model restarts from BOS
at each block; for inputs shorter than the block this is simply BOS + bytes[0:i].

The reference is eqinfo_m1.IntegerM1 (training/eqinfo_m1/integer.py): the
integer numerics of docs/m1-integer.md in PyTorch, whole blocks in one forward
pass, then the spec's "Logits to CDF". The spec defines every operation
(element-wise IEEE steps, exact integer sums), so the C++ on every ISA and the
reference agree bit for bit: the CDFs are compared with ==. Reported: the
number of rows that differ and the first differing (row, symbol) with both
values. Exit 1 on any difference, 2 on usage or dump errors.

--code-length CLI also checks what the coder makes of those CDFs: CLI (an
eqinfo binary) encodes INPUT with plain AC (N=16, M1's blocks, precision P),
and its actual code length in bits must be within --code-length-tolerance
(default 1%) of the reference cross-entropy -sum log2(count / 2^P) of the
actual bytes. The difference is the coder's termination and token padding
(<= 48 bits per input), so on a trained model and a few KB of text a correct
coder lands well under 1 %, while feeding the coder the wrong byte's CDF or a
wrong block rule does not.
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

from training.eqinfo_m1 import cross_entropy_bits, load_integer_m1


def reference_cdfs(model, data: bytes, precision: int = 16, block_bytes=None) -> np.ndarray:
    """int64 [n, 257] under the plain-AC block rule (blocks of block_bytes, default context)."""
    return model.byte_cdfs(data, precision, block_bytes)


def compare(cdf_cpp: np.ndarray, cdf_ref: np.ndarray) -> dict:
    """Exact comparison of two [n, 257] integer CDF arrays."""
    differ = cdf_cpp != cdf_ref
    rows = np.flatnonzero(differ.any(-1))
    rep = {"rows": int(cdf_ref.shape[0]), "differing_rows": int(rows.size), "first_difference": None}
    if rows.size:
        r = int(rows[0])
        s = int(np.flatnonzero(differ[r])[0])
        rep["first_difference"] = {"row": r, "symbol": s, "cpp": int(cdf_cpp[r, s]), "ref": int(cdf_ref[r, s])}
    return rep


def code_length_check(cli: str, model: str, input_path: str, ce_bits: float, tolerance: float,
                      precision: int = 16) -> dict:
    """eqinfo's plain-AC code length of input_path against the reference cross-entropy."""
    cmd = shlex.split(cli) + ["stats", "--method", "ac", "-N", "16", "-P", str(precision), "--model", model,
                              input_path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    out = [l for l in out if l.strip() and not l.startswith("#")]
    header = out[0].split()
    tokens = int(out[1].split()[header.index("tokens")])
    ac_bits = 16 * tokens
    overhead = (ac_bits - ce_bits) / ce_bits if ce_bits > 0 else float("inf")
    return {"ac_bits": ac_bits, "cross_entropy_bits": ce_bits, "ac_overhead": overhead,
            "code_length_pass": bool(abs(overhead) <= tolerance)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("dump", help="dump program (plus arguments); called as DUMP MODEL INPUT OUT.u32 --precision P")
    ap.add_argument("--precision", type=int, default=16, help="CDF precision P in bits (default 16)")
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
    try:
        model, config, meta = load_integer_m1(a.model, device=a.device)
    except ValueError as e:
        print(f"compare_with_eqinfo: {e}", file=sys.stderr)
        return 2
    if meta["format_version"] != "2":
        print(f"note: {a.model} is format version {meta['format_version']}; the reference quantises it row-wise "
              f"(as 'eqinfo m1-quantize'), but eqinfo runs only version 2 files", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        out_path = a.keep or os.path.join(tmp, "cdfs.u32")
        cmd = shlex.split(a.dump) + [a.model, a.input, out_path, "--precision", str(a.precision)]
        r = subprocess.run(cmd)
        if r.returncode != 0:
            print(f"compare_with_eqinfo: {' '.join(cmd)} exited with {r.returncode}", file=sys.stderr)
            return 2
        raw = np.fromfile(out_path, dtype="<u4")
    if raw.size != len(data) * 257:
        print(f"compare_with_eqinfo: dump wrote {raw.size} uint32, expected {len(data)} x 257", file=sys.stderr)
        return 2
    cdf_cpp = raw.reshape(len(data), 257).astype(np.int64)
    cdf_ref = reference_cdfs(model, data, a.precision, a.block_bytes or None)
    rep = compare(cdf_cpp, cdf_ref)
    ce = cross_entropy_bits(cdf_ref, data, a.precision)
    rep.update({"model": a.model, "input": a.input, "config": meta["config"], "precision": a.precision,
                "ref_bits_per_byte": ce / len(data) if data else 0.0})
    rep["pass"] = rep["differing_rows"] == 0
    for k in ("rows", "differing_rows", "first_difference", "ref_bits_per_byte"):
        print(f"{k:20s} {rep[k]}")
    if a.code_length:
        rep.update(code_length_check(a.code_length, a.model, a.input, ce, a.code_length_tolerance, a.precision))
        rep["pass"] = rep["pass"] and rep["code_length_pass"]
        print(f"{'ac_bits':20s} {rep['ac_bits']}  (cross-entropy {rep['cross_entropy_bits']:.1f} bits, "
              f"{100 * rep['ac_overhead']:+.3f} %; {'PASS' if rep['code_length_pass'] else 'FAIL'} "
              f"at {100 * a.code_length_tolerance:g} %)")
    if rep["differing_rows"]:
        f = rep["first_difference"]
        print(f"FAIL: {rep['differing_rows']} of {rep['rows']} CDF rows differ; first at row {f['row']}, "
              f"symbol {f['symbol']}: C++ {f['cpp']}, reference {f['ref']}")
    else:
        print(("PASS" if rep["pass"] else "FAIL") + f": all {rep['rows']} CDF rows identical")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rep, fh, indent=1)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
