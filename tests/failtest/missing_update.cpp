// SPDX-License-Identifier: MIT
// Compile-fail test (tests/failtest/failtest.cmake): a model without update(byte).
// expect: eqinfo model is missing: void update(std::uint8_t)
#include <eqinfo/tokenizer.hpp>

#include <cstdint>

struct user_model {
  unsigned precision_bits() const { return 16; }
  void reset() {}
  const eqinfo::cdf_table& predict() { return cdf; }
  eqinfo::cdf_table cdf{};
};

int main() {
  eqinfo::tokenizer<user_model> tok(user_model{}, eqinfo::settings{});
  return static_cast<int>(tok.encode("text").tokens.size());
}
