// SPDX-License-Identifier: MIT
// M1's fast kernels (detail/m1_kernels.hpp) against the reference kernels that
// define M1's numerics: bit for bit, for every shape, at this build's ISA
// (scripts/test.sh builds baseline, x86-64-v3 and clang; also run it with
// -march=native) and at width 1 (the fallback without xsimd).
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/transformer.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace m1 = eqinfo::detail::m1;
using eqinfo::transformer_config;
using eqinfo::transformer_weights;

namespace {

using scalar_kernels = m1::simd_kernels<m1::scalar_ops>;

/// Same bits (any NaN matches any NaN: payloads are not part of the contract).
bool same(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

/// Index of the first difference, or -1.
long first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return static_cast<long>(i);
  return -1;
}

/// Random floats of mixed magnitudes, with some signed zeros and denormals
/// (the inputs most likely to expose a changed operation order).
std::vector<float> random_floats(std::size_t n, eqinfo_test::rng& r, float amplitude = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) {
    const auto k = r.below(64);
    const float u = static_cast<float>(static_cast<std::int32_t>(r.next() >> 40) - (1 << 23)) * 0x1p-23f;
    if (k == 0)
      x = -0.0f;
    else if (k == 1)
      x = 0.0f;
    else if (k == 2)
      x = u * 0x1p-130f;  // denormal
    else if (k < 6)
      x = u * amplitude * 1000.0f;
    else
      x = u * amplitude;
  }
  return v;
}

template <class K>
std::vector<float> run_matmul(const std::vector<float>& x, const std::vector<float>& w, std::size_t rows,
                              std::size_t in, std::size_t out) {
  std::vector<float> y(rows * out, 12345.0f);  // garbage: the kernel must overwrite
  K::matmul(x.data(), w.data(), y.data(), rows, in, out);
  return y;
}

template <class K>
std::vector<float> run_attention(const transformer_config& c, const std::vector<float>& q,
                                 const std::vector<float>& keys, const std::vector<float>& values,
                                 const std::vector<float>& bias, const std::vector<std::int32_t>& buckets,
                                 std::size_t first, std::size_t rows) {
  std::vector<float> out(rows * c.attention_width(), 777.0f), scratch(3, 5.0f);
  K::attention(c, q.data(), keys.data(), values.data(), bias.data(), buckets.data(), first, rows, out.data(), scratch);
  return out;
}

