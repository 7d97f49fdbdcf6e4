#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# THE test command: bash scripts/test.sh
#
#   (a) Release build (benchmarks too), warnings as errors, full ctest
#   (b) Debug build with AddressSanitizer + UBSan, full ctest
#   (c) Release build with -march=x86-64-v3 (AVX2/FMA), full ctest: the golden
#       token tests make this an ISA-determinism check
#   (d) clang++ build, full ctest
#   (e) clang-format --dry-run -Werror over the sources
#
# Stops at the first failure. Environment:
#   EQINFO_BUILD_ROOT  where the build trees go (default: build/test)
#   EQINFO_JOBS        parallel jobs (default: 2)
#   EQINFO_SKIP_DEPS=1 do not run scripts/install-deps.sh
#   EQINFO_CTEST_ARGS  extra ctest arguments, e.g. "-E cli_test" (word-split)
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
build_and_test release -DCMAKE_BUILD_TYPE=Release -DEQINFO_WERROR=ON -DEQINFO_BUILD_BENCH=ON

step "(b) Debug, AddressSanitizer + UndefinedBehaviorSanitizer"
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  build_and_test sanitize -DCMAKE_BUILD_TYPE=Debug -DEQINFO_WERROR=ON -DEQINFO_SANITIZE=ON

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
  for d in include tests tools bench examples; do
    [[ -d "$d" ]] && find "$d" -type f \( -name '*.cpp' -o -name '*.hpp' \) -print
  done | LC_ALL=C sort)
echo "-- $(clang-format --version), ${#FORMAT_FILES[@]} files"
if [[ ${#FORMAT_FILES[@]} -gt 0 ]]; then
  clang-format --dry-run -Werror "${FORMAT_FILES[@]}"
fi

step "all checks passed in $((SECONDS - START)) s"
