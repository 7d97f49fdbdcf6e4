// SPDX-License-Identifier: MIT
// Compile-fail test (tests/failtest/failtest.cmake): a model without reset().
// expect: eqinfo model is missing: void reset()
#include <eqinfo/tokenizer.hpp>

#include <cstdint>

struct user_model {
  unsigned precision_bits() const { return 16; }
  const eqinfo::cdf_table& predict() { return cdf; }
  void update(std::uint8_t) {}
  eqinfo::cdf_table cdf{};
};

int main() {
  eqinfo::tokenizer<user_model> tok(user_model{}, eqinfo::settings{});
  return static_cast<int>(tok.encode("text").tokens.size());
}
