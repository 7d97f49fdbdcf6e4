// SPDX-License-Identifier: MIT
// M1 inference speed, single-threaded, on every int8 kernel path this CPU
// runs (bench/m1_compare.sh prints the table of docs/performance.md#m1).
//
//  BM_window/<path>/<model>/T     m1_model::reset + predict_run over windows
//                                 of T bytes (T = 16, 64: EqualInfoAC windows;
//                                 1024: a plain-AC block); model 0 = the
//                                 shipped models/m1 (d 128), 1 = the paper's
//                                 3m shape (random weights).
//  BM_batched/<path>/<model>/B    B windows of 16 bytes in one forward_batch
//                                 call (lockstep batches; B = 64).
//  BM_lanes/<path>/<model>/B      m1_model::lane_set: B lanes, one new
//                                 position each per evaluate() (the lockstep
//                                 window coder's step; B = 16, 64).
//  BM_incremental/<path>/<model>  reset, then predict() + update() one byte
//                                 at a time for 64 bytes.
//
// bytes/s = positions per second. GOPs counts useful work as bench/torch_m1.py
// does (multiply-add = 2): per position attending over P positions,
//   2 * (layers * (4 * d * A + 2 * d * d_ff) + 256 * d) + layers * 4 * A * P
// with mean P = (T + 1) / 2 over a window. Every benchmark checks its CDFs
// after the timed loop against the scalar (Eigen) path and fails
// (SkipWithError) on any difference.
#include <benchmark/benchmark.h>

#include <eqinfo/transformer.hpp>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace m1 = eqinfo::detail::m1;
namespace int8 = eqinfo::detail::int8;
using eqinfo::cdf_table;
using eqinfo::m1_model;
using eqinfo::transformer_config;
using eqinfo::transformer_weights;

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

/// Model 0: the shipped M1 (random weights of its shape if the file is not
/// found); 1: the paper's 3m shape. Packed for `path`.
std::shared_ptr<const transformer_weights> weights(int model, int8::isa path) {
  static std::shared_ptr<const transformer_weights> base[2];
  if (!base[model]) {
    if (model == 0) {
      try {
#ifdef EQINFO_BENCH_MODEL
        base[0] = eqinfo::load_m1(EQINFO_BENCH_MODEL).weights;
#endif
      } catch (const eqinfo::error&) {
      }
      if (!base[0]) {
        transformer_config c{.layers = 2, .d_model = 128, .heads = 2, .d_ff = 512};
        base[0] = std::make_shared<const transformer_weights>(transformer_weights::random(c, 42));
      }
    } else {
      base[1] = std::make_shared<const transformer_weights>(transformer_weights::random(transformer_config{}, 42));
    }
  }
  return std::make_shared<const transformer_weights>(base[model]->for_path(path));
}

double ops_per_position(const transformer_config& c, double attended) {
  const double d = c.d_model, a = c.attention_width(), layers = c.layers;
  const double n_matmul = layers * (4 * d * a + 2 * d * c.d_ff) + 256 * d;
  return 2 * n_matmul + layers * 4 * a * attended;
}

void set_counters(benchmark::State& state, const transformer_config& c, double positions_per_iteration, double window) {
  const double positions = positions_per_iteration * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(positions));
  state.counters["GOPs"] =
      benchmark::Counter(positions * ops_per_position(c, (window + 1) / 2) * 1e-9, benchmark::Counter::kIsRate);
}

/// CDFs of windows of `window` bytes starting at `starts`, each from reset.
std::vector<cdf_table> window_cdfs(const std::shared_ptr<const transformer_weights>& w, std::size_t window,
                                   const std::vector<std::size_t>& starts) {
  m1_model model(w, 16);
  std::vector<cdf_table> out(window * starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i) {
    model.reset();
    model.predict_run(std::span(text()).subspan(starts[i], window), std::span(out).subspan(i * window, window));
  }
  return out;
}

void BM_window(benchmark::State& state, int8::isa path, int model) {
  const auto window = static_cast<std::size_t>(state.range(0));
  const auto w = weights(model, path);
  m1_model m(w, 16);
  const auto& t = text();
  std::vector<cdf_table> out(window);
  std::size_t at = 0;
  for (auto _ : state) {
    if (at + window > t.size()) at = 0;
    m.reset();
    m.predict_run(std::span(t).subspan(at, window), out);
    benchmark::DoNotOptimize(out.data());
    at += window;
  }
  set_counters(state, w->config, static_cast<double>(window), static_cast<double>(window));
  if (out != window_cdfs(weights(model, int8::isa::scalar), window, {at - window}))
    state.SkipWithError("CDFs differ from the scalar path");
}

