// SPDX-License-Identifier: MIT
// Test helpers that need M1 (kept out of test_support.hpp, which every test includes).
#pragma once

#include <eqinfo/m1_weights.hpp>

#include <cstdint>
#include <memory>

namespace eqinfo_test {

/// A tiny random M1, fast enough for the unit tests: 1 layer, d_model 16, 2
/// heads of 8, d_ff 32; a short `context` makes windows and AC streams cross
/// block boundaries.
inline std::shared_ptr<const eqinfo::transformer_weights> tiny_m1(std::uint64_t seed, unsigned context) {
  eqinfo::transformer_config c{.layers = 1, .d_model = 16, .heads = 2, .head_dim = 8, .d_ff = 32, .context = context};
  return std::make_shared<const eqinfo::transformer_weights>(eqinfo::transformer_weights::random(c, seed));
}

}  // namespace eqinfo_test
