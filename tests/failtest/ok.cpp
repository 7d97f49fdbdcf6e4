// SPDX-License-Identifier: MIT
// Compile test (tests/failtest/failtest.cmake): a complete user model
// compiles and works with eqinfo::tokenizer (no "expect:" line: must compile).
#include <eqinfo/tokenizer.hpp>

#include <array>
#include <cstdint>
#include <span>

struct user_model {
  user_model() { eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(weights), 16, cdf); }
  unsigned precision_bits() const { return 16; }
  void reset() {}
  const eqinfo::cdf_table& predict() { return cdf; }
  void update(std::uint8_t) {}
  std::array<std::uint64_t, 256> weights{};
  eqinfo::cdf_table cdf{};
};

int main() {
  eqinfo::tokenizer<user_model> tok(user_model{}, eqinfo::settings{});
  const eqinfo::encoded e = tok.encode("text");
  return tok.decode(e.tokens, e.byte_count).size() == 4 ? 0 : 1;
}
