#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end tests of 'eqinfo shard' and 'eqinfo verify'.
#
# usage: shard_test.sh EQINFO_BINARY [DATA_DIR]
#
# Round trips through 'eqinfo verify' for text, .jsonl and directory inputs,
# joined and --keep-documents, npy and raw, every method (uniform, unigram
# and a tiny M1 model); the token stream checked independently (a single
# example equals 'eqinfo encode', bytes-method shards hold exactly the joined
# stream); identical output for --threads 1, 2 and 3; kill -9 mid-run and
# resume, compared file by file with an uninterrupted run; refusal to resume
# with other settings; verify catching a damaged shard and a changed
# source; empty input; NULs and invalid UTF-8; usage and data errors.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=harness.sh
source "$HERE/harness.sh"
harness_start shard_test "$@"

# shard_and_verify DESCRIPTION DIR SHARD-OPTIONS... : shard into DIR, then verify it.
shard_and_verify() {
  local what=$1 dir=$2
  shift 2
  rm -rf "$dir"
  expect_ok "shard $what" "$EQ" shard --threads 2 --out "$dir" "$@"
  [[ $rc -eq 0 ]] || return 0
  expect_ok "verify $what" "$EQ" verify --threads 2 "$dir"
  [[ $rc -eq 0 ]] || return 0
  grep -q "every example decodes to its source bytes" "$T/out" || fail "verify $what: no summary line"
}

