// SPDX-License-Identifier: MIT
// Fuzz target: decoding arbitrary tokens.
//
// Input: byte 0 picks the settings (bits 0-6: row of eqinfo_fuzz::configs();
// bit 7: keep token values unmasked, so that out-of-range tokens occur),
// bytes 1-2 the byte count (little-endian), the rest the tokens (1, 2 or 3
// bytes each, little-endian, by token_bits).
//
// Asserts:
//   * decode_bare throws nothing but token_out_of_range (only for unmasked
//     tokens) and truncated_tokens (only for a partial equal-info window);
//   * decode(tokens, byte_count) either throws eqinfo::error with one of
//     truncated_tokens, token_out_of_range, trailing_bits, corrupt_stream, or
//     returns exactly byte_count bytes that encode to the same tokens;
//   * the streaming decoder (Bytes, EqualInfoAC), fed the tokens in chunks
//     of 1 to 4 tokens (sizes taken from the tokens' own bits), gives
//     decode_bare's bytes and reports the tokens of a partial window; with
//     the byte count, decode's bytes, or an error exactly where decode fails.
//
// This fuzzer found that exact equal-info decoding used to accept windows the
// rule reads back but the encoder would have cut elsewhere (uniform model,
// b=16: {0x7400, 0x6865} decoded to "the", while encode("the") is
// {0x7468, 0x6500}); decode now re-checks the encoder's cuts
// (detail::check_canonical_cuts), and the corpus keeps that input.
#include "fuzz_common.hpp"

#include <eqinfo/stream_decoder.hpp>
#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using eqinfo::errc;
  if (size < 3) return 0;
  const auto& table = eqinfo_fuzz::configs();
  const eqinfo_fuzz::config& c = table[(data[0] & 0x7Fu) % table.size()];
  const bool masked = (data[0] & 0x80u) == 0;
  const std::uint64_t byte_count = data[1] | (std::uint64_t{data[2]} << 8);
  const unsigned n = c.settings.token_bits;
  const std::size_t width = n <= 8 ? 1 : n <= 16 ? 2 : 3;
  std::vector<eqinfo::token_t> tokens;
  for (std::size_t i = 3; i + width <= size; i += width) {
    std::uint32_t t = 0;
    for (std::size_t k = 0; k < width; ++k) t |= std::uint32_t{data[i + k]} << (8 * k);
    if (masked) t &= (std::uint32_t{1} << n) - 1;
    tokens.push_back(t);
  }
  const bool whole_windows =
      c.settings.kind != eqinfo::method::equal_info_ac || tokens.size() % c.settings.tokens_per_window() == 0;

  // Streams the tokens in chunks of 1 to 4; the bytes, or the error code.
  const auto streamed = [&](auto& tok, std::optional<std::uint64_t> count, std::vector<std::uint8_t>& out,
                            std::size_t& leftover) -> std::optional<errc> {
    try {
      using model_type = std::decay_t<decltype(tok.model())>;
      eqinfo::stream_decoder<model_type> dec(tok, count);
      for (std::size_t at = 0; at < tokens.size();) {
        const std::size_t chunk = std::min<std::size_t>(1 + tokens[at] % 4, tokens.size() - at);
        const auto got = dec.push(std::span(tokens).subspan(at, chunk));
        out.insert(out.end(), got.begin(), got.end());
        at += chunk;
      }
      eqinfo::stream_end end = dec.finish();
      out.insert(out.end(), end.bytes.begin(), end.bytes.end());
      leftover = end.leftover_tokens;
      return std::nullopt;
    } catch (const eqinfo::error& e) {
      return e.code();
    }
  };
  const bool streams = c.settings.kind != eqinfo::method::ac;

  eqinfo_fuzz::with_tokenizer(c, [&](auto& tok) {
    std::optional<std::vector<std::uint8_t>> bare;
    try {
      bare = tok.decode_bare(tokens);
    } catch (const eqinfo::error& e) {
      if (e.code() == errc::token_out_of_range)
        EQINFO_FUZZ_CHECK(!masked);
      else
        EQINFO_FUZZ_CHECK(e.code() == errc::truncated_tokens && !whole_windows);
    }
    if (streams) {
      std::vector<std::uint8_t> out;
      std::size_t leftover = 0;
      const std::optional<errc> failed = streamed(tok, std::nullopt, out, leftover);
      if (bare) EQINFO_FUZZ_CHECK(!failed && out == *bare && leftover == 0);
      if (failed) EQINFO_FUZZ_CHECK(*failed == errc::token_out_of_range && !masked);
      if (!bare && !failed) EQINFO_FUZZ_CHECK(leftover == tokens.size() % c.settings.tokens_per_window());
    }

    std::vector<std::uint8_t> bytes;
    std::optional<errc> exact_error;
    try {
      bytes = tok.decode(tokens, byte_count);
    } catch (const eqinfo::error& e) {
      exact_error = e.code();
    }
    if (streams) {
      std::vector<std::uint8_t> out;
      std::size_t leftover = 0;
      const std::optional<errc> failed = streamed(tok, byte_count, out, leftover);
      // It fails where decode fails (the first fault it meets may be another one).
      EQINFO_FUZZ_CHECK(failed.has_value() == exact_error.has_value());
      if (!failed) EQINFO_FUZZ_CHECK(out == bytes);
    }
    if (exact_error) {
      EQINFO_FUZZ_CHECK(eqinfo_fuzz::one_of(
          *exact_error, {errc::truncated_tokens, errc::token_out_of_range, errc::trailing_bits, errc::corrupt_stream}));
      if (*exact_error == errc::token_out_of_range) EQINFO_FUZZ_CHECK(!masked);
      return;
    }
    EQINFO_FUZZ_CHECK(bytes.size() == byte_count);
    const eqinfo::encoded again = tok.encode(bytes);
    EQINFO_FUZZ_CHECK(again.byte_count == byte_count);
    EQINFO_FUZZ_CHECK(again.tokens == tokens);
  });
  return 0;
}
