#!/bin/bash
# SPDX-License-Identifier: MIT
# eqinfo.dask against `eqinfo shard`, in one run on the same data: `eqinfo
# shard --threads 1`, then eqinfo.dask.shard on a LocalCluster of 1 and of 2
# worker processes (1 thread each), all with the shipped M1; the outputs are
# checked byte-identical. Next to it the 1 -> 2 core scaling of an FMA loop
# (the loop of bench/parallel_bench.cpp: 8 independent AVX2 FMA chains per
# thread, register-resident), the machine's own compute scaling. The
# "Dask scale-out" table of docs/performance.md.
#
#   bench/dask_bench.sh BUILD [BYTES]
#
# BUILD: a build with the CLI and the Python bindings (-DEQINFO_BUILD_PYTHON=ON).
# Input: the first BYTES (default 409600) of the held-out text of
# scripts/prepare-data.sh if present, else the bundled samples repeated.
# EQINFO_BENCH_SHARD_EXAMPLES (default 5): examples of 10 KiB per shard, so
# that the data makes several tasks per worker (8 shards by default); the
# CLI runs with the same value (it changes the output). Times: wall clock,
# best of EQINFO_BENCH_REPEAT (default 3) interleaved runs; each Dask run gets
# a new cluster, started before the clock starts; each worker loads the model
# in its first task, as the CLI loads it once; the client's own work (job,
# plan, manifest) is timed. Needs /usr/bin/python3
# with python3-distributed.
set -euo pipefail
build=${1:?usage: bench/dask_bench.sh BUILD [BYTES]}
bytes=${2:-409600}
shard_examples=${EQINFO_BENCH_SHARD_EXAMPLES:-5}
eq="$build/tools/eqinfo"
[[ -x $eq && -d $build/python/eqinfo ]] || { echo "dask_bench.sh: need $eq and $build/python/eqinfo" >&2; exit 2; }
model=$(realpath models/m1/m1.safetensors)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/bench_input.sh"
bench_input "$bytes" "$work/in.txt"

cat >"$work/fma.cpp" <<'EOF'
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>
__attribute__((target("avx2,fma"))) float loop(long n) {
  __m256 acc[8], a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_set1_ps(float(i));
  for (long k = 0; k < n; ++k)
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  float out[8], s = 0;
  for (int i = 0; i < 8; ++i) { _mm256_storeu_ps(out, acc[i]); s += out[0]; }
  return s;
}
int main(int argc, char** argv) {
  const int threads = std::atoi(argv[1]);
  const long n = 150000000L;
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    std::vector<std::thread> pool;
    std::vector<float> sink(threads);
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[t] = loop(n); });
    for (auto& t : pool) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (threads * n / s > best) best = threads * n / s;
    if (sink[0] == 12345.f) std::puts("");
  }
  std::printf("%.6g\n", best);
}
EOF
c++ -O2 -pthread -o "$work/fma" "$work/fma.cpp"

# A file, not stdin: the worker processes (spawned) import the main module.
cat >"$work/bench.py" <<'EOF'
import filecmp, os, subprocess, sys, time, warnings
warnings.simplefilter("ignore")
import logging
logging.getLogger("distributed").setLevel(logging.ERROR)
from distributed import Client, LocalCluster
import eqinfo.dask

def same_dirs(a, b):
    cmp = filecmp.dircmp(a, b)
    return not (cmp.diff_files or cmp.left_only or cmp.right_only) and all(
        filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False) for f in cmp.common_files)


def main():
    work, eq, model, se, nbytes, repeat, fma = sys.argv[1:]
    se, nbytes, repeat = int(se), int(nbytes), int(repeat)
    source = os.path.join(work, "in.txt")
    best = {}
    fma_rate = {}
    for r in range(repeat):  # interleaved, best of `repeat`: the machine is shared and noisy
        for n in (1, 2):
            rate = float(subprocess.run([fma, str(n)], check=True, capture_output=True, text=True).stdout)
            fma_rate[n] = max(fma_rate.get(n, 0), rate)
        out = os.path.join(work, f"cli{r}")
        t = time.perf_counter()
        subprocess.run([eq, "shard", "--threads", "1", "--model", model, "--shard-examples", str(se),
                        "--out", out, source], check=True, capture_output=True)
        best["cli"] = min(best.get("cli", 1e9), time.perf_counter() - t)
        for n in (1, 2):
            # A new cluster per run, started before the clock starts (its worker
            # processes import this file, so eqinfo too: as in a cluster kept up
            # for many jobs); each worker loads the model in its first task, as
            # the CLI loads it once.
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0") as c, \
                    Client(c) as client:
                client.wait_for_workers(n)
                out_n = os.path.join(work, f"dask{n}-{r}")
                t = time.perf_counter()
                res = eqinfo.dask.shard([source], out_n, client=client, model=model, shard_examples=se)
                best[n] = min(best.get(n, 1e9), time.perf_counter() - t)
            if not same_dirs(out, out_n):
                print(f"dask with {n} workers: output DIFFERENT from eqinfo shard's")
                sys.exit(1)
    print(f"{nbytes} bytes, {res['shards']} shards of {se} examples, best of {repeat}; outputs identical")
    print(f"eqinfo shard --threads 1: {best['cli']:.2f} s, {nbytes / best['cli'] / 1e3:.1f} KB/s")
    for n in (1, 2):
        print(f"eqinfo.dask, {n} worker{'s' if n > 1 else ' '}: {best[n]:.2f} s, {nbytes / best[n] / 1e3:.1f} KB/s")
    fma1, fma2 = fma_rate[1], fma_rate[2]
    scaling = best[1] / best[2]
    print(f"dask 1 -> 2 workers: {scaling:.3f}x; FMA loop 1 -> 2 threads: {fma2 / fma1:.3f}x; "
          f"relative {scaling / (fma2 / fma1):.3f} (target >= 0.9)")
    print(f"dask 1 worker against eqinfo shard --threads 1: {100 * (best[1] / best['cli'] - 1):+.1f} % time")


if __name__ == "__main__":
    main()
EOF
PYTHONPATH="$build/python" timeout 900 /usr/bin/python3 "$work/bench.py" "$work" "$eq" "$model" "$shard_examples" "$bytes" "${EQINFO_BENCH_REPEAT:-3}" "$work/fma"
