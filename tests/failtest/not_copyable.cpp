// SPDX-License-Identifier: MIT
// Compile-fail test (tests/failtest/failtest.cmake): a model that cannot be copied.
// expect: eqinfo model must be copyable (one copy per thread)
#include <eqinfo/tokenizer.hpp>

#include <cstdint>

struct user_model {
  unsigned precision_bits() const { return 16; }
  void reset() {}
  const eqinfo::cdf_table& predict() { return cdf; }
  void update(std::uint8_t) {}
  eqinfo::cdf_table cdf{};
  user_model() = default;
  user_model(user_model&&) = default;
  user_model(const user_model&) = delete;
};

int main() {
  eqinfo::tokenizer<user_model> tok(user_model{}, eqinfo::settings{});
  return static_cast<int>(tok.encode("text").tokens.size());
}
