// SPDX-License-Identifier: MIT
// M1's integer numerics (docs/m1-integer.md): the element-wise building
// blocks, and the whole forward pass on every int8 kernel path this CPU runs
// (scalar/Eigen, SSE2, AVX2, AVX-512 VNNI, AMX), compared bit for bit.
// The paths this CPU lacks are named in a warning, not silently passed.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/transformer.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace m1 = eqinfo::detail::m1;
namespace int8 = eqinfo::detail::int8;
using eqinfo::transformer_config;
using eqinfo::transformer_weights;

namespace {

std::vector<int8::isa> paths_here() {
  const auto paths = eqinfo_test::int8_paths_here();
  static bool said = false;
  if (!said && !paths.skipped.empty()) {
    said = true;
    WARN("int8 kernel paths this CPU/OS cannot run, skipped:" << paths.skipped);
  }
  return paths.supported;
}

/// Logits of every call's last `want` rows, calls run in order on one cache.
std::vector<float> run_forward(const transformer_weights& w, const std::vector<std::vector<int>>& calls) {
  m1::kv_cache cache;
  cache.allocate(w.config);
  m1::workspace ws;
  std::vector<float> out;
  for (const auto& call : calls) {
    std::vector<float> logits(call.size() * 256);
    m1::forward(w, cache, call, call.size(), ws, logits.data());
    out.insert(out.end(), logits.begin(), logits.end());
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}

}  // namespace

TEST_CASE("round_even_int rounds half to even like rint", "[m1][numerics]") {
  for (float x : {0.5f, 1.5f,  2.5f,   -0.5f,   -1.5f,    -2.5f,     126.5f,   127.49f,    -32766.5f,   3.0f,
                  0.0f, -0.0f, 1e-30f, -1e-30f, 32767.0f, -32767.0f, 32766.5f, 4194303.5f, -4194303.5f, -4194304.0f})
    REQUIRE(m1::round_even_int(x) == static_cast<std::int32_t>(std::nearbyint(x)));
  REQUIRE(m1::round_even_int(2.5f) == 2);
  REQUIRE(m1::round_even_int(3.5f) == 4);
  REQUIRE(m1::round_even_int(-2.5f) == -2);
  // Every float of the quantisers' range [-32767.5, 32767.5], in steps that hit the ties.
  std::mt19937 rng(3);
  for (int i = 0; i < 200000; ++i) {
    const float x = static_cast<float>(static_cast<int>(rng() % 131071) - 65535) * 0.5f +
                    (i % 2 ? 0.0f : static_cast<float>(rng() % 1000) * 1e-4f);
    REQUIRE(m1::round_even_int(x) == static_cast<std::int32_t>(std::nearbyint(x)));
  }
}

TEST_CASE("the fused ReLU on bit patterns is v > 0 ? v : +0 for every kind of float, on every compiled copy",
          "[m1][numerics]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> scales = {1.0f, -1.0f, 0.0f, -0.0f, nan, -nan, inf, -inf, 1e-45f, -1e-45f, 3.4e38f, 2.5f};
  const std::vector<std::int32_t> products = {0, 1, -1, 7, -7, 1 << 30, INT32_MIN, 123456};
  for (const float s : {1.0f, 3.5f, -2.0f}) {
    std::vector<std::int32_t> a;
    std::vector<float> scale;
    for (float sc : scales)
      for (std::int32_t p : products) {
        a.push_back(p);
        scale.push_back(sc);
      }
    const std::size_t n = a.size();
    std::vector<float> want(n);
    for (std::size_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(a[i]) * (s * scale[i]);
      want[i] = v > 0.0f ? v : 0.0f;
    }
    const float want_max = m1::abs_max(want.data(), n);
    std::vector<float> got(n);
    auto check = [&](const char* copy, float got_max) {
      INFO("copy " << copy << ", s " << s);
      REQUIRE(same_bits(got, want));
      REQUIRE(std::bit_cast<std::uint32_t>(got_max) == std::bit_cast<std::uint32_t>(want_max));
    };
    check("baseline", m1::scale_row_abs_max<true>(a.data(), s, scale.data(), n, got.data()));
#if defined(EQINFO_INT8_X86) && (defined(__GNUC__) || defined(__clang__))
    if (int8::supported(int8::isa::avx2))
      check("avx2", m1::avx2::scale_row_abs_max<true>(a.data(), s, scale.data(), n, got.data()));
    if (int8::supported(int8::isa::avx512vnni))
      check("avx512", m1::avx512::scale_row_abs_max<true>(a.data(), s, scale.data(), n, got.data()));
#endif
    // And without the ReLU: scale_row's values and their abs_max.
    for (std::size_t i = 0; i < n; ++i) want[i] = static_cast<float>(a[i]) * (s * scale[i]);
    const float plain_max = m1::scale_row_abs_max<false>(a.data(), s, scale.data(), n, got.data());
    REQUIRE(same_bits(got, want));
    REQUIRE(std::bit_cast<std::uint32_t>(plain_max) == std::bit_cast<std::uint32_t>(m1::abs_max(want.data(), n)));
  }
}

TEST_CASE("quant8 is symmetric, clamps, and zeroes tiny or non-finite rows", "[m1][numerics]") {
  std::int8_t q[4];
  const float v[4] = {1.0f, -0.5f, 0.25f, -1.0f};
  const float s = m1::quant8(v, 4, q);
  REQUIRE(s == 1.0f / 127.0f);
  REQUIRE(q[0] == 127);
  REQUIRE(q[1] == -64);  // -63.5 rounds to even
  REQUIRE(q[2] == 32);   // 31.75
  REQUIRE(q[3] == -127);
  const float small[2] = {0x1p-70f, -0x1p-65f};
  REQUIRE(m1::quant8(small, 2, q) == 0.0f);
  REQUIRE((q[0] == 0 && q[1] == 0));
  const float bad[3] = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
  REQUIRE(m1::quant8(bad, 3, q) == 0.0f);
  REQUIRE((q[0] == 0 && q[1] == 0 && q[2] == 0));
  const float inf[2] = {1.0f, -INFINITY};
  REQUIRE(m1::quant8(inf, 2, q) == 0.0f);
  std::uint8_t u[3];
  const float p[3] = {1.0f, 0.5f, 0.0f};
  REQUIRE(m1::quant8u(p, 3, u) == 1.0f / 255.0f);
  REQUIRE((u[0] == 255 && u[1] == 128 && u[2] == 0));  // 127.5 rounds to even
}

TEST_CASE("norm_quant scales by the RMS of the row and ignores its magnitude in the integers", "[m1][numerics]") {
  const std::size_t d = 64;
  std::vector<float> h(d), g(d, 1.0f), scratch(d);
  for (std::size_t i = 0; i < d; ++i) h[i] = std::sin(static_cast<float>(i)) * 3.0f;
  std::vector<std::int8_t> x(d), y(d);
  const float s = m1::norm_quant(h.data(), g.data(), d, 1e-6f, x.data(), scratch.data());
  double ss = 0;
  for (float v : h) ss += static_cast<double>(v) * v;
  const double rms = std::sqrt(ss / d);
  // x * s approximates h / rms to within the int8 step.
  for (std::size_t i = 0; i < d; ++i) REQUIRE(std::fabs(x[i] * s - h[i] / rms) <= 0.5 * s + 1e-4);
  // Scaling the row by a power of two changes nothing in the integers.
  for (auto& v : h) v *= 8.0f;
  const float s8 = m1::norm_quant(h.data(), g.data(), d, 1e-6f, y.data(), scratch.data());
  REQUIRE(x == y);
  REQUIRE(std::fabs(s8 - s) <= 1e-6f * s);
  std::fill(h.begin(), h.end(), 0.0f);
  REQUIRE(m1::norm_quant(h.data(), g.data(), d, 1e-6f, x.data(), scratch.data()) == 0.0f);
}

TEST_CASE("logits_to_cdf: integer weights, uniform for non-finite logits", "[m1][numerics]") {
  std::vector<float> logits(256, 0.0f), p(256);
  eqinfo::cdf_table cdf, uniform;
  logits[7] = 5.0f;
  m1::logits_to_cdf(logits.data(), 16, cdf, p.data());
  REQUIRE(cdf[256] == 65536u);
  REQUIRE(cdf[8] - cdf[7] > cdf[9] - cdf[8]);
  REQUIRE(p[7] == 1.0f);
  logits[3] = std::numeric_limits<float>::quiet_NaN();
  m1::logits_to_cdf(logits.data(), 16, uniform, p.data());
  for (int s = 0; s < 256; ++s)
    REQUIRE(uniform[static_cast<std::size_t>(s + 1)] - uniform[static_cast<std::size_t>(s)] == 256u);
}

TEST_CASE("logits_to_cdf gives the same CDF and probabilities with every compiled element-wise copy",
          "[m1][numerics][kernels]") {
  // The element-wise code follows the kernel path (baseline, AVX2, AVX-512 copies).
  std::mt19937 rng(77);
  std::normal_distribution<float> normal(0.0f, 6.0f);
  const auto paths = eqinfo_test::int8_paths_here();
  for (int round = 0; round < 200; ++round) {
    std::vector<float> logits(256);
    for (auto& l : logits) l = normal(rng) * (round % 5 == 0 ? 10.0f : 1.0f);
    if (round % 17 == 0) logits[static_cast<std::size_t>(round) % 256] = -1e30f;
    std::vector<float> p0(256), p(256);
    eqinfo::cdf_table want, got;
    m1::logits_to_cdf(logits.data(), 16, want, p0.data(), eqinfo::detail::int8::isa::scalar);
    for (auto path : paths.supported) {
      INFO("path " << eqinfo::detail::int8::name(path) << ", round " << round);
      m1::logits_to_cdf(logits.data(), 16, got, p.data(), path);
      REQUIRE(got == want);
      REQUIRE(std::memcmp(p.data(), p0.data(), 256 * sizeof(float)) == 0);
    }
  }
  if (!paths.skipped.empty()) WARN("logits_to_cdf: int8 paths this CPU cannot run, skipped:" << paths.skipped);
}

TEST_CASE("M1's quantiser gives quantize_cdf's CDF on every compiled copy, at every precision",
          "[m1][numerics][kernels]") {
  // cdf_of_logits' weights are at most 2^24; quantize_small_weights computes
  // quantize_cdf's floors in doubles. Random rows, heavy and flat ones, ties
  // for the heaviest byte, and the extremes.
  std::mt19937 rng(5);
  const auto paths = eqinfo_test::int8_paths_here();
  std::vector<std::array<std::uint32_t, 256>> rows;
  for (int round = 0; round < 120; ++round) {
    std::array<std::uint32_t, 256> w{};
    const std::uint32_t top = round % 3 == 0 ? (1u << 24) : round % 3 == 1 ? 1000u : (1u << 24) - 1;
    for (auto& v : w) v = static_cast<std::uint32_t>(rng() % (top + 1));
    if (round % 4 == 0) w[static_cast<std::size_t>(round) % 256] = 1u << 24;
    if (round % 7 == 0) w[17] = w[200] = *std::max_element(w.begin(), w.end());  // a tie
    rows.push_back(w);
  }
  std::array<std::uint32_t, 256> all_max, one_max{}, one_max_ones;
  all_max.fill(1u << 24);
  one_max[42] = 1u << 24;
  one_max_ones.fill(1);
  one_max_ones[255] = 1u << 24;
  rows.insert(rows.end(), {all_max, one_max, one_max_ones});
  for (unsigned precision = eqinfo::min_precision_bits; precision <= eqinfo::max_precision_bits; ++precision) {
    for (const auto& w : rows) {
      std::array<std::uint64_t, 256> wide;
      std::copy(w.begin(), w.end(), wide.begin());
      eqinfo::cdf_table want, got;
      eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(wide), precision, want);
      for (auto path : paths.supported) {
        INFO("path " << eqinfo::detail::int8::name(path) << ", P = " << precision);
        m1::quantize_weights(w.data(), precision, got, path);
        REQUIRE(got == want);
      }
    }
  }
  if (!paths.skipped.empty()) WARN("quantize_weights: int8 paths this CPU cannot run, skipped:" << paths.skipped);
}

