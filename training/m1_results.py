#!/usr/bin/python3
"""Writes docs/results/m1.md: what the shipped M1 achieves, measured with eqinfo's C++ coder.

    /usr/bin/python3 -m training.m1_results --model models/m1/m1.safetensors \
        --cli build/release/tools/eqinfo --spm models/spm/en32k.model --data-dir ~/.cache/eqinfo/data

Measures, on the held-out text (other sources than training; per source and in total) and on
the in-domain validation text:
- M1's plain-AC code length in bits/byte (eqinfo stats --method ac: an actual bitstream, M1
  restarting every `context` bytes) against gzip -9, xz -9e and zstd -19 on the same files;
- bytes per token of EqualInfoAC[b=16, N=16] and [b=16, N=8] against the SentencePiece
  Unigram model (training/train_sentencepiece.py, counting as its count_tokens says);
- the learning curve (valid bits/byte against bytes seen, from the run's log.jsonl) as a PNG;
- the sweeps of training/m1_sweep.sh, if their results.tsv is given (copied next to m1.md).
"""
import argparse
import concurrent.futures
import json
import lzma
import os
import shutil
import subprocess
import sys
import time
import zlib

from training.train_sentencepiece import count_tokens

PAPER = {"m1_bpb": 1.457, "eq16_bpt_n16": 5.31, "spm_bpt": 4.28}


def stats(cli, model, method_args, path):
    """(bytes, tokens) of eqinfo stats for one file."""
    out = subprocess.run([cli, "stats", "--model", model] + method_args + [path], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    header, row = out[1].split(), out[2].split()
    return int(row[header.index("bytes")]), int(row[header.index("tokens")])


def compressed_bits(data: bytes):
    import subprocess as sp
    gz = len(zlib.compress(data, 9)) * 8  # zlib -9: gzip -9's deflate stream without the 18-byte header
    xz = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) * 8
    zs = None
    if shutil.which("zstd"):
        zs = len(sp.run(["zstd", "-19", "--single-thread", "-c", "-q"], input=data, capture_output=True,
                        check=True).stdout) * 8
    return gz, xz, zs


def fmt(x, d=3):
    return "n/a" if x is None else f"{x:,.{d}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--spm", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--log", help="the run's log.jsonl (default: next to --model)")
    ap.add_argument("--sweep", help="training/m1_sweep.sh results.tsv")
    ap.add_argument("--out", default="docs/results/m1.md")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=a.spm)
    out_dir = os.path.dirname(a.out) or "."
    os.makedirs(out_dir, exist_ok=True)
    heldout_dir = os.path.join(a.data_dir, "heldout")
    files = [("held-out: " + f[:-4], os.path.join(heldout_dir, f)) for f in sorted(os.listdir(heldout_dir))]
    files.append(("valid (in-domain)", os.path.join(a.data_dir, "valid.txt")))
    methods = {"ac": ["--method", "ac", "-N", "16"], "eq16": ["--method", "equal-info", "-b", "16", "-N", "16"],
               "eq8": ["--method", "equal-info", "-b", "16", "-N", "8"]}
    t0 = time.time()
    rows = {}
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        futs = {(name, m): pool.submit(stats, a.cli, a.model, args, path)
                for name, path in files for m, args in methods.items()}
        for name, path in files:
            data = open(path, "rb").read()
            gz, xz, zs = compressed_bits(data)
            rows[name] = {"bytes": len(data), "gzip": gz, "xz": xz, "zstd": zs, "spm": count_tokens(sp, data)}
        for (name, m), f in futs.items():
            n, tokens = f.result()
            assert n == rows[name]["bytes"]
            rows[name][m] = tokens
    elapsed = time.time() - t0
    held = [n for n in rows if n.startswith("held-out")]
    total = {k: sum(rows[n][k] for n in held) if all(rows[n][k] is not None for n in held) else None
             for k in ("bytes", "gzip", "xz", "zstd", "spm", "ac", "eq16", "eq8")}
    rows_out = [(n, rows[n]) for n in held] + [("**held-out, all**", total)] + \
        [("valid (in-domain)", rows["valid (in-domain)"])]

    log = a.log or os.path.join(os.path.dirname(a.model), "log.jsonl")
    curve = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
    evals = [r for r in curve if r.get("valid_bpb_windows") is not None]
    if evals:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.4, 4))
        mb = [r["bytes_seen"] / 1e6 for r in evals]
        ax.plot(mb, [r["valid_bpb_windows"] for r in evals], label="first 16 bytes of a window, empty context")
        ax.plot(mb, [r["valid_bpb_context"] for r in evals], label="long context (<= 1024 bytes)")
        ax.set_xscale("log")
        ax.set_ylim(1.5, 4.0)
        ax.set_xlabel("training bytes seen (MB)")
        ax.set_ylabel("valid bits/byte")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "m1_curve.png"), dpi=110)

    def bpb(r, k):
        return None if r[k] is None else (16 * r[k] if k == "ac" else r[k]) / r["bytes"]

    L = []
    L.append("| text | bytes | M1 (AC) | gzip -9 | xz -9e | zstd -19 |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for name, r in rows_out:
        L.append(f"| {name} | {r['bytes']:,} | {fmt(bpb(r, 'ac'))} | {fmt(bpb(r, 'gzip'))} | "
                 f"{fmt(bpb(r, 'xz'))} | {fmt(bpb(r, 'zstd'))} |")
    table_bpb = "\n".join(L)
    L = []
    L.append("| text | EqualInfoAC[b=16, N=16] | EqualInfoAC[b=16, N=8] | SentencePiece 32k | "
             "ratio N=16 / SentencePiece |")
    L.append("|---|---:|---:|---:|---:|")
    for name, r in rows_out:
        b16, b8, s = r["bytes"] / r["eq16"], r["bytes"] / r["eq8"], r["bytes"] / r["spm"]
        L.append(f"| {name} | {b16:.3f} | {b8:.3f} | {s:.3f} | {b16 / s:.3f} |")
    table_bpt = "\n".join(L)
    sweep = ""
    if a.sweep and os.path.exists(a.sweep):
        shutil.copyfile(a.sweep, os.path.join(out_dir, "m1_sweep.tsv"))
        lines = [ln.rstrip("\n").split("\t") for ln in open(a.sweep)]
        head, body = lines[0], lines[1:]
        cols = ["name", "steps", "bytes_seen", "train_s", "valid_bpb_windows", "valid_bpb_context",
                "valid_bpt_N16", "heldout_bpt_N16", "heldout_bpt_N8"]
        idx = [head.index(c) for c in cols]
        L = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for b in body:
            L.append("| " + " | ".join(b[i] for i in idx) + " |")
        sweep = "\n".join(L)
    json.dump({"rows": rows, "total_heldout": total, "elapsed_s": elapsed},
              open(os.path.join(out_dir, "m1_results.json"), "w"), indent=1)
    sys.stdout.write(table_bpb + "\n\n" + table_bpt + "\n\n" + sweep + "\n")
    print(f"m1_results: measured in {elapsed:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
