#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# THE main-job command: bash scripts/quickstart.sh
#
# Builds the eqinfo CLI (Release); with the bundled M1 (models/m1) encodes the
# Jargon File sample (held out from the unigram model; the Jargon File is one
# of M1's training sources) with the default settings (EqualInfoAC, b = 16,
# N = 16) and --verify, decodes it again and checks the bytes are identical;
# turns the bundled samples into token shards and verifies them; prints the
# stats of every method, and of StaticAC with a unigram model trained on the
# State of the Union sample.
#
# Environment: EQINFO_JOBS (default 2), EQINFO_SKIP_DEPS=1 to skip
# scripts/install-deps.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${EQINFO_JOBS:-2}"
BUILD_DIR=build/release  # CMakePresets.json's "release": the build every doc uses
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

step "configure + build the eqinfo tool (cmake --preset release)"
cmake --preset release
cmake --build --preset release --parallel "$JOBS" --target eqinfo_cli
EQINFO="$BUILD_DIR/tools/eqinfo"
[[ -x "$EQINFO" ]] || die "the build did not produce $EQINFO"

run() { echo "\$ eqinfo ${*}"; "$EQINFO" "$@"; }
M1=models/m1/m1.safetensors
[[ -f "$M1" ]] || die "$M1 (the bundled M1) is missing"
unset EQINFO_MODEL # the CLI's default model is then the bundled M1

step "encode $HELD_OUT with the bundled M1 (EqualInfoAC b=16, N=16), checking the round trip"
# stderr is kept too: its "N tokens" line feeds the summary, so nothing is encoded twice.
run encode --verify --progress "$HELD_OUT" -o build/jargon.eqt 2> >(tee build/jargon.encode.log >&2)

step "decode (windows in parallel) and compare"
run decode --threads "$JOBS" build/jargon.eqt -o build/jargon.out
cmp "$HELD_OUT" build/jargon.out || die "decoded bytes differ from $HELD_OUT"
echo "identical: build/jargon.out == $HELD_OUT"

step "a corpus to token shards (10,240-byte examples, all cores), then verify them against the sources"
rm -rf build/sample-shards
run shard --progress --out build/sample-shards data/sample/
run verify build/sample-shards

step "stats: every method on the first 16 KiB of $HELD_OUT, M1 against a unigram model"
head -c 16384 "$HELD_OUT" >build/jargon16k.txt
run train-unigram "$TRAIN" -o build/sample.unigram
run stats --all --threads "$JOBS" build/jargon16k.txt
run stats --method static-ac --model build/sample.unigram build/jargon16k.txt

input_bytes=$(wc -c <"$HELD_OUT")
step "summary"
printf '  model      %s (models/m1/README.md)\n' "$M1"
printf '  input      %s, %d bytes\n' "$HELD_OUT" "$input_bytes"
tokens=$(grep -o '[0-9]* tokens in' build/jargon.encode.log | tail -n 1 | cut -d ' ' -f 1)
[[ -n "$tokens" ]] || die "the encoder did not report its token count"
awk -v t="$tokens" -v b="$input_bytes" \
  'BEGIN { printf "  tokens     %d 16-bit tokens, %.3f bytes/token, %.3f bits/byte\n", t, b / t, 16 * t / b }'
printf '  round trip ok (encode --verify, decode, cmp); shards verified: build/sample-shards\n'