TEST_CASE("M1 forward gives bit-identical logits on every int8 kernel path", "[m1][kernels]") {
  const auto paths = paths_here();
  REQUIRE(!paths.empty());
  SECTION("small odd-shaped model, batched and incremental calls") {
    transformer_config c{.layers = 2, .d_model = 40, .heads = 3, .head_dim = 13, .d_ff = 72, .context = 80};
    const auto w = transformer_weights::random(c, 5);
    std::vector<std::vector<int>> calls = {{256, 72, 101}, {108}, {108, 111, 32, 119, 111, 114, 108, 100}};
    std::vector<int> big;
    for (int i = 0; i < 50; ++i) big.push_back((i * 37 + 5) % 256);
    calls.push_back(big);
    const auto want = run_forward(w.for_path(int8::isa::scalar), calls);
    for (auto p : paths) {
      INFO("path " << int8::name(p));
      REQUIRE(same_bits(run_forward(w.for_path(p), calls), want));
    }
  }
  SECTION("default 3m config: a 64-byte window, then single bytes") {
    const auto w = transformer_weights::random(transformer_config{}, 17);
    std::vector<std::vector<int>> calls;
    std::vector<int> window = {256};
    for (int i = 0; i < 63; ++i) window.push_back((i * 11 + 3) % 256);
    calls.push_back(window);
    for (int i = 0; i < 5; ++i) calls.push_back({(i * 29) % 256});
    const auto want = run_forward(w.for_path(int8::isa::scalar), calls);
    for (auto p : paths) {
      INFO("path " << int8::name(p));
      REQUIRE(same_bits(run_forward(w.for_path(p), calls), want));
    }
  }
}

