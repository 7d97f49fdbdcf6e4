#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end throughput with the shipped M1 in one run: `eqinfo encode` and
# `eqinfo decode` of one large file on 1 and 2 threads, `eqinfo shard` of the
# same text, `spm_encode` (models/spm/en32k.model) on the same file, and the
# lockstep bound (bench BM_lanes: positions/s of m1_model::lane_set at the
# same lane count) -- the table of docs/performance.md#throughput.
#
#   bench/throughput.sh BUILD [BYTES]
#
# BUILD: a build with tools and benchmarks (-DEQINFO_BUILD_BENCH=ON). Input:
# the first BYTES (default 1000000) of the held-out text of
# scripts/prepare-data.sh if present, else the bundled samples repeated.
# Times are wall-clock seconds of one run each (the machine is noisy: compare
# ratios within one run). Needs /usr/bin/python3.
set -euo pipefail
build=${1:?usage: bench/throughput.sh BUILD [BYTES]}
bytes=${2:-1000000}
eq="$build/tools/eqinfo"
bench="$build/bench/eqinfo_m1_bench"
[[ -x $eq && -x $bench ]] || { echo "throughput.sh: need $eq and $bench" >&2; exit 2; }
model=models/m1/m1.safetensors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/bench_input.sh"
bench_input "$bytes" "$work/in.txt"
n=$(stat -c %s "$work/in.txt")
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
row() { printf '%-44s %9.2f s %10.1f KB/s\n' "$1" "$2" "$(echo "$n / $2 / 1000" | bc -l)"; }
echo "# $n bytes of $BENCH_INPUT_SOURCE, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# $("$eq" --version | tr '\n' ' ')"
for t in 1 2; do
  s=$(seconds "$eq" encode --model "$model" --threads $t "$work/in.txt" -o "$work/enc$t.eqt")
  row "eqinfo encode (--threads $t)" "$s"
done
cmp -s "$work/enc1.eqt" "$work/enc2.eqt" || { echo "throughput.sh: tokens differ between thread counts" >&2; exit 1; }
for t in 1 2; do
  s=$(seconds "$eq" decode --model "$model" --threads $t "$work/enc1.eqt" -o "$work/dec$t.txt")
  cmp -s "$work/dec$t.txt" "$work/in.txt" || { echo "throughput.sh: decode differs" >&2; exit 1; }
  row "eqinfo decode (--threads $t)" "$s"
done
# eqinfo shard: the same text as JSONL documents of 2,000 characters, joined and cut into
# examples of 10,240 bytes (eqinfo shard's default, the paper's).
/usr/bin/python3 - "$work/in.txt" "$work/in.jsonl" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
with open(sys.argv[2], "w") as out:
    for i in range(0, len(text), 2000):
        out.write(json.dumps({"text": text[i:i + 2000]}) + "\n")
PY
for t in 1 2; do
  s=$(seconds "$eq" shard --model "$model" --threads $t --out "$work/shards$t" "$work/in.jsonl")
  row "eqinfo shard, 10 KiB examples (--threads $t)" "$s"
done
if command -v spm_encode >/dev/null; then
  s=$(seconds spm_encode --model models/spm/en32k.model --output_format=id --input "$work/in.txt")
  row "spm_encode en32k (1 thread)" "$s"
fi
# The lockstep bound: positions/s of the lane_set on the best path, 16 and 64 lanes.
"$bench" --benchmark_filter='BM_lanes/(amx|avx512vnni|avx2|sse2)/0/' --benchmark_format=json 2>/dev/null |
  /usr/bin/python3 -c '
import json, sys
runs = json.load(sys.stdin)["benchmarks"]
best = {}
for r in runs:
    lanes = r["name"].split("/")[-1]
    best[lanes] = max(best.get(lanes, (0, "")), (r["bytes_per_second"], r["name"]))
for lanes, (pps, name) in sorted(best.items(), key=lambda kv: int(kv[0])):
    print(f"{name:<44} {pps / 1000:10.1f} K positions/s (the bound at {lanes} lanes)")'
