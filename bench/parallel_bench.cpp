// SPDX-License-Identifier: MIT
// Thread scaling of eqinfo/parallel.hpp with M1 ("3m", random weights):
// encode_many over several examples, the `eqinfo shard` pipeline over the
// same examples (read from a file, encoded, written with fsync), and
// decode_windows_parallel of one EqualInfoAC stream, on 1 and 2 threads (or
// --threads A,B), next to the
// scaling of an FMA microbenchmark measured in the same binary (each thread
// runs an independent, register-resident FMA loop: the machine's own
// compute scaling, which is what shared or hyper-threaded cores limit).
//
//   parallel_bench [--bytes N] [--examples K] [--threads A,B] [--repeat R]
//
// Target: M1 coding scales from A to B threads within 10 % of the FMA loop,
// i.e. (rate_B / rate_A) / (fma_B / fma_A) >= 0.9. Exit code 0 either way
// (it is a measurement); the verdict is printed.
#include "shard_pipeline.hpp"  // tools/: the pipeline behind `eqinfo shard`

#include <eqinfo/parallel.hpp>
#include <eqinfo/transformer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EQINFO_BENCH_X86 1
#endif

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// ---------------------------------------------------------------------------
// FMA microbenchmark: 8 independent accumulator chains (enough to cover the
// FMA latency), all in registers; returns the checksum so nothing is elided.

#ifdef EQINFO_BENCH_X86
__attribute__((target("avx2,fma"))) float fma_loop_avx2(std::uint64_t iterations) {
  __m256 acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (std::uint64_t n = 0; n < iterations; ++n)
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 8; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}
#endif

// Fallback without FMA hardware: the same chains as separate multiply and add.
float mul_add_loop(std::uint64_t iterations) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * static_cast<float>(i);
  for (std::uint64_t n = 0; n < iterations; ++n)
    for (int i = 0; i < 8; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (float x : acc) s += x;
  return s;
}

