// SPDX-License-Identifier: MIT
// quantize_cdf on adversarial inputs, the model concept, and the unigram file.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/model.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

using eqinfo::cdf_table;
using eqinfo::errc;
using eqinfo_test::code_of;

namespace {

bool valid(const cdf_table& cdf, unsigned precision) {
  if (cdf[0] != 0 || cdf[256] != (1u << precision)) return false;
  for (std::size_t i = 0; i < 256; ++i)
    if (cdf[i] >= cdf[i + 1]) return false;
  return true;
}

struct no_update {
  unsigned precision_bits() const { return 16; }
  void reset() {}
  const cdf_table& predict() const;
};
struct wrong_predict {
  unsigned precision_bits() const { return 16; }
  void reset() {}
  std::vector<float> predict() const;
  void update(std::uint8_t) {}
};

}  // namespace

static_assert(eqinfo::byte_model<eqinfo_test::bigram_model>);
static_assert(eqinfo::batched_byte_model<eqinfo_test::batched_bigram_model>);
static_assert(!eqinfo::batched_byte_model<eqinfo_test::bigram_model>);
static_assert(!eqinfo::byte_model<no_update>);
static_assert(!eqinfo::byte_model<wrong_predict>);
static_assert(eqinfo::cdf_is_valid_by_construction<eqinfo::unigram_model>);
static_assert(!eqinfo::cdf_is_valid_by_construction<no_update>);
static_assert(eqinfo::cdf_is_static<eqinfo::unigram_model> && eqinfo::has_slice_lookup<eqinfo::unigram_model>);
static_assert(eqinfo::cdf_is_static<eqinfo::uniform_model> && eqinfo::has_slice_lookup<eqinfo::uniform_model>);
static_assert(!eqinfo::cdf_is_static<no_update>);

TEST_CASE("quantize_cdf gives a valid CDF for every well-formed input", "[model][quantize]") {
  const unsigned precision = GENERATE(8u, 9u, 12u, 16u, 24u);
  const float tiny = std::numeric_limits<float>::denorm_min();
  const float huge = std::numeric_limits<float>::max();
  std::vector<std::array<float, 256>> cases;
  std::array<float, 256> p;
  p.fill(1.0f);
  cases.push_back(p);  // uniform
  p.fill(0.0f);
  p[17] = 1.0f;
  cases.push_back(p);  // one-hot
  p.fill(tiny);
  cases.push_back(p);  // all denormal
  p.fill(huge);
  cases.push_back(p);  // all at the float maximum: no overflow
  p.fill(tiny);
  p[0] = huge;
  cases.push_back(p);  // 2^-149 next to 2^128
  p.fill(-0.0f);
  p[255] = 3.0f;
  cases.push_back(p);  // negative zeros are zeros
  eqinfo_test::rng r{5};
  for (int i = 0; i < 20; ++i) {
    for (auto& x : p) x = static_cast<float>(r.next() % 1000) * std::pow(10.0f, static_cast<float>(r.below(20)) - 10);
    cases.push_back(p);
  }
  for (const auto& input : cases) {
    cdf_table a, b;
    eqinfo::quantize_cdf(std::span<const float, 256>(input), precision, a);
    eqinfo::quantize_cdf(std::span<const float, 256>(input), precision, b);
    REQUIRE(valid(a, precision));
    REQUIRE(a == b);
  }
  // Scale invariance (exact powers of two keep the same integer weights).
  std::array<float, 256> scaled = cases.back();
  for (auto& x : scaled) x *= 1024.0f;
  cdf_table a, b;
  eqinfo::quantize_cdf(std::span<const float, 256>(cases.back()), precision, a);
  eqinfo::quantize_cdf(std::span<const float, 256>(scaled), precision, b);
  REQUIRE(a == b);
}

