// SPDX-License-Identifier: MIT
#pragma once
// Shared fixtures for the test suite: deterministic random bytes, real English
// text, and small models with context (the built-in ones have none).

#include <eqinfo/detail/int8_kernels.hpp>
#include <eqinfo/tokenizer.hpp>

#include <array>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <span>
#include <string>
#include <vector>

namespace eqinfo_test {

/// The int8 kernel paths this CPU and OS run, and the names of the others
/// (for the test's "skipped" warning).
struct int8_paths {
  std::vector<eqinfo::detail::int8::isa> supported;
  std::string skipped;
};
inline int8_paths int8_paths_here() {
  int8_paths out;
  for (auto p : eqinfo::detail::int8::all_paths) {
    if (eqinfo::detail::int8::supported(p))
      out.supported.push_back(p);
    else
      out.skipped += " " + std::string(eqinfo::detail::int8::name(p));
  }
  return out;
}

/// The errc of the eqinfo::error that `f` throws; any other outcome fails
/// the calling test (Catch's FAIL is caught by the caller's REQUIRE).
inline eqinfo::errc code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const eqinfo::error& e) {
    return e.code();
  }
  throw std::logic_error("expected an eqinfo::error, but nothing was thrown");
}

/// splitmix64: a fixed, portable sequence for a seed.
struct rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  rng r{seed};
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(r.next());
  return out;
}

inline std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

/// Real English text: the bundled sample if present, else a fixed paragraph.
inline const std::vector<std::uint8_t>& english() {
  static const std::vector<std::uint8_t> text = [] {
#ifdef EQINFO_TEST_DATA_DIR
    std::ifstream in(std::string(EQINFO_TEST_DATA_DIR) + "/sample/sotu_sample.txt", std::ios::binary);
    std::vector<std::uint8_t> t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (t.size() > 20000) return t;
#endif
    std::string p =
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
        "of a wife. However little known the feelings or views of such a man may be on his first entering a "
        "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
        "the rightful property of some one or other of their daughters.\n";
    std::string all;
    for (int i = 0; i < 60; ++i) all += p;
    return std::vector<std::uint8_t>(all.begin(), all.end());
  }();
  return text;
}

/// First `n` bytes of the English text.
inline std::vector<std::uint8_t> english(std::size_t n) {
  const auto& t = english();
  return {t.begin(), t.begin() + static_cast<std::ptrdiff_t>(std::min(n, t.size()))};
}

/// A static bigram model: the CDF depends on the previous byte of the window
/// (none after reset). Confident enough on English that bytes adding zero
/// bits occur, unlike the unigram.
class bigram_model {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;
  bigram_model(std::span<const std::uint8_t> corpus, unsigned precision) : precision_(precision) {
    std::vector<std::array<std::uint64_t, 256>> counts(257);
    for (auto& row : counts) row.fill(0);
    for (std::size_t i = 0; i < corpus.size(); ++i) {
      counts[256][corpus[i]] += 1;
      if (i > 0) counts[corpus[i - 1]][corpus[i]] += 8;
    }
    tables_.resize(257);
    for (std::size_t c = 0; c < 257; ++c) {
      for (std::size_t s = 0; s < 256; ++s) counts[c][s] += counts[256][s] / 64;  // back off to unigram
      eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(counts[c]), precision, tables_[c]);
    }
  }
  unsigned precision_bits() const noexcept { return precision_; }
  void reset() noexcept { previous_ = 256; }
  const eqinfo::cdf_table& predict() const noexcept { return tables_[previous_]; }
  void update(std::uint8_t b) noexcept { previous_ = b; }

 private:
  std::vector<eqinfo::cdf_table> tables_;
  std::size_t previous_ = 256;
  unsigned precision_;
};

/// The same model through the batched hook: proves the tokenizer's chunked
/// look-ahead gives the same tokens as one byte at a time.
class batched_bigram_model : public bigram_model {
 public:
  using bigram_model::bigram_model;
  void predict_run(std::span<const std::uint8_t> bytes, std::span<eqinfo::cdf_table> out) {
    ++runs;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      out[i] = predict();
      update(bytes[i]);
    }
  }
  std::size_t runs = 0;
};

inline eqinfo::unigram_model english_unigram(unsigned precision = 16) {
  return eqinfo::unigram_model::estimate(english(), precision);
}

}  // namespace eqinfo_test
