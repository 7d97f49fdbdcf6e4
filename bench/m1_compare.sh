#!/bin/sh
# SPDX-License-Identifier: MIT
# M1 inference speed, one thread, all from one invocation: the int8 and FP32
# peaks of this core (eqinfo_int8_bench BM_peak/*), M1 on every int8 kernel
# path (eqinfo_m1_bench), optionally the float32 M1 of eqinfo 0.1 (a build of
# an older revision), and PyTorch (float32, bench/torch_m1.py) on the same
# shapes. Prints the table of docs/performance.md#m1.
#
#   bench/m1_compare.sh BUILD_DIR [BASELINE_BUILD_DIR]
#
# BUILD_DIR: a build with -DEQINFO_BUILD_BENCH=ON (targets eqinfo_m1_bench,
# eqinfo_int8_bench); no -march needed: the paths are chosen at run time.
# BASELINE_BUILD_DIR: a bench build of the float M1 (eqinfo 0.1), e.g.
#   git worktree add /tmp/float 3dfac31 && cmake -S /tmp/float -B /tmp/float/build \
#     -DEQINFO_BUILD_BENCH=ON && cmake --build /tmp/float/build --target eqinfo_m1_bench
# Environment: NO_TORCH=1 skips PyTorch; TORCH_SECONDS (default 1);
# BENCH_MIN_TIME (google-benchmark --benchmark_min_time, default 0.5);
# KEEP_JSON=DIR keeps the raw JSON files there.
set -eu
dir=${1:?usage: bench/m1_compare.sh BUILD_DIR [BASELINE_BUILD_DIR]}
base=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
for b in eqinfo_m1_bench eqinfo_int8_bench; do
  if [ ! -x "$dir/bench/$b" ]; then
    echo "m1_compare.sh: no $dir/bench/$b (configure with -DEQINFO_BUILD_BENCH=ON and build it)" >&2
    exit 2
  fi
done
out=${KEEP_JSON:-$(mktemp -d)}
mkdir -p "$out"
min_time=${BENCH_MIN_TIME:-0.5}
"$dir/bench/eqinfo_int8_bench" --benchmark_filter='BM_peak' --benchmark_min_time="$min_time" \
  --benchmark_out_format=json --benchmark_out="$out/peaks.json" >/dev/null
"$dir/bench/eqinfo_m1_bench" --benchmark_min_time="$min_time" \
  --benchmark_out_format=json --benchmark_out="$out/m1.json" >/dev/null
: >"$out/float.json"
if [ -n "$base" ]; then
  # eqinfo 0.1's float M1 (random 3m weights; its only model).
  "$base/bench/eqinfo_m1_bench" --benchmark_filter='BM_forward_window/|BM_forward_incremental' \
    --benchmark_min_time="$min_time" --benchmark_out_format=json --benchmark_out="$out/float.json" >/dev/null
fi
: >"$out/torch_3m.json"
: >"$out/torch_shipped.json"
if [ "${NO_TORCH:-0}" != 1 ] && [ -x /usr/bin/python3 ]; then
  for m in 3m shipped; do
    shape=""
    [ "$m" = shipped ] && shape="--layers 2 --d-model 128 --heads 2 --head-dim 64 --d-ff 512"
    # shellcheck disable=SC2086  # $shape is deliberately word-split
    if ! OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$here/torch_m1.py" --threads 1 $shape \
      --windows 16x1,64x1,1024x1,16x64 --gen-batches 1 --gen-lengths 64 --seconds "${TORCH_SECONDS:-1}" \
      --json "$out/torch_$m.json" >/dev/null; then
      echo "m1_compare.sh: bench/torch_m1.py failed; table without PyTorch" >&2
      : >"$out/torch_$m.json"
    fi
  done
fi
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys

out = sys.argv[1]

def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.getsize(p) > 0 else None

def runs_of(data):
    runs = {}
    for r in (data or {}).get("benchmarks", []):
        if r.get("error_occurred"):
            print(f"ERROR {r['name']}: {r.get('error_message')}")
            continue
        if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
            continue
        runs[r.get("run_name", r["name"])] = r
    return runs

