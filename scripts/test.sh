#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# THE test command: bash scripts/test.sh
#
#   (a) Release build (benchmarks and the Python bindings too), warnings as
#       errors, full ctest (unit tests, CLI and shard tests, Python binding tests)
#   (b) Debug build with AddressSanitizer + UBSan, full ctest
#   (c) Release build with -march=x86-64-v3 (AVX2/FMA), full ctest: the golden
#       token tests make this an ISA-determinism check
#   (d) clang++ build, full ctest
#   (e) clang-format --dry-run -Werror over the sources
#   (f) fuzz smoke: with clang++, build the libFuzzer targets (EQINFO_FUZZ=ON)
#       and run each for EQINFO_FUZZ_SECONDS (default 20) on a copy of its
#       seed corpus (tests/fuzz/corpus/<target>); any crash fails
#   (g) g++ -O3 -march=native -ffp-contract=fast (AVX-512 here, FMA allowed
#       everywhere the headers do not forbid it): the unit suite, whose golden
#       tokens must still match
#   (h) Python: training/ tests (pytest: M1 trainer, M2 trainer and experiment
#       smoke, compression-study smoke), then the C++ M1 against the PyTorch
#       reference (python3 -m training.compare_with_eqinfo) on a random model and on the
#       shipped models/m1, whose plain-AC code length must also be within 1 %
#       of its cross-entropy
#
# Stops at the first failure. Environment:
#   EQINFO_BUILD_ROOT  where the build trees go (default: build/test)
#   EQINFO_JOBS        parallel jobs (default: 2)
#   EQINFO_SKIP_DEPS=1 do not run scripts/install-deps.sh
#   EQINFO_CTEST_ARGS  extra ctest arguments, e.g. "-LE cli" (word-split)
#   EQINFO_FUZZ_SECONDS  seconds per fuzz target in (f) (default 20; 0 skips (f))
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_ROOT="${EQINFO_BUILD_ROOT:-build/test}"
JOBS="${EQINFO_JOBS:-2}"
START=$SECONDS

step() {
  echo
  echo "=============================================================================="
  echo "== $*"
  echo "=============================================================================="
}

on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    echo
    echo "scripts/test.sh: FAILED (exit $rc) after $((SECONDS - START)) s" >&2
  fi
}
trap on_exit EXIT

if [[ "${EQINFO_SKIP_DEPS:-0}" != 1 ]]; then
  step "dependencies (scripts/install-deps.sh)"
  bash "$ROOT/scripts/install-deps.sh"
fi

GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi

# build_and_test NAME [cmake args...]
build_and_test() {
  local name="$1"; shift
  local dir="$BUILD_ROOT/$name"
  local t0=$SECONDS
  cmake -S . -B "$dir" "${GENERATOR[@]}" -DEQINFO_BUILD_TESTS=ON -DEQINFO_BUILD_EXAMPLES=ON \
    -DEQINFO_BUILD_TOOLS=ON "$@"
  cmake --build "$dir" --parallel "$JOBS"
  # shellcheck disable=SC2086  # EQINFO_CTEST_ARGS is deliberately word-split
  ctest --test-dir "$dir" --output-on-failure --parallel "$JOBS" --no-tests=error ${EQINFO_CTEST_ARGS:-}
  echo "-- $name: $((SECONDS - t0)) s"
}

step "(a) Release, -Werror (benchmarks included)"
build_and_test release -DCMAKE_BUILD_TYPE=Release -DEQINFO_WERROR=ON -DEQINFO_BUILD_BENCH=ON -DEQINFO_BUILD_PYTHON=ON

step "(b) Debug, AddressSanitizer + UndefinedBehaviorSanitizer"
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  build_and_test sanitize -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1 -Wno-maybe-uninitialized" \
    -DEQINFO_WERROR=ON -DEQINFO_SANITIZE=ON
# (-O1: the M1 and CLI tests take minutes at -O0 under ASan; at -O1 GCC 12
# reports false -Wmaybe-uninitialized inside libstdc++'s <regex>, which
# Catch2 includes.)

step "(c) Release, -march=x86-64-v3 (ISA determinism: the golden tests must still pass)"
if [[ "$(uname -m)" != x86_64 ]]; then
  echo "-- skipped: not an x86-64 machine"
elif ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo || ! grep -qw bmi2 /proc/cpuinfo; then
  echo "-- skipped: this CPU cannot run x86-64-v3 code (no AVX2/FMA/BMI2)"
else
  build_and_test x86-64-v3 -DCMAKE_BUILD_TYPE=Release -DEQINFO_WERROR=ON "-DCMAKE_CXX_FLAGS=-march=x86-64-v3"
fi

step "(d) clang++"
if ! command -v clang++ >/dev/null; then
  echo "clang++ not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
build_and_test clang -DCMAKE_BUILD_TYPE=Release -DEQINFO_WERROR=ON -DCMAKE_CXX_COMPILER=clang++

step "(e) clang-format --dry-run -Werror"
mapfile -t FORMAT_FILES < <(
  for d in include tests tools bench examples python; do
    [[ -d "$d" ]] && find "$d" -type f \( -name '*.cpp' -o -name '*.hpp' \) -print
  done | LC_ALL=C sort)
