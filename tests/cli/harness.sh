# SPDX-License-Identifier: MIT
# The harness of the CLI tests (sourced by cli_test.sh and shard_test.sh):
# their arguments and temporary directory (harness_start), and the check
# helpers.
export LC_ALL=C
# The tests use the uniform model unless they name another: without --model the
# CLI would load the bundled M1 (cli_test.sh tests that default), which is far slower.
export EQINFO_MODEL=uniform

# harness_start NAME EQINFO_BINARY [DATA_DIR]: the test's arguments as
# absolute paths in $EQ and $DATA (DATA may be empty), then a private
# temporary directory $T, entered, and removed on exit (after killing
# $bg_pid, a background run a test may leave behind).
harness_start() {
  local name=$1
  shift
  if [[ $# -lt 1 ]]; then
    echo "usage: $name.sh EQINFO_BINARY [DATA_DIR]" >&2
    exit 2
  fi
  EQ=$1
  DATA=${2:-}
  [[ -z $DATA ]] || DATA=$(cd "$DATA" && pwd)
  if [[ ! -x $EQ ]]; then
    echo "$name: $EQ is not an executable" >&2
    exit 2
  fi
  case $EQ in /*) ;; *) EQ=$PWD/$EQ ;; esac
  T=$(mktemp -d "${TMPDIR:-/tmp}/eqinfo-$name.XXXXXX")
  bg_pid=
  trap harness_cleanup EXIT
  cd "$T"
}
harness_cleanup() {
  if [[ -n ${bg_pid:-} ]]; then kill -9 "$bg_pid" 2>/dev/null || true; fi
  rm -rf "$T"
}

failures=0
checks=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
pass() { checks=$((checks + 1)); }

# run CMD...: runs it with stdout in $T/out, stderr in $T/err, status in $rc.
run() {
  set +e
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
  set -e
}

# expect_ok DESCRIPTION CMD...: records a failure unless CMD exits 0; test
# $rc afterwards to go on only if it did. (The helpers return 0 either way so
# that `set -e` does not end the script at the first failure.)
expect_ok() {
  local what=$1
  shift
  run "$@"
  if [[ $rc -ne 0 ]]; then
    fail "$what: exit $rc (expected 0): $*"
    sed 's/^/    /' "$T/err" >&2
    return 0
  fi
  pass
}

# expect_fail DESCRIPTION CODE PATTERN CMD...: exit CODE, stderr matches PATTERN.
expect_fail() {
  local what=$1 code=$2 pattern=$3
  shift 3
  run "$@"
  if [[ $rc -ne $code ]]; then
    fail "$what: exit $rc (expected $code): $*"
    sed 's/^/    /' "$T/err" >&2
    return 0
  fi
  if ! grep -q -e "$pattern" "$T/err"; then
    fail "$what: stderr lacks '$pattern': $*"
    sed 's/^/    /' "$T/err" >&2
    return 0
  fi
  pass
}

# expect_same DESCRIPTION EXPECTED ACTUAL: files or directories, byte for byte.
expect_same() {
  if [[ -d $2 ]]; then
    if diff -r "$2" "$3" >/dev/null 2>&1; then
      pass
    else
      fail "$1: directories $2 and $3 differ: $(diff -rq "$2" "$3" 2>&1 | head -3 | tr '\n' ';')"
    fi
  elif cmp -s "$2" "$3"; then
    pass
  else
    fail "$1: $3 differs from $2 ($(wc -c <"$2" 2>/dev/null || echo -) vs $(wc -c <"$3" 2>/dev/null || echo -) bytes)"
  fi
}
