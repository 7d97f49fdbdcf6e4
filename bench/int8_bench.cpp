// SPDX-License-Identifier: MIT
// The int8 kernel layer (detail/int8_kernels.hpp), single-threaded, on every
// path this CPU runs, next to register-resident peak loops of this core.
//
//  BM_peak/<loop>                 a loop of independent instructions on
//                                 registers only: int8 GOPS (multiply-add = 2
//                                 ops) or FP32 GFLOP/s. Loops: pmaddwd_xmm,
//                                 pmaddwd_ymm, pmaddwd_zmm (each with its
//                                 paddd, as the sse2/avx2 kernels need),
//                                 vpdpbusd_zmm, tdpbssd (AMX tiles),
//                                 fp32_fma_zmm, fp32_mul_add_zmm (separate
//                                 vmulps and vaddps).
//  BM_gemm/<path>/<M>/<K>/<N>     gemm_s8s8_packed (linear layers, W packed
//                                 once), M1's shapes: d 128 (128->128,
//                                 128->512, 512->128, 128->256) and the
//                                 paper's 3m (256->256, 256->1024, 1024->256).
//  BM_rows/<path>/98/<K>/<N>/<whole|panels>
//                                 a product of 98 rows and a pass over each
//                                 row after it: gemm_s8s8_packed whole, or
//                                 gemm_s8s8_packed_panels a panel at a time.
//  BM_qk/<path>/<M>/<N>           gemm_s8s8_nt, K = 64 (attention's q.k).
//  BM_pv/<path>/<M>/<K>           gemm_u8s8_nn, N = 64 (attention's p.v).
//
// Counters: GOPS (2 * M * N * K per call over the measured time) and
// pct_of_peak: GOPS over the peak of the path's instruction measured once in
// this run (scalar and sse2: pmaddwd_xmm, avx2: pmaddwd_ymm, avx512vnni:
// vpdpbusd_zmm, amx: tdpbssd). Every gemm is checked after the timed loop
// against the scalar (Eigen) path (SkipWithError on any difference).
//
//   build/kernels/bench/eqinfo_int8_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <eqinfo/detail/int8_kernels.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

namespace int8 = eqinfo::detail::int8;

// ---------------------------------------------------------------------------
// Peak loops: 12 independent instructions per iteration (inline assembly, so
// that no compiler fuses, reorders or drops anything).

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EQINFO_BENCH_X86 1

#define X12(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9) op(10) op(11)
#define ZERO(i) "vpxord %%zmm" #i ", %%zmm" #i ", %%zmm" #i "\n\t"

void loop_pmaddwd_xmm(long n) {
  // legacy SSE2 encoding: copy, pmaddwd, paddd (the copy is renamed away).
#define OP(i) "movdqa %%xmm12, %%xmm13\n\tpmaddwd %%xmm14, %%xmm13\n\tpaddd %%xmm13, %%xmm" #i "\n\t"
  asm volatile(
      "pxor %%xmm12, %%xmm12\n\tpxor %%xmm14, %%xmm14\n\t"
      "1:\n\t" X12(OP) "dec %0\n\tjnz 1b\n\t"
      : "+r"(n)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "cc");
#undef OP
}

void loop_pmaddwd_ymm(long n) {
#define OP(i) "vpmaddwd %%ymm12, %%ymm14, %%ymm13\n\tvpaddd %%ymm13, %%ymm" #i ", %%ymm" #i "\n\t"
  asm volatile(
      "vpxor %%ymm12, %%ymm12, %%ymm12\n\tvpxor %%ymm14, %%ymm14, %%ymm14\n\t"
      "1:\n\t" X12(OP) "dec %0\n\tjnz 1b\n\tvzeroupper\n\t"
      : "+r"(n)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "cc");
#undef OP
}

void loop_pmaddwd_zmm(long n) {
#define OP(i) "vpmaddwd %%zmm12, %%zmm14, %%zmm13\n\tvpaddd %%zmm13, %%zmm" #i ", %%zmm" #i "\n\t"
  asm volatile(ZERO(12) ZERO(14) "1:\n\t" X12(OP) "dec %0\n\tjnz 1b\n\tvzeroupper\n\t"
               : "+r"(n)
               :
               : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                 "xmm12", "xmm13", "xmm14", "cc");
#undef OP
}

