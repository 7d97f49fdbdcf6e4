#!/usr/bin/env bash
# Runs the two format studies of docs/format.md on the bundled sample:
#   bash bench/studies.sh [BUILD_DIR]     (configured with -DEQINFO_BUILD_BENCH=ON)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sample="$root/data/sample/sotu_sample.txt"
head -c 143000 "$sample" >"$tmp/train.txt"
tail -c +143001 "$sample" >"$tmp/eval.txt"
echo "== window rules: bytes per window, plain greedy vs the exact rules"
"$build/bench/window_rules" "$tmp/train.txt" "$tmp/eval.txt"
echo
echo "== precision: rate overhead of quantising to P bits"
"$build/bench/precision_overhead" "$tmp/train.txt" "$tmp/eval.txt"
