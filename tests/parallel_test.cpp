// SPDX-License-Identifier: MIT
// eqinfo/parallel.hpp: encode_many, decode_many and decode_windows_parallel
// give exactly the serial tokens, bytes and errors for any thread count.
#include "m1_support.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/parallel.hpp>
#include <eqinfo/transformer.hpp>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

using eqinfo::encoded;
using eqinfo::errc;
using eqinfo::method;
using eqinfo::settings;
using eqinfo::token_t;
using eqinfo_test::english;
using eqinfo_test::random_bytes;

namespace {

constexpr unsigned thread_counts[] = {1, 2, 3, 8};  // 8: oversubscribed on small machines

settings make_settings(method kind, unsigned b = 16, unsigned n = 16, unsigned p = 16) {
  settings s;
  s.kind = kind;
  s.window_bits = b;
  s.token_bits = n;
  s.precision_bits = p;
  return s;
}

/// Examples of varied sizes, empty ones included.
std::vector<std::vector<std::uint8_t>> make_examples(std::size_t count, std::size_t max_size, std::uint64_t seed) {
  eqinfo_test::rng r{seed};
  const auto& text = english();
  std::vector<std::vector<std::uint8_t>> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t n = i % 7 == 0 ? 0 : r.below(static_cast<std::uint32_t>(max_size) + 1);
    if (i % 5 == 1) {
      out.push_back(random_bytes(n, seed + i));
    } else {
      n = std::min(n, text.size());
      const std::size_t at = r.below(static_cast<std::uint32_t>(text.size() - n + 1));
      out.emplace_back(text.begin() + static_cast<std::ptrdiff_t>(at),
                       text.begin() + static_cast<std::ptrdiff_t>(at + n));
    }
  }
  return out;
}

std::vector<std::span<const std::uint8_t>> spans_of(const std::vector<std::vector<std::uint8_t>>& v) {
  return {v.begin(), v.end()};
}

/// A tiny random M1 (fast enough for the unit tests); context 64 so that
/// plain AC crosses block boundaries.
std::shared_ptr<const eqinfo::transformer_weights> tiny_m1() {
  static const auto weights = eqinfo_test::tiny_m1(7, 64);
  return weights;
}

template <class Model>
void check_many(const eqinfo::tokenizer<Model>& prototype, const std::vector<std::vector<std::uint8_t>>& examples) {
  auto serial_tok = prototype;
  std::vector<encoded> serial;
  for (const auto& e : examples) serial.push_back(serial_tok.encode(e));
  const auto spans = spans_of(examples);
  for (unsigned threads : {0u, 1u, 2u, 3u, 8u}) {
    INFO("threads " << threads);
    const auto got = eqinfo::encode_many(prototype, std::span<const std::span<const std::uint8_t>>(spans), threads);
    REQUIRE(got.size() == serial.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("example " << i << " (" << examples[i].size() << " bytes)");
      REQUIRE(got[i].tokens == serial[i].tokens);
      REQUIRE(got[i].byte_count == serial[i].byte_count);
    }
    const auto decoded = eqinfo::decode_many(prototype, std::span<const encoded>(got), threads);
    REQUIRE(decoded.size() == examples.size());
    for (std::size_t i = 0; i < decoded.size(); ++i) REQUIRE(decoded[i] == examples[i]);
  }
}

template <class Model>
void check_windows(const eqinfo::tokenizer<Model>& prototype, const std::vector<std::uint8_t>& input) {
  auto tok = prototype;
  const encoded e = tok.encode(input);
  for (unsigned threads : thread_counts) {
    INFO("threads " << threads << ", " << input.size() << " bytes");
    REQUIRE(eqinfo::decode_windows_parallel(prototype, e.tokens, e.byte_count, threads) == input);
    REQUIRE(eqinfo::decode_windows_parallel(prototype, e.tokens, std::nullopt, threads) == tok.decode_bare(e.tokens));
  }
}

