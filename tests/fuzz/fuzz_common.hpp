// SPDX-License-Identifier: MIT
#pragma once
// Shared by the fuzz targets: a fixed English paragraph, the models built
// from it, a table of settings covering every method, and a check macro that
// aborts (a crash to libFuzzer, a failure to the corpus replay).

#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/tokenizer.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

/// Aborts with a message unless `cond` holds (active in every build type).
#define EQINFO_FUZZ_CHECK(cond)                                                          \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

namespace eqinfo_fuzz {

inline constexpr std::string_view paragraph =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
    "the rightful property of some one or other of their daughters. \"My dear Mr. Bennet,\" said his lady to him "
    "one day, \"have you heard that Netherfield Park is let at last?\" Mr. Bennet replied that he had not.\n";

inline std::span<const std::uint8_t> paragraph_bytes() {
  return {reinterpret_cast<const std::uint8_t*>(paragraph.data()), paragraph.size()};
}

/// A static bigram model with context (the CDF depends on the previous byte
/// of the window): confident enough that bytes adding zero bits occur, which
/// exercises the window rules far more than the unigram does.
class bigram_model {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;
  explicit bigram_model(unsigned precision) : precision_(precision) {
    const auto corpus = paragraph_bytes();
    std::vector<std::array<std::uint64_t, 256>> counts(257);
    for (auto& row : counts) row.fill(0);
    for (std::size_t i = 0; i < corpus.size(); ++i) {
      counts[256][corpus[i]] += 1;
      if (i > 0) counts[corpus[i - 1]][corpus[i]] += 64;
    }
    auto tables = std::make_shared<std::vector<eqinfo::cdf_table>>(257);
    for (std::size_t c = 0; c < 257; ++c) {
      for (std::size_t s = 0; s < 256; ++s) counts[c][s] += counts[256][s];
      eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(counts[c]), precision, (*tables)[c]);
    }
    tables_ = std::move(tables);
  }
  unsigned precision_bits() const noexcept { return precision_; }
  void reset() noexcept { previous_ = 256; }
  const eqinfo::cdf_table& predict() const noexcept { return (*tables_)[previous_]; }
  void update(std::uint8_t b) noexcept { previous_ = b; }

 private:
  std::shared_ptr<const std::vector<eqinfo::cdf_table>> tables_;  // shared: copies are cheap
  std::size_t previous_ = 256;
  unsigned precision_;
};

enum class model_kind { unigram, uniform, bigram };

struct config {
  eqinfo::settings settings;
  model_kind model;
};

/// The settings the targets choose from: every method, rule, several b, N, P.
inline const std::vector<config>& configs() {
  using eqinfo::method;
  using eqinfo::window_rule;
  static const std::vector<config> table = {
      {{method::bytes, 16, 8, 16, window_rule::delay}, model_kind::uniform},
      {{method::ac, 16, 16, 16, window_rule::delay}, model_kind::unigram},
      {{method::ac, 16, 8, 12, window_rule::delay}, model_kind::bigram},
      {{method::ac, 16, 20, 20, window_rule::delay}, model_kind::uniform},
      {{method::ac, 16, 1, 8, window_rule::delay}, model_kind::unigram},
      {{method::equal_info_ac, 16, 16, 16, window_rule::delay}, model_kind::unigram},
      {{method::equal_info_ac, 16, 8, 16, window_rule::greedy_exact}, model_kind::unigram},
      {{method::equal_info_ac, 16, 16, 16, window_rule::delay}, model_kind::bigram},
      {{method::equal_info_ac, 16, 16, 16, window_rule::greedy_exact}, model_kind::bigram},
      {{method::equal_info_ac, 32, 8, 16, window_rule::delay}, model_kind::bigram},
      {{method::equal_info_ac, 24, 12, 12, window_rule::greedy_exact}, model_kind::bigram},
      {{method::equal_info_ac, 64, 16, 12, window_rule::delay}, model_kind::unigram},
      {{method::equal_info_ac, 8, 4, 8, window_rule::delay}, model_kind::bigram},
      {{method::equal_info_ac, 8, 8, 8, window_rule::greedy_exact}, model_kind::unigram},
      {{method::equal_info_ac, 48, 24, 24, window_rule::delay}, model_kind::uniform},
      {{method::equal_info_ac, 20, 20, 20, window_rule::greedy_exact}, model_kind::unigram},
  };
  return table;
}

/// The model for precision p, built once (copies share or hold small tables).
template <class M>
const M& cached_model(unsigned p) {
  static std::map<unsigned, M> cache;
  auto it = cache.find(p);
  if (it == cache.end()) {
    if constexpr (std::is_same_v<M, eqinfo::unigram_model>)
      it = cache.emplace(p, eqinfo::unigram_model::estimate(paragraph_bytes(), p)).first;
    else
      it = cache.emplace(p, M(p)).first;
  }
  return it->second;
}

/// Calls f(tokenizer&) with a fresh tokenizer for `c`.
template <class F>
void with_tokenizer(const config& c, F&& f) {
  const unsigned p = c.settings.kind == eqinfo::method::bytes ? 16 : c.settings.precision_bits;
  switch (c.model) {
    case model_kind::unigram: {
      eqinfo::tokenizer tok(cached_model<eqinfo::unigram_model>(p), c.settings);
      f(tok);
      return;
    }
    case model_kind::uniform: {
      eqinfo::tokenizer tok(cached_model<eqinfo::uniform_model>(p), c.settings);
      f(tok);
      return;
    }
    case model_kind::bigram: {
      eqinfo::tokenizer tok(cached_model<bigram_model>(p), c.settings);
      f(tok);
      return;
    }
  }
}

/// Whether `code` is one of `allowed`.
inline bool one_of(eqinfo::errc code, std::initializer_list<eqinfo::errc> allowed) {
  for (eqinfo::errc a : allowed)
    if (code == a) return true;
  return false;
}

/// Runs `check` on a file-format blob as given, and again with its last 4
/// bytes replaced by the CRC-32 of the rest, so that mutations also reach
/// the parser past the checksum test (both eqinfo file formats end so).
template <class Check>
void check_with_and_without_crc(std::span<const unsigned char> blob, Check check) {
  check(blob);
  if (blob.size() >= 4) {
    std::vector<unsigned char> fixed(blob.begin(), blob.end());
    const std::uint32_t crc = eqinfo::detail::crc32(fixed.data(), fixed.size() - 4);
    for (std::size_t k = 0; k < 4; ++k) fixed[fixed.size() - 4 + k] = static_cast<unsigned char>(crc >> (8 * k));
    check(std::span<const unsigned char>(fixed));
  }
}

}  // namespace eqinfo_fuzz