template <class K>
std::vector<float> run_forward(const transformer_weights& w, const std::vector<std::vector<int>>& calls) {
  m1::kv_cache cache;
  cache.keys.resize(std::size_t{w.config.layers} * w.config.context * w.config.attention_width());
  cache.values.resize(cache.keys.size());
  m1::workspace ws;
  std::vector<float> all;
  for (const auto& inputs : calls) {
    std::vector<float> logits(inputs.size() * 256);
    m1::forward<K>(w, cache, inputs, inputs.size(), ws, logits.data());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

}  // namespace

TEST_CASE("fast matmul is bit-identical to the reference for every shape", "[m1][kernels]") {
  eqinfo_test::rng r{2024};
  const std::size_t sizes[] = {1, 3, 7, 8, 15, 16, 17, 31, 64, 65, 256, 1024};
  std::size_t checked = 0;
  for (std::size_t in : sizes) {
    for (std::size_t out : sizes) {
      for (std::size_t rows = 1; rows <= 70; ++rows) {
        // Every row count for small shapes; a spread (all remainders mod 6) for big ones.
        if (in * out * rows > (1u << 19) && rows > 13 && rows != 31 && rows != 64 && rows != 70) continue;
        if (in * out >= 256 * 1024 && rows > 7 && rows != 13 && rows != 70) continue;
        const auto x = random_floats(rows * in, r);
        const auto w = random_floats(in * out, r, 0.1f);
        const auto want = run_matmul<m1::reference_kernels>(x, w, rows, in, out);
        INFO("rows " << rows << " in " << in << " out " << out);
        REQUIRE(first_difference(run_matmul<m1::fast_kernels>(x, w, rows, in, out), want) == -1);
        REQUIRE(first_difference(run_matmul<scalar_kernels>(x, w, rows, in, out), want) == -1);
        ++checked;
      }
    }
  }
  REQUIRE(checked > 2000);
}

TEST_CASE("fast rms_norm is bit-identical to the reference", "[m1][kernels]") {
  eqinfo_test::rng r{7};
  for (std::size_t d : {1u, 3u, 7u, 16u, 17u, 48u, 65u, 256u, 1000u}) {
    for (std::size_t rows = 1; rows <= 13; ++rows) {
      const auto x = random_floats(rows * d, r, 3.0f);
      const auto g = random_floats(d, r);
      std::vector<float> want(rows * d), got(rows * d), got1(rows * d);
      m1::reference_kernels::rms_norm(x.data(), g.data(), want.data(), rows, d, 1e-6f);
      m1::fast_kernels::rms_norm(x.data(), g.data(), got.data(), rows, d, 1e-6f);
      scalar_kernels::rms_norm(x.data(), g.data(), got1.data(), rows, d, 1e-6f);
      INFO("rows " << rows << " d " << d);
      REQUIRE(first_difference(got, want) == -1);
      REQUIRE(first_difference(got1, want) == -1);
    }
  }
}

TEST_CASE("fast attention is bit-identical to the reference", "[m1][kernels]") {
  eqinfo_test::rng r{99};
  int cases = 0;
  for (unsigned heads = 1; heads <= 4; ++heads) {
    for (unsigned head_dim : {1u, 2u, 5u, 8u, 16u, 17u, 33u, 64u, 80u}) {
      transformer_config c;
      c.heads = heads;
      c.head_dim = head_dim;
      c.context = 160;
      c.relative_buckets = 1 + r.below(40);
      c.relative_max_distance = c.relative_buckets / 2 + 1 + r.below(130);  // valid configs only (validate())
      const std::size_t a = c.attention_width();
      std::vector<std::int32_t> buckets(c.context);
      for (unsigned n = 0; n < c.context; ++n)
        buckets[n] = eqinfo::relative_position_bucket(n, c.relative_buckets, c.relative_max_distance);
      const auto keys = random_floats(c.context * a, r);
      const auto values = random_floats(c.context * a, r);
      const auto bias = random_floats(std::size_t{heads} * c.relative_buckets, r);
      const std::pair<std::size_t, std::size_t> spans[] = {{0, 1},  {0, 2},  {5, 1},   {0, 7},  {0, 8},   {3, 9},
                                                           {0, 33}, {1, 64}, {40, 70}, {0, 97}, {159, 1}, {100, 60}};
      for (const auto& [first, rows] : spans) {
        // Larger q for some cases: scores far apart (exp underflow to 0 and the -87 cut-off).
        const auto q = random_floats(rows * a, r, r.below(3) == 0 ? 30.0f : 1.0f);
        const auto want = run_attention<m1::reference_kernels>(c, q, keys, values, bias, buckets, first, rows);
        INFO("heads " << heads << " head_dim " << head_dim << " first " << first << " rows " << rows);
        REQUIRE(first_difference(run_attention<m1::fast_kernels>(c, q, keys, values, bias, buckets, first, rows),
                                 want) == -1);
        REQUIRE(first_difference(run_attention<scalar_kernels>(c, q, keys, values, bias, buckets, first, rows), want) ==
                -1);
        ++cases;
      }
    }
  }
  REQUIRE(cases == 4 * 9 * 12);
}

TEST_CASE("vector exp_nonpositive gives the scalar bits for every argument", "[m1][kernels]") {
  std::vector<float> x;
  // Every 101st float in [-100, -0.0] (by bit pattern: 0x80000000 is -0.0).
  for (std::uint32_t bits = 0x80000000u; bits <= std::bit_cast<std::uint32_t>(-100.0f); bits += 101)
    x.push_back(std::bit_cast<float>(bits));
  const float specials[] = {0.0f,
                            -0.0f,
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::denorm_min(),
                            -1e-40f,
                            -std::numeric_limits<float>::min(),
                            -87.0f,
                            std::nextafter(-87.0f, 0.0f),
                            std::nextafter(-87.0f, -100.0f),
                            -86.5f,
                            -0.34657359f,
                            -0.693359375f,
                            -1e30f,
                            -std::numeric_limits<float>::max()};
  for (int rep = 0; rep < 40; ++rep) x.insert(x.end(), std::begin(specials), std::end(specials));  // every lane
  for (int k = -126; k <= 0; ++k) {  // around the rounding points of n = (int)(x/ln2 - 0.5)
    const float p = (static_cast<float>(k) - 0.5f) * 0.69314718f;
    for (float v = p, i = 0; i < 4; ++i, v = std::nextafter(v, 0.0f)) x.push_back(v);
    for (float v = p, i = 0; i < 4; ++i, v = std::nextafter(v, -200.0f)) x.push_back(v);
  }
  for (std::size_t shift_case = 0; shift_case < 2; ++shift_case) {
    // exp_shifted(x, m) = exp(x - m): m = 0 and m = -0.0 (the two maxima a softmax can see).
    const float m = shift_case == 0 ? 0.0f : -0.0f;
    std::vector<float> got(x.size()), got1(x.size());
    m1::exp_shifted(x.data(), m, got.data(), x.size());
    m1::exp_shifted<m1::scalar_ops>(x.data(), m, got1.data(), x.size());
    std::size_t bad = 0, first_bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float want = m1::exp_nonpositive(x[i] - m);
      if (!same(got[i], want) || !same(got1[i], want)) first_bad = bad++ == 0 ? i : first_bad;
    }
    INFO("m " << m << ", first mismatch at x = " << x[first_bad] << " (bits 0x" << std::hex
              << std::bit_cast<std::uint32_t>(x[first_bad]) << ")");
    REQUIRE(bad == 0);
    REQUIRE(x.size() > 10000000 / 1000);
  }
}

