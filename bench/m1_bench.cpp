// SPDX-License-Identifier: MIT
// M1 inference speed, single-threaded (bench/m1_compare.sh prints the table
// of docs/performance.md#m1).
//
//  BM_fma_peak, BM_muladd_peak   FP32 peak of this core at the widest vector
//                                ISA this file is compiled for: 12 independent
//                                accumulators, acc += b * w with FMA
//                                intrinsics, or a separate multiply and add
//                                (what M1 may use: it never fuses).
//  BM_matmul/T/in/out            fast_kernels::matmul on the 3m shapes;
//  BM_matmul_reference/...       the reference kernel (the "before").
//  BM_forward_window/T           m1_model::reset + predict_run over windows
//                                of T bytes (T = 16, 64: EqualInfoAC windows;
//                                1024: a plain-AC block);
//  BM_forward_window_reference/T the same work with reference_kernels.
//  BM_forward_incremental        reset, then predict() + update() one byte at
//                                a time for 64 bytes.
//
// GFLOP/s count useful work as bench/torch_m1.py does (multiply-add = 2):
// per position attending over P positions,
//   2 * (layers * (4 * d * A + 2 * d * d_ff) + 256 * d) + layers * 4 * A * P
// (q, k, v, o, w1, w2, lm_head; q.k and p.v), mean P = (T + 1) / 2 over a
// window. Norms, rel_bias, softmax and the CDF are not counted (< 0.5%).
// Every benchmark checks its result after the timed loop against the
// reference kernels and fails (SkipWithError) on any difference.
#include <benchmark/benchmark.h>

#include <eqinfo/transformer.hpp>

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>
#if defined(__SSE2__) || defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

namespace m1 = eqinfo::detail::m1;
using eqinfo::cdf_table;
using eqinfo::m1_model;
using eqinfo::transformer_config;
using eqinfo::transformer_weights;

// ---------------------------------------------------------------------------
// Peak FP32 throughput.

#if defined(__AVX512F__)
using vreg = __m512;
constexpr int lanes = 16;
inline vreg vset(float x) { return _mm512_set1_ps(x); }
inline vreg vmul(vreg a, vreg b) { return _mm512_mul_ps(a, b); }
inline vreg vadd(vreg a, vreg b) { return _mm512_add_ps(a, b); }
inline vreg vfma(vreg a, vreg b, vreg c) { return _mm512_fmadd_ps(a, b, c); }
inline float vfirst(vreg a) { return _mm512_cvtss_f32(a); }
constexpr const char* isa_name = "AVX-512";
#define EQINFO_BENCH_HAVE_FMA 1
#elif defined(__AVX__)
using vreg = __m256;
constexpr int lanes = 8;
inline vreg vset(float x) { return _mm256_set1_ps(x); }
inline vreg vmul(vreg a, vreg b) { return _mm256_mul_ps(a, b); }
inline vreg vadd(vreg a, vreg b) { return _mm256_add_ps(a, b); }
inline float vfirst(vreg a) { return _mm256_cvtss_f32(a); }
#if defined(__FMA__)
inline vreg vfma(vreg a, vreg b, vreg c) { return _mm256_fmadd_ps(a, b, c); }
#define EQINFO_BENCH_HAVE_FMA 1
#endif
constexpr const char* isa_name = "AVX2";
#else
using vreg = __m128;
constexpr int lanes = 4;
inline vreg vset(float x) { return _mm_set1_ps(x); }
inline vreg vmul(vreg a, vreg b) { return _mm_mul_ps(a, b); }
inline vreg vadd(vreg a, vreg b) { return _mm_add_ps(a, b); }
inline float vfirst(vreg a) { return _mm_cvtss_f32(a); }
constexpr const char* isa_name = "SSE2";
#endif

/// Keeps v in a register and opaque to the optimiser (no code emitted).
inline void opaque(vreg& v) {
#if defined(__AVX512F__)
  asm volatile("" : "+v"(v));
#else
  asm volatile("" : "+x"(v));
#endif
}

// Accumulators acc[r][v] += b[r] * w[v], like a matmul register block; all in
// registers: 3 x 4 with 32 vector registers, 2 x 4 with 16 (SSE2, AVX2: 8
// accumulators + 4 w + 2 b + 1 product; more would spill).
#if defined(__AVX512F__)
constexpr int peak_rows = 3, peak_vecs = 4;
#else
constexpr int peak_rows = 2, peak_vecs = 4;
#endif
constexpr int peak_inner = 64;

