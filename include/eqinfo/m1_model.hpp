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
#include <deque>
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
      positions_ += pending_.size();
      pending_.clear();
      probabilities_.resize(256);
      detail::m1::logits_to_cdf(logits_.data(), precision_, cdf_, probabilities_.data(), w_->path);
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
      positions_ += inputs_.size();
      probabilities_.resize(256);
      for (std::size_t k = 0; k < m; ++k)
        detail::m1::logits_to_cdf(logits_.data() + k * 256, precision_, out[i + k], probabilities_.data(), w_->path);
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

  /// Positions run through the network by this copy (its cost; tests count it).
  std::uint64_t positions() const noexcept { return positions_; }

  class lane_set;

 private:
  std::shared_ptr<const transformer_weights> w_;
  detail::m1::kv_cache cache_;
  detail::m1::workspace ws_;
  std::vector<int> pending_;  // inputs not yet run: BOS or the bytes since the last predict
  std::vector<int> inputs_;
  detail::aligned_vector<float> logits_, probabilities_;
  std::size_t block_bytes_ = 0;
  cdf_table cdf_{};
  unsigned precision_;
  std::uint32_t fingerprint_;
  std::uint64_t positions_ = 0;
};

/// Many M1 contexts advanced together (has_lane_set): each evaluate() runs
/// one new position of every waiting lane in a single forward_batch, so the
/// linear layers see one row per lane instead of one row per call. A lane is
/// exactly an m1_model copy: same blocks of `context` positions, same bits.
///
/// A fresh context costs nothing: BOS's CDF and its cached keys and values
/// are the same for every window, so they are computed once here and copied
/// into a lane on restart().
class m1_model::lane_set {
 public:
  explicit lane_set(const m1_model& model) : w_(model.w_), precision_(model.precision_) {
    detail::m1::check_fp_environment();
    const transformer_config& c = w_->config;
    bos_.allocate(c);
    const int bos = 256;
    logits_.resize(256);
    detail::m1::forward(*w_, bos_, std::span<const int>(&bos, 1), 1, ws_, logits_.data());
    probabilities_.resize(256);
    detail::m1::logits_to_cdf(logits_.data(), precision_, bos_cdf_, probabilities_.data(), w_->path);
  }

  void resize(std::size_t n) {
    while (lanes_.size() < n) {
      lanes_.emplace_back();
      lanes_.back().cache.allocate(w_->config);
      restart(lanes_.size() - 1);
    }
  }

  void restart(std::size_t i) {
    const transformer_config& c = w_->config;
    lane& l = lanes_[i];
    const std::size_t a = c.attention_width();
    for (std::size_t layer = 0; layer < c.layers; ++layer) {  // position 0 of every layer: BOS
      const std::size_t rows = layer * c.context * a, scales = layer * c.context * c.heads;
      std::copy_n(bos_.keys.data() + rows, a, l.cache.keys.data() + rows);
      std::copy_n(bos_.values.data() + rows, a, l.cache.values.data() + rows);
      std::copy_n(bos_.key_scales.data() + scales, c.heads, l.cache.key_scales.data() + scales);
      std::copy_n(bos_.value_scales.data() + scales, c.heads, l.cache.value_scales.data() + scales);
    }
    l.cache.length = 1;
    l.block_bytes = 0;
    if (l.state == lane::waiting)  // only after an error left it queued: drop the stale input
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), i));
    l.state = lane::fresh;
  }

  void append(std::size_t i, std::uint8_t byte) {
    lane& l = lanes_[i];
    if (l.state == lane::waiting) evaluate();     // two appends without a CDF in between: run the first now
    if (++l.block_bytes == w_->config.context) {  // block full: the next byte starts a new one (m1_model::update)
      restart(i);
      return;
    }
    l.input = byte;
    l.state = lane::waiting;
    waiting_.push_back(i);
  }

  bool ready(std::size_t i) const noexcept { return lanes_[i].state != lane::waiting; }

  void evaluate() {
    if (waiting_.empty()) return;
    calls_.clear();
    logits_.resize(waiting_.size() * 256);
    for (std::size_t k = 0; k < waiting_.size(); ++k) {
      lane& l = lanes_[waiting_[k]];
      calls_.push_back({&l.cache, std::span<const int>(&l.input, 1), 1, logits_.data() + k * 256});
    }
    detail::m1::forward_batch(*w_, calls_, ws_);
    for (std::size_t k = 0; k < waiting_.size(); ++k) {
      lane& l = lanes_[waiting_[k]];
      detail::m1::logits_to_cdf(logits_.data() + k * 256, precision_, l.cdf, probabilities_.data(), w_->path);
      l.state = lane::computed;
    }
    positions_ += waiting_.size();
    waiting_.clear();
  }

  const cdf_table& cdf(std::size_t i) const noexcept {
    const lane& l = lanes_[i];
    return l.state == lane::fresh ? bos_cdf_ : l.cdf;
  }

  /// Positions run through the network (BOS once, then one per append()).
  std::uint64_t positions() const noexcept { return positions_; }

 private:
  struct lane {
    enum status : std::uint8_t { fresh, waiting, computed };
    detail::m1::kv_cache cache;
    cdf_table cdf{};
    std::size_t block_bytes = 0;
    int input = 0;
    status state = fresh;
  };
  std::shared_ptr<const transformer_weights> w_;
  unsigned precision_;
  detail::m1::kv_cache bos_;
  cdf_table bos_cdf_{};
  std::deque<lane> lanes_;  // stable addresses: calls_ point into them
  std::vector<std::size_t> waiting_;
  std::vector<detail::m1::sequence_call> calls_;
  detail::m1::workspace ws_;
  detail::aligned_vector<float> logits_, probabilities_;
  std::uint64_t positions_ = 1;
};

static_assert(batched_byte_model<m1_model>);
static_assert(has_lane_set<m1_model>);

}  // namespace v1
}  // namespace eqinfo
