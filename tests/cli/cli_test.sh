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

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=harness.sh
source "$HERE/harness.sh"
harness_start cli_test "$@"

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
[[ $(wc -c <s.eqt) -eq $((raw_size + 52)) ]] || fail "eqt size $(wc -c <s.eqt) is not raw size $raw_size + 52"
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
# Progress on a 5 MiB input: stderr is not a terminal here, so one line per
# 10 % (bytes done/total, percent, MB/s, ETA), automatic above 4 MiB.

: >big.txt
while [[ $(wc -c <big.txt) -lt 5242880 ]]; do cat text.txt >>big.txt; done
head -c 5242880 big.txt >big5.txt
expect_ok "encode --progress" "$EQ" encode --method static-ac --model en.ug --progress -o big.eqt big5.txt
if [[ $rc -eq 0 ]]; then
  lines=$(grep -c '^eqinfo: encoding big5\.txt: [0-9.]*/5\.24 MB ([0-9]* %), [0-9.]* MB/s, ETA [0-9.]* s$' "$T/err" || true)
  [[ $lines -ge 5 && $lines -le 10 ]] || fail "encode --progress: $lines progress lines (expected 5..10)"
  percents=$(sed -n 's/^eqinfo: encoding big5\.txt: .* (\([0-9]*\) %).*/\1/p' "$T/err" | tr '\n' ' ')
  sort -n -c <(tr ' ' '\n' <<<"$percents" | sed '/^$/d') 2>/dev/null || fail "encode --progress: percents not monotone: $percents"
  grep -q '^eqinfo: encoded big5\.txt: 5\.24 MB/5\.24 MB, [0-9]* tokens in' "$T/err" || fail "encode --progress: no final line"
  grep -q $'\r' "$T/err" && fail "encode --progress: carriage returns although stderr is not a terminal"
fi
expect_ok "decode, progress automatic above 4 MiB" "$EQ" decode --model en.ug -o big.out big.eqt
if [[ $rc -eq 0 ]]; then
  expect_same "round trip of the 5 MiB input" big5.txt big.out
  grep -q '^eqinfo: decoding big\.eqt: [0-9.]*/5\.24 MB ([0-9]* %)' "$T/err" || fail "decode of 5 MiB: no progress line"
fi
expect_ok "encode of a small input" "$EQ" encode --model en.ug -o small.eqt text.txt
grep -q "encoding" "$T/err" && fail "encode of a small input without --progress prints progress"
rm -f big.txt big5.txt big.eqt big.out

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
# --json: the same figures as the table, for scripts (train_m1.py reads it).
expect_ok "stats --json" "$EQ" stats --json --model en.ug text.txt random.bin
/usr/bin/python3 - "$T/out" <<'PY' || fail "stats --json: not the table's figures"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["results"]
assert [x["file"] for x in r] == ["text.txt", "random.bin"], r
assert all(abs(x["bytes_per_token"] - x["bytes"] / x["tokens"]) < 1e-5 for x in r)
assert r[0]["settings"]["method"] == "equal_info_ac" and r[0]["windows"] > 0
assert d["totals"][0]["bytes"] == sum(x["bytes"] for x in r)
PY
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
grep -q "^eqinfo [0-9]*\.[0-9]*\.[0-9]* (token stream format [0-9]*, M1 model format 2)$" "$T/out" || fail "--version output"
grep -Eq "^int8 kernel path: (scalar|sse2|avx2|avx512vnni|amx) " "$T/out" || fail "--version does not name the int8 kernel path"
# EQINFO_ISA forces a path; an unknown one is refused with its name.
EQINFO_ISA=scalar "$EQ" --version >"$T/out" 2>"$T/err"
grep -q "^int8 kernel path: scalar " "$T/out" || fail "EQINFO_ISA=scalar is not the path in use"
expect_fail "unknown EQINFO_ISA" 1 "EQINFO_ISA=sse9" env EQINFO_ISA=sse9 "$EQ" --version

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
flip_byte flip.eqt 53  # the first token byte (header: 52 bytes)
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
# M1 model files (a tiny config, so that this stays fast): m1-random ->
# m1-seal -> encode/decode round trips; damaged files fail cleanly; --threads
# gives the same tokens and bytes; m1-dump writes [n, 256] distributions.