TEST_CASE("quantize_cdf rejects NaN, infinities, negatives and all-zero input with a named error",
          "[model][quantize]") {
  const float bad = GENERATE(std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(), -1.0f, -std::numeric_limits<float>::denorm_min());
  std::array<float, 256> p;
  p.fill(0.5f);
  p[200] = bad;
  cdf_table cdf;
  try {
    eqinfo::quantize_cdf(std::span<const float, 256>(p), 16, cdf);
    FAIL("no error");
  } catch (const eqinfo::error& e) {
    REQUIRE(e.code() == errc::invalid_model_output);
    REQUIRE_THAT(e.what(), Catch::Contains("byte 200"));
  }
  p.fill(0.0f);
  REQUIRE(code_of([&] { eqinfo::quantize_cdf(std::span<const float, 256>(p), 16, cdf); }) ==
          errc::invalid_model_output);
}

TEST_CASE("integer quantisation: all-zero weights give the uniform CDF, shares are proportional", "[model][quantize]") {
  std::array<std::uint64_t, 256> w{};
  cdf_table cdf;
  eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(w), 16, cdf);
  for (std::size_t i = 0; i <= 256; ++i) REQUIRE(cdf[i] == static_cast<std::uint32_t>(i * 256));
  w.fill(std::numeric_limits<std::uint64_t>::max());  // sums past 2^64 stay exact
  eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(w), 12, cdf);
  REQUIRE(valid(cdf, 12));
  w.fill(0);
  w[65] = 3;
  w[66] = 1;
  eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(w), 16, cdf);
  const double a = cdf[66] - cdf[65], b = cdf[67] - cdf[66];
  REQUIRE(a / b == Approx(3.0).epsilon(0.001));
  REQUIRE(code_of([&] { eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(w), 7, cdf); }) ==
          errc::invalid_settings);
}

TEST_CASE("unigram model file round-trips and rejects every corruption", "[model][file]") {
  const auto model = eqinfo_test::english_unigram(14);
  const auto bytes = model.serialize();
  REQUIRE(bytes.size() == eqinfo::unigram_model::file_size);
  const auto back = eqinfo::unigram_model::parse(bytes, "m");
  REQUIRE(back.counts() == model.counts());
  REQUIRE(back.precision_bits() == 14);
  REQUIRE(back.predict() == model.predict());
  REQUIRE(back.fingerprint() == model.fingerprint());
  REQUIRE(model.with_precision(16).precision_bits() == 16);

  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    const std::vector<unsigned char> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    const errc c = code_of([&] { eqinfo::unigram_model::parse(part, "m"); });
    REQUIRE((c == errc::bad_model_file || c == errc::bad_magic));
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto flipped = bytes;
    flipped[i] ^= 0x20;
    const errc c = code_of([&] { eqinfo::unigram_model::parse(flipped, "m"); });
    if (i < 8)
      REQUIRE(c == errc::bad_magic);
    else if (i < 12)
      REQUIRE(c == errc::unsupported_version);
    else
      REQUIRE(c == errc::checksum_mismatch);
  }
  auto longer = bytes;
  longer.push_back(0);
  REQUIRE(code_of([&] { eqinfo::unigram_model::parse(longer, "m"); }) == errc::bad_model_file);
  REQUIRE(code_of([&] { eqinfo::unigram_model::load("/nonexistent/eqinfo.unigram"); }) == errc::io_error);
}

TEST_CASE("unigram model estimates counts, uniform model is flat", "[model]") {
  const std::vector<std::uint8_t> text = {'a', 'a', 'b'};
  const auto m = eqinfo::unigram_model::estimate(text, 16);
  REQUIRE(m.counts()['a'] == 2);
  REQUIRE(m.counts()['b'] == 1);
  const auto& cdf = m.predict();
  REQUIRE(cdf['a' + 1] - cdf['a'] > cdf['b' + 1] - cdf['b']);
  REQUIRE(cdf['c' + 1] - cdf['c'] == 1);
  eqinfo::uniform_model u(12);
  REQUIRE(u.predict()[1] == 16);
  REQUIRE(code_of([] { eqinfo::uniform_model bad(30); }) == errc::invalid_settings);
}