void loop_vpdpbusd_zmm(long n) {
#define OP(i) "vpdpbusd %%zmm12, %%zmm14, %%zmm" #i "\n\t"
  asm volatile(ZERO(12) ZERO(14) "1:\n\t" X12(OP) "dec %0\n\tjnz 1b\n\tvzeroupper\n\t"
               : "+r"(n)
               :
               : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                 "xmm12", "xmm14", "cc");
#undef OP
}

void loop_fma_zmm(long n) {
#define OP(i) "vfmadd231ps %%zmm12, %%zmm14, %%zmm" #i "\n\t"
  asm volatile(X12(ZERO) ZERO(12) ZERO(14) "1:\n\t" X12(OP) "dec %0\n\tjnz 1b\n\tvzeroupper\n\t"
               : "+r"(n)
               :
               : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                 "xmm12", "xmm14", "cc");
#undef OP
}

void loop_mul_add_zmm(long n) {
  // 6 vmulps and 6 vaddps, each on its own accumulator.
#define MUL(i) "vmulps %%zmm12, %%zmm" #i ", %%zmm" #i "\n\t"
#define ADD(i) "vaddps %%zmm14, %%zmm" #i ", %%zmm" #i "\n\t"
  asm volatile(X12(ZERO) ZERO(12) ZERO(14) "1:\n\t" MUL(0) ADD(6) MUL(1) ADD(7) MUL(2) ADD(8) MUL(3) ADD(9) MUL(4)
                   ADD(10) MUL(5) ADD(11) "dec %0\n\tjnz 1b\n\tvzeroupper\n\t"
               : "+r"(n)
               :
               : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                 "xmm12", "xmm14", "cc");
#undef MUL
#undef ADD
}

#ifdef EQINFO_INT8_X86
__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni"))) void loop_tdpbssd(long n) {
  int8::amx::configure();
  // 4 accumulators (tiles 0-3), as in the gemm kernel; 3 per iteration x 4.
  for (long i = 0; i < n; ++i) {
    for (int unrolled = 0; unrolled < 3; ++unrolled) {  // a constant count: the compiler unrolls it
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  }
}
#endif
#undef X12
#undef ZERO
#endif  // x86

struct peak_loop {
  const char* name;
  void (*run)(long);
  double ops_per_iteration;  ///< 12 instructions
  bool (*available)();
};

bool always() { return true; }
bool has_avx2() { return int8::supported(int8::isa::avx2); }
bool has_avx512() { return int8::supported(int8::isa::avx512vnni); }
bool has_amx() { return int8::supported(int8::isa::amx); }

#ifdef EQINFO_BENCH_X86
const std::vector<peak_loop>& peak_loops() {
  static const std::vector<peak_loop> loops = {
      {"pmaddwd_xmm", loop_pmaddwd_xmm, 12 * 8 * 2.0, always},
      {"pmaddwd_ymm", loop_pmaddwd_ymm, 12 * 16 * 2.0, has_avx2},
      {"pmaddwd_zmm", loop_pmaddwd_zmm, 12 * 32 * 2.0, has_avx512},
      {"vpdpbusd_zmm", loop_vpdpbusd_zmm, 12 * 64 * 2.0, has_avx512},
#ifdef EQINFO_INT8_X86
      {"tdpbssd", loop_tdpbssd, 12 * 16 * 16 * 64 * 2.0, has_amx},
#endif
      {"fp32_fma_zmm", loop_fma_zmm, 12 * 16 * 2.0, has_avx512},
      {"fp32_mul_add_zmm", loop_mul_add_zmm, 12 * 16.0, has_avx512},
  };
  return loops;
}
#else
const std::vector<peak_loop>& peak_loops() {
  static const std::vector<peak_loop> loops;
  return loops;
}
#endif

/// G(FL)OP/s of one run of `iterations`.
double time_loop(const peak_loop& l, long iterations) {
  const auto t0 = std::chrono::steady_clock::now();
  l.run(iterations);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return l.ops_per_iteration * static_cast<double>(iterations) / s * 1e-9;
}