m1_tiny=(--layers 1 --d-model 16 --heads 2 --head-dim 8 --d-ff 32 --context 64)
head -c 3000 text.txt >m1in.txt
expect_ok "m1-random" "$EQ" m1-random "${m1_tiny[@]}" --seed 5 -o tiny.m1
grep -q "m1-seal" "$T/err" || fail "m1-random does not suggest m1-seal"
expect_ok "m1-random, another seed" "$EQ" m1-random "${m1_tiny[@]}" --seed 6 -o other.m1
expect_ok "m1-seal" "$EQ" m1-seal tiny.m1 -o sealed.m1 --input m1in.txt --input one.bin
grep -q "self-test vectors" "$T/err" || fail "m1-seal does not report its self-test vectors"
grep -q '"self_test"' sealed.m1 || fail "m1-seal wrote no self_test metadata"
for m in "equal-info" "ac" "equal-info -b 32 -N 8"; do
  # shellcheck disable=SC2086  # $m is deliberately word-split
  expect_ok "encode with M1 ($m)" "$EQ" encode --model sealed.m1 --method $m -o m1.eqt m1in.txt
  [[ $rc -eq 0 ]] || continue
  expect_ok "decode with M1 ($m)" "$EQ" decode --model sealed.m1 -o m1.out m1.eqt
  [[ $rc -eq 0 ]] && expect_same "M1 round trip ($m)" m1in.txt m1.out
  expect_ok "decode --threads 2 with M1 ($m)" "$EQ" decode --model sealed.m1 --threads 2 -o m1.out2 m1.eqt
  [[ $rc -eq 0 ]] && expect_same "M1 round trip, --threads 2 ($m)" m1in.txt m1.out2
  expect_fail "M1 tokens without the model ($m)" 1 "settings_mismatch" "$EQ" decode -o m1.out m1.eqt
  expect_fail "M1 tokens with another model ($m)" 1 "settings_mismatch" "$EQ" decode --model other.m1 -o m1.out m1.eqt
done
expect_fail "M1 tokens with a unigram model" 1 "settings_mismatch" "$EQ" decode --model en.ug -o m1.out m1.eqt
# The unsealed file has the same tensors, hence the same fingerprint.
expect_ok "encode with the unsealed M1" "$EQ" encode --model tiny.m1 -o m1u.eqt m1in.txt
expect_ok "encode with the sealed M1" "$EQ" encode --model sealed.m1 -o m1s.eqt m1in.txt
[[ $rc -eq 0 ]] && expect_same "unsealed and sealed M1 give the same token file" m1u.eqt m1s.eqt
expect_ok "encode --verify --threads 2 with M1" "$EQ" encode --model sealed.m1 --verify --threads 2 -o m1v.eqt m1in.txt
[[ $rc -eq 0 ]] && expect_same "--threads 2 gives identical tokens" m1s.eqt m1v.eqt
expect_ok "encode with M1, raw" "$EQ" encode --model sealed.m1 --format raw -o m1.raw m1in.txt
grep -q -e "--model sealed.m1" "$T/err" || fail "encode --format raw with M1: the printed command lacks --model"
expect_ok "stats --all with M1" "$EQ" stats --all --model sealed.m1 m1in.txt one.bin
cp "$T/out" stats1.txt
expect_ok "stats --all --threads 2 with M1" "$EQ" stats --all --threads 2 --model sealed.m1 m1in.txt one.bin
[[ $rc -eq 0 ]] && expect_same "stats --threads 2 gives the same numbers" stats1.txt "$T/out"
grep -q "^ac N=16  *m1 " stats1.txt || fail "stats --all with M1 lacks the 'ac ... m1' row"
expect_fail "static-ac with M1" 2 "with an M1 model use --method ac" \
  "$EQ" encode --method static-ac --model sealed.m1 -o x.eqt m1in.txt