peaks, m1, flt = runs_of(load("peaks.json")), runs_of(load("m1.json")), runs_of(load("float.json"))
torch = {"0": load("torch_shipped.json"), "1": load("torch_3m.json")}
ctx = (load("m1.json") or {}).get("context", {})
print(f"M1, one thread, {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs, load {ctx.get('load_avg', '?')}")
# The instruction each path's products run on (bench/int8_bench.cpp's peak loops).
loop_of = {"sse2": "pmaddwd_xmm", "avx2": "pmaddwd_ymm", "avx512vnni": "vpdpbusd_zmm", "amx": "tdpbssd"}
int8_peak = {p: peaks[f"BM_peak/{l}"]["GOPS"] for p, l in loop_of.items() if f"BM_peak/{l}" in peaks}
fma = peaks.get("BM_peak/fp32_fma_zmm", {}).get("GFLOPS")
muladd = peaks.get("BM_peak/fp32_mul_add_zmm", {}).get("GFLOPS")
print("int8 peaks (GOP/s): " + ", ".join(f"{p} {v:.0f}" for p, v in int8_peak.items()))
print(f"FP32 peaks (GFLOP/s): FMA {fma or 0:.1f}, mul+add {muladd or 0:.1f}")
if torch["1"]:
    print(f"PyTorch {torch['1'].get('torch')} float32, {torch['1'].get('threads')} thread (bench/torch_m1.py)")
print()
paths = [p for p in ("scalar", "sse2", "avx2", "avx512vnni", "amx")
         if any(n.startswith(f"BM_window/{p}/") for n in m1)]

def torch_rate(model, T, W):
    for f in (torch[model] or {}).get("forward", []):
        if f["T"] == T and f["W"] == W:
            return f["bytes_per_s"]
    return None

def torch_inc(model):
    for f in (torch[model] or {}).get("incremental", []):
        if f["batch"] == 1:
            return f["bytes_per_s"]
    return None

rows = []
for model, label in (("0", "shipped"), ("1", "3m")):
    for kind, arg, T, W in (("BM_window", "16", 16, 1), ("BM_window", "64", 64, 1), ("BM_window", "1024", 1024, 1),
                            ("BM_batched", "64", 16, 64), ("BM_incremental", None, 64, 0)):
        rates = {}
        gops = {}
        for p in paths:
            name = f"{kind}/{p}/{model}" + (f"/{arg}" if arg else "")
            r = m1.get(name)
            if r:
                rates[p] = r.get("bytes_per_second")
                gops[p] = r.get("GOPs")
        if not rates:
            continue
        best = max(rates, key=lambda p: rates[p] or 0)
        what = {"BM_window": f"window T={T}", "BM_batched": f"{W} windows of {T}",
                "BM_incremental": "1 byte at a time"}[kind]
        old = None
        if model == "1":
            fname = f"BM_forward_window/{T}" if kind == "BM_window" else (
                "BM_forward_incremental" if kind == "BM_incremental" else None)
            old = flt.get(fname, {}).get("bytes_per_second") if fname else None
        tb = torch_inc(model) if kind == "BM_incremental" else torch_rate(model, T, W)
        rows.append((label, what, rates, best, gops.get(best), old, tb))

head = (f"{'model':8} {'shape':18} " + " ".join(f"{p:>10}" for p in paths)
        + f" {'best':>10} {'%int8pk':>7} {'%FMApk':>6} {'float0.1':>9} {'x float':>7} {'torch':>9} {'x torch':>7}")
print("bytes/s per int8 path (positions/s); best = fastest path; % of that path's int8 peak and of the FP32 FMA peak")
print(head)
print("-" * len(head))
for label, what, rates, best, g, old, tb in rows:
    b = rates[best]
    pk = int8_peak.get(best)
    line = f"{label:8} {what:18} " + " ".join(f"{rates.get(p, 0):10.0f}" for p in paths)
    line += f" {best:>10} " + (f"{100 * g / pk:6.1f}%" if g and pk else f"{'-':>7}")
    line += " " + (f"{100 * g / fma:5.1f}%" if g and fma else f"{'-':>6}")
    line += " " + (f"{old:9.0f} {b / old:7.2f}" if old else f"{'-':>9} {'-':>7}")
    line += " " + (f"{tb:9.0f} {b / tb:7.2f}" if tb else f"{'-':>9} {'-':>7}")
    print(line)
PY
[ -n "${KEEP_JSON:-}" ] || rm -rf "$out"