TEST_CASE("forward with the fast kernels gives the reference logits bit for bit", "[m1][kernels]") {
  SECTION("small odd-shaped model, batched and incremental calls") {
    transformer_config c;
    c.layers = 2;
    c.d_model = 40;
    c.heads = 3;
    c.head_dim = 13;
    c.d_ff = 72;
    c.context = 96;
    const auto w = transformer_weights::random(c, 5);
    eqinfo_test::rng r{3};
    std::vector<std::vector<int>> calls = {{256}};
    for (std::size_t len : {1u, 1u, 9u, 2u, 30u, 1u, 40u}) {
      std::vector<int> in(len);
      for (auto& b : in) b = static_cast<int>(r.below(256));
      calls.push_back(in);
    }
    const auto want = run_forward<m1::reference_kernels>(w, calls);
    REQUIRE(first_difference(run_forward<m1::fast_kernels>(w, calls), want) == -1);
    REQUIRE(first_difference(run_forward<scalar_kernels>(w, calls), want) == -1);
  }
  SECTION("default 3m config: a 64-byte window, then single bytes") {
    const auto w = transformer_weights::random(transformer_config{}, 17);
    const auto text = eqinfo_test::english(70);
    std::vector<int> window = {256};
    for (std::size_t i = 0; i < 63; ++i) window.push_back(text[i]);
    const std::vector<std::vector<int>> calls = {window, {text[63]}, {text[64]}, {text[65], text[66], text[67]}};
    const auto want = run_forward<m1::reference_kernels>(w, calls);
    REQUIRE(first_difference(run_forward<m1::fast_kernels>(w, calls), want) == -1);
  }
}
