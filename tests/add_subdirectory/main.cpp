// SPDX-License-Identifier: MIT
// Round trip through eqinfo linked via add_subdirectory + eqinfo::eqinfo.
#include <eqinfo/tokenizer.hpp>

#include <cstdio>
#include <string_view>

int main() {
  const std::string_view text = "eqinfo via add_subdirectory";
  const auto model = eqinfo::unigram_model::estimate(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 16);
  eqinfo::tokenizer tok(model, eqinfo::settings{});
  const auto e = tok.encode(text);
  const auto back = tok.decode(e.tokens, e.byte_count);
  if (std::string_view(reinterpret_cast<const char*>(back.data()), back.size()) != text) {
    std::fprintf(stderr, "round trip failed\n");
    return 1;
  }
  std::printf("eqinfo %d.%d.%d: %zu bytes -> %zu tokens\n", EQINFO_VERSION_MAJOR, EQINFO_VERSION_MINOR,
              EQINFO_VERSION_PATCH, text.size(), e.tokens.size());
  return 0;
}
