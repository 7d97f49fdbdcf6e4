// SPDX-License-Identifier: MIT
// N-bit token packing and the raw / .npy / .eqt token files.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/tokenizer.hpp>

using eqinfo::bit_vector;
using eqinfo::errc;
using eqinfo::token_t;
using eqinfo_test::code_of;

TEST_CASE("bits pack into N-bit tokens MSB first and back", "[packing]") {
  const unsigned n = GENERATE(range(1u, 25u));
  eqinfo_test::rng r{n};
  for (int trial = 0; trial < 20; ++trial) {
    bit_vector bits;
    const std::size_t size = r.below(500);
    for (std::size_t i = 0; i < size; ++i) bits.push_back(r.below(2) == 1);
    const auto tokens = eqinfo::pack_tokens(bits, n);
    REQUIRE(tokens.size() == (size + n - 1) / n);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      REQUIRE(tokens[i] < (std::uint64_t{1} << n));
      for (unsigned k = 0; k < n; ++k) {
        const std::size_t pos = i * n + k;
        const bool bit = (tokens[i] >> (n - 1 - k)) & 1u;
        REQUIRE(bit == (pos < size ? bits[pos] : false));  // zero padding at the end
      }
    }
    auto back = eqinfo::unpack_tokens(tokens, n);
    REQUIRE(back.size() == tokens.size() * n);
    back.resize(size);
    REQUIRE(back == bits);
  }
  std::vector<token_t> bad = {0, token_t{1} << n};
  REQUIRE(code_of([&] { eqinfo::unpack_tokens(bad, n); }) == errc::token_out_of_range);
}

TEST_CASE("raw and npy token files round-trip and reject damage", "[packing][file]") {
  for (unsigned n : {1u, 8u, 12u, 16u, 20u}) {
    eqinfo_test::rng r{n};
    std::vector<token_t> tokens(1 + r.below(300));
    for (auto& t : tokens) t = static_cast<token_t>(r.next() & ((std::uint64_t{1} << n) - 1));
    const auto raw = eqinfo::serialize_tokens_raw(tokens, n);
    REQUIRE(raw.size() == tokens.size() * eqinfo::token_storage_bytes(n));
    REQUIRE(eqinfo::parse_tokens_raw(raw, n) == tokens);
    if (eqinfo::token_storage_bytes(n) > 1) {
      std::vector<unsigned char> odd(raw.begin(), raw.end() - 1);
      REQUIRE(code_of([&] { eqinfo::parse_tokens_raw(odd, n); }) == errc::truncated_tokens);
    }
    const auto npy = eqinfo::serialize_tokens_npy(tokens, n);
    REQUIRE((npy.size() - raw.size()) % 64 == 0);  // header padded to 64 bytes
    REQUIRE(eqinfo::parse_tokens_npy(npy, n) == tokens);
    std::vector<unsigned char> cut(npy.begin(), npy.end() - 1);
    REQUIRE(code_of([&] { eqinfo::parse_tokens_npy(cut, n); }) == errc::truncated_tokens);
    auto magic = npy;
    magic[1] = 'X';
    REQUIRE(code_of([&] { eqinfo::parse_tokens_npy(magic, n); }) == errc::bad_magic);
    for (std::size_t keep = 0; keep < 64; ++keep) {
      std::vector<unsigned char> head(npy.begin(), npy.begin() + static_cast<std::ptrdiff_t>(keep));
      REQUIRE_THROWS_AS(eqinfo::parse_tokens_npy(head, n), eqinfo::error);
    }
  }
  // Values too large for N are refused when reading.
  const auto raw16 = eqinfo::serialize_tokens_raw(std::vector<token_t>{1000}, 16);
  REQUIRE(code_of([&] { eqinfo::parse_tokens_raw(raw16, 9); }) == errc::token_out_of_range);
}

TEST_CASE(".eqt token files carry settings and reject every truncation and flipped byte", "[packing][file]") {
  eqinfo::settings s;
  s.window_bits = 32;
  s.token_bits = 8;
  eqinfo::tokenizer tok(eqinfo_test::english_unigram(), s);
  const auto text = eqinfo_test::english(400);
  const auto file = eqinfo::make_token_file(tok, tok.encode(text));
  const auto bytes = eqinfo::serialize_token_file(file);
  const auto back = eqinfo::parse_token_file(bytes, "t.eqt");
  REQUIRE(back.config == s);
  REQUIRE(back.byte_count == text.size());
  REQUIRE(back.tokens == file.tokens);
  REQUIRE(back.model_fingerprint == tok.model().fingerprint());
  eqinfo::check_token_file(tok, back);
  REQUIRE(tok.decode(back.tokens, back.byte_count) == text);

  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    const std::vector<unsigned char> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    REQUIRE_THROWS_AS(eqinfo::parse_token_file(part, "t.eqt"), eqinfo::error);
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto flipped = bytes;
    flipped[i] ^= 0x01;
    INFO("byte " << i);
    const errc c = code_of([&] { eqinfo::parse_token_file(flipped, "t.eqt"); });
    if (i < 8)
      REQUIRE(c == errc::bad_magic);
    else if (i < 12)
      REQUIRE(c == errc::unsupported_version);
    else
      REQUIRE((c == errc::checksum_mismatch || c == errc::truncated_tokens || c == errc::invalid_settings));
  }
  // Decoding with other settings or another model is refused.
  eqinfo::settings other = s;
  other.window_bits = 64;
  eqinfo::tokenizer wrong_settings(eqinfo_test::english_unigram(), other);
  REQUIRE(code_of([&] { eqinfo::check_token_file(wrong_settings, back); }) == errc::settings_mismatch);
  std::array<std::uint64_t, 256> counts{};
  counts['z'] = 1;
  eqinfo::tokenizer wrong_model(eqinfo::unigram_model(counts, 16), s);
  try {
    eqinfo::check_token_file(wrong_model, back);
    FAIL("accepted another model");
  } catch (const eqinfo::error& e) {
    REQUIRE(e.code() == errc::settings_mismatch);
    REQUIRE_THAT(e.what(), Catch::Contains("fingerprint"));
  }
}
