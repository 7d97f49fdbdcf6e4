#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A thin wrapper around `pip install --no-build-isolation .` (pyproject.toml,
# setup.py: CMake builds the extension; the bundled M1 comes with it), kept so
# that the old command still works. pip is the install; this only picks the
# destination for one interpreter:
#
#   bash python/install.sh                      # /usr/bin/python3: user site-packages (~/.local/...)
#   bash python/install.sh --python venv/bin/python   # into that virtual environment
#   bash python/install.sh --prefix /opt/eqinfo # pip install --prefix --no-deps (add its site-packages to PYTHONPATH)
#   bash python/install.sh --target DIR         # pip install --target --no-deps (add DIR to PYTHONPATH)
#   bash python/install.sh --test               # also run python/tests against the installed package
#   bash python/install.sh --uninstall          # pip uninstall eqinfo (same --python)
#
# Options: --python PY (default: $PYTHON, else /usr/bin/python3, else
# python3), --build-dir DIR (setup.py's EQINFO_BUILD_DIR; default build/pip),
# --jobs N (CMAKE_BUILD_PARALLEL_LEVEL; default $EQINFO_JOBS, else 2),
# --native (-march=native: a faster M1, the same tokens, a build for this CPU
# only); anything else is passed to pip. Outside a virtual environment,
# Debian's pip refuses to install (PEP 668, "externally-managed-environment"):
# this script then installs with `--user --break-system-packages`, which puts
# eqinfo in ~/.local and changes no Debian package (its one dependency, numpy,
# is Debian's python3-numpy). A venv is the cleaner choice: python/README.md.
# Needs (Debian 12, after `bash scripts/install-deps.sh`): cmake, g++,
# libtbb-dev, libeigen3-dev, python3-dev, python3-numpy, python3-pip,
# python3-setuptools, python3-wheel, python3-pybind11 (python3-pytest for --test).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
fi
RUN_TESTS=0
UNINSTALL=0
DEST=()     # --user/--prefix/--target as given
PIP_ARGS=()

die() { echo "python/install.sh: $*" >&2; exit 1; }
usage() { sed -n '3,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) [[ $# -ge 2 ]] || die "--python needs a value"; PY="$2"; shift 2 ;;
    --user) DEST=(--user); shift ;;
    # --no-deps: pip would put numpy there too, not seeing the interpreter's own.
    --prefix|--target) [[ $# -ge 2 ]] || die "$1 needs a value"
      DEST=("$1" "$(mkdir -p "$2" && cd "$2" && pwd)" --no-deps); shift 2 ;;
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir needs a value"; export EQINFO_BUILD_DIR="$2"; shift 2 ;;
    --jobs|-j) [[ $# -ge 2 ]] || die "--jobs needs a value"; export CMAKE_BUILD_PARALLEL_LEVEL="$2"; shift 2 ;;
    --native) export EQINFO_CMAKE_ARGS="${EQINFO_CMAKE_ARGS:+$EQINFO_CMAKE_ARGS }-DCMAKE_CXX_FLAGS=-march=native"; shift ;;
    --test) RUN_TESTS=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) PIP_ARGS+=("$1"); shift ;;
  esac
done
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-${EQINFO_JOBS:-2}}"

command -v "$PY" >/dev/null || die "Python interpreter '$PY' not found (give --python PATH)"
PY="$(command -v "$PY")"
"$PY" -m pip --version >/dev/null 2>&1 || die "pip is missing for $PY (apt-get install python3-pip)"

# Outside a venv, with no destination given: the user site-packages, as before.
SYSTEM=()
if ! "$PY" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; then
  [[ ${#DEST[@]} -gt 0 ]] || DEST=(--user)
  # PEP 668: Debian's pip refuses even --user installs without this flag.
  SYSTEM=(--break-system-packages)
fi

if [[ "$UNINSTALL" == 1 ]]; then
  [[ "${DEST[0]:-}" != --prefix && "${DEST[0]:-}" != --target ]] \
    || die "--uninstall: pip cannot uninstall from --prefix/--target; remove the eqinfo* directories there"
  set -x
  exec "$PY" -m pip uninstall -y "${SYSTEM[@]}" "${PIP_ARGS[@]}" eqinfo
fi

(set -x; cd "$ROOT" && "$PY" -m pip install --no-build-isolation "${DEST[@]}" "${SYSTEM[@]}" "${PIP_ARGS[@]}" .)

# The installed package, imported from elsewhere.
CHECK_PATH=""
case "${DEST[0]:-}" in
  --target) CHECK_PATH="${DEST[1]}" ;;
  # pip's scheme for --prefix is the interpreter's default one (Debian's: PREFIX/local/lib/python3.X/dist-packages).
  --prefix) CHECK_PATH="$("$PY" -c 'import sys, sysconfig; d = sys.argv[1]; print(sysconfig.get_paths(vars={"base": d, "platbase": d})["platlib"])' "${DEST[1]}")" ;;
esac
(cd / && PYTHONPATH="$CHECK_PATH" "$PY" -c '
import eqinfo, sys
tok = eqinfo.Tokenizer("uniform")
data = b"eqinfo \x00\xff"
assert tok.decode(tok.encode(data), len(data)) == data
print(f"installed eqinfo {eqinfo.__version__} for Python {sys.version.split()[0]}: {eqinfo.__file__}")
') || die "the installed package does not import (see above)"

if [[ "$RUN_TESTS" == 1 ]]; then
  echo "== test (python/tests against the installed package)"
  (cd / && PYTHONPATH="$CHECK_PATH" PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest -q -p no:cacheprovider "$ROOT/python/tests")
fi
if [[ -n "$CHECK_PATH" ]]; then
  echo "python/install.sh: add it to the path: export PYTHONPATH=$CHECK_PATH\${PYTHONPATH:+:\$PYTHONPATH}"
fi