/// The peaks, measured once per process (best of 5 runs of ~20 ms each).
const std::map<std::string, double>& peaks() {
  static const std::map<std::string, double> p = [] {
    std::map<std::string, double> out;
    for (const auto& l : peak_loops()) {
      if (!l.available()) continue;
      long it = 1000;
      while (true) {  // calibrate to ~20 ms
        const auto t0 = std::chrono::steady_clock::now();
        l.run(it);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s > 0.02) break;
        it *= 2;
      }
      double best = 0;
      for (int r = 0; r < 5; ++r) best = std::max(best, time_loop(l, it));
      out[l.name] = best;
    }
    return out;
  }();
  return p;
}

const char* peak_of(int8::isa path) {
  switch (path) {
    case int8::isa::scalar:
    case int8::isa::sse2: return "pmaddwd_xmm";
    case int8::isa::avx2: return "pmaddwd_ymm";
    case int8::isa::avx512vnni: return "vpdpbusd_zmm";
    case int8::isa::amx: return "tdpbssd";
  }
  return "";
}

void BM_peak(benchmark::State& state, peak_loop l) {
  constexpr long iterations = 100000;
  double ops = 0;
  for (auto _ : state) {
    l.run(iterations);
    ops += l.ops_per_iteration * iterations;
  }
  state.counters[l.name[0] == 'f' ? "GFLOPS" : "GOPS"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsRate);
  state.counters["best_of_5"] = peaks().at(l.name);
}

// ---------------------------------------------------------------------------
// Products.

std::vector<std::int8_t> random_s8(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
  return v;
}

/// Runs `call` in the timed loop; GOPS from our own clock (pct_of_peak needs it).
template <class F>
void timed(benchmark::State& state, int8::isa path, double ops_per_call, F call) {
  const double peak = peaks().count(peak_of(path)) ? peaks().at(peak_of(path)) : 0;
  std::size_t calls = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    call();
    benchmark::ClobberMemory();
    ++calls;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gops = ops_per_call * static_cast<double>(calls) / s * 1e-9;
  state.counters["GOPS"] = gops;
  state.counters["pct_of_peak"] = peak > 0 ? 100 * gops / peak : 0;
}

void BM_gemm(benchmark::State& state, int8::isa path, std::size_t M, std::size_t K, std::size_t N) {
  const auto A = random_s8(M * K, 1), W = random_s8(N * K, 2);
  const int8::packed_s8 packed(path, W.data(), N, K);
  std::vector<std::int32_t> C(M * N), want(M * N);
  timed(state, path, 2.0 * double(M) * double(N) * double(K),
        [&] { int8::gemm_s8s8_packed(A.data(), K, M, packed, C.data(), N); });
  int8::gemm_s8s8_nt(int8::isa::scalar, A.data(), K, W.data(), K, want.data(), N, M, N, K);
  if (C != want) state.SkipWithError("product differs from the scalar path");
}

/// A product and a pass over each of its rows (int32 -> float times a
/// scale, as M1's layers do after every product), the product whole
/// (gemm_s8s8_packed into an (M, N) array) or a panel of rows at a time
/// (gemm_s8s8_packed_panels, each row read right after its panel).
void BM_rows(benchmark::State& state, int8::isa path, std::size_t M, std::size_t K, std::size_t N, bool panels) {
  const auto A = random_s8(M * K, 1), W = random_s8(N * K, 2);
  const int8::packed_s8 packed(path, W.data(), N, K);
  std::vector<std::int32_t> C(M * N);
  eqinfo::detail::aligned_vector<std::int32_t> scratch;
  std::vector<float> row(N);
  double sum = 0;
  auto use_row = [&](const std::int32_t* c) {
    for (std::size_t n = 0; n < N; ++n) row[n] = static_cast<float>(c[n]) * 0.5f;
    sum += row[N / 2];
  };
  const std::size_t stride = int8::panel_stride(packed);
  timed(state, path, 2.0 * double(M) * double(N) * double(K), [&] {
    if (panels) {
      int8::gemm_s8s8_packed_panels(A.data(), K, M, packed, scratch,
                                    [&](std::size_t, std::size_t rows, const std::int32_t* c) {
                                      for (std::size_t r = 0; r < rows; ++r) use_row(c + r * stride);
                                    });
    } else {
      int8::gemm_s8s8_packed(A.data(), K, M, packed, C.data(), N);
      for (std::size_t m = 0; m < M; ++m) use_row(C.data() + m * N);
    }
  });
  benchmark::DoNotOptimize(sum);
}