template <bool fused>
void peak(benchmark::State& state) {
  vreg acc[peak_rows][peak_vecs], b[peak_rows], w[peak_vecs];
  for (int r = 0; r < peak_rows; ++r) {
    b[r] = vset(1e-7f * static_cast<float>(r + 1));
    for (int v = 0; v < peak_vecs; ++v) acc[r][v] = vset(0.0f);
  }
  for (int v = 0; v < peak_vecs; ++v) w[v] = vset(0.5f + static_cast<float>(v));
  for (auto _ : state) {
    for (int k = 0; k < peak_inner; ++k) {
      for (int v = 0; v < peak_vecs; ++v) opaque(w[v]);  // no hoisting b * w out of the loop
      for (int r = 0; r < peak_rows; ++r)
        for (int v = 0; v < peak_vecs; ++v) {
          if constexpr (fused) {
#ifdef EQINFO_BENCH_HAVE_FMA
            acc[r][v] = vfma(b[r], w[v], acc[r][v]);
#endif
          } else {
            acc[r][v] = vadd(acc[r][v], vmul(b[r], w[v]));
          }
        }
    }
  }
  float sum = 0;
  for (int r = 0; r < peak_rows; ++r)
    for (int v = 0; v < peak_vecs; ++v) sum += vfirst(acc[r][v]);
  benchmark::DoNotOptimize(sum);
  const double flops = 2.0 * peak_rows * peak_vecs * lanes * peak_inner;
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(isa_name) + (fused ? " FMA" : " mul+add"));
}

void BM_fma_peak(benchmark::State& state) {
#ifdef EQINFO_BENCH_HAVE_FMA
  peak<true>(state);
#else
  for (auto _ : state) break;
  state.SkipWithError("no FMA at this build's ISA (build with -march=x86-64-v3 or -march=native)");
#endif
}
void BM_muladd_peak(benchmark::State& state) { peak<false>(state); }
BENCHMARK(BM_fma_peak);
BENCHMARK(BM_muladd_peak);

// ---------------------------------------------------------------------------
// Matmul.

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float amplitude) {
  std::vector<float> v(n);
  std::uint64_t s = seed;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>(static_cast<std::int32_t>(s >> 40) - (1 << 23)) * 0x1p-23f * amplitude;
  }
  return v;
}

template <class K>
void matmul_bench(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0)), in = static_cast<std::size_t>(state.range(1)),
             out = static_cast<std::size_t>(state.range(2));
  const auto x = random_floats(rows * in, 1, 1.0f), w = random_floats(in * out, 2, 0.0625f);
  std::vector<float> y(rows * out);
  for (auto _ : state) {
    K::matmul(x.data(), w.data(), y.data(), rows, in, out);
    benchmark::ClobberMemory();
  }
  std::vector<float> want(rows * out);
  m1::reference_kernels::matmul(x.data(), w.data(), want.data(), rows, in, out);
  if (std::memcmp(want.data(), y.data(), want.size() * sizeof(float)) != 0)
    state.SkipWithError("matmul differs from reference_kernels");
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * static_cast<double>(rows * in * out) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate);
}
void BM_matmul(benchmark::State& state) { matmul_bench<m1::fast_kernels>(state); }
void BM_matmul_reference(benchmark::State& state) { matmul_bench<m1::reference_kernels>(state); }

void matmul_shapes(benchmark::internal::Benchmark* b) {
  for (long t : {16, 64, 256, 1024}) {
    b->Args({t, 256, 256});
    b->Args({t, 256, 1024});
    b->Args({t, 1024, 256});
  }
}
BENCHMARK(BM_matmul)->Apply(matmul_shapes);
BENCHMARK(BM_matmul_reference)->Args({64, 256, 256})->Args({64, 256, 1024})->Args({64, 1024, 256});

// ---------------------------------------------------------------------------
// Whole model.

const std::vector<std::uint8_t>& text() {
  static const std::vector<std::uint8_t> t = [] {
    std::vector<std::uint8_t> v;
#ifdef EQINFO_BENCH_DATA_DIR
    std::ifstream in(std::string(EQINFO_BENCH_DATA_DIR) + "/sotu_sample.txt", std::ios::binary);
    v.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
#endif
    if (v.size() < 4096) {  // fallback: fixed pseudo-random printable bytes
      v.resize(4096);
      std::uint64_t s = 5;
      for (auto& b : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b = static_cast<std::uint8_t>(32 + (s >> 33) % 95);
      }
    }
    return v;
  }();
  return t;
}

std::shared_ptr<const transformer_weights> weights_3m() {
  static const auto w =
      std::make_shared<const transformer_weights>(transformer_weights::random(transformer_config{}, 42));
  return w;
}

double flops_per_position(const transformer_config& c, double attended) {
  const double d = c.d_model, a = c.attention_width(), layers = c.layers;
  const double n_matmul = layers * (4 * d * a + 2 * d * c.d_ff) + 256 * d;
  return 2 * n_matmul + layers * 4 * a * attended;
}

