#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end tests of the eqinfo command-line tool.
#
# usage: cli_test.sh EQINFO_BINARY [DATA_DIR]
#
# Round-trips empty input, one byte, all 256 byte values, deterministic
# pseudo-random bytes and text through every method and the eqt, raw and npy
# formats (raw/npy by running the decode command eqinfo itself prints), and
# checks --verify, stdin/stdout, stats, train-unigram, help, and that bad
# input fails cleanly: exit 1 with a clear message for bad data, exit 2 for
# usage errors, never a crash. DATA_DIR/sample/sotu_sample.txt is used as the
# text if present; otherwise text is generated. All files live in a private
# temporary directory that is removed on exit.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 EQINFO_BINARY [DATA_DIR]" >&2
  exit 2
fi
EQ=$1
DATA=${2:-}
if [[ ! -x $EQ ]]; then
  echo "cli_test: $EQ is not an executable" >&2
  exit 2
fi
case $EQ in /*) ;; *) EQ=$PWD/$EQ ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/eqinfo-cli-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
export LC_ALL=C

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

# expect_same DESCRIPTION EXPECTED ACTUAL
expect_same() {
  if cmp -s "$2" "$3"; then
    pass
  else
    fail "$1: $3 differs from $2 ($(wc -c <"$2") vs $(wc -c <"$3") bytes)"
  fi
}

# ---------------------------------------------------------------------------
# Inputs

: >empty.bin
printf 'A' >one.bin
{
  for ((i = 0; i < 256; i++)); do
    printf -v o '\\x%02x' "$i"
    printf '%b' "$o"
  done
} >all256.bin

# Deterministic pseudo-random bytes: a 31-bit LCG, high bits.
lcg_bytes() {
  local n=$1 x=$2 i chunk o
  for ((i = 0; i < n; i++)); do
    x=$(((x * 1103515245 + 12345) & 0x7fffffff))
    printf -v o '\\x%02x' $(((x >> 16) & 255))
    chunk+=$o
    if ((${#chunk} >= 4000)); then
      printf '%b' "$chunk"
      chunk=
    fi
  done
  printf '%b' "$chunk"
}
lcg_bytes 3000 12345 >random.bin

if [[ -n $DATA && -f $DATA/sample/sotu_sample.txt ]]; then
  head -c 65536 "$DATA/sample/sotu_sample.txt" >text.txt
else
  words=(the of and to a in that is was he for it with as his on be at by this had not are but from or have an they
    which one you were her all she there would their we him been has when who will more no if out so said what up
    its about into than them can only other new some could time these two may first any my now such like)
  x=7
  {
    for ((i = 0; i < 2500; i++)); do
      x=$(((x * 1103515245 + 12345) & 0x7fffffff))
      printf '%s' "${words[$(((x >> 16) % ${#words[@]}))]}"
      if ((x % 17 == 0)); then printf '.\n'; else printf ' '; fi
    done
    printf 'The End.\n'
  } >text.txt
fi
if [[ ! -s text.txt ]]; then
  fail "could not create text.txt"
  exit 1
fi

[[ $(wc -c <all256.bin) -eq 256 && $(wc -c <random.bin) -eq 3000 ]] || fail "generated inputs have the wrong sizes"
inputs=(empty.bin one.bin all256.bin random.bin text.txt)

# ---------------------------------------------------------------------------
# Models

expect_ok "train-unigram" "$EQ" train-unigram text.txt random.bin -o en.ug
grep -q "entropy" "$T/err" || fail "train-unigram prints no entropy"
[[ $(wc -c <en.ug) -eq 2068 ]] || fail "en.ug is $(wc -c <en.ug) bytes, expected 2068"
[[ $(head -c 8 en.ug) == EQINFOUG ]] || fail "en.ug lacks the EQINFOUG magic"
expect_ok "train-unigram -P 12" "$EQ" train-unigram -P 12 -o other.ug all256.bin one.bin one.bin
expect_ok "train-unigram from stdin" "$EQ" train-unigram -o stdin.ug - <text.txt

# ---------------------------------------------------------------------------
# Round trips: every method x format x input

# name|encode options|needs the model to decode
specs=(
  "bytes|--method bytes|"
  "ac-uniform|--method ac|"
  "static-ac|--method static-ac --model en.ug|--model en.ug"
  "ac-N20-P20|--method ac -N 20 -P 20 --model en.ug|--model en.ug"
  "equal-info-uniform||"
  "equal-info|--model en.ug|--model en.ug"
  "equal-info-b32-N8-delay|-b 32 -N 8 --rule delay --model en.ug|--model en.ug"
  "equal-info-b24-N12-greedy|-b 24 -N 12 --rule greedy-exact --model en.ug|--model en.ug"
  "equal-info-b64-N16-P12|-b 64 -N 16 --model other.ug|--model other.ug"
)

for spec in "${specs[@]}"; do
  IFS='|' read -r name enc_opts dec_opts <<<"$spec"
  # shellcheck disable=SC2206
  enc=($enc_opts)
  # shellcheck disable=SC2206
  dec=($dec_opts)
  for input in "${inputs[@]}"; do
    tag="$name/$input"
    # eqt: the file carries the settings.
    expect_ok "encode $tag eqt" "$EQ" encode ${enc[@]+"${enc[@]}"} -o t.eqt "$input"
    if [[ $rc -eq 0 ]]; then
      expect_ok "decode $tag eqt" "$EQ" decode ${dec[@]+"${dec[@]}"} -o t.out t.eqt
      if [[ $rc -eq 0 ]]; then
        expect_same "round trip $tag eqt" "$input" t.out
      fi
    fi
    # raw and npy: run the decode command that encode prints.
    for format in raw npy; do
      expect_ok "encode $tag $format" "$EQ" encode ${enc[@]+"${enc[@]}"} --format "$format" -o "t.$format" \
        "$input"
      if [[ $rc -eq 0 ]]; then
        hint=$(sed -n 's/^eqinfo: to decode: eqinfo //p' "$T/err")
        if [[ -z $hint ]]; then
          fail "encode $tag $format printed no decode command"
          continue
        fi
        # shellcheck disable=SC2086
        expect_ok "decode $tag $format (printed command)" "$EQ" $hint -o t.out
        if [[ $rc -eq 0 ]]; then
          expect_same "round trip $tag $format" "$input" t.out
        fi
      fi
    done
  done
done

# The token file sizes match the formats: raw is tokens only, npy adds a
# 64-byte-aligned header, eqt a 40-byte header and a 4-byte CRC.
expect_ok "encode raw" "$EQ" encode --model en.ug --format raw -o s.raw text.txt
expect_ok "encode npy" "$EQ" encode --model en.ug --format npy -o s.npy text.txt
expect_ok "encode eqt" "$EQ" encode --model en.ug -o s.eqt text.txt
raw_size=$(wc -c <s.raw)
[[ $(wc -c <s.eqt) -eq $((raw_size + 44)) ]] || fail "eqt size $(wc -c <s.eqt) is not raw size $raw_size + 44"
[[ $((($(wc -c <s.npy) - raw_size) % 64)) -eq 0 ]] || fail "npy header is not a multiple of 64 bytes"
[[ $(head -c 6 s.npy | tail -c 5) == NUMPY ]] || fail "s.npy lacks the NUMPY magic"
[[ $(head -c 8 s.eqt) == EQINFOTK ]] || fail "s.eqt lacks the EQINFOTK magic"
# The npy format is detected without --format; settings given explicitly.
expect_ok "decode npy, settings by hand" "$EQ" decode -b 16 -N 16 --model en.ug --bytes "$(wc -c <text.txt)" \
  -o s.out s.npy
expect_same "round trip npy with settings by hand" text.txt s.out

# Standard input and output.
run bash -c "'$EQ' encode --model en.ug <text.txt | '$EQ' decode --model en.ug - >pipe.out"
[[ $rc -eq 0 ]] || fail "encode | decode pipe: exit $rc"
expect_same "stdin/stdout round trip" text.txt pipe.out
run bash -c "'$EQ' encode --method bytes - <empty.bin | '$EQ' decode >pipe.out"
[[ $rc -eq 0 ]] || fail "empty stdin pipe: exit $rc"
expect_same "empty stdin/stdout round trip" empty.bin pipe.out

# ---------------------------------------------------------------------------
# --verify

for opts in "--method bytes" "--method ac" "--method static-ac --model en.ug" "--model en.ug" \
  "--model en.ug --format raw" "--model en.ug --format npy -b 48 -N 8"; do
  # shellcheck disable=SC2086
  expect_ok "encode --verify $opts" "$EQ" encode $opts --verify -o v.tok text.txt
  if [[ $rc -eq 0 ]]; then
    grep -q "^verified: $(wc -c <text.txt) bytes round-trip$" "$T/err" ||
      fail "encode --verify $opts: no 'verified: N bytes round-trip' line"
  fi
done
expect_ok "encode --verify empty" "$EQ" encode --verify -o v.tok empty.bin
grep -q "^verified: 0 bytes round-trip$" "$T/err" || fail "encode --verify of empty input"

# ---------------------------------------------------------------------------
# --bare

expect_ok "decode --bare bytes" "$EQ" encode --method bytes -o b.eqt text.txt
expect_ok "decode --bare bytes" "$EQ" decode --bare -o b.out b.eqt
expect_same "bare decode of bytes tokens" text.txt b.out
expect_ok "encode for bare" "$EQ" encode --model en.ug --format raw -b 32 -N 8 -o b.raw text.txt
expect_ok "decode --bare raw equal-info" "$EQ" decode --format raw -b 32 -N 8 --model en.ug --bare -o b.out b.raw
expect_ok "encode ac for bare" "$EQ" encode --method static-ac --model en.ug -o b.eqt text.txt
expect_ok "decode --bare ac" "$EQ" decode --model en.ug --bare -o b.out b.eqt

# ---------------------------------------------------------------------------
# stats

expect_ok "stats" "$EQ" stats --model en.ug text.txt random.bin empty.bin
grep -q "bits/byte" "$T/out" || fail "stats: no bits/byte column"
grep -q "windows" "$T/out" || fail "stats: no windows column for equal-info"
grep -q "^total" "$T/out" || fail "stats: no total row"
expect_ok "stats bytes" "$EQ" stats --method bytes all256.bin
grep -q "256  *256  *1.000  *8.000" "$T/out" || fail "stats --method bytes: expected 256 bytes, 256 tokens, 8 bits/byte"
expect_ok "stats --all" "$EQ" stats --all --model en.ug text.txt
for row in "bytes N=8" "ac N=16" "static-ac N=16" "equal-info b=16 N=16" "equal-info b=16 N=8" "equal-info b=128 N=8"; do
  grep -q "^$row " "$T/out" || fail "stats --all: no '$row' row"
done
expect_ok "stats --all without a model" "$EQ" stats --all one.bin empty.bin
grep -q "static-ac" "$T/out" && fail "stats --all without --model shows static-ac"
grep -q "# total" "$T/out" || fail "stats --all of two files: no total table"
expect_ok "stats --all -P 20" "$EQ" stats --all -P 20 --model en.ug one.bin
grep -q "equal-info b=16" "$T/out" && fail "stats --all -P 20 shows b=16 (needs b >= P)"
grep -q "equal-info b=32 N=16" "$T/out" || fail "stats --all -P 20: no b=32 row"

# ---------------------------------------------------------------------------
# Help and version

expect_ok "--help" "$EQ" --help
grep -q "usage: eqinfo COMMAND" "$T/out" || fail "--help: no usage line"
for cmd in encode decode stats train-unigram; do
  expect_ok "help $cmd" "$EQ" help "$cmd"
  grep -q "usage: eqinfo $cmd" "$T/out" || fail "help $cmd: no usage line"
  expect_ok "$cmd --help" "$EQ" "$cmd" --help
  expect_ok "$cmd -h" "$EQ" "$cmd" -h
done
expect_ok "--version" "$EQ" --version
grep -q "^eqinfo [0-9]*\.[0-9]*\.[0-9]* (token stream format [0-9]*)$" "$T/out" || fail "--version output"

# ---------------------------------------------------------------------------
# Bad data: exit 1 with a message, never a crash

expect_ok "encode for corruption tests" "$EQ" encode --model en.ug -o c.eqt text.txt
size=$(wc -c <c.eqt)
head -c $((size - 5)) c.eqt >trunc.eqt
expect_fail "truncated .eqt" 1 "truncated" "$EQ" decode --model en.ug trunc.eqt
head -c 30 c.eqt >trunc.eqt
expect_fail "truncated .eqt header" 1 "truncated" "$EQ" decode --model en.ug trunc.eqt
head -c 5 c.eqt >trunc.eqt
expect_fail "truncated .eqt magic" 1 "truncated" "$EQ" decode --model en.ug trunc.eqt
expect_fail "truncated .eqt magic, --format eqt" 1 "truncated" "$EQ" decode --format eqt --model en.ug trunc.eqt

# Flip one byte of the token payload (which starts at byte 40).
flip_byte() {
  local file=$1 offset=$2 value o
  value=$(od -An -tu1 -j "$offset" -N1 "$file" | tr -d ' ')
  printf -v o '\\x%02x' $((value ^ 0x5a))
  printf '%b' "$o" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}
cp c.eqt flip.eqt
flip_byte flip.eqt 45
expect_fail "flipped payload byte" 1 "checksum" "$EQ" decode --model en.ug flip.eqt
cp c.eqt flip.eqt
flip_byte flip.eqt 0
expect_fail "bad magic" 2 "neither an .eqt nor an .npy" "$EQ" decode --model en.ug flip.eqt
expect_fail "bad magic, --format eqt" 1 "bad_magic" "$EQ" decode --format eqt --model en.ug flip.eqt

# Decoding with another model, or without the model, or other settings.
expect_fail "decode with another model" 1 "settings_mismatch" "$EQ" decode --model stdin.ug c.eqt
expect_fail "decode with a model of another precision" 1 "settings_mismatch" "$EQ" decode --model other.ug -P 16 c.eqt
expect_fail "decode without the model" 1 "settings_mismatch" "$EQ" decode c.eqt
expect_fail "decode with other settings" 1 "settings_mismatch" "$EQ" decode --model en.ug -b 32 c.eqt
expect_fail "decode with another method" 1 "settings_mismatch" "$EQ" decode --model en.ug --method ac c.eqt
expect_ok "encode uniform" "$EQ" encode -o u.eqt text.txt
expect_fail "decode uniform tokens with a model" 1 "settings_mismatch" "$EQ" decode --model en.ug u.eqt

# Raw tokens: wrong size, out-of-range values, wrong byte count, garbage.
printf 'abc' >odd.raw
expect_fail "odd-sized uint16 raw tokens" 1 "truncated" "$EQ" decode --format raw --bytes 3 odd.raw
expect_fail "8-bit tokens out of range for N=7" 1 "token_out_of_range" \
  "$EQ" decode --format raw --method ac -N 7 --bytes 3 all256.bin
expect_ok "encode raw for byte-count tests" "$EQ" encode --model en.ug --format raw -o w.raw text.txt
n=$(wc -c <text.txt)
run "$EQ" decode --format raw --model en.ug --bytes $((n + 1000)) w.raw
[[ $rc -eq 1 ]] || fail "raw tokens with too large --bytes: exit $rc (expected 1)"
run "$EQ" decode --format raw --model en.ug --bytes 1 w.raw
[[ $rc -eq 1 ]] || fail "raw tokens with too small --bytes: exit $rc (expected 1)"
for method in bytes ac static-ac equal-info; do
  for input in random.bin all256.bin text.txt; do
    run "$EQ" decode --format raw --method "$method" --model en.ug --bytes 100 "$input"
    [[ $rc -le 1 ]] || fail "garbage raw tokens ($method, $input): exit $rc"
    run "$EQ" decode --format raw --method "$method" --model en.ug --bare "$input"
    [[ $rc -le 1 ]] || fail "garbage raw tokens, --bare ($method, $input): exit $rc"
  done
done
{
  printf 'EQINFOTK'
  cat random.bin
} >garbage.eqt
expect_fail "garbage .eqt" 1 "eqinfo: \[eqinfo\." "$EQ" decode --model en.ug garbage.eqt
expect_fail "missing input" 1 "cannot open" "$EQ" encode -o x.eqt no-such-file
expect_fail "directory input" 1 "directory" "$EQ" encode -o x.eqt .
expect_fail "unwritable output" 1 "cannot open for writing" "$EQ" encode -o no-such-dir/x.eqt text.txt
expect_fail "bad model file" 1 "bad_magic" "$EQ" encode --model text.txt -o x.eqt text.txt
head -c 100 en.ug >short.ug
expect_fail "truncated model file" 1 "bad_model_file" "$EQ" encode --model short.ug -o x.eqt text.txt

# ---------------------------------------------------------------------------
# Usage errors: exit 2 with a hint

expect_fail "no command" 2 "see 'eqinfo --help'" "$EQ"
expect_fail "unknown command" 2 "unknown command" "$EQ" frobnicate
expect_fail "bad option" 2 "see 'eqinfo encode --help'" "$EQ" encode --no-such-option text.txt
expect_fail "bad short option" 2 "unknown option" "$EQ" decode -z c.eqt
expect_fail "missing option value" 2 "needs a value" "$EQ" encode text.txt -o
expect_fail "bad method" 2 "unknown method" "$EQ" encode --method zip -o x.eqt text.txt
expect_fail "bad rule" 2 "unknown window rule" "$EQ" encode --rule lazy -o x.eqt text.txt
expect_fail "bad format" 2 "unknown format" "$EQ" encode --format csv -o x.eqt text.txt
expect_fail "bad number" 2 "whole number" "$EQ" encode -b 16x -o x.eqt text.txt
expect_fail "N out of range" 2 "whole number" "$EQ" encode -N 40 -o x.eqt text.txt
expect_fail "invalid settings" 2 "invalid settings" "$EQ" encode -b 24 -N 16 -o x.eqt text.txt
expect_fail "b < P" 2 "invalid settings" "$EQ" encode -b 16 -P 20 -o x.eqt text.txt
expect_fail "bytes with N=16" 2 "8-bit tokens" "$EQ" encode --method bytes -N 16 -o x.eqt text.txt
expect_fail "static-ac without a model" 2 "needs a unigram model" "$EQ" encode --method static-ac -o x.eqt text.txt
expect_fail "raw without --bytes" 2 "--bytes" "$EQ" decode --format raw w.raw
expect_fail "--bytes with --bare" 2 "exclude" "$EQ" decode --format raw --bytes 3 --bare w.raw
expect_fail "--bytes with .eqt" 2 "only for" "$EQ" decode --model en.ug --bytes 3 c.eqt
expect_fail "two inputs" 2 "one input file" "$EQ" encode text.txt one.bin
expect_fail "stats without files" 2 "no input files" "$EQ" stats
expect_fail "train-unigram without -o" 2 "-o OUT" "$EQ" train-unigram text.txt
expect_fail "help for unknown command" 2 "unknown command" "$EQ" help frobnicate
expect_fail "flag with a value" 2 "takes no value" "$EQ" encode --verify=yes text.txt

# ---------------------------------------------------------------------------

echo "cli_test: $checks checks passed, $failures failed"
[[ $failures -eq 0 ]]