# The data of a .npy file as one unsigned number per line (od type, e.g. u2 or d8).
npy_values() {
  local header
  header=$(od -An -tu2 -j8 -N2 "$2" | tr -d ' ')
  od -An "-t$1" -v -j $((10 + header)) "$2" | tr -s ' ' '\n' | sed '/^$/d'
}
# Raw little-endian uint16 tokens, or plain bytes, one per line.
u16_values() { od -An -tu2 -v "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
byte_values() { od -An -tu1 -v "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
# A JSON number field of manifest.json's "totals".
total() { sed -n "s/.*\"totals\": {.*\"$2\": \([0-9]*\).*/\1/p" "$1/manifest.json"; }

# ---------------------------------------------------------------------------
# Inputs and models

if [[ -n $DATA && -f $DATA/sample/sotu_sample.txt ]]; then
  head -c 65536 "$DATA/sample/sotu_sample.txt" >text.txt
else
  for ((i = 0; i < 1500; i++)); do printf 'the state of the union is strong, said the speaker %d times.\n' "$i"; done >text.txt
fi
: >empty.txt
{
  for ((i = 0; i < 256; i++)); do
    printf -v o '\\x%02x' "$i"
    printf '%b' "$o"
  done
} >all256.bin
printf 'bad \xff\xfe utf-8 \xc3\x28 and NUL \x00 bytes\x00' >binary.bin
head -c 20000 text.txt >text20k.txt

expect_ok "train-unigram" "$EQ" train-unigram text.txt -o en.ug
m1_tiny=(--layers 1 --d-model 16 --heads 2 --head-dim 8 --d-ff 32 --context 64)
expect_ok "m1-random" "$EQ" m1-random "${m1_tiny[@]}" --seed 5 -o tiny.m1

# A .jsonl file: escapes (a surrogate pair, \u0000), blank lines, CRLF, other
# fields (a nested "text" must not be taken), an empty last document without a
# trailing newline.
{
  printf '%s\n' '{"id": 1, "text": "caf\u00e9 \ud83d\ude00 line\nbreak \"q\" tab\t nul\u0000 end", "x": [1, 2]}'
  printf '\n   \n'
  printf '%s\r\n' '{"meta": {"text": "not me"}, "text": "second \u00ff"}'
  printf '%s' '{"text": "", "n": null}'
} >docs.jsonl
# The documents it holds, joined by the default separator "\n\n".
printf 'caf\xc3\xa9 \xf0\x9f\x98\x80 line\nbreak "q" tab\t nul\x00 end\n\nsecond \xc3\xbf\n\n' >docs.expected

# ---------------------------------------------------------------------------
# The token stream, checked independently of verify

# One example holding all of a file is exactly what 'eqinfo encode' writes
# (N = 16: both store uint16).
expect_ok "shard, one example" "$EQ" shard --model en.ug --example-bytes 1000000 --threads 1 --out one text.txt
expect_ok "encode the same file" "$EQ" encode --model en.ug --format npy -o text.npy text.txt
expect_same "a one-example shard equals 'eqinfo encode'" text.npy one/shard-000000.npy
expect_ok "shard, one example, raw" "$EQ" shard --model en.ug --example-bytes 1000000 --format raw --out one-raw text.txt
expect_ok "encode the same file, raw" "$EQ" encode --model en.ug --format raw -o text.raw text.txt
expect_same "a one-example raw shard equals 'eqinfo encode --format raw'" text.raw one-raw/shard-000000.bin
[[ ! -e one-raw/shard-000000.npy ]] || fail "--format raw also wrote a .npy token file"
[[ ! -e one/.eqinfo-shard ]] || fail "the state directory is left behind after a finished run"

# The bytes method stores the joined stream itself, one uint16 per byte.
expect_ok "shard jsonl with bytes" "$EQ" shard --method bytes --format raw --example-bytes 7 --shard-examples 3 \
  --out jb docs.jsonl
if [[ $rc -eq 0 ]]; then
  cat jb/shard-*.bin >jb.all
  if [[ "$(u16_values jb.all | tr '\n' ' ')" == "$(byte_values docs.expected | tr '\n' ' ')" ]]; then pass; else
    fail "the jsonl documents, unescaped and joined, are not the expected bytes"
  fi
  [[ $(total jb documents) -eq 3 ]] || fail "docs.jsonl: $(total jb documents) documents, expected 3"
  [[ $(total jb bytes) -eq $(wc -c <docs.expected) ]] || fail "docs.jsonl: $(total jb bytes) bytes in examples"
  grep -q '"token_dtype": "uint16"' jb/manifest.json || fail "bytes shards are not uint16"
fi
expect_ok "verify the jsonl bytes shards" "$EQ" verify jb

# --separator with escapes (not UTF-8: only separator_hex is written) and
# --text-field.
printf '%s\n' '{"body": "A", "text": "x"}' '{"body": "BC"}' >field.jsonl
expect_ok "shard with --separator and --text-field" "$EQ" shard --method bytes --format raw \
  --separator '\0-\xff\n' --text-field body --out sep field.jsonl
if [[ $rc -eq 0 ]]; then
  printf 'A\x00-\xff\nBC' >sep.expected
  if [[ "$(u16_values sep/shard-000000.bin | tr '\n' ' ')" == "$(byte_values sep.expected | tr '\n' ' ')" ]]; then pass; else
    fail "--separator '\\0-\\xff\\n' did not join the documents with those bytes"
  fi
  grep -q '"separator_hex": "002dff0a"' sep/manifest.json || fail "manifest lacks separator_hex 002dff0a"
  grep -q '"separator":' sep/manifest.json && fail "a non-UTF-8 separator was written as a JSON string"
fi
expect_ok "verify --separator shards" "$EQ" verify sep

# The index of joined examples: contiguous stream offsets, documents in order.
expect_ok "shard for the index" "$EQ" shard --method bytes --example-bytes 100 --shard-examples 1000 --out ix \
  text20k.txt all256.bin binary.bin
if [[ $rc -eq 0 ]]; then
  rows=$(npy_values d8 ix/shard-000000.idx.npy | paste - - - - - -)
  # stream_offset document document_offset byte_count token_offset token_count
  awk -v total=$((20000 + 2 + 256 + 2 + $(wc -c <binary.bin))) '
    { if ($1 != next_off || $5 != next_tok || $4 != $6 || $4 < 1 || $4 > 100 || $2 < last_doc) bad = NR
      next_off = $1 + $4; next_tok = $5 + $6; last_doc = $2 }
    END { if (bad || next_off != total) { print "bad row " bad ", end " next_off " of " total; exit 1 } }' \
    <<<"$rows" && pass || fail "shard index rows are not contiguous: $(awk 'NR<=3' <<<"$rows" | tr '\n' ';')"
  # Example 200 starts in the separator after document 0, which belongs to it.
  grep -q "^20000	0	20000	100	" <<<"$rows" && pass || fail "no example starting in document 0's separator at 20000"
  docs=$(npy_values d8 ix/shard-000000.docs.npy | paste - - - | tr '\t' ' ' | tr '\n' ';')
  [[ $docs == "0 0 20000;1 20002 256;2 20260 $(wc -c <binary.bin);" ]] || fail "document table: $docs"
fi

# ---------------------------------------------------------------------------
# Round trips through verify: inputs x methods x formats

shard_and_verify "text, equal-info unigram, npy" a --model en.ug --example-bytes 3000 --shard-examples 5 text.txt
examples=$((($(wc -c <text.txt) + 2999) / 3000))
expected=$(printf 'a/shard-%06d.npy' $(((examples + 4) / 5 - 1)))
[[ -f $expected && $(ls a/shard-??????.npy | wc -l) -eq $(((examples + 4) / 5)) ]] ||
  fail "text.txt in 3000-byte examples, 5 a shard: expected $(((examples + 4) / 5)) shards"
shard_and_verify "text + binary, raw" b --model en.ug --format raw --example-bytes 1000 --shard-examples 7 \
  text20k.txt all256.bin binary.bin empty.txt
shard_and_verify "jsonl, static-ac" c --method static-ac --model en.ug --example-bytes 9 --shard-examples 2 docs.jsonl
shard_and_verify "jsonl, keep-documents" d --model en.ug --keep-documents --example-bytes 5 --shard-examples 4 docs.jsonl
shard_and_verify "ac uniform" e --method ac --example-bytes 2000 text20k.txt binary.bin
shard_and_verify "ac N=20 P=20 (uint32)" f --method ac -N 20 -P 20 --model en.ug --example-bytes 2000 text20k.txt
grep -q '"token_dtype": "uint32"' f/manifest.json || fail "N=20 shards are not uint32"
shard_and_verify "bytes" g --method bytes --example-bytes 4096 text20k.txt all256.bin
shard_and_verify "equal-info greedy-exact b=32 N=8" h --model en.ug -b 32 -N 8 --rule greedy-exact \
  --example-bytes 1500 --shard-examples 3 text20k.txt binary.bin
shard_and_verify "equal-info uniform, raw" i --format raw --example-bytes 4000 text20k.txt
head -c 3000 text.txt >m1in.txt
shard_and_verify "M1 equal-info" j --model tiny.m1 --example-bytes 700 --shard-examples 2 m1in.txt binary.bin

# Directories: files sorted by relative path (bytewise), hidden ones skipped.
mkdir -p corpus/b corpus/.git corpus/a
printf 'upper' >corpus/B.txt
printf 'first a' >corpus/a/1.txt
printf '%s\n' '{"text": "from jsonl"}' >corpus/b/c.jsonl
printf 'hidden' >corpus/b/.hidden.txt
printf 'git' >corpus/.git/config
printf 'last' >corpus/z.txt
expect_ok "shard a directory" "$EQ" shard --method bytes --format raw --separator '|' --out dir corpus
if [[ $rc -eq 0 ]]; then
  if [[ "$(u16_values dir/shard-000000.bin | tr '\n' ' ')" == "$(printf 'upper|first a|from jsonl|last' >dir.expected && byte_values dir.expected | tr '\n' ' ')" ]]; then
    pass
  else
    fail "a directory is not read as B.txt, a/1.txt, b/c.jsonl, z.txt without hidden files"
  fi
  grep -q '"path": "corpus/b/c.jsonl", "type": "jsonl"' dir/manifest.json || fail "corpus/b/c.jsonl is not listed as jsonl"
fi
shard_and_verify "directory, keep-documents, unigram" k --model en.ug --keep-documents --example-bytes 3 corpus text20k.txt
# The output directory inside an input directory is not read as input.
expect_ok "shard into a directory inside the input" "$EQ" shard --model en.ug --out corpus/shards corpus
expect_ok "rerun: the output directory is skipped" "$EQ" shard --model en.ug --out corpus/shards corpus
grep -q "already complete" "$T/err" || fail "rerun of a finished run: no 'already complete' note"
expect_ok "verify shards inside the input" "$EQ" verify corpus/shards
rm -rf corpus/shards

# keep-documents: no example crosses a document, examples start at multiples
# of --example-bytes within their document, no separator bytes.
if [[ -f d/manifest.json ]]; then
  npy_values d8 d/shard-000000.idx.npy | paste - - - - - - | awk '$3 % 5 != 0 { exit 1 }' && pass ||
    fail "--keep-documents: an example does not start at a multiple of --example-bytes in its document"
  [[ $(total d bytes) -eq $(($(wc -c <docs.expected) - 4)) ]] || fail "--keep-documents holds separator bytes"
fi

# ---------------------------------------------------------------------------
# Empty input, NULs and invalid UTF-8

shard_and_verify "empty input" empty empty.txt
[[ $(total empty shards) -eq 0 && -z $(ls empty | grep -v manifest.json) ]] || fail "empty input: expected no shard files"
mkdir -p emptydir
shard_and_verify "empty directory" emptydir-out emptydir
printf '\n\n' >blank.jsonl
shard_and_verify "jsonl of blank lines" blank blank.jsonl
shard_and_verify "NULs and invalid UTF-8, equal-info" nul --model en.ug --example-bytes 10 binary.bin all256.bin
shard_and_verify "NULs and invalid UTF-8, keep-documents" nul2 --keep-documents --example-bytes 100 binary.bin all256.bin

# ---------------------------------------------------------------------------
# Threads: identical directories

for t in 1 2 3; do
  rm -rf "th$t"
  expect_ok "shard --threads $t" "$EQ" shard --model en.ug --example-bytes 1024 --shard-examples 7 --threads "$t" \
    --out "th$t" text.txt binary.bin docs.jsonl
done
expect_same "--threads 2 gives the same directory as --threads 1" th1 th2
expect_same "--threads 3 gives the same directory as --threads 1" th1 th3

# ---------------------------------------------------------------------------
# Kill -9 mid-run, then resume: byte-identical to an uninterrupted run.

# The run must last a few seconds to be killed mid-way, in any build (an
# ASan build codes M1 many times slower): time a 16 KB run, size the input
# for about 3 s, cut into 24 shards of 2 examples.
now_ms() { date +%s%3N; }
head -c 16384 text.txt >calibrate.txt
t0=$(now_ms)
expect_ok "calibration run" "$EQ" shard --model tiny.m1 --example-bytes 1024 --shard-examples 2 --threads 1 \
  --out calibrate calibrate.txt
ms=$(($(now_ms) - t0 + 1))
slow_bytes=$((16384 * 3000 / ms))
((slow_bytes < 48000)) && slow_bytes=48000
((slow_bytes > 2000000)) && slow_bytes=2000000
example_bytes=$((slow_bytes / 48))
for ((i = 0; i < 32; i++)); do cat text.txt; done >slow.all
head -c "$slow_bytes" slow.all >slow.txt
rm -rf slow.all calibrate
slow=(shard --model tiny.m1 --example-bytes "$example_bytes" --shard-examples 2 --threads 1 slow.txt binary.bin)
expect_ok "uninterrupted run" "$EQ" "${slow[@]}" --out full
nshards=$(total full shards)
[[ $nshards -ge 24 ]] || fail "the slow run has only $nshards shards"

# start_and_kill DIR DONE: starts the run into DIR, kills it with -9 once
# DONE shard done-records exist; fails if the run ends first.
start_and_kill() {
  local dir=$1 want=$2 n=0 tries=0
  "$EQ" "${slow[@]}" --out "$dir" >/dev/null 2>&1 &
  bg_pid=$!
  while ((tries < 1200)); do
    n=$(ls "$dir/.eqinfo-shard" 2>/dev/null | grep -c '^shard-.*\.json$' || true)
    ((n >= want)) && break
    kill -0 "$bg_pid" 2>/dev/null || break
    sleep 0.05
    tries=$((tries + 1))
  done
  if ! kill -9 "$bg_pid" 2>/dev/null; then
    fail "the run into $dir ended before it could be killed (after $n shards)"
  fi
  wait "$bg_pid" 2>/dev/null || true
  bg_pid=
  [[ ! -e $dir/manifest.json ]] || fail "a killed run wrote manifest.json"
}

# Every finished shard file of an interrupted run is already the final one.
check_partial() {
  local dir=$1 f name good=0
  for f in "$dir"/shard-*; do
    [[ -e $f ]] || continue
    name=${f##*/}
    [[ $name == *.tmp ]] && continue
    if cmp -s "$f" "full/$name"; then good=$((good + 1)); else fail "$dir/$name of a killed run differs from the uninterrupted run's"; fi
  done
  for f in "$dir"/.eqinfo-shard/shard-*.json; do
    [[ -e $f ]] || continue
    name=${f##*/}
    [[ -f $dir/${name%.json}.npy ]] || fail "$dir: done-record $name without its shard"
  done
  ((good >= 6)) && pass || fail "$dir: only $good finished shard files after the kill"
}

start_and_kill part 2
check_partial part
# Refusals: other settings, another model, other inputs; the directory is kept.
cp -r part part.before
expect_fail "resume with other settings" 1 "settings_mismatch.*window bits (-b) 16.*window bits (-b) 32" \
  "$EQ" "${slow[@]}" -b 32 --out part
expect_fail "resume with another example size" 1 "example-bytes $example_bytes.*example-bytes 999" \
  "$EQ" "${slow[@]}" --example-bytes 999 --out part
expect_fail "resume with another model" 1 "settings_mismatch.*model" "$EQ" "${slow[@]}" --model en.ug --out part
expect_fail "resume with other inputs" 1 "settings_mismatch.*input" \
  "$EQ" shard --model tiny.m1 --example-bytes "$example_bytes" --shard-examples 2 --threads 1 --out part slow.txt
expect_same "refused resumes leave the directory as it was" part.before part
# Resume, kill again, resume to the end (on 2 threads: the thread count is not part of the job).
start_and_kill part 5
check_partial part
expect_ok "resume" "$EQ" "${slow[@]}" --threads 2 --out part
grep -q "kept [0-9]* shards an interrupted run had finished" "$T/err" || fail "resume: no note about kept shards"
expect_same "killed twice and resumed = uninterrupted" full part
# A shard file damaged while the run was stopped is made again.
start_and_kill part2 3
printf 'garbage' >part2/shard-000000.npy
expect_ok "resume with a damaged finished shard" "$EQ" "${slow[@]}" --out part2
grep -q "redoing it" "$T/err" || fail "resume did not redo a damaged shard"
expect_same "resumed after damage = uninterrupted" full part2
rm -rf part part.before part2

# Other refusals.
mkdir -p foreign && printf 'x' >foreign/notes.txt
expect_fail "a non-empty foreign directory" 1 "not empty and holds no shard run" \
  "$EQ" shard --out foreign text20k.txt
expect_fail "a finished directory, other settings" 1 "settings_mismatch" \
  "$EQ" shard --model en.ug -N 8 --example-bytes 3000 --shard-examples 5 --out a text.txt

# ---------------------------------------------------------------------------
# verify catches damage and changed sources

flip_byte() {
  local file=$1 offset=$2 value o
  value=$(od -An -tu1 -j "$offset" -N1 "$file" | tr -d ' ')
  printf -v o '\\x%02x' $((value ^ 0x5a))
  printf '%b' "$o" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}
cp -r a a-flip
flip_byte a-flip/shard-000001.npy 200
expect_fail "verify: a flipped token byte" 1 "shard-000001.npy: CRC-32" "$EQ" verify a-flip
cp -r a a-idx
flip_byte a-idx/shard-000002.idx.npy 140
expect_fail "verify: a flipped index byte" 1 "shard-000002.idx.npy: CRC-32" "$EQ" verify a-idx
cp -r a a-missing
rm a-missing/shard-000003.docs.npy
expect_fail "verify: a missing file" 1 "shard-000003.docs.npy" "$EQ" verify a-missing
rm -rf a-flip a-idx a-missing

cp text.txt changed.txt
expect_ok "shard a source to change" "$EQ" shard --model en.ug --example-bytes 3000 --shard-examples 5 --out ch changed.txt
expect_ok "verify before the change" "$EQ" verify ch
flip_byte changed.txt 20000
expect_fail "verify: a changed source byte" 1 "shard 1 (shard-000001.npy) example 1 .*differ from the source at byte 2000" \
  "$EQ" verify ch
printf 'more' >>changed.txt
expect_fail "verify: a longer source" 1 "changed.txt: .*the source changed after sharding" "$EQ" verify ch
rm changed.txt
expect_fail "verify: a missing source" 1 "changed.txt: cannot open" "$EQ" verify ch
expect_fail "verify with another model" 1 "settings_mismatch" "$EQ" verify --model tiny.m1 a
expect_ok "verify with the model given" "$EQ" verify --model en.ug a
expect_fail "verify of a non-shard directory" 1 "manifest.json" "$EQ" verify foreign

# ---------------------------------------------------------------------------
# Progress

expect_ok "shard --progress" "$EQ" shard --model en.ug --example-bytes 2048 --shard-examples 4 --progress --out p text.txt
grep -q '^eqinfo: sharding 1 input file: [0-9.]*/0\.07 MB ([0-9]* %), [0-9.]* MB/s, ETA [0-9.]* s$' "$T/err" ||
  fail "shard --progress: no progress line with MB/s and ETA"
grep -q '^eqinfo: sharded 1 input file: .* shards in' "$T/err" || fail "shard --progress: no final line"
expect_ok "shard without --progress" "$EQ" shard --model en.ug --out q text20k.txt
grep -q "sharding" "$T/err" && fail "shard of a small input without --progress prints progress"

# ---------------------------------------------------------------------------
# Errors: exit 1 for bad data, 2 for usage

printf '%s\n' '{"text": "ok"}' '{"text": "broken' >bad.jsonl
expect_fail "jsonl with a broken line" 1 "bad.jsonl:2: invalid JSON" "$EQ" shard --out e1 bad.jsonl
# Fixing the input and rerunning starts over: the failed run finished no shard.
printf '%s\n' '{"text": "ok"}' '{"text": "fixed"}' >bad.jsonl
expect_ok "rerun after fixing the input" "$EQ" shard --out e1 bad.jsonl
grep -q "finished no shard; starting over" "$T/err" || fail "rerun after a failed run: no 'starting over' note"
printf '%s\n' '{"body": "no text"}' >nofield.jsonl
expect_fail "jsonl without the field" 1 'nofield.jsonl:1: .*no field "text".*--text-field' "$EQ" shard --out e2 nofield.jsonl
printf '%s\n' '["not", "an object"]' >array.jsonl
expect_fail "jsonl line that is not an object" 1 "array.jsonl:1: .*not a JSON object" "$EQ" shard --out e3 array.jsonl
printf '%s\n' '{"text": 5}' >number.jsonl
expect_fail "jsonl field that is not a string" 1 "not a string" "$EQ" shard --out e4 number.jsonl
expect_fail "missing input" 1 "no-such-file: cannot open" "$EQ" shard --out e5 no-such-file
expect_fail "no --out" 2 "give --out DIR" "$EQ" shard text.txt
expect_fail "no inputs" 2 "no inputs" "$EQ" shard --out e6
expect_fail "stdin as input" 2 "standard input cannot be sharded" "$EQ" shard --out e7 -
expect_fail "bad format" 2 "unknown format" "$EQ" shard --format eqt --out e8 text.txt
expect_fail "bad separator escape" 2 "unknown escape" "$EQ" shard --separator 'a\qb' --out e9 text.txt
expect_fail "zero example bytes" 2 "whole number" "$EQ" shard --example-bytes 0 --out e10 text.txt
expect_fail "invalid settings" 2 "invalid settings" "$EQ" shard -b 24 -N 16 --out e11 text.txt
expect_fail "verify without a directory" 2 "one shard directory" "$EQ" verify
expect_fail "verify with a bad option" 2 "unknown option" "$EQ" verify --format raw a
for cmd in shard verify; do
  expect_ok "help $cmd" "$EQ" help "$cmd"
  grep -q "usage: eqinfo $cmd" "$T/out" || fail "help $cmd: no usage line"
  expect_ok "$cmd --help" "$EQ" "$cmd" --help
done

echo "shard_test: $checks checks passed, $failures failed"
[[ $failures -eq 0 ]]
