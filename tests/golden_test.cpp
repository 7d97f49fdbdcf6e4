// SPDX-License-Identifier: MIT
// Golden tokens: fixed input + fixed model + fixed settings = fixed tokens.
// A change here is a change of EQINFO_STREAM_FORMAT (docs/format.md): update
// the hashes only together with that version, and say why in the commit.
// CI runs this file in builds for several ISAs and both compilers.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/tokenizer.hpp>

namespace {

// Fixed input: English text (not the sample file) and pseudo-random bytes.
std::vector<std::uint8_t> golden_input() {
  const std::string text =
      "The Equal-Info Windows method segments text into windows that each compress to the same bit length. "
      "Tokens are a pure function of the input bytes, the model file and the settings; nothing else. \x00\xff\x80";
  std::vector<std::uint8_t> in;
  for (int i = 0; i < 7; ++i) in.insert(in.end(), text.begin(), text.end());
  const auto noise = eqinfo_test::random_bytes(333, 42);
  in.insert(in.end(), noise.begin(), noise.end());
  return in;
}

std::uint32_t hash_tokens(const std::vector<eqinfo::token_t>& tokens, unsigned n) {
  const auto raw = eqinfo::serialize_tokens_raw(tokens, n);
  return eqinfo::detail::crc32(raw.data(), raw.size());
}

}  // namespace

TEST_CASE("golden tokens are unchanged", "[golden]") {
  const auto input = golden_input();
  std::array<std::uint64_t, 256> counts{};
  for (std::size_t i = 0; i < 256; ++i) counts[i] = (i * 2654435761u) % 1000 + (i >= 'a' && i <= 'z' ? 5000 : 0);
  struct golden {
    eqinfo::method kind;
    unsigned b, n, p;
    eqinfo::window_rule rule;
    std::size_t tokens;
    std::uint32_t hash;
  };
  using eqinfo::method;
  using eqinfo::window_rule;
  const golden cases[] = {
      {method::ac, 0, 16, 16, window_rule::delay, 737, 0xf9f15a8a},
      {method::ac, 0, 8, 12, window_rule::delay, 1471, 0xfbe2a8a1},
      {method::equal_info_ac, 16, 16, 16, window_rule::delay, 1016, 0x9d7788c0},
      {method::equal_info_ac, 16, 8, 14, window_rule::delay, 2046, 0x829f1a03},
      {method::equal_info_ac, 32, 16, 16, window_rule::greedy_exact, 888, 0xe409cd8f},
      {method::equal_info_ac, 128, 16, 16, window_rule::delay, 760, 0xf129c8c0},
      {method::equal_info_ac, 24, 12, 24, window_rule::delay, 1204, 0x58270ea6},
  };
  for (const auto& g : cases) {
    eqinfo::settings s;
    s.kind = g.kind;
    s.window_bits = g.kind == method::equal_info_ac ? g.b : 16;
    s.token_bits = g.n;
    s.precision_bits = g.p;
    s.rule = g.rule;
    eqinfo::tokenizer tok(eqinfo::unigram_model(counts, g.p), s);
    const auto e = tok.encode(input);
    INFO(eqinfo::to_string(g.kind) << " b=" << g.b << " N=" << g.n << " P=" << g.p << " -> {" << e.tokens.size()
                                   << ", 0x" << std::hex << hash_tokens(e.tokens, g.n) << "}");
    CHECK(e.tokens.size() == g.tokens);
    CHECK(hash_tokens(e.tokens, g.n) == g.hash);
    REQUIRE(tok.decode(e.tokens, e.byte_count) == input);
  }
}