bool have_fma() {
#ifdef EQINFO_BENCH_X86
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

float run_fma(std::uint64_t iterations) {
#ifdef EQINFO_BENCH_X86
  if (have_fma()) return fma_loop_avx2(iterations);
#endif
  return mul_add_loop(iterations);
}

/// Aggregate FMA-loop iterations per second with `threads` threads, each
/// running `iterations` on its own.
double fma_rate(unsigned threads, std::uint64_t iterations) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<float> sink(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      sink[t] = run_fma(iterations);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const auto t0 = clock_type::now();
  go.store(true);
  for (auto& th : pool) th.join();
  const double s = seconds_since(t0);
  volatile float keep = 0;
  for (float x : sink) keep = keep + x;
  (void)keep;
  return static_cast<double>(iterations) * threads / s;
}

// ---------------------------------------------------------------------------

std::vector<std::uint8_t> sample_text(std::size_t n) {
  std::vector<std::uint8_t> text;
#ifdef EQINFO_BENCH_DATA_DIR
  std::ifstream in(std::string(EQINFO_BENCH_DATA_DIR) + "/sotu_sample.txt", std::ios::binary);
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
#endif
  if (text.empty()) {
    const std::string p = "The quick brown fox jumps over the lazy dog, again and again, in plain English text. ";
    text.assign(p.begin(), p.end());
  }
  std::vector<std::uint8_t> out;
  while (out.size() < n) out.insert(out.end(), text.begin(), text.end());
  out.resize(n);
  return out;
}

template <class F>
double best_seconds(unsigned repeat, F&& f) {
  double best = 1e300;
  for (unsigned r = 0; r < repeat; ++r) {
    const auto t0 = clock_type::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

struct row {
  std::string what;
  double rate_a, rate_b;  // units per second
  const char* unit;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t bytes = 4096, examples = 8;
  unsigned repeat = 1, ta = 1, tb = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "parallel_bench: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--bytes") {
      bytes = std::stoul(value());
    } else if (arg == "--examples") {
      examples = std::max<std::size_t>(1, std::stoul(value()));
    } else if (arg == "--repeat") {
      repeat = std::max(1u, static_cast<unsigned>(std::stoul(value())));
    } else if (arg == "--threads") {
      const std::string v = value();
      const auto comma = v.find(',');
      ta = static_cast<unsigned>(std::stoul(v.substr(0, comma)));
      tb = comma == std::string::npos ? 2 * ta : static_cast<unsigned>(std::stoul(v.substr(comma + 1)));
    } else {
      std::fprintf(stderr, "usage: parallel_bench [--bytes N] [--examples K] [--threads A,B] [--repeat R]\n");
      return 2;
    }
  }

  std::printf(
      "parallel_bench: M1 3m (random weights), EqualInfoAC b=16 N=16 P=16, %zu bytes, threads %u vs %u, "
      "hardware threads %u\n",
      bytes, ta, tb, std::thread::hardware_concurrency());
  const auto weights =
      std::make_shared<const eqinfo::transformer_weights>(eqinfo::transformer_weights::random({}, 2024));
  const eqinfo::settings s;  // EqualInfoAC b=16 N=16 P=16
  const eqinfo::tokenizer prototype(eqinfo::m1_model(weights, s.precision_bits), s);
  const auto text = sample_text(bytes);

  // encode_many: `examples` equal slices of the text.
  std::vector<std::span<const std::uint8_t>> parts;
  for (std::size_t i = 0; i < examples; ++i)
    parts.push_back(std::span<const std::uint8_t>(text).subspan(i * bytes / examples,
                                                                (i + 1) * bytes / examples - i * bytes / examples));
  const std::span<const std::span<const std::uint8_t>> parts_span(parts);
  std::vector<eqinfo::encoded> encoded_a, encoded_b;
  const double enc_a = best_seconds(repeat, [&] { encoded_a = eqinfo::encode_many(prototype, parts_span, ta); });
  const double enc_b = best_seconds(repeat, [&] { encoded_b = eqinfo::encode_many(prototype, parts_span, tb); });
  bool identical = true;
  for (std::size_t i = 0; i < examples; ++i) identical = identical && encoded_a[i].tokens == encoded_b[i].tokens;

  // The shard pipeline: the text as one input file, cut into the same
  // examples (the last one may be shorter), one shard, written to disk.
  namespace fs = std::filesystem;
  const fs::path work = fs::temp_directory_path() / ("eqinfo-parallel-bench-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  const fs::path corpus = work / "corpus.txt";
  std::ofstream(corpus, std::ios::binary)
      .write(reinterpret_cast<const char*>(text.data()), static_cast<std::streamsize>(text.size()));
  auto shard_run = [&](unsigned threads, const fs::path& dir) {
    fs::remove_all(dir);  // a finished directory would be skipped
    eqinfo::shard_manifest job;
    job.eqinfo_version = "bench";
    job.config = s;
    job.model_kind = "m1";
    job.model_fingerprint = eqinfo::model_fingerprint(prototype.model());
    job.example_bytes = (bytes + examples - 1) / examples;
    job.shard_examples = examples;
    job.inputs = eqinfo::tool::list_inputs({corpus.string()}, {});
    eqinfo::tool::write_shards(prototype, job, dir, threads);
  };
  const double shard_a = best_seconds(repeat, [&] { shard_run(ta, work / "a"); });
  const double shard_b = best_seconds(repeat, [&] { shard_run(tb, work / "b"); });
  for (const char* name : {"manifest.json", "shard-000000.npy", "shard-000000.idx.npy"})
    identical = identical && eqinfo::detail::read_file_bytes((work / "a" / name).string()) ==
                                 eqinfo::detail::read_file_bytes((work / "b" / name).string());
  fs::remove_all(work);

  // decode_windows_parallel: one stream of all the bytes.
  auto serial = prototype;
  const eqinfo::encoded whole = serial.encode(text);
  std::vector<std::uint8_t> decoded_a, decoded_b;
  const double dec_a = best_seconds(
      repeat, [&] { decoded_a = eqinfo::decode_windows_parallel(prototype, whole.tokens, whole.byte_count, ta); });
  const double dec_b = best_seconds(
      repeat, [&] { decoded_b = eqinfo::decode_windows_parallel(prototype, whole.tokens, whole.byte_count, tb); });
  identical = identical && decoded_a == text && decoded_b == text;

  // FMA loop: about 0.2 s per thread at 4 GHz (8 FMAs per iteration, 2 per cycle).
  const std::uint64_t iterations = 200'000'000;
  double fma_a = 0, fma_b = 0;
  for (unsigned r = 0; r < std::max(3u, repeat); ++r) {
    fma_a = std::max(fma_a, fma_rate(ta, iterations));
    fma_b = std::max(fma_b, fma_rate(tb, iterations));
  }

  const double b = static_cast<double>(bytes);
  const row rows[] = {
      {"encode_many (" + std::to_string(examples) + " examples)", b / enc_a, b / enc_b, "bytes/s"},
      {"shard pipeline (" + std::to_string(examples) + " examples, 1 shard)", b / shard_a, b / shard_b, "bytes/s"},
      {"decode_windows_parallel (1 stream)", b / dec_a, b / dec_b, "bytes/s"},
  };
  const double fma_scaling = fma_b / fma_a;
  const double fma_flops = 8.0 * (have_fma() ? 16.0 : 2.0);  // per iteration: 8 chains x (8 lanes x 2 | 1 x 2)
  std::printf("%-40s %14s %14s %9s %12s\n", "", ("T=" + std::to_string(ta)).c_str(),
              ("T=" + std::to_string(tb)).c_str(), "scaling", "vs FMA");
  std::printf("%-40s %11.2f GF %11.2f GF %8.3fx %12s\n",
              have_fma() ? "FMA loop (AVX2, 8 chains/thread)" : "mul+add loop (8 chains/thread)",
              fma_a * fma_flops / 1e9, fma_b * fma_flops / 1e9, fma_scaling, "1.000");
  bool pass = true;
  for (const auto& r : rows) {
    const double scaling = r.rate_b / r.rate_a;
    const double relative = scaling / fma_scaling;
    pass = pass && relative >= 0.9;
    std::printf("%-40s %9.0f B/s %9.0f B/s %8.3fx %12.3f\n", r.what.c_str(), r.rate_a, r.rate_b, scaling, relative);
  }
  std::printf("tokens, bytes and shard files identical across thread counts: %s\n", identical ? "yes" : "NO");
  std::printf("target (scaling within 10%% of the FMA loop's): %s\n", pass ? "met" : "NOT met");
  return identical ? 0 : 1;
}
