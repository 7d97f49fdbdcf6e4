// SPDX-License-Identifier: MIT
// tokenizer::set_progress: the hook never changes the tokens or the decoded
// bytes, and reports monotone byte counts, at most once per `every_bytes`,
// ending with exactly one call at the total.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/tokenizer.hpp>

#include <cstdint>
#include <utility>
#include <vector>

using eqinfo::errc;
using eqinfo::method;
using eqinfo::settings;
using eqinfo::window_rule;

namespace {

using call = std::pair<std::uint64_t, std::uint64_t>;

/// Checks one call sequence: monotone, below the total until the one final
/// call (done == total == `total`), at most one call per `every` bytes.
void check_calls(const std::vector<call>& calls, std::uint64_t total, std::uint64_t every, bool total_known) {
  REQUIRE(!calls.empty());
  CHECK(calls.back() == call{total, total});
  std::uint64_t previous = 0;
  std::uint64_t previous_bucket = 0;
  for (std::size_t i = 0; i + 1 < calls.size(); ++i) {
    const auto [done, reported_total] = calls[i];
    CHECK(reported_total == (total_known ? total : 0));
    CHECK(done >= previous);
    CHECK(done <= total);
    if (total_known) CHECK(done < total);  // bare: the total is not known before the end
    CHECK(done >= every);
    // At most once per `every` bytes: each call lies in a later bucket.
    CHECK(done / every > previous_bucket);
    previous = done;
    previous_bucket = done / every;
  }
  CHECK(total >= previous);
}

template <class Model>
void check_method(Model model, const settings& s, const std::vector<std::uint8_t>& input, std::uint64_t every) {
  CAPTURE(to_string(s.kind), s.window_bits, s.token_bits, s.precision_bits, to_string(s.rule), every, input.size());
  eqinfo::tokenizer<Model> plain(model, s);
  const eqinfo::encoded expected = plain.encode(input);

  eqinfo::tokenizer<Model> watched(model, s);
  std::vector<call> calls;
  watched.set_progress([&](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); }, every);

  const eqinfo::encoded e = watched.encode(input);
  CHECK(e.tokens == expected.tokens);
  CHECK(e.byte_count == expected.byte_count);
  check_calls(calls, input.size(), every, true);
  // Long inputs report along the way, not only at the end.
  if (s.kind != method::bytes && input.size() >= 4 * every + 256) CHECK(calls.size() >= 4);

  calls.clear();
  CHECK(watched.decode(e.tokens, e.byte_count) == input);
  check_calls(calls, input.size(), every, true);
  if (s.kind != method::bytes && input.size() >= 4 * every + 256) CHECK(calls.size() >= 4);

  calls.clear();
  const auto bare = watched.decode_bare(e.tokens);
  CHECK(bare == plain.decode_bare(e.tokens));
  check_calls(calls, bare.size(), every, false);
}

}  // namespace

TEST_CASE("progress: tokens are identical with and without the hook, counts are monotone and end at the total",
          "[progress]") {
  const auto text = eqinfo_test::english(20000);
  const auto model = eqinfo_test::english_unigram();
  const std::vector<settings> all = {
      {method::bytes, 16, 8, 16, window_rule::delay},
      {method::ac, 16, 16, 16, window_rule::delay},
      {method::ac, 16, 12, 16, window_rule::delay},
      {method::equal_info_ac, 16, 16, 16, window_rule::delay},
      {method::equal_info_ac, 32, 8, 16, window_rule::delay},
      {method::equal_info_ac, 24, 12, 16, window_rule::greedy_exact},
  };
  for (const settings& s : all) {
    for (std::uint64_t every : {std::uint64_t{1}, std::uint64_t{7}, std::uint64_t{1000}, std::uint64_t{1} << 20}) {
      check_method(model, s, text, every);
      check_method(eqinfo_test::bigram_model(text, 16), s, text, every);
    }
    check_method(model, s, std::vector<std::uint8_t>{}, 1);
    check_method(model, s, std::vector<std::uint8_t>{'x'}, 1);
  }
}

TEST_CASE("progress: unset or cleared, the callback is never called, every_bytes 0 is refused", "[progress]") {
  const auto text = eqinfo_test::english(3000);
  eqinfo::tokenizer tok(eqinfo_test::english_unigram(), settings{});
  int calls = 0;
  tok.set_progress([&](std::uint64_t, std::uint64_t) { ++calls; }, 100);
  const auto e = tok.encode(text);
  CHECK(calls > 0);
  tok.set_progress(nullptr);
  calls = 0;
  CHECK(tok.encode(text).tokens == e.tokens);
  CHECK(tok.decode(e.tokens, e.byte_count) == text);
  CHECK(calls == 0);
  try {
    tok.set_progress([](std::uint64_t, std::uint64_t) {}, 0);
    FAIL("every_bytes 0 was accepted");
  } catch (const eqinfo::error& err) {
    CHECK(err.code() == errc::invalid_argument);
  }
}

TEST_CASE("progress: a failed decode reports no final call", "[progress]") {
  const auto text = eqinfo_test::english(3000);
  eqinfo::tokenizer tok(eqinfo_test::english_unigram(), settings{});
  const auto e = tok.encode(text);
  std::vector<call> calls;
  tok.set_progress([&](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); }, 100);
  // (byte_count + 1 may decode: a final byte that adds zero bits leaves the tokens unchanged.)
  CHECK_THROWS_AS(tok.decode(e.tokens, e.byte_count + 1000), eqinfo::error);
  for (const auto& [done, total] : calls) {
    CHECK(done < total);
    CHECK(total == e.byte_count + 1000);
  }
}