/// The serial decoder's error code (or nullopt if it succeeds) vs the parallel one.
template <class Model>
void check_same_error(const eqinfo::tokenizer<Model>& prototype, const std::vector<token_t>& tokens,
                      std::optional<std::uint64_t> byte_count) {
  auto tok = prototype;
  std::optional<errc> serial_code;
  std::string serial_message;
  std::vector<std::uint8_t> serial_out;
  try {
    serial_out = byte_count ? tok.decode(tokens, *byte_count) : tok.decode_bare(tokens);
  } catch (const eqinfo::error& err) {
    serial_code = err.code();
    serial_message = err.what();
  }
  for (unsigned threads : thread_counts) {
    INFO("threads " << threads);
    std::optional<errc> code;
    std::string message;
    std::vector<std::uint8_t> out;
    try {
      out = eqinfo::decode_windows_parallel(prototype, tokens, byte_count, threads);
    } catch (const eqinfo::error& err) {
      code = err.code();
      message = err.what();
    }
    REQUIRE(code == serial_code);
    REQUIRE(message == serial_message);
    if (!code) REQUIRE(out == serial_out);
  }
}

}  // namespace

TEST_CASE("encode_many and decode_many equal serial coding (unigram)", "[parallel]") {
  const auto model = eqinfo::unigram_model::estimate(english(), 16);
  const auto examples = make_examples(60, 3000, 11);
  for (method kind : {method::ac, method::equal_info_ac, method::bytes}) {
    INFO("method " << eqinfo::to_string(kind));
    check_many(eqinfo::tokenizer(model, make_settings(kind, 16, kind == method::bytes ? 8 : 16)), examples);
  }
  check_many(eqinfo::tokenizer(model, make_settings(method::equal_info_ac, 32, 8)), examples);
}

TEST_CASE("encode_many and decode_many equal serial coding (tiny M1)", "[parallel][m1]") {
  const eqinfo::m1_model model(tiny_m1(), 16);
  const auto examples = make_examples(16, 300, 12);
  for (method kind : {method::ac, method::equal_info_ac}) {
    INFO("method " << eqinfo::to_string(kind));
    check_many(eqinfo::tokenizer(model, make_settings(kind)), examples);
  }
  // Few lanes: several blocks a thread, each run as one wave of up to twice
  // the lanes (16 examples at 3 lanes: 4 blocks of 4; at 5: 3 of 6 at most).
  for (std::size_t lanes : {3u, 5u}) {
    INFO("lanes " << lanes);
    eqinfo::tokenizer tok(model, make_settings(method::equal_info_ac));
    tok.set_lanes(lanes);
    check_many(tok, examples);
  }
}

TEST_CASE("jobs_per_block: no block above a thread's share, no short last block, blocks of up to 8 x lanes",
          "[parallel]") {
  using eqinfo::detail::parallel::jobs_per_block;
  for (std::size_t lanes : {1u, 3u, 64u})
    for (unsigned threads : {1u, 2u, 3u, 8u})
      for (std::size_t jobs = 1; jobs <= 40 * lanes; jobs += 1 + jobs / 7) {
        INFO("jobs " << jobs << " lanes " << lanes << " threads " << threads);
        const std::size_t per = jobs_per_block(jobs, lanes, threads);
        const std::size_t blocks = (jobs + per - 1) / per;
        REQUIRE(per >= 1);
        REQUIRE(per <= (jobs + threads - 1) / threads);  // no block above a thread's share
        if (jobs <= 2 * lanes * threads) {
          REQUIRE(per <= 2 * lanes);  // one wave a block
        } else {
          REQUIRE(per >= lanes);
          REQUIRE(per <= 8 * lanes + 1);
          REQUIRE(blocks <= std::max<std::size_t>(4 * threads, (jobs + 8 * lanes - 1) / (8 * lanes)));
          const std::size_t last = jobs - (blocks - 1) * per;
          REQUIRE(last + 4 * threads >= lanes);  // not a few stragglers
        }
      }
  // The cases that motivated it (one thread, 64 lanes).
  REQUIRE(jobs_per_block(98, 64, 1) == 98);
  REQUIRE(jobs_per_block(200, 64, 1) == 67);
}

TEST_CASE("encode_many of no examples", "[parallel]") {
  const eqinfo::tokenizer tok(eqinfo::uniform_model(16), settings{});
  REQUIRE(eqinfo::encode_many(tok, {}, 2).empty());
  REQUIRE(eqinfo::decode_many(tok, {}, 2).empty());
}