TEST_CASE("a batched forward gives each sequence the bits it gets alone", "[m1][determinism]") {
  transformer_config c{.layers = 2, .d_model = 32, .heads = 2, .head_dim = 16, .d_ff = 48, .context = 64};
  const auto w = transformer_weights::random(c, 9);
  // Three sequences with different histories and run lengths.
  const std::vector<std::vector<int>> first = {{256, 1, 2, 3}, {256}, {256, 9, 8, 7, 6, 5, 4, 3, 2, 1}};
  const std::vector<std::vector<int>> second = {{4, 5}, {77, 78, 79, 80, 81, 82, 83}, {0}};
  std::vector<float> alone;
  for (std::size_t s = 0; s < first.size(); ++s) {
    const auto got = run_forward(w, {first[s], second[s]});
    alone.insert(alone.end(), got.end() - static_cast<std::ptrdiff_t>(second[s].size() * 256), got.end());
  }
  std::vector<m1::kv_cache> caches(first.size());
  m1::workspace ws;
  std::vector<m1::sequence_call> calls;
  std::vector<std::vector<float>> scratch(first.size());
  for (std::size_t s = 0; s < first.size(); ++s) {
    caches[s].allocate(c);
    scratch[s].resize(first[s].size() * 256);
    calls.push_back({&caches[s], first[s], 1, scratch[s].data()});
  }
  m1::forward_batch(w, calls, ws);
  calls.clear();
  std::size_t total = 0;
  for (const auto& v : second) total += v.size();
  std::vector<float> batched(total * 256);
  std::size_t at = 0;
  for (std::size_t s = 0; s < second.size(); ++s) {
    calls.push_back({&caches[s], second[s], second[s].size(), batched.data() + at});
    at += second[s].size() * 256;
  }
  m1::forward_batch(w, calls, ws);
  REQUIRE(same_bits(batched, alone));
}