TEST_CASE("unigram and uniform slice_of and symbol_of name the owner of every target and its slice", "[model]") {
  const unsigned precision = GENERATE(8u, 12u, 13u, 16u, 24u);
  eqinfo_test::rng r{precision};
  std::array<std::uint64_t, 256> counts{};
  for (auto& c : counts) c = r.below(3) == 0 ? r.below(1000000) : r.below(2);
  const eqinfo::unigram_model m(counts, precision);
  const auto& cdf = m.predict();
  const std::uint32_t total = std::uint32_t{1} << precision;
  const std::uint32_t stride = precision > 16 ? 97 : 1;  // every target up to P = 16, a sample above
  for (std::uint32_t t = 0; t < total; t += stride) {
    const auto s = static_cast<std::size_t>(std::upper_bound(cdf.begin() + 1, cdf.end(), t) - cdf.begin() - 1);
    const eqinfo::symbol_slice slice = m.slice_of(t);
    INFO("precision " << precision << " target " << t);
    REQUIRE(slice.byte == s);
    REQUIRE(slice.low == cdf[s]);
    REQUIRE(slice.high == cdf[s + 1]);
    REQUIRE(m.symbol_of(t) == s);
  }
  REQUIRE(m.slice_of(total - 1).high == total);

  const eqinfo::uniform_model u(precision);
  for (std::uint32_t t = 0; t < total; t += stride) {
    const eqinfo::symbol_slice slice = u.slice_of(t);
    INFO("uniform, precision " << precision << " target " << t);
    REQUIRE(slice.byte == t >> (precision - 8));
    REQUIRE(slice.low == u.predict()[slice.byte]);
    REQUIRE(slice.high == u.predict()[slice.byte + 1u]);
    REQUIRE(u.symbol_of(t) == slice.byte);
  }
}

TEST_CASE("integer quantize_cdf equals the 128-bit floor division on both sides of its double fast path",
          "[model][quantize]") {
  // The reference: every share is floor(w * spare / total) in 128 bits.
  const auto reference = [](const std::array<std::uint64_t, 256>& w, unsigned precision) {
    using u128 = eqinfo::detail::uint128;
    u128 total = 0;
    std::size_t heaviest = 0;
    for (std::size_t i = 0; i < 256; ++i) {
      total += w[i];
      if (w[i] > w[heaviest]) heaviest = i;
    }
    const std::uint64_t full = std::uint64_t{1} << precision, spare = full - 256;
    std::array<std::uint64_t, 256> counts;
    std::uint64_t used = 0;
    for (std::size_t i = 0; i < 256; ++i) {
      counts[i] = 1 + (total == 0 ? spare / 256 : static_cast<std::uint64_t>(u128{w[i]} * spare / total));
      used += counts[i];
    }
    counts[heaviest] += full - used;
    eqinfo::cdf_table cdf{};
    for (std::size_t i = 0; i < 256; ++i) cdf[i + 1] = static_cast<std::uint32_t>(cdf[i] + counts[i]);
    return cdf;
  };
  std::mt19937_64 rng(2026);
  // Weight scales: M1's (<= 2^24), around the 2^53 limit of the fast path, and far above it.
  for (unsigned bits : {1u, 8u, 24u, 29u, 30u, 31u, 36u, 45u, 63u}) {
    for (unsigned precision : {8u, 12u, 16u, 20u, 24u}) {
      for (int round = 0; round < 200; ++round) {
        std::array<std::uint64_t, 256> w{};
        const std::uint64_t mask = bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
        for (auto& x : w) x = (round % 4 == 0 && rng() % 3 == 0) ? 0 : rng() & mask;
        if (round % 7 == 0) w[rng() % 256] = mask;  // one heavy byte
        eqinfo::cdf_table got{};
        eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(w), precision, got);
        INFO("weights < 2^" << bits << ", P=" << precision << ", round " << round);
        REQUIRE(got == reference(w, precision));
      }
    }
  }
}