echo "-- $(clang-format --version), ${#FORMAT_FILES[@]} files"
if [[ ${#FORMAT_FILES[@]} -gt 0 ]]; then
  clang-format --dry-run -Werror "${FORMAT_FILES[@]}"
fi

step "(f) fuzz smoke (libFuzzer + ASan + UBSan, ${EQINFO_FUZZ_SECONDS:-20} s per target)"
FUZZ_SECONDS="${EQINFO_FUZZ_SECONDS:-20}"
if [[ "$FUZZ_SECONDS" == 0 ]]; then
  echo "-- skipped: EQINFO_FUZZ_SECONDS=0"
elif ! command -v clang++ >/dev/null; then
  echo "-- skipped: clang++ not found"
else
  t0=$SECONDS
  FUZZ_DIR="$BUILD_ROOT/fuzz"
  cmake -S . -B "$FUZZ_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DEQINFO_FUZZ=ON -DEQINFO_BUILD_TESTS=OFF -DEQINFO_BUILD_TOOLS=OFF -DEQINFO_BUILD_EXAMPLES=OFF \
    -DEQINFO_INSTALL=OFF -DEQINFO_WERROR=ON
  cmake --build "$FUZZ_DIR" --parallel "$JOBS"
  FUZZ_BIN="$(cd "$FUZZ_DIR" && pwd)/tests/fuzz"
  FUZZ_WORK="$(cd "$FUZZ_DIR" && pwd)/run"
  for target in fuzz_decode_tokens fuzz_roundtrip fuzz_token_file fuzz_unigram_file fuzz_m1_file fuzz_json fuzz_npy fuzz_shard_manifest; do
    rm -rf "${FUZZ_WORK:?}/$target"
    mkdir -p "$FUZZ_WORK/$target/corpus"
    cp tests/fuzz/corpus/"$target"/* "$FUZZ_WORK/$target/corpus/"
    echo "-- $target: ${FUZZ_SECONDS} s"
    # New inputs go to the copy; crash reproducers to $FUZZ_WORK/$target/.
    if ! (cd "$FUZZ_WORK/$target" && "$FUZZ_BIN/$target" -seed=1 -max_total_time="$FUZZ_SECONDS" \
      -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 corpus >fuzz.log 2>&1); then
      tail -n 60 "$FUZZ_WORK/$target/fuzz.log"
      echo "-- $target FAILED; reproducer(s): $(ls "$FUZZ_WORK/$target" | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|$FUZZ_WORK/$target/|" | tr '\n' ' ')" >&2
      exit 1
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$FUZZ_WORK/$target/fuzz.log" | tr '\n' ' '
    echo
  done
  echo "-- fuzz smoke: $((SECONDS - t0)) s"
fi

step "(g) g++ -O3 -march=native -ffp-contract=fast (the golden tokens must still match)"
t0=$SECONDS
NATIVE_DIR="$BUILD_ROOT/native"
cmake -S . -B "$NATIVE_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
  "-DCMAKE_CXX_FLAGS=-march=native -ffp-contract=fast" -DEQINFO_WERROR=ON -DEQINFO_BUILD_TESTS=ON \
  -DEQINFO_BUILD_TOOLS=OFF -DEQINFO_BUILD_EXAMPLES=OFF -DEQINFO_BUILD_BENCH=OFF -DEQINFO_INSTALL=OFF
cmake --build "$NATIVE_DIR" --parallel "$JOBS" --target eqinfo_tests
"$NATIVE_DIR/tests/eqinfo_tests"
echo "-- native: $((SECONDS - t0)) s"

step "(h) Python: training/ tests and C++ M1 vs the PyTorch reference"
t0=$SECONDS
PY=/usr/bin/python3
# The package built in (a), extension included: training/m2 reads shards with eqinfo.shards and
# sample.py prints samples live with eqinfo's streaming decoder.
PYTHONPATH="$(cd "$BUILD_ROOT/release/python" && pwd)${PYTHONPATH:+:$PYTHONPATH}" EQINFO_CLI="$BUILD_ROOT/release/tools/eqinfo" \
  OMP_WAIT_POLICY=PASSIVE "$PY" -m pytest -q training/tests training/study
M1_TMP="$(mktemp -d)"
"$PY" -m training.make_random_m1 --layers 2 --d-model 64 --heads 2 --head-dim 32 --d-ff 128 --context 128 \
  --seed 5 -o "$M1_TMP/random.safetensors" --quiet
head -c 3000 data/sample/sotu_sample.txt >"$M1_TMP/input.txt"  # crosses 23 context blocks
"$PY" -m training.compare_with_eqinfo "$M1_TMP/random.safetensors" "$M1_TMP/input.txt" \
  "$BUILD_ROOT/release/tools/eqinfo m1-dump"
# The shipped M1: the same agreement, plus the coder's actual plain-AC code length within 1 %
# of the model's cross-entropy on the same text.
head -c 12000 data/sample/sotu_sample.txt >"$M1_TMP/input12k.txt"
"$PY" -m training.compare_with_eqinfo models/m1/m1.safetensors "$M1_TMP/input12k.txt" \
  "$BUILD_ROOT/release/tools/eqinfo m1-dump" --code-length "$BUILD_ROOT/release/tools/eqinfo"
rm -rf "$M1_TMP"
echo "-- python: $((SECONDS - t0)) s"

step "all checks passed in $((SECONDS - START)) s"
