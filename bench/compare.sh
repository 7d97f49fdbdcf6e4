#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the coder benchmarks once (JSON) and prints ns/symbol, MB/s and the
# ratios to the rANS peer and to memcpy, all from the same run.
#
#   bench/compare.sh [BENCH_BINARY] [extra google-benchmark flags...]
#
# Default binary: build/release/bench/eqinfo_coder_bench. With
# --benchmark_repetitions=N the table shows the median of the N runs.
# Needs /usr/bin/python3. Set COMPARE_JSON=file to keep the raw JSON.
set -eu
bin=${1:-build/release/bench/eqinfo_coder_bench}
[ $# -gt 0 ] && shift
if [ ! -x "$bin" ]; then
  echo "compare.sh: no benchmark binary at $bin (configure with -DEQINFO_BUILD_BENCH=ON)" >&2
  exit 2
fi
json=${COMPARE_JSON:-$(mktemp)}
[ -n "${COMPARE_JSON:-}" ] || trap 'rm -f "$json"' EXIT
"$bin" --benchmark_format=json --benchmark_out_format=json --benchmark_out="$json" "$@" >/dev/null
/usr/bin/python3 - "$json" <<'PY'
import json, sys

data = json.load(open(sys.argv[1]))
runs = data["benchmarks"]
has_median = any(r.get("aggregate_name") == "median" for r in runs)
rows = {}
for r in runs:
    if r.get("error_occurred"):
        print(f"ERROR {r['name']}: {r.get('error_message')}")
        continue
    if has_median and r.get("aggregate_name") != "median":
        continue
    if not has_median and r.get("run_type") == "aggregate":
        continue
    name = r.get("run_name", r["name"])
    rows.setdefault(name, r)  # first repetition if no aggregates

def ns(name):
    r = rows.get(name)
    return r["ns_per_symbol"] if r else None

ctx = data["context"]
print(f"# {ctx.get('host_name', '?')}, {ctx.get('num_cpus')} CPUs @ {ctx.get('mhz_per_cpu')} MHz, "
      f"load {ctx.get('load_avg')}, {ctx.get('input', '')}, "
      f"{'median of ' + str(max(r.get('repetitions', 1) for r in runs)) + ' repetitions' if has_median else 'single run'}")
peer = {"BM_encode": "BM_rans_encode", "BM_decode": "BM_rans_decode",
        "BM_encode_uniform": "BM_rans_encode", "BM_decode_uniform": "BM_rans_decode"}
memcpy = ns("BM_memcpy")
print(f"{'benchmark':<36} {'ns/symbol':>10} {'MB/s':>9} {'vs rANS':>8} {'vs memcpy':>10}  note")
for name, r in rows.items():
    v = r["ns_per_symbol"]
    mbs = r.get("bytes_per_second", 0) / 1e6
    p = ns(peer.get(name, ""))
    vs_rans = f"{v / p:8.2f}x" if p else f"{'':>9}"
    vs_mem = f"{v / memcpy:9.0f}x" if memcpy and name != "BM_memcpy" else f"{'':>10}"
    note = r.get("label", "")
    if name.startswith(("BM_pack", "BM_unpack")):
        note = (note + " ns per token").strip()
    elif name.startswith("BM_equal_info"):
        note = (note + " ns per input byte").strip()
    print(f"{name:<36} {v:10.3f} {mbs:9.1f} {vs_rans} {vs_mem}  {note}")
PY
