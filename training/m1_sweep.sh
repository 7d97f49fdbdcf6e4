#!/usr/bin/env bash
# The M1 choices of docs/results/m1.md, measured by what the tokenizer gets out of them:
# EqualInfoAC[b=16] bytes per token (eqinfo's C++ coder) on validation and held-out text.
#
#   bash training/m1_sweep.sh mix     # example mix: share of no-left-context examples, same steps
#   bash training/m1_sweep.sh size    # model size at a fixed training compute (the small model's 800 steps)
#
# Each run trains from scratch with seed 0 on the prepared corpus (scripts/prepare-data.sh) on one
# thread, then seals the export and measures it. Results: runs/sweep/<name>/ and one TSV line per
# run in runs/sweep/results.tsv. Needs an eqinfo CLI (EQINFO_CLI, default build/release/tools/eqinfo).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${EQINFO_DATA:-$HOME/.cache/eqinfo/data}"
CLI="${EQINFO_CLI:-build/release/tools/eqinfo}"
PY=/usr/bin/python3
OUT=runs/sweep
EVAL_BYTES=65536 # the first 64 KiB of each text: ~4 s per measurement with the small M1
[[ -x "$CLI" ]] || { echo "m1_sweep: no eqinfo CLI at $CLI (cmake --build ... --target eqinfo_cli)" >&2; exit 1; }
[[ -f "$DATA/train.txt" ]] || { echo "m1_sweep: no corpus in $DATA (bash scripts/prepare-data.sh)" >&2; exit 1; }
mkdir -p "$OUT"
head -c $EVAL_BYTES "$DATA/valid.txt" > "$OUT/valid.eval.txt"
head -c $EVAL_BYTES "$DATA/heldout.txt" > "$OUT/heldout.eval.txt"

bytes_per_token() { # model file, N
  "$CLI" stats --model "$1" --method equal-info -b 16 -N "$2" "$3" | awk 'NR==3 {print $4}'
}

# run NAME TRAIN_FLAGS...
run() {
  local name=$1
  shift
  local dir="$OUT/$name"
  if [[ ! -f "$dir/m1.safetensors" ]]; then
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 "$PY" -m training.train_m1 --data-dir "$DATA" --threads 1 \
      --no-progress --out "$dir" "$@" > "$dir.log" 2>&1 || { tail "$dir.log" >&2; return 1; }
  fi
  "$CLI" m1-seal "$dir/m1.safetensors" -o "$dir/m1.sealed.safetensors" > /dev/null
  local m="$dir/m1.sealed.safetensors"
  local line
  line=$("$PY" - "$dir/log.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
last = [r for r in rows if r.get("valid_bpb_windows") is not None][-1]
print(f"{last['step']}\t{last['bytes_seen']}\t{last['train_s']:.0f}\t{last['valid_bpb_windows']:.4f}\t{last['valid_bpb_context']:.4f}")
EOF
  )
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$line" \
    "$(bytes_per_token "$m" 16 "$OUT/valid.eval.txt")" "$(bytes_per_token "$m" 8 "$OUT/valid.eval.txt")" \
    "$(bytes_per_token "$m" 16 "$OUT/heldout.eval.txt")" "$(bytes_per_token "$m" 8 "$OUT/heldout.eval.txt")" \
    "$*" | tee -a "$OUT/results.tsv"
}

[[ -f "$OUT/results.tsv" ]] || printf 'name\tsteps\tbytes_seen\ttrain_s\tvalid_bpb_windows\tvalid_bpb_context\tvalid_bpt_N16\tvalid_bpt_N8\theldout_bpt_N16\theldout_bpt_N8\tflags\n' > "$OUT/results.tsv"

SMALL=(--layers 2 --d-model 128 --heads 2 --head-dim 64 --d-ff 512 --lr 1e-3)
case "${1:-}" in
  mix)
    # Same model, same 800 steps (~6.6 MB), different shares of short examples that start
    # with no left context (as every equal-info window does).
    for frac in 0.2 0.5 0.9; do
      run "mix-short$frac" "${SMALL[@]}" --steps 800 --eval-every 0 --short-frac "$frac"
    done
    ;;
  size)
    # A fixed training compute: 6 x non-embedding parameters x bytes seen, equal to the small
    # model's 800 steps of the mix sweep (393,984 x 6.65 MB); warmup 1/8 of the steps as there.
    # Counted in FLOPs rather than seconds because this machine's load varies between runs.
    run size-small "${SMALL[@]}" --steps 800 --eval-every 0
    run size-medium --layers 4 --d-model 192 --heads 3 --head-dim 64 --d-ff 768 --lr 1e-3 --steps 178 \
      --warmup-steps 22 --eval-every 0
    run size-3m --steps 134 --warmup-steps 17 --eval-every 0
    ;;
  *)
    sed -n '2,9p' "$0" >&2
    exit 2
    ;;
esac
