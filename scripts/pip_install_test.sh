#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Python package installed the ecosystem's way, as a user would:
#
#   bash scripts/pip_install_test.sh [EQINFO_CLI]
#
#   1. a fresh virtual environment (--system-site-packages: Debian's numpy and
#      torch), `pip install --no-build-isolation --no-index .` of this
#      repository into it (pyproject.toml + setup.py: CMake builds the extension);
#   2. from another directory, with nothing on PYTHONPATH: `import eqinfo` is
#      the venv's, Tokenizer() uses the bundled M1 (the CLI's default model;
#      with EQINFO_CLI given, its tokens are the CLI's own, `eqinfo encode`
#      without --model) and round-trips; EQINFO_MODEL=uniform is honoured;
#   3. `python -m build --no-isolation --wheel` (incremental: the same build
#      directory), then the build directory is deleted -- as on another machine
#      with the same Python -- and the wheel is installed into a second fresh
#      venv and checked the same way; `pip uninstall` removes it again.
#
# Everything is built and installed under a temporary directory (setup.py's
# EQINFO_BUILD_DIR); the test fails if it leaves build output in the source
# tree. --no-index: no package registry is used (or needed). ctest runs it as
# pip_install_test (label "python") in builds with -DEQINFO_BUILD_PYTHON=ON
# and tests; scripts/test.sh step (a) is one. Takes about a minute on 2 cores.
#
# Environment: PYTHON (default /usr/bin/python3: Debian's, with python3-venv,
# python3-pip, python3-setuptools, python3-wheel, python3-build,
# python3-pybind11), CMAKE_BUILD_PARALLEL_LEVEL (default 2),
# EQINFO_KEEP_TMP=1 keeps the temporary directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
CLI="${1:-}"
[[ -z "$CLI" ]] || CLI="$(cd "$(dirname "$CLI")" && pwd)/$(basename "$CLI")"
START=$SECONDS

die() { echo "pip_install_test: FAILED: $*" >&2; exit 1; }
"$PY" -c 'import venv, ensurepip, setuptools, wheel, build, pybind11' 2>/dev/null \
  || die "$PY lacks venv/ensurepip, setuptools, wheel, build or pybind11 (apt-get install python3-venv python3-pip python3-setuptools python3-wheel python3-build python3-pybind11; or bash scripts/install-deps.sh)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/eqinfo-pip-test.XXXXXX")"
cleanup() {
  if [[ "${EQINFO_KEEP_TMP:-0}" == 1 ]]; then echo "pip_install_test: kept $TMP"; else rm -rf -- "$TMP"; fi
}
trap cleanup EXIT

# Paths a Python build could leave in the source tree; none may appear.
LEFTOVERS=(build/pip dist eqinfo.egg-info python/eqinfo.egg-info python/build
           python/eqinfo/m1.safetensors python/eqinfo/__pycache__)
before=()
for p in "${LEFTOVERS[@]}"; do [[ -e "$ROOT/$p" ]] && before+=("$p"); done
shopt -s nullglob
so_before=("$ROOT"/python/eqinfo/_eqinfo*.so)
shopt -u nullglob

export EQINFO_BUILD_DIR="$TMP/build"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH PYTHONHOME PIP_REQUIRE_VIRTUALENV EQINFO_MODEL || true

