# SPDX-License-Identifier: MIT
# Sourced by the benchmark scripts: bench_input BYTES OUT writes the first
# BYTES bytes of the held-out English text (scripts/prepare-data.sh; EQINFO_DATA
# overrides its folder) to OUT, or the bundled samples repeated when it is
# not there. Sets BENCH_INPUT_SOURCE to what it read.
bench_input() {
  local bytes=$1 out=$2
  local data=${EQINFO_DATA:-$HOME/.cache/eqinfo/data}/heldout.txt
  if [[ -f $data ]]; then
    BENCH_INPUT_SOURCE=$data
    head -c "$bytes" "$data" >"$out"
  else
    BENCH_INPUT_SOURCE=data/sample
    : >"$out"
    while [[ $(stat -c %s "$out") -lt $bytes ]]; do cat data/sample/*.txt >>"$out"; done
    truncate -s "$bytes" "$out"
  fi
}