# Damaged model files: exit 1 with the reason.
head -c 2000 sealed.m1 >trunc.m1
expect_fail "truncated M1 file (header)" 1 "truncated" "$EQ" encode --model trunc.m1 -o x.eqt m1in.txt
head -c $(($(wc -c <sealed.m1) - 100)) sealed.m1 >trunc2.m1
expect_fail "truncated M1 file (tensors)" 1 "truncated" "$EQ" encode --model trunc2.m1 -o x.eqt m1in.txt
size=$(wc -c <sealed.m1)
cp sealed.m1 flip.m1
# Flip one bit of a byte near the end (inside the tensor data).
byte=$(od -An -tu1 -j $((size - 7)) -N1 flip.m1 | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of=flip.m1 bs=1 seek=$((size - 7)) conv=notrunc status=none
cmp -s sealed.m1 flip.m1 && fail "could not flip a byte of the M1 file"
expect_fail "M1 file with a flipped tensor byte" 1 "checksum" "$EQ" encode --model flip.m1 -o x.eqt m1in.txt
expect_fail "m1-seal of a unigram file" 2 "not an M1 model file" "$EQ" m1-seal en.ug -o x.m1
expect_fail "m1-seal without -o" 2 "-o OUT" "$EQ" m1-seal tiny.m1
expect_fail "m1-random without -o" 2 "-o OUT" "$EQ" m1-random "${m1_tiny[@]}"
expect_fail "m1-random, bad layers" 2 "whole number" "$EQ" m1-random --layers 0 -o x.m1

# m1-dump: uint32 [n, 257] integer CDFs; every kernel path writes the same bytes.
expect_ok "m1-dump" "$EQ" m1-dump sealed.m1 m1in.txt probs.f32
[[ $rc -eq 0 && $(wc -c <probs.f32) -eq $((3000 * 257 * 4)) ]] || fail "m1-dump wrote $(wc -c <probs.f32 2>/dev/null) bytes, expected $((3000 * 257 * 4))"
for isa in scalar sse2 avx2 avx512vnni amx; do
  if EQINFO_ISA=$isa "$EQ" --version >/dev/null 2>&1; then
    expect_ok "m1-dump, EQINFO_ISA=$isa" env EQINFO_ISA=$isa "$EQ" m1-dump sealed.m1 m1in.txt probs_isa.f32
    [[ $rc -eq 0 ]] && expect_same "m1-dump CDFs, EQINFO_ISA=$isa" probs.f32 probs_isa.f32
  else
    echo "cli_test: int8 path $isa not supported by this CPU/OS: skipped"
  fi
done
expect_ok "m1-dump of an empty input" "$EQ" m1-dump sealed.m1 empty.bin probs0.f32
[[ $rc -eq 0 && ! -s probs0.f32 ]] || fail "m1-dump of an empty input is not empty"
expect_fail "m1-dump usage" 2 "MODEL INPUT OUT" "$EQ" m1-dump sealed.m1 m1in.txt
# A version 1 (float) file: refused with how to convert it; m1-quantize converts.
V1="$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)/m1_v1_tiny.safetensors"
expect_fail "encode with a version 1 M1 file" 1 "m1-quantize" "$EQ" encode --model "$V1" -o x.eqt m1in.txt
expect_ok "m1-quantize" "$EQ" m1-quantize "$V1" -o quantized.m1
expect_ok "encode with the quantised M1" "$EQ" encode --model quantized.m1 -o q.eqt m1in.txt
expect_ok "decode with the quantised M1" "$EQ" decode --model quantized.m1 -o q.out q.eqt
[[ $rc -eq 0 ]] && expect_same "quantised M1 round trip" m1in.txt q.out
expect_fail "m1-quantize without -o" 2 "-o OUT" "$EQ" m1-quantize "$V1"
rm -f quantized.m1 q.eqt q.out probs_isa.f32
for topic in m1-random m1-seal m1-dump m1-quantize; do
  expect_ok "help $topic" "$EQ" help "$topic"
  grep -q "usage: eqinfo $topic" "$T/out" || fail "help $topic"
done
rm -f tiny.m1 other.m1 sealed.m1 trunc.m1 trunc2.m1 flip.m1 probs.f32 probs0.f32 m1*.eqt m1.out m1.out2 m1.raw m1in.txt stats1.txt

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
# The default model: the bundled M1 of the source tree (or $EQINFO_MODEL)

BUNDLED=${DATA:+$DATA/../models/m1/m1.safetensors}
head -c 3000 text.txt >m1in.txt
if [[ -n $BUNDLED && -f $BUNDLED ]]; then
  expect_ok "encode with the default model" env -u EQINFO_MODEL "$EQ" encode -o def.eqt m1in.txt
  expect_ok "encode with the bundled M1 named" env -u EQINFO_MODEL "$EQ" encode --model "$BUNDLED" -o named.eqt m1in.txt
  expect_same "the default model is the bundled M1" named.eqt def.eqt
  expect_ok "decode with the default model" env -u EQINFO_MODEL "$EQ" decode -o def.out def.eqt
  expect_same "default model round trip" m1in.txt def.out
  expect_ok "stats with the default model" env -u EQINFO_MODEL "$EQ" stats m1in.txt
  grep -q "model=m1" "$T/out" || fail "stats without --model does not use M1: $(head -1 "$T/out")"
  # The bundled M1 compresses English: clearly below the 8 bits/byte of the uniform model.
  awk 'NR == 3 && $5 + 0 > 6.0 { exit 1 }' "$T/out" || fail "the bundled M1 codes English at > 6 bits/byte"
  expect_fail "decode with the uniform model instead" 1 "settings_mismatch" "$EQ" decode --model uniform def.eqt
else
  fail "the bundled M1 ($BUNDLED) is missing"
fi
expect_ok "--model uniform" env -u EQINFO_MODEL "$EQ" encode --model uniform -o u.eqt m1in.txt
expect_ok "decode --model uniform" env -u EQINFO_MODEL "$EQ" decode --model uniform -o u.out u.eqt
expect_same "--model uniform round trip" m1in.txt u.out
expect_fail "EQINFO_MODEL names a missing file" 1 "no-such-model" env EQINFO_MODEL="$T/no-such-model" \
  "$EQ" encode -o x.eqt m1in.txt
expect_ok "the bytes method needs no model" env EQINFO_MODEL="$T/no-such-model" "$EQ" encode --method bytes \
  -o x.eqt m1in.txt

# ---------------------------------------------------------------------------

echo "cli_test: $checks checks passed, $failures failed"
[[ $failures -eq 0 ]]
