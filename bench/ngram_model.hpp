// SPDX-License-Identifier: MIT
#pragma once
// A static interpolated order-k byte n-gram model, used by the studies and
// benchmarks as a stand-in for M1: like M1 under EqualInfoAC it sees only the
// bytes of the current window (its context starts empty at every reset), and
// it is confident enough on English (about 2-3 bits/byte) that bytes which add
// no bits occur, which is what makes window cuts ambiguous.

#include <eqinfo/model.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

namespace eqinfo_bench {

class ngram_model {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;

  ngram_model(std::span<const std::uint8_t> corpus, unsigned order, unsigned precision_bits)
      : shared_(std::make_shared<shared>()), precision_(precision_bits) {
    shared_->order = order;
    shared_->counts.resize(order + 1);
    for (std::size_t i = 0; i < corpus.size(); ++i) {
      for (unsigned k = 0; k <= order && k <= i; ++k) {
        auto& row = shared_->counts[k][key(corpus.subspan(i - k, k))];
        ++row[corpus[i]];
      }
    }
  }

  unsigned precision_bits() const noexcept { return precision_; }
  void reset() noexcept { context_.clear(); }
  void update(std::uint8_t b) {
    context_.push_back(b);
    if (context_.size() > shared_->order) context_.erase(context_.begin());
  }
  const eqinfo::cdf_table& predict() { return entry().cdf; }
  /// The float distribution predict() quantises (for measuring rate overhead).
  const std::array<float, 256>& probabilities() { return entry().p; }

 private:
  struct cached {
    std::array<float, 256> p;
    eqinfo::cdf_table cdf;
  };
  const cached& entry() {
    const std::uint64_t k = key(context_) * 8 + context_.size();
    auto it = shared_->cache.find(k);
    if (it != shared_->cache.end()) return it->second;
    // Interpolate orders 0..|context| with weights n/(n + 2*distinct) (Witten-Bell-like).
    std::array<float, 256> p;
    p.fill(1.0f / 256);
    for (std::size_t order = 0; order <= context_.size(); ++order) {
      const auto& table = shared_->counts[order];
      auto row = table.find(key(std::span<const std::uint8_t>(context_).last(order)));
      if (row == table.end()) continue;
      double n = 0, distinct = 0;
      for (auto c : row->second) {
        n += c;
        distinct += c > 0;
      }
      const double lambda = n / (n + 2 * distinct);
      for (int s = 0; s < 256; ++s)
        p[static_cast<std::size_t>(s)] = static_cast<float>((1 - lambda) * p[static_cast<std::size_t>(s)] +
                                                            lambda * row->second[static_cast<std::size_t>(s)] / n);
    }
    cached c{p, {}};
    eqinfo::quantize_cdf(std::span<const float, 256>(p), precision_, c.cdf);
    return shared_->cache.emplace(k, c).first->second;
  }

  static std::uint64_t key(std::span<const std::uint8_t> bytes) {
    std::uint64_t h = 0;
    for (auto b : bytes) h = h * 257 + b + 1;
    return h;
  }
  struct shared {
    unsigned order = 0;
    std::vector<std::unordered_map<std::uint64_t, std::array<std::uint32_t, 256>>> counts;
    std::unordered_map<std::uint64_t, cached> cache;
  };
  std::shared_ptr<shared> shared_;  // counts are read-only after construction; cache is not thread-safe
  std::vector<std::uint8_t> context_;
  unsigned precision_;
};

}  // namespace eqinfo_bench