/// q.k: M query rows against N key rows of width K = 64 inside rows of a
/// 256-wide attention (lda = ldb = 256), as in the model.
void BM_qk(benchmark::State& state, int8::isa path, std::size_t M, std::size_t N) {
  constexpr std::size_t K = 64, ld = 256;
  const auto A = random_s8(M * ld, 3), B = random_s8(N * ld, 4);
  std::vector<std::int32_t> C(M * N), want(M * N);
  timed(state, path, 2.0 * double(M) * double(N) * double(K),
        [&] { int8::gemm_s8s8_nt(path, A.data(), ld, B.data(), ld, C.data(), N, M, N, K); });
  int8::gemm_s8s8_nt(int8::isa::scalar, A.data(), ld, B.data(), ld, want.data(), N, M, N, K);
  if (C != want) state.SkipWithError("product differs from the scalar path");
}

/// p.v: M probability rows (uint8, K wide) times K value rows of width N = 64
/// inside rows of a 256-wide attention (ldb = 256).
void BM_pv(benchmark::State& state, int8::isa path, std::size_t M, std::size_t K) {
  constexpr std::size_t N = 64, ld = 256;
  std::vector<std::uint8_t> A(M * K);
  std::mt19937 rng(5);
  for (auto& x : A) x = static_cast<std::uint8_t>(rng());
  const auto B = random_s8(K * ld, 6);
  std::vector<std::int32_t> C(M * N), want(M * N);
  timed(state, path, 2.0 * double(M) * double(N) * double(K),
        [&] { int8::gemm_u8s8_nn(path, A.data(), K, B.data(), ld, C.data(), N, M, N, K); });
  int8::gemm_u8s8_nn(int8::isa::scalar, A.data(), K, B.data(), ld, want.data(), N, M, N, K);
  if (C != want) state.SkipWithError("product differs from the scalar path");
}

const bool registered = [] {
  for (const auto& l : peak_loops())
    if (l.available())
      benchmark::RegisterBenchmark((std::string("BM_peak/") + l.name).c_str(), BM_peak, l)
          ->Unit(benchmark::kMicrosecond);
  const std::size_t shapes[][2] = {{128, 128}, {128, 512},  {512, 128}, {128, 256},
                                   {256, 256}, {256, 1024}, {1024, 256}};  // K -> N
  for (auto path : int8::all_paths) {
    if (!int8::supported(path)) continue;
    const std::string p(int8::name(path));
    for (const auto& s : shapes)
      for (std::size_t M : std::initializer_list<std::size_t>{1, 16, 64, 256, 1024}) {
        const std::string name =
            "BM_gemm/" + p + "/" + std::to_string(M) + "/" + std::to_string(s[0]) + "/" + std::to_string(s[1]);
        benchmark::RegisterBenchmark(name.c_str(), BM_gemm, path, M, s[0], s[1])
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.1);
      }
    for (const auto& s : shapes)
      for (const bool panels : {false, true}) {
        if (s[0] > 512 || s[1] > 512) continue;  // M1's shapes
        constexpr std::size_t M = 98;            // the lanes of a 1 MB shard's waves
        const std::string name = "BM_rows/" + p + "/" + std::to_string(M) + "/" + std::to_string(s[0]) + "/" +
                                 std::to_string(s[1]) + (panels ? "/panels" : "/whole");
        benchmark::RegisterBenchmark(name.c_str(), BM_rows, path, M, s[0], s[1], panels)
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.1);
      }
    for (std::size_t M : std::initializer_list<std::size_t>{1, 16, 64, 256})
      for (std::size_t N : std::initializer_list<std::size_t>{64, 1024}) {
        const std::string qk = "BM_qk/" + p + "/" + std::to_string(M) + "/" + std::to_string(N);
        benchmark::RegisterBenchmark(qk.c_str(), BM_qk, path, M, N)->Unit(benchmark::kMicrosecond)->MinTime(0.1);
        const std::string pv = "BM_pv/" + p + "/" + std::to_string(M) + "/" + std::to_string(N);
        benchmark::RegisterBenchmark(pv.c_str(), BM_pv, path, M, N)->Unit(benchmark::kMicrosecond)->MinTime(0.1);
      }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