void BM_batched(benchmark::State& state, int8::isa path, int model) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t window = 16;
  const auto w = weights(model, path);
  const auto& t = text();
  std::vector<m1::kv_cache> caches(batch);
  for (auto& c : caches) c.allocate(w->config);
  std::vector<std::vector<int>> inputs(batch);
  std::vector<float> logits(batch * window * 256), probabilities(256);
  std::vector<m1::sequence_call> calls(batch);
  std::vector<cdf_table> out(batch * window);
  m1::workspace ws;
  std::size_t at = 0;
  std::vector<std::size_t> starts(batch);
  for (auto _ : state) {
    if (at + batch * window > t.size()) at = 0;
    for (std::size_t b = 0; b < batch; ++b) {
      starts[b] = at + b * window;
      inputs[b].assign(1, 256);
      for (std::size_t k = 0; k + 1 < window; ++k) inputs[b].push_back(t[starts[b] + k]);
      caches[b].length = 0;
      calls[b] = {&caches[b], inputs[b], window, logits.data() + b * window * 256};
    }
    m1::forward_batch(*w, calls, ws);
    for (std::size_t k = 0; k < batch * window; ++k)
      m1::logits_to_cdf(logits.data() + k * 256, 16, out[k], probabilities.data(), w->path);
    benchmark::DoNotOptimize(out.data());
    at += batch * window;
  }
  set_counters(state, w->config, static_cast<double>(batch * window), static_cast<double>(window));
  if (out != window_cdfs(weights(model, int8::isa::scalar), window, starts))
    state.SkipWithError("CDFs differ from the scalar path");
}

/// The lockstep coder's own step (m1_model::lane_set): B lanes, each fed
/// one byte per evaluate() and restarted every 4 bytes (an EqualInfoAC
/// window at b = 16 holds about 4 bytes of English). Positions per second
/// here bound what the window coder can reach at that batch size
/// (bench/throughput.sh compares).
void BM_lanes(benchmark::State& state, int8::isa path, int model) {
  const auto lanes = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t window = 4;
  const auto w = weights(model, path);
  const m1_model prototype(w, 16);
  m1_model::lane_set set(prototype);
  set.resize(lanes);
  const auto& t = text();
  std::size_t at = 0, step = 0;
  for (auto _ : state) {
    if (at + lanes > t.size()) at = 0;
    for (std::size_t l = 0; l < lanes; ++l) {
      if (step % window == 0) set.restart(l);
      set.append(l, t[at + l]);
    }
    set.evaluate();
    for (std::size_t l = 0; l < lanes; ++l) benchmark::DoNotOptimize(set.cdf(l).data());
    at += lanes;
    ++step;
  }
  set_counters(state, w->config, static_cast<double>(lanes), static_cast<double>(window));
}

void BM_incremental(benchmark::State& state, int8::isa path, int model) {
  constexpr std::size_t length = 64;
  const auto w = weights(model, path);
  m1_model m(w, 16);
  const auto& t = text();
  std::vector<cdf_table> out(length);
  std::size_t at = 0;
  for (auto _ : state) {
    if (at + length > t.size()) at = 0;
    m.reset();
    for (std::size_t k = 0; k < length; ++k) {
      out[k] = m.predict();
      m.update(t[at + k]);
    }
    benchmark::DoNotOptimize(out.data());
    at += length;
  }
  set_counters(state, w->config, static_cast<double>(length), static_cast<double>(length));
  if (out != window_cdfs(weights(model, int8::isa::scalar), length, {at - length}))
    state.SkipWithError("CDFs differ from the scalar path");
}

const bool registered = [] {
  for (auto path : {int8::isa::scalar, int8::isa::sse2, int8::isa::avx2, int8::isa::avx512vnni, int8::isa::amx}) {
    if (!int8::supported(path)) continue;
    const std::string p(int8::name(path));
    for (int model : {0, 1}) {
      const std::string suffix = p + "/" + std::to_string(model);
      benchmark::RegisterBenchmark(("BM_window/" + suffix).c_str(), BM_window, path, model)
          ->Arg(16)
          ->Arg(64)
          ->Arg(1024)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("BM_batched/" + suffix).c_str(), BM_batched, path, model)
          ->Arg(64)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("BM_lanes/" + suffix).c_str(), BM_lanes, path, model)
          ->Arg(16)
          ->Arg(64)
          ->Arg(128)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("BM_incremental/" + suffix).c_str(), BM_incremental, path, model)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
