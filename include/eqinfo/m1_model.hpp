// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1 as an eqinfo::byte_model (batched: predict_run evaluates a whole run of
/// positions in one forward pass). Numerics: docs/m1-integer.md.

#include <eqinfo/detail/m1_forward.hpp>
#include <eqinfo/m1_weights.hpp>
#include <eqinfo/model.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace eqinfo {
inline namespace v1 {

/// M1 as a byte_model: feed it to eqinfo::tokenizer. Copies share the
/// (read-only) weights; each copy has its own cache, so use one per thread.
class m1_model {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;

  m1_model(std::shared_ptr<const transformer_weights> weights, unsigned precision_bits, std::uint32_t fingerprint = 0)
      : w_(std::move(weights)), precision_(precision_bits), fingerprint_(fingerprint) {
    if (!w_) throw error(errc::invalid_argument, "m1_model needs weights");
    detail::check_precision(precision_bits);
    cache_.allocate(w_->config);
    reset();
  }

  unsigned precision_bits() const noexcept { return precision_; }
  std::uint32_t fingerprint() const noexcept { return fingerprint_; }
  const transformer_weights& weights() const noexcept { return *w_; }

  void reset() {
    detail::m1::check_fp_environment();
    cache_.length = 0;
    pending_.assign(1, 256);
    block_bytes_ = 0;
  }

  const cdf_table& predict() {
    if (!pending_.empty()) {
      logits_.resize(256);
      detail::m1::forward(*w_, cache_, pending_, 1, ws_, logits_.data());
      pending_.clear();
      probabilities_.resize(256);
      detail::m1::logits_to_cdf(logits_.data(), precision_, cdf_, probabilities_.data());
    }
    return cdf_;
  }

  void update(std::uint8_t byte) {
    if (++block_bytes_ == w_->config.context) {  // block full: the next byte starts a new one
      cache_.length = 0;
      pending_.assign(1, 256);
      block_bytes_ = 0;
      return;
    }
    pending_.push_back(byte);
  }

  /// out[i] = CDF of bytes[i] given the context and bytes[0, i), all positions
  /// of a block in one batched forward pass (the encoder's path).
  void predict_run(std::span<const std::uint8_t> bytes, std::span<cdf_table> out) {
    const std::size_t context = w_->config.context;
    std::size_t i = 0;
    if (!bytes.empty() && pending_.empty()) {  // predict() already ran for bytes[0]
      out[0] = cdf_;
      update(bytes[0]);
      i = 1;
    }
    while (i < bytes.size()) {
      const std::size_t m = std::min(bytes.size() - i, context - block_bytes_);
      // Rows: the pending inputs, then bytes[i, i + m - 1); the last m rows predict bytes[i, i + m).
      inputs_.assign(pending_.begin(), pending_.end());
      for (std::size_t k = i; k + 1 < i + m; ++k) inputs_.push_back(bytes[k]);
      logits_.resize(m * 256);
      detail::m1::forward(*w_, cache_, inputs_, m, ws_, logits_.data());
      probabilities_.resize(256);
      for (std::size_t k = 0; k < m; ++k)
        detail::m1::logits_to_cdf(logits_.data() + k * 256, precision_, out[i + k], probabilities_.data());
      block_bytes_ += m;
      if (block_bytes_ == context) {
        cache_.length = 0;
        pending_.assign(1, 256);
        block_bytes_ = 0;
      } else {
        pending_.assign(1, bytes[i + m - 1]);
      }
      i += m;
    }
  }

  /// The unquantised probabilities behind the last predict() (tests, studies).
  std::span<const float> last_probabilities() const noexcept { return probabilities_; }

 private:
  std::shared_ptr<const transformer_weights> w_;
  detail::m1::kv_cache cache_;
  detail::m1::workspace ws_;
  std::vector<int> pending_;  // inputs not yet run: BOS or the bytes since the last predict
  std::vector<int> inputs_;
  std::vector<float> logits_, probabilities_;
  std::size_t block_bytes_ = 0;
  cdf_table cdf_{};
  unsigned precision_;
  std::uint32_t fingerprint_;
};

static_assert(batched_byte_model<m1_model>);

}  // namespace v1
}  // namespace eqinfo
