# SPDX-License-Identifier: MIT
"""Builds the Python package `eqinfo` with this repository's CMake project.

pyproject.toml holds the metadata; this file only says how to build:

* the pure-Python modules come from python/eqinfo/ (setuptools' build_py);
* the extension eqinfo._eqinfo is built by CMake, exactly as a developer build
  with -DEQINFO_BUILD_PYTHON=ON does (python/CMakeLists.txt): configure this
  repository (Release; tests, tools, examples, benchmarks and install rules
  OFF), build the target ``eqinfo_python``, then take what CMake assembled in
  <cmake build>/python/eqinfo -- the extension and the bundled M1
  (m1.safetensors, the default model) -- into the wheel. One build recipe, so
  a wheel and a CMake build cannot drift apart.

Environment (all optional):

  EQINFO_BUILD_DIR     where everything built goes: setuptools' build/ and
                       egg-info, and the CMake build tree (<dir>/cmake).
                       Default: build/pip in the source tree (git-ignored, like
                       every build*/ there). Reusing one directory makes a second
                       build (e.g. the wheel after `pip install .`) incremental.
  EQINFO_CMAKE_BUILD_DIR  the CMake build tree alone (default <build>/cmake).
  EQINFO_CMAKE_ARGS    extra CMake configure arguments (word-split), e.g.
                       "-DCMAKE_CXX_FLAGS=-march=native" (faster M1, the same tokens:
                       but such a wheel only runs on CPUs like this one).
  CMAKE_BUILD_PARALLEL_LEVEL  parallel compile jobs (default 2: the extension is
                       two translation units, and this keeps small machines usable).
  CMAKE_GENERATOR      as for cmake (default: Ninja if installed, else Makefiles).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build import build as _build
from setuptools.command.build_ext import build_ext as _build_ext
from setuptools.command.egg_info import egg_info as _egg_info

ROOT = os.path.dirname(os.path.abspath(__file__))


def _version():
    """The project's one version source: include/eqinfo/version.hpp."""
    with open(os.path.join(ROOT, "include", "eqinfo", "version.hpp"), encoding="utf-8") as f:
        text = f.read()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define EQINFO_VERSION_%s +([0-9]+)" % part, text, re.MULTILINE)
        if not m:
            raise RuntimeError(f"cannot parse EQINFO_VERSION_{part} from include/eqinfo/version.hpp")
        parts.append(m.group(1))
    return ".".join(parts)


def _build_dir():
    return os.path.abspath(os.environ.get("EQINFO_BUILD_DIR") or os.path.join(ROOT, "build", "pip"))


class build(_build):
    """setuptools' build directory: $EQINFO_BUILD_DIR (default build/pip)."""

    def initialize_options(self):
        super().initialize_options()
        self.build_base = _build_dir()


class egg_info(_egg_info):
    """The egg-info setuptools writes while building goes to $EQINFO_BUILD_DIR
    too (else it would land in python/, next to the sources)."""

    def initialize_options(self):
        super().initialize_options()
        os.makedirs(_build_dir(), exist_ok=True)
        self.egg_base = os.path.relpath(_build_dir(), os.getcwd())


class CMakeExtension(Extension):
    """An extension built by CMake: no sources for setuptools to compile."""

    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class cmake_build_ext(_build_ext):
    def build_extension(self, ext):
        if not isinstance(ext, CMakeExtension):
            return super().build_extension(ext)
        cmake = shutil.which("cmake")
        if cmake is None:
            raise RuntimeError("eqinfo: cmake not found (Debian: apt-get install cmake; or bash scripts/install-deps.sh)")
        build_dir = os.environ.get("EQINFO_CMAKE_BUILD_DIR") or os.path.join(_build_dir(), "cmake")
        build_dir = os.path.abspath(build_dir)
        os.makedirs(build_dir, exist_ok=True)

        configure = [
            cmake, "-S", ROOT, "-B", build_dir,
            "-DCMAKE_BUILD_TYPE=Release",
            "-DEQINFO_BUILD_PYTHON=ON",
            "-DEQINFO_BUILD_TESTS=OFF", "-DEQINFO_BUILD_TOOLS=OFF", "-DEQINFO_BUILD_EXAMPLES=OFF",
            "-DEQINFO_BUILD_BENCH=OFF", "-DEQINFO_INSTALL=OFF", "-DEQINFO_WERROR=OFF",
            # The interpreter running this build (a venv's python included) is the one
            # the extension is for: its headers and its module suffix.
            f"-DPYTHON_EXECUTABLE={sys.executable}", f"-DPython_EXECUTABLE={sys.executable}",
        ]
        # pybind11's CMake files: from the pybind11 Python package when importable
        # (python3-pybind11, or pip's), else CMake finds pybind11-dev's.
        try:
            import pybind11

            configure.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except (ImportError, AttributeError):
            pass
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            if not os.environ.get("CMAKE_GENERATOR") and shutil.which("ninja"):
                configure += ["-G", "Ninja"]
        configure += shlex.split(os.environ.get("EQINFO_CMAKE_ARGS", ""))

        env = dict(os.environ)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        self.announce(f"eqinfo: cmake build in {build_dir}", level=2)
        subprocess.run(configure, check=True, env=env)
        subprocess.run([cmake, "--build", build_dir, "--target", ext.target], check=True, env=env)

        # What CMake assembled in <build>/python/eqinfo, less the .py files that
        # build_py copies from python/eqinfo: the extension and the bundled M1.
        package_dir = os.path.join(build_dir, "python", "eqinfo")
        dest = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        os.makedirs(dest, exist_ok=True)
        built = os.path.basename(self.get_ext_fullpath(ext.name))
        names = sorted(n for n in os.listdir(package_dir)
                       if os.path.isfile(os.path.join(package_dir, n)) and not n.endswith((".py", ".pyc"))
                       and (n == built or not n.startswith("_eqinfo.")))  # not another Python's extension
        if built not in names:
            raise RuntimeError(f"eqinfo: CMake built {names} in {package_dir}, not {built} "
                               f"(the extension for {sys.executable})")
        for name in names:
            shutil.copy2(os.path.join(package_dir, name), os.path.join(dest, name))


setup(
    version=_version(),
    packages=["eqinfo"],
    package_dir={"": "python"},
    ext_modules=[CMakeExtension("eqinfo._eqinfo", target="eqinfo_python")],
    cmdclass={"build": build, "egg_info": egg_info, "build_ext": cmake_build_ext},
    zip_safe=False,
)