TEST_CASE("decode_windows_parallel equals decode", "[parallel]") {
  const auto unigram = eqinfo::unigram_model::estimate(english(), 16);
  for (unsigned b : {16u, 32u, 64u})
    for (auto rule : {eqinfo::window_rule::delay, eqinfo::window_rule::greedy_exact}) {
      settings s = make_settings(method::equal_info_ac, b, 8);
      s.rule = rule;
      const eqinfo::tokenizer tok(unigram, s);
      const eqinfo::tokenizer bigram_tok(eqinfo_test::bigram_model(english(), 16), s);
      for (std::size_t n : {0u, 1u, 2u, 3u, 17u, 100u, 1000u, 20000u}) {
        check_windows(tok, english(n));
        check_windows(bigram_tok, english(n));
        check_windows(tok, random_bytes(n, n + b));
      }
    }
  const eqinfo::tokenizer m1_tok(eqinfo::m1_model(tiny_m1(), 16), make_settings(method::equal_info_ac));
  for (std::size_t n : {0u, 1u, 50u, 600u}) check_windows(m1_tok, english(n));
  // Other methods: one stream, decoded as is.
  const eqinfo::tokenizer ac_tok(unigram, make_settings(method::ac));
  check_windows(ac_tok, english(3000));
}

TEST_CASE("decode_windows_parallel reports the serial decoder's errors", "[parallel]") {
  const auto unigram = eqinfo::unigram_model::estimate(english(), 16);
  settings s = make_settings(method::equal_info_ac, 32, 8);
  const eqinfo::tokenizer tok(unigram, s);
  auto copy = tok;
  const encoded e = copy.encode(english(4000));
  const std::size_t per = s.tokens_per_window();
  REQUIRE(e.tokens.size() > 40 * per);

  SECTION("a corrupt window") {
    eqinfo_test::rng r{5};
    bool some_error = false;
    for (int trial = 0; trial < 200; ++trial) {
      auto tokens = e.tokens;
      const std::size_t at = r.below(static_cast<std::uint32_t>(tokens.size()));
      tokens[at] = static_cast<token_t>(r.below(256));
      if (trial % 3 == 0) tokens[r.below(static_cast<std::uint32_t>(tokens.size()))] ^= 0x80;
      auto probe = tok;
      try {
        (void)probe.decode(tokens, e.byte_count);
      } catch (const eqinfo::error&) {
        some_error = true;
      }
      check_same_error(tok, tokens, e.byte_count);
      check_same_error(tok, tokens, std::nullopt);
    }
    REQUIRE(some_error);
  }
  SECTION("wrong byte counts, partial windows, out-of-range tokens") {
    for (std::uint64_t count : {std::uint64_t{0}, std::uint64_t{1}, e.byte_count - 1, e.byte_count + 1,
                                e.byte_count + 1000, std::uint64_t{1} << 40})
      check_same_error(tok, e.tokens, count);
    auto partial = e.tokens;
    partial.pop_back();
    check_same_error(tok, partial, e.byte_count);
    check_same_error(tok, partial, std::nullopt);
    auto out_of_range = e.tokens;
    out_of_range[7] = 256;
    check_same_error(tok, out_of_range, e.byte_count);
    check_same_error(tok, {}, 0);
    check_same_error(tok, {}, 5);
    // A window of zeros repeated: bare decoding takes every determined byte.
    std::vector<token_t> zeros(per * 10, 0);
    check_same_error(tok, zeros, std::nullopt);
    check_same_error(tok, zeros, 100);
  }
}

TEST_CASE("encode_many rethrows the first failing example's error", "[parallel]") {
  // A model whose CDF is invalid after it has seen the byte 0xFF.
  struct picky_model {
    bool broken = false;
    eqinfo::cdf_table cdf = eqinfo::uniform_model(16).predict();
    unsigned precision_bits() const { return 16; }
    void reset() { broken = false; }
    const eqinfo::cdf_table& predict() {
      cdf = eqinfo::uniform_model(16).predict();
      if (broken) cdf[5] = cdf[4];  // an empty slice
      return cdf;
    }
    void update(std::uint8_t byte) { broken = broken || byte == 0xFF; }
  };
  const eqinfo::tokenizer tok(picky_model{}, make_settings(method::ac));
  std::vector<std::vector<std::uint8_t>> examples(50, eqinfo_test::bytes_of("plain text"));
  examples[17] = {0xFF, 1, 2};
  examples[31] = {0xFF, 0xFF};
  const auto spans = spans_of(examples);
  for (unsigned threads : thread_counts) {
    try {
      (void)eqinfo::encode_many(tok, std::span<const std::span<const std::uint8_t>>(spans), threads);
      FAIL("no error");
    } catch (const eqinfo::error& err) {
      REQUIRE(err.code() == errc::invalid_model_output);
    }
  }
}