/// CDFs of a window from reset, computed with kernels K (what
/// m1_model::reset + predict_run does).
template <class K>
void window_cdfs(const transformer_weights& w, std::span<const std::uint8_t> bytes, m1::kv_cache& cache,
                 m1::workspace& ws, std::vector<int>& inputs, std::vector<float>& logits,
                 std::vector<float>& probabilities, std::span<cdf_table> out) {
  inputs.assign(1, 256);
  for (std::size_t k = 0; k + 1 < bytes.size(); ++k) inputs.push_back(bytes[k]);
  logits.resize(bytes.size() * 256);
  probabilities.resize(256);
  cache.length = 0;
  m1::forward<K>(w, cache, inputs, bytes.size(), ws, logits.data());
  for (std::size_t k = 0; k < bytes.size(); ++k)
    m1::logits_to_cdf(logits.data() + k * 256, 16, out[k], probabilities.data());
}

std::vector<cdf_table> reference_cdfs(std::span<const std::uint8_t> bytes) {
  const auto w = weights_3m();
  m1::kv_cache cache;
  cache.keys.resize(std::size_t{w->config.layers} * w->config.context * w->config.attention_width());
  cache.values.resize(cache.keys.size());
  m1::workspace ws;
  std::vector<int> inputs;
  std::vector<float> logits, probabilities;
  std::vector<cdf_table> out(bytes.size());
  window_cdfs<m1::reference_kernels>(*w, bytes, cache, ws, inputs, logits, probabilities, out);
  return out;
}

void set_window_counters(benchmark::State& state, std::size_t window) {
  const double positions = static_cast<double>(window) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(positions));
  state.counters["GFLOPs"] = benchmark::Counter(
      positions * flops_per_position(weights_3m()->config, (static_cast<double>(window) + 1) / 2) * 1e-9,
      benchmark::Counter::kIsRate);
}

void BM_forward_window(benchmark::State& state) {
  const auto window = static_cast<std::size_t>(state.range(0));
  m1_model model(weights_3m(), 16);
  const auto& t = text();
  std::vector<cdf_table> out(window);
  std::size_t at = 0;
  for (auto _ : state) {
    if (at + window > t.size()) at = 0;
    model.reset();
    model.predict_run(std::span(t).subspan(at, window), out);
    benchmark::DoNotOptimize(out.data());
    at += window;
  }
  set_window_counters(state, window);
  if (out != reference_cdfs(std::span(t).subspan(at - window, window)))
    state.SkipWithError("CDFs differ from reference_kernels");
}

void BM_forward_window_reference(benchmark::State& state) {
  const auto window = static_cast<std::size_t>(state.range(0));
  const auto w = weights_3m();
  m1::kv_cache cache;
  cache.keys.resize(std::size_t{w->config.layers} * w->config.context * w->config.attention_width());
  cache.values.resize(cache.keys.size());
  m1::workspace ws;
  std::vector<int> inputs;
  std::vector<float> logits, probabilities;
  std::vector<cdf_table> out(window);
  const auto& t = text();
  std::size_t at = 0;
  for (auto _ : state) {
    if (at + window > t.size()) at = 0;
    window_cdfs<m1::reference_kernels>(*w, std::span(t).subspan(at, window), cache, ws, inputs, logits, probabilities,
                                       out);
    benchmark::DoNotOptimize(out.data());
    at += window;
  }
  set_window_counters(state, window);
  // Check the benchmark's own path against m1_model (fast kernels).
  m1_model model(w, 16);
  std::vector<cdf_table> fast(window);
  model.predict_run(std::span(t).subspan(at - window, window), fast);
  if (out != fast) state.SkipWithError("reference CDFs differ from m1_model's");
}

BENCHMARK(BM_forward_window)->Arg(16)->Arg(64)->Arg(1024)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_forward_window_reference)->Arg(16)->Arg(64)->Arg(1024)->Unit(benchmark::kMicrosecond);

void BM_forward_incremental(benchmark::State& state) {
  constexpr std::size_t length = 64;
  m1_model model(weights_3m(), 16);
  const auto& t = text();
  std::vector<cdf_table> out(length);
  std::size_t at = 0;
  for (auto _ : state) {
    if (at + length > t.size()) at = 0;
    model.reset();
    for (std::size_t k = 0; k < length; ++k) {
      out[k] = model.predict();
      model.update(t[at + k]);
    }
    benchmark::DoNotOptimize(out.data());
    at += length;
  }
  const double positions = static_cast<double>(length) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(positions));
  // Byte k attends over k + 1 positions: mean (length + 1) / 2, as for a window.
  state.counters["GFLOPs"] = benchmark::Counter(
      positions * flops_per_position(weights_3m()->config, (static_cast<double>(length) + 1) / 2) * 1e-9,
      benchmark::Counter::kIsRate);
  if (out != reference_cdfs(std::span(t).subspan(at - length, length)))
    state.SkipWithError("CDFs differ from reference_kernels");
}
BENCHMARK(BM_forward_incremental)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
