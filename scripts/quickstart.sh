#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# THE main-job command: bash scripts/quickstart.sh
#
# Builds the eqinfo CLI (Release), trains a unigram model on the bundled
# State of the Union sample, encodes the held-out Jargon File sample with the
# default settings (EqualInfoAC, b = 16, N = 16) and --verify, decodes it
# again, checks the bytes are identical, and prints the stats.
#
# Environment: EQINFO_JOBS (default 2), EQINFO_SKIP_DEPS=1 to skip
# scripts/install-deps.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${EQINFO_JOBS:-2}"
BUILD_DIR=build/quickstart
TRAIN=data/sample/sotu_sample.txt
HELD_OUT=data/sample/jargon_sample.txt

step() { echo; echo "== $*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

if [[ "${EQINFO_SKIP_DEPS:-0}" != 1 ]]; then
  step "dependencies (scripts/install-deps.sh)"
  bash scripts/install-deps.sh
fi

[[ -f tools/CMakeLists.txt ]] || die "tools/CMakeLists.txt is missing: the eqinfo CLI (tools/) is not in this tree yet"
for f in "$TRAIN" "$HELD_OUT"; do
  [[ -f "$f" ]] || die "$f is missing; regenerate the samples with scripts/fetch-sample-data.sh"
done

step "configure + build (Release)"
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi
cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DEQINFO_BUILD_TOOLS=ON -DEQINFO_BUILD_TESTS=OFF -DEQINFO_BUILD_EXAMPLES=OFF -DEQINFO_BUILD_BENCH=OFF
cmake --build "$BUILD_DIR" --parallel "$JOBS"
EQINFO="$BUILD_DIR/tools/eqinfo"
[[ -x "$EQINFO" ]] || die "the build did not produce $EQINFO"

run() { echo "\$ eqinfo ${*}"; "$EQINFO" "$@"; }

step "train a unigram model on $TRAIN"
run train-unigram "$TRAIN" -o build/sample.unigram

step "encode the held-out $HELD_OUT (default settings: EqualInfoAC b=16, N=16)"
run encode --model build/sample.unigram --verify "$HELD_OUT" -o build/jargon.eqt

step "decode and compare"
run decode --model build/sample.unigram build/jargon.eqt -o build/jargon.out
cmp "$HELD_OUT" build/jargon.out || die "decoded bytes differ from $HELD_OUT"
echo "identical: build/jargon.out == $HELD_OUT"

step "stats: every method on the training text (in domain) and the held-out text"
run stats --all --model build/sample.unigram "$TRAIN" "$HELD_OUT"

input_bytes=$(wc -c <"$HELD_OUT")
eqt_bytes=$(wc -c <build/jargon.eqt)
step "summary"
printf '  model      build/sample.unigram (trained on %s, %d bytes)\n' "$TRAIN" "$(wc -c <"$TRAIN")"
printf '  input      %s, %d bytes\n' "$HELD_OUT" "$input_bytes"
printf '  tokens     build/jargon.eqt, %d bytes on disk (%.3f of the input, header included)\n' \
  "$eqt_bytes" "$(awk -v a="$eqt_bytes" -v b="$input_bytes" 'BEGIN { printf "%.6f", a / b }')"
printf '  round trip ok (encode --verify, decode, cmp)\n'
