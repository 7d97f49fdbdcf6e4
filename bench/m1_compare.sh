#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the M1 benchmarks once (JSON) and, if bench/torch_m1.py and PyTorch are
# there, PyTorch on the same shapes (one thread), then prints one table:
# GFLOP/s and bytes/s, % of this build's FMA and mul+add peaks, PyTorch's
# bytes/s and the ratios. All from the same invocation.
#
#   bench/m1_compare.sh BUILD_DIR [extra google-benchmark flags...]
#
# BUILD_DIR: a build with -DEQINFO_BUILD_BENCH=ON (target eqinfo_m1_bench);
# the peaks are for the ISA it was compiled for (-march=native: AVX-512 here).
# Needs /usr/bin/python3. COMPARE_JSON=file / TORCH_JSON=file keep the raw
# JSON; TORCH_SECONDS (default 1) is torch_m1.py's --seconds; NO_TORCH=1 skips it.
set -eu
dir=${1:?usage: bench/m1_compare.sh BUILD_DIR [google-benchmark flags...]}
shift
bin=$dir/bench/eqinfo_m1_bench
if [ ! -x "$bin" ]; then
  echo "m1_compare.sh: no $bin (configure with -DEQINFO_BUILD_BENCH=ON, build eqinfo_m1_bench)" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
json=${COMPARE_JSON:-$(mktemp)}
torch_json=${TORCH_JSON:-$(mktemp)}
cleanup() {
  [ -n "${COMPARE_JSON:-}" ] || rm -f "$json"
  [ -n "${TORCH_JSON:-}" ] || rm -f "$torch_json"
}
trap cleanup EXIT
"$bin" --benchmark_format=json --benchmark_out_format=json --benchmark_out="$json" "$@" >/dev/null
: >"$torch_json"
if [ "${NO_TORCH:-0}" != 1 ] && [ -x /usr/bin/python3 ] && [ -f "$here/torch_m1.py" ]; then
  if ! OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$here/torch_m1.py" --threads 1 --windows 16x64,64x16,1024x1 \
    --gen-batches 1 --gen-lengths 64 --seconds "${TORCH_SECONDS:-1}" --json "$torch_json" >/dev/null; then
    echo "m1_compare.sh: bench/torch_m1.py failed; table without PyTorch" >&2
    : >"$torch_json"
  fi
fi
/usr/bin/python3 - "$json" "$torch_json" <<'PY'
import json, os, sys

data = json.load(open(sys.argv[1]))
torch = json.load(open(sys.argv[2])) if os.path.getsize(sys.argv[2]) > 0 else None
runs = {}
for r in data["benchmarks"]:
    if r.get("error_occurred"):
        print(f"ERROR {r['name']}: {r.get('error_message')}")
        continue
    if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
        continue
    runs[r.get("run_name", r["name"])] = r

def gflops(name):
    r = runs.get(name)
    return r.get("GFLOPs") if r and "GFLOPs" in r else None  # already GFLOP/s

fma, muladd = gflops("BM_fma_peak"), gflops("BM_muladd_peak")
isa = runs.get("BM_muladd_peak", {}).get("label", "?").split()[0]
ctx = data.get("context", {})
print(f"M1 3m, one thread, {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs, load {ctx.get('load_avg', '?')}")
print(f"peaks ({isa} build): FMA {fma:.1f} GFLOP/s" if fma else f"peaks ({isa} build): FMA n/a (no FMA at this ISA)",
      f", mul+add {muladd:.1f} GFLOP/s" if muladd else "")
if torch:
    print(f"PyTorch {torch.get('torch')} ({torch.get('threads')} thread), bench/torch_m1.py")
print()

def pct(x, peak):
    return f"{100 * x / peak:5.1f}%" if x and peak else "    -"

torch_fwd = {f["T"]: f for f in (torch or {}).get("forward", [])}
torch_inc = {f["length"]: f for f in (torch or {}).get("incremental", []) if f.get("batch") == 1}
head = f"{'benchmark':34} {'GFLOP/s':>8} {'%FMA':>6} {'%mul+add':>8} {'bytes/s':>9} {'torch B/s':>9} {'x torch':>7}"
print(head)
print("-" * len(head))
for name, r in runs.items():
    if not name.startswith(("BM_matmul", "BM_forward")):
        continue
    g = gflops(name)
    bps = r.get("bytes_per_second")
    tb = None
    if name.startswith("BM_forward_window/"):
        tb = torch_fwd.get(int(name.split("/")[1]), {}).get("bytes_per_s")
    elif name == "BM_forward_incremental":
        tb = torch_inc.get(64, {}).get("bytes_per_s")
    print(f"{name:34} {g:8.1f} {pct(g, fma):>6} {pct(g, muladd):>8} "
          + (f"{bps:9.0f}" if bps else f"{'':9}")
          + (f" {tb:9.0f} {bps / tb:7.2f}" if tb and bps else ""))
speedups = []
for t in (16, 64, 1024):
    f, ref = runs.get(f"BM_forward_window/{t}"), runs.get(f"BM_forward_window_reference/{t}")
    if f and ref:
        speedups.append(f"T={t} {f['bytes_per_second'] / ref['bytes_per_second']:.2f}x")
if speedups:
    print()
    print("fast vs reference kernels (whole window): " + ", ".join(speedups))
PY
