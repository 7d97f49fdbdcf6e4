// SPDX-License-Identifier: MIT
// A user-supplied model: an adaptive order-1 context model. It starts every
// window (every reset()) from a fixed prior and learns, as bytes arrive, how
// often each byte followed each previous byte in the current window. Its
// counts become a CDF through eqinfo::quantize_cdf, the one audited
// integer quantiser, so the model is deterministic on every machine.
#include <eqinfo/tokenizer.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <span>
#include <string_view>
#include <vector>

namespace {

class order1_model {
 public:
  // Every CDF comes from quantize_cdf, so the coder may skip its CDF check.
  static constexpr bool cdf_is_valid_by_construction = true;

  explicit order1_model(unsigned precision_bits = 16) : precision_(precision_bits) {
    // A fixed prior: printable ASCII more likely than the rest, space most of all.
    for (std::size_t b = 0; b < 256; ++b) prior_[b] = (b >= 0x20 && b < 0x7F) ? 16 : 1;
    prior_[' '] = 160;
    prior_['e'] = prior_['t'] = prior_['a'] = prior_['o'] = 64;
    reset();
  }

  unsigned precision_bits() const noexcept { return precision_; }

  void reset() {
    order0_.fill(0);
    table_of_.fill(no_table);
    tables_.clear();  // keeps its capacity: reset is O(256), not O(256 * 256)
    previous_ = -1;
  }

  const eqinfo::cdf_table& predict() {
    std::array<std::uint64_t, 256> weights;
    const std::array<std::uint32_t, 256>* order1 =
        previous_ >= 0 && table_of_[static_cast<std::size_t>(previous_)] != no_table
            ? &tables_[table_of_[static_cast<std::size_t>(previous_)]]
            : nullptr;
    for (std::size_t b = 0; b < 256; ++b)
      weights[b] = prior_[b] + 8 * std::uint64_t{order0_[b]} + (order1 ? 64 * std::uint64_t{(*order1)[b]} : 0);
    eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(weights), precision_, cdf_);
    return cdf_;
  }

  void update(std::uint8_t byte) {
    ++order0_[byte];
    if (previous_ >= 0) {
      auto& slot = table_of_[static_cast<std::size_t>(previous_)];
      if (slot == no_table) {
        slot = static_cast<std::uint16_t>(tables_.size());
        tables_.emplace_back().fill(0);
      }
      ++tables_[slot][byte];
    }
    previous_ = byte;
  }

 private:
  static constexpr std::uint16_t no_table = 0xFFFF;

  std::array<std::uint64_t, 256> prior_{};
  std::array<std::uint32_t, 256> order0_{};
  std::array<std::uint16_t, 256> table_of_{};           // previous byte -> index into tables_
  std::vector<std::array<std::uint32_t, 256>> tables_;  // counts of the next byte, per previous byte seen
  int previous_ = -1;
  eqinfo::cdf_table cdf_{};
  unsigned precision_;
};

static_assert(eqinfo::byte_model<order1_model>);

const std::string_view text =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it "
    "was the season of Darkness, it was the spring of hope, it was the winter of despair.";

bool round_trip(const char* name, const eqinfo::settings& settings) {
  eqinfo::tokenizer tok(order1_model(settings.precision_bits), settings);
  const eqinfo::encoded e = tok.encode(text);
  const std::vector<std::uint8_t> back = tok.decode(e.tokens, e.byte_count);
  const bool ok = std::string_view(reinterpret_cast<const char*>(back.data()), back.size()) == text;
  const double bits_per_byte =
      static_cast<double>(e.tokens.size()) * settings.token_bits / static_cast<double>(text.size());
  std::printf("%-28s %4zu tokens of %2u bits, %.3f bits/byte: %s\n", name, e.tokens.size(), settings.token_bits,
              bits_per_byte, ok ? "round trip ok" : "ROUND TRIP FAILED");
  return ok;
}

}  // namespace

int main() try {
  eqinfo::settings equal_info;  // EqualInfoAC[b=16, N=16]: the model restarts every window
  eqinfo::settings equal_info_wide = equal_info;
  equal_info_wide.window_bits = 128;  // EqualInfoAC[b=128, N=16]: more context per window
  eqinfo::settings whole_stream;
  whole_stream.kind = eqinfo::method::ac;  // one AC stream: the model sees the whole text

  bool ok = true;
  ok &= round_trip("EqualInfoAC[b=16, N=16]", equal_info);
  ok &= round_trip("EqualInfoAC[b=128, N=16]", equal_info_wide);
  ok &= round_trip("AC[N=16]", whole_stream);
  return ok ? 0 : 1;
} catch (const std::exception& ex) {
  std::fprintf(stderr, "custom_model: %s\n", ex.what());
  return 1;
}
