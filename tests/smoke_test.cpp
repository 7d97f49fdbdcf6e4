// SPDX-License-Identifier: MIT
// Build smoke test: a short string survives a round trip through the facade.
#include <catch2/catch.hpp>

#include <eqinfo/tokenizer.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

TEST_CASE("smoke: uniform_model round trip with the default settings", "[smoke]") {
  const std::string_view text = "Neurally compressed tokens, equal-info windows.";
  eqinfo::tokenizer tok(eqinfo::uniform_model(), eqinfo::settings{});
  const eqinfo::encoded e = tok.encode(text);
  CHECK(e.byte_count == text.size());
  CHECK_FALSE(e.tokens.empty());
  const std::vector<std::uint8_t> back = tok.decode(e.tokens, e.byte_count);
  CHECK(std::string_view(reinterpret_cast<const char*>(back.data()), back.size()) == text);
}

TEST_CASE("smoke: every method round-trips", "[smoke]") {
  const std::string_view text = "abracadabra";
  eqinfo::settings s;
  for (const auto kind : {eqinfo::method::bytes, eqinfo::method::ac, eqinfo::method::equal_info_ac}) {
    s.kind = kind;
    s.token_bits = kind == eqinfo::method::bytes ? 8 : 16;
    eqinfo::tokenizer tok(eqinfo::uniform_model(), s);
    const eqinfo::encoded e = tok.encode(text);
    const std::vector<std::uint8_t> back = tok.decode(e.tokens, e.byte_count);
    CHECK(std::string_view(reinterpret_cast<const char*>(back.data()), back.size()) == text);
  }
}