# check VENV_PYTHON: import from elsewhere, default model = bundled M1 (= the CLI's), round trips.
check() {
  (cd "$TMP" && "$1" - "$CLI" <<'EOF'
import os, pickle, subprocess, sys
import numpy as np
import eqinfo

cli = sys.argv[1]
here = os.path.dirname(eqinfo.__file__)
assert here.startswith(sys.prefix + os.sep), f"imported {eqinfo.__file__}, not the venv's ({sys.prefix})"
tok = eqinfo.Tokenizer()
assert tok.model_kind == "m1", tok
assert tok.model_path == os.path.join(here, "m1.safetensors"), tok.model_path
data = "eqinfo from pip: Grüße, 世界! \x00\xff".encode() + bytes(range(256))
tokens = tok.encode(data)
assert tok.decode(tokens, len(data)) == data
assert pickle.loads(pickle.dumps(tok)).encode(data).tolist() == tokens.tolist()
if cli:
    env = {k: v for k, v in os.environ.items() if k != "EQINFO_MODEL"}
    run = subprocess.run([cli, "encode", "--format", "npy", "-o", "cli.npy", "-"], input=data, env=env,
                         stderr=subprocess.PIPE)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    assert np.array_equal(np.load("cli.npy"), tokens), "Tokenizer() and `eqinfo encode` (no --model) differ"
    os.remove("cli.npy")
os.environ["EQINFO_MODEL"] = "uniform"
uni = eqinfo.Tokenizer()
assert uni.model_kind == "uniform" and uni.decode(uni.encode(data), len(data)) == data
print(f"pip_install_test: eqinfo {eqinfo.__version__} in {here}: default {tok.model_kind} "
      f"0x{tok.model_fingerprint:08x}, {len(data)} bytes -> {tokens.size} tokens and back"
      + (", = the CLI's" if cli else ""))
EOF
  ) || die "the installed package failed its checks ($1)"
}

echo "== 1. pip install --no-build-isolation . into a fresh venv ($PY)"
"$PY" -m venv --system-site-packages "$TMP/venv1"
t0=$SECONDS
(cd "$ROOT" && "$TMP/venv1/bin/python" -m pip install --no-index --no-build-isolation . >"$TMP/pip-install.log" 2>&1) \
  || { tail -n 40 "$TMP/pip-install.log"; die "pip install ."; }
echo "-- $((SECONDS - t0)) s"
echo "== 2. import from another directory"
check "$TMP/venv1/bin/python"

echo "== 3. python -m build --no-isolation --wheel; install it into a second venv"
t0=$SECONDS
(cd "$ROOT" && "$TMP/venv1/bin/python" -m build --no-isolation --wheel --outdir "$TMP/dist" . >"$TMP/build-wheel.log" 2>&1) \
  || { tail -n 40 "$TMP/build-wheel.log"; die "python -m build --wheel"; }
echo "-- $((SECONDS - t0)) s: $(cd "$TMP/dist" && ls)"
wheels=("$TMP"/dist/eqinfo-*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "expected one wheel in $TMP/dist"
"$PY" - "${wheels[0]}" <<'EOF' || die "the wheel's contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for need in ("eqinfo/__init__.py", "eqinfo/shards.py", "eqinfo/m1.safetensors"):
    assert need in names, (need, names)
assert any(n.startswith("eqinfo/_eqinfo.") and n.endswith(".so") for n in names), names
EOF
rm -rf -- "$EQINFO_BUILD_DIR"  # nothing of the build is left to lean on
"$PY" -m venv --system-site-packages "$TMP/venv2"
"$TMP/venv2/bin/python" -m pip install --no-index "${wheels[0]}" >"$TMP/pip-wheel.log" 2>&1 \
  || { tail -n 40 "$TMP/pip-wheel.log"; die "pip install the wheel"; }
check "$TMP/venv2/bin/python"
"$TMP/venv2/bin/python" -m pip uninstall -y eqinfo >/dev/null || die "pip uninstall eqinfo"
if (cd "$TMP" && "$TMP/venv2/bin/python" -c 'import eqinfo' 2>/dev/null); then
  die "eqinfo still imports after pip uninstall"
fi

for p in "${LEFTOVERS[@]}"; do
  if [[ -e "$ROOT/$p" ]] && ! printf '%s\n' "${before[@]}" | grep -qxF "$p"; then
    die "the build left $ROOT/$p in the source tree"
  fi
done
shopt -s nullglob
so_after=("$ROOT"/python/eqinfo/_eqinfo*.so)
shopt -u nullglob
[[ ${#so_after[@]} -le ${#so_before[@]} ]] || die "the build left ${so_after[*]} in the source tree"
echo "pip_install_test: passed in $((SECONDS - START)) s"
