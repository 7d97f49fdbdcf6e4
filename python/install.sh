#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the eqinfo Python package (C++ extension + pure-Python modules) with
# CMake (Release) and installs it for one Python interpreter:
#
#   bash python/install.sh                      # /usr/bin/python3, user site-packages (~/.local/...)
#   bash python/install.sh --python venv/bin/python   # into that virtual environment
#   bash python/install.sh --prefix /opt/eqinfo # DIR/lib/python3.X/site-packages (add it to PYTHONPATH)
#   bash python/install.sh --target DIR         # DIR/eqinfo (add DIR to PYTHONPATH)
#   bash python/install.sh --test               # also run python/tests against the build first
#   bash python/install.sh --uninstall [same destination options]
#
# Options: --python PY (default: $PYTHON, else /usr/bin/python3, else python3),
# --build-dir DIR (default build/python), --jobs N (default: $EQINFO_JOBS or
# the number of cores), --native (-march=native: faster M1, the same tokens).
# Needs (Debian 12, after `bash scripts/install-deps.sh`): cmake, g++,
# libtbb-dev, pybind11-dev, python3-dev, python3-numpy (python3-pytest for --test).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
fi
BUILD_DIR="$ROOT/build/python"
JOBS="${EQINFO_JOBS:-$(nproc 2>/dev/null || echo 2)}"
MODE=auto
DEST_ARG=""
RUN_TESTS=0
UNINSTALL=0
NATIVE=0

die() { echo "python/install.sh: $*" >&2; exit 1; }
usage() { sed -n '3,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) [[ $# -ge 2 ]] || die "--python needs a value"; PY="$2"; shift 2 ;;
    --user) MODE=user; shift ;;
    --prefix) [[ $# -ge 2 ]] || die "--prefix needs a value"; MODE=prefix; DEST_ARG="$2"; shift 2 ;;
    --target) [[ $# -ge 2 ]] || die "--target needs a value"; MODE=target; DEST_ARG="$2"; shift 2 ;;
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir needs a value"; BUILD_DIR="$2"; shift 2 ;;
    --jobs|-j) [[ $# -ge 2 ]] || die "--jobs needs a value"; JOBS="$2"; shift 2 ;;
    --native) NATIVE=1; shift ;;
    --test) RUN_TESTS=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

command -v "$PY" >/dev/null || die "Python interpreter '$PY' not found (give --python PATH)"
PY="$(command -v "$PY")"

# Where the package goes (a site-packages directory; the package is DEST/eqinfo).
case "$MODE" in
  auto)
    if "$PY" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; then
      DEST="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
      WHERE="the virtual environment of $PY"
    else
      DEST="$("$PY" -c 'import site; print(site.getusersitepackages())')"
      WHERE="the user site-packages of $PY"
    fi ;;
  user)
    DEST="$("$PY" -c 'import site; print(site.getusersitepackages())')"
    WHERE="the user site-packages of $PY" ;;
  prefix)
    DEST_ARG="$(mkdir -p "$DEST_ARG" && cd "$DEST_ARG" && pwd)"
    DEST="$("$PY" -c 'import sys, sysconfig; d = sys.argv[1]; print(sysconfig.get_paths(scheme="posix_prefix", vars={"base": d, "platbase": d})["platlib"])' "$DEST_ARG")"
    WHERE="prefix $DEST_ARG" ;;
  target)
    DEST="$(mkdir -p "$DEST_ARG" && cd "$DEST_ARG" && pwd)"
    WHERE="$DEST" ;;
esac

if [[ "$UNINSTALL" == 1 ]]; then
  if [[ -d "$DEST/eqinfo" ]]; then
    rm -rf -- "$DEST/eqinfo"
    echo "python/install.sh: removed $DEST/eqinfo"
  else
    echo "python/install.sh: nothing to remove at $DEST/eqinfo"
  fi
  exit 0
fi

# Prerequisites, with the Debian package that provides each.
command -v cmake >/dev/null || die "cmake not found (apt-get install cmake; or bash scripts/install-deps.sh)"
"$PY" -c 'import numpy' 2>/dev/null || die "numpy is missing for $PY (apt-get install python3-numpy)"
"$PY" - <<'EOF' || die "Python headers are missing for $PY (apt-get install python3-dev)"
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
EOF
if [[ "$RUN_TESTS" == 1 ]]; then
  "$PY" -c 'import pytest' 2>/dev/null || die "--test needs pytest for $PY (apt-get install python3-pytest)"
fi

CXX_FLAGS=""
if [[ "$NATIVE" == 1 ]]; then CXX_FLAGS="-march=native"; fi
GENERATOR=()
if command -v ninja >/dev/null && [[ ! -f "$BUILD_DIR/Makefile" ]]; then GENERATOR=(-G Ninja); fi

echo "== configure ($BUILD_DIR, $PY)"
cmake -S "$ROOT" -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DEQINFO_BUILD_PYTHON=ON -DEQINFO_BUILD_TESTS=OFF -DEQINFO_BUILD_TOOLS=OFF -DEQINFO_BUILD_EXAMPLES=OFF \
  -DEQINFO_BUILD_BENCH=OFF -DEQINFO_INSTALL=OFF -DEQINFO_WERROR=OFF \
  "-DPYTHON_EXECUTABLE=$PY" "-DPython_EXECUTABLE=$PY" "-DEQINFO_PYTHON_INSTALL_DIR=$DEST" \
  "-DCMAKE_CXX_FLAGS=$CXX_FLAGS" >/dev/null \
  || die "configure failed; install the dependencies with: bash scripts/install-deps.sh (pybind11-dev python3-dev libtbb-dev)"

echo "== build (-j $JOBS)"
cmake --build "$BUILD_DIR" --parallel "$JOBS" --target eqinfo_python

if [[ "$RUN_TESTS" == 1 ]]; then
  echo "== test (python/tests against $BUILD_DIR/python)"
  (cd "$ROOT" && PYTHONPATH="$BUILD_DIR/python" PYTHONDONTWRITEBYTECODE=1 \
    "$PY" -m pytest -q -p no:cacheprovider python/tests)
fi

echo "== install into $WHERE: $DEST/eqinfo"
mkdir -p "$DEST"
rm -rf -- "$DEST/eqinfo"
cmake --install "$BUILD_DIR" --component python >/dev/null

# The installed package, imported from elsewhere with nothing else on the path.
CHECK_PATH=""
if [[ "$MODE" == prefix || "$MODE" == target ]]; then CHECK_PATH="$DEST"; fi
(cd / && PYTHONPATH="$CHECK_PATH" "$PY" -c '
import eqinfo, sys
tok = eqinfo.Tokenizer()
data = b"eqinfo \x00\xff"
assert tok.decode(tok.encode(data), len(data)) == data
print(f"installed eqinfo {eqinfo.__version__} for Python {sys.version.split()[0]}: {eqinfo.__file__}")
') || die "the installed package does not import (see above)"
if [[ -n "$CHECK_PATH" ]]; then
  echo "python/install.sh: add it to the path: export PYTHONPATH=$DEST\${PYTHONPATH:+:\$PYTHONPATH}"
fi
