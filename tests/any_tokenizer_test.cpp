// SPDX-License-Identifier: MIT
// resolve_settings and make_tokenizer: the one way the CLI, the Python
// bindings and the Dask tasks turn options and a model file into a tokenizer.
#include "m1_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/any_tokenizer.hpp>

#include <array>
#include <string>

using namespace eqinfo;

namespace {

unigram_model unigram_at(unsigned precision) {
  std::array<std::uint64_t, 256> counts{};
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] = 1 + i % 7;
  return unigram_model(counts, precision);
}

m1_file tiny_m1_file() { return parse_m1(serialize_m1(*eqinfo_test::tiny_m1(3, 64)), "tiny.m1", false); }

std::string refusal(const settings_request& r, const m1_file* m1, const unigram_model* unigram) {
  try {
    resolve_settings(r, m1, unigram);
  } catch (const error& e) {
    REQUIRE(e.code() == errc::invalid_settings);
    return e.what();
  }
  FAIL("resolve_settings accepted the request");
  return {};
}

}  // namespace

TEST_CASE("resolve_settings: options not given take the library's defaults", "[settings][any_tokenizer]") {
  const resolved_settings plain = resolve_settings({}, nullptr, nullptr);
  CHECK(plain.config == settings{});
  CHECK_FALSE(plain.static_ac);

  // P defaults to a unigram file's precision, unless given.
  const unigram_model u = unigram_at(14);
  CHECK(resolve_settings({}, nullptr, &u).config.precision_bits == 14);
  CHECK(resolve_settings({.precision_bits = 15}, nullptr, &u).config.precision_bits == 15);

  const resolved_settings given = resolve_settings(
      {.method = "equal_info_ac", .window_bits = 32, .token_bits = 8, .rule = "greedy-exact", .segment_bytes = 4096},
      nullptr, nullptr);
  CHECK(given.config.kind == method::equal_info_ac);
  CHECK(given.config.window_bits == 32);
  CHECK(given.config.token_bits == 8);
  CHECK(given.config.rule == window_rule::greedy_exact);
  CHECK(given.config.segment_bytes == 4096);
}

TEST_CASE("resolve_settings: bytes and ac fix what they do not use", "[settings][any_tokenizer]") {
  const settings bytes =
      resolve_settings({.method = "bytes", .window_bits = 64, .segment_bytes = 10}, nullptr, nullptr).config;
  CHECK(bytes.kind == method::bytes);
  CHECK(bytes.token_bits == 8);
  CHECK(bytes.window_bits == 16);
  CHECK(bytes.precision_bits == 16);
  CHECK(bytes.rule == window_rule::greedy_exact);
  CHECK(bytes.segment_bytes == 0);
  CHECK_THAT(refusal({.method = "bytes", .token_bits = 16}, nullptr, nullptr), Catch::Contains("8-bit tokens"));

  const unigram_model u = unigram_at(16);
  const resolved_settings static_ac = resolve_settings({.method = "static-ac"}, nullptr, &u);
  CHECK(static_ac.config.kind == method::ac);
  CHECK(static_ac.static_ac);
  CHECK(static_ac.config.segment_bytes == 0);  // segments are equal-info's alone
}

TEST_CASE("resolve_settings refuses what it cannot mean, naming it", "[settings][any_tokenizer]") {
  const m1_file m1 = tiny_m1_file();
  CHECK_THAT(refusal({.method = "zip"}, nullptr, nullptr), Catch::Contains("unknown method 'zip'"));
  CHECK_THAT(refusal({.rule = "lazy"}, nullptr, nullptr), Catch::Contains("unknown window rule 'lazy'"));
  CHECK_THAT(refusal({.method = "static-ac"}, nullptr, nullptr), Catch::Contains("needs a unigram model"));
  CHECK_THAT(refusal({.method = "static-ac"}, &m1, nullptr), Catch::Contains("with an M1 model use method ac"));
  CHECK_THAT(refusal({.window_bits = 24}, nullptr, nullptr), Catch::Contains("not a multiple of token_bits"));
  // Unchecked on request (the CLI's --all checks each configuration itself).
  CHECK(resolve_settings({.window_bits = 24}, nullptr, nullptr, std::nullopt, false).config.window_bits == 24);
}

TEST_CASE("resolve_settings over a base: a token file's settings, with the options given",
          "[settings][any_tokenizer]") {
  settings file;
  file.kind = method::ac;
  file.token_bits = 8;
  file.precision_bits = 13;
  file.segment_bytes = 0;
  const unigram_model u = unigram_at(16);
  // Nothing given: the file's settings (not the unigram file's precision).
  CHECK(resolve_settings({}, nullptr, &u, file).config == file);
  const settings n12 = resolve_settings({.token_bits = 12}, nullptr, &u, file).config;
  CHECK(n12.kind == method::ac);
  CHECK(n12.token_bits == 12);
  CHECK(n12.precision_bits == 13);
}

TEST_CASE("make_tokenizer picks the model the file holds, and says which", "[settings][any_tokenizer]") {
  const m1_file m1 = tiny_m1_file();
  const unigram_model u = unigram_at(16);
  const settings s;
  settings bytes;
  bytes.kind = method::bytes;
  bytes.token_bits = 8;

  const chosen_tokenizer with_m1 = make_tokenizer(s, &m1, nullptr);
  CHECK(with_m1.model_kind == "m1");
  CHECK(std::holds_alternative<tokenizer<m1_model>>(with_m1.tok));
  CHECK(std::get<tokenizer<m1_model>>(with_m1.tok).model().fingerprint() == m1.fingerprint);

  const chosen_tokenizer with_unigram = make_tokenizer(s, std::optional<model_file>(u));
  CHECK(with_unigram.model_kind == "unigram");
  CHECK(std::holds_alternative<tokenizer<unigram_model>>(with_unigram.tok));

  CHECK(make_tokenizer(s, std::nullopt).model_kind == "uniform");
  const chosen_tokenizer none = make_tokenizer(bytes, &m1, &u);  // bytes uses no model
  CHECK(none.model_kind == "none");
  CHECK(std::holds_alternative<tokenizer<uniform_model>>(none.tok));

  // The same bytes give the same tokens through the variant as directly.
  const std::string text = "one definition of each thing";
  const std::span<const std::uint8_t> bytes_in(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  tokenizer direct(m1.model(s.precision_bits), s);
  chosen_tokenizer chosen = make_tokenizer(s, &m1, nullptr);
  CHECK(std::visit([&](auto& t) { return t.encode(bytes_in).tokens; }, chosen.tok) == direct.encode(bytes_in).tokens);
}
