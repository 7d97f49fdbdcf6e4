// SPDX-License-Identifier: MIT
// The lockstep window coder (windows.hpp, window_engine): M1 work per byte,
// and tokens that do not depend on lanes, threads, segments' scheduling or
// the model's lane_set.
#include "m1_support.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/m1_file.hpp>
#include <eqinfo/parallel.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/transformer.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using eqinfo::m1_model;
using eqinfo::method;
using eqinfo::settings;
using eqinfo::window_rule;

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// m1_model without its lane_set: the coder drives it through
/// reset/predict/update, one byte at a time (the serial reference path).
class m1_alone {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;
  explicit m1_alone(m1_model m) : m_(std::move(m)) {}
  unsigned precision_bits() const noexcept { return m_.precision_bits(); }
  void reset() { m_.reset(); }
  const eqinfo::cdf_table& predict() { return m_.predict(); }
  void update(std::uint8_t b) { m_.update(b); }

 private:
  m1_model m_;
};
static_assert(!eqinfo::has_lane_set<m1_alone>);

std::shared_ptr<const eqinfo::transformer_weights> small_m1() {
  static const auto weights = eqinfo_test::tiny_m1(9, 32);  // windows and segments cross block boundaries
  return weights;
}

settings eq(unsigned b, window_rule rule, std::uint64_t segment_bytes, unsigned n = 16) {
  settings s;
  s.kind = method::equal_info_ac;
  s.window_bits = b;
  s.token_bits = n;
  s.rule = rule;
  s.segment_bytes = segment_bytes;
  return s;
}

}  // namespace

TEST_CASE("lockstep lanes give the serial tokens for every lane count, rule and segment size", "[lockstep][m1]") {
  const auto w = small_m1();
  std::vector<std::vector<std::uint8_t>> inputs = {
      {}, {0x41}, eqinfo_test::english(700), eqinfo_test::random_bytes(300, 5), std::vector<std::uint8_t>(400, 0x20)};
  for (auto rule : {window_rule::delay, window_rule::greedy_exact}) {
    for (unsigned b : {16u, 48u}) {
      for (std::uint64_t segment : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{37}, std::uint64_t{256}}) {
        const settings s = eq(b, rule, segment);
        eqinfo::tokenizer serial(m1_alone(m1_model(w, 16)), s);
        for (const auto& in : inputs) {
          INFO(eqinfo::to_string(rule) << " b=" << b << " S=" << segment << " n=" << in.size());
          const auto want = serial.encode(in);
          REQUIRE(serial.decode(want.tokens, want.byte_count) == in);
          const auto bare = serial.decode_bare(want.tokens);
          for (std::size_t lanes : {1u, 2u, 3u, 64u}) {
            INFO("lanes " << lanes);
            eqinfo::tokenizer tok(m1_model(w, 16), s);
            tok.set_lanes(lanes);
            const auto got = tok.encode(in);
            REQUIRE(got.tokens == want.tokens);
            REQUIRE(tok.decode(got.tokens, got.byte_count) == in);
            REQUIRE(tok.decode_bare(got.tokens) == bare);
          }
        }
      }
    }
  }
}

TEST_CASE("encode_many and decode_windows_parallel: same tokens for every lane and thread count", "[lockstep][m1]") {
  const auto w = small_m1();
  std::vector<std::vector<std::uint8_t>> examples;
  for (std::size_t i = 0; i < 24; ++i)
    examples.push_back(i % 3 == 0 ? eqinfo_test::random_bytes(i * 7, i) : eqinfo_test::english(i * 23 + 1));
  std::vector<std::span<const std::uint8_t>> spans(examples.begin(), examples.end());
  for (std::uint64_t segment : {std::uint64_t{0}, std::uint64_t{50}}) {
    const settings s = eq(16, window_rule::delay, segment);
    eqinfo::tokenizer serial(m1_alone(m1_model(w, 16)), s);
    for (std::size_t lanes : {1u, 64u}) {
      for (unsigned threads : {1u, 2u}) {
        INFO("S=" << segment << " lanes " << lanes << " threads " << threads);
        eqinfo::tokenizer proto(m1_model(w, 16), s);
        proto.set_lanes(lanes);
        const auto out = eqinfo::encode_many(proto, std::span<const std::span<const std::uint8_t>>(spans), threads);
        for (std::size_t i = 0; i < examples.size(); ++i) {
          REQUIRE(out[i].tokens == serial.encode(examples[i]).tokens);
          REQUIRE(eqinfo::decode_windows_parallel(proto, out[i].tokens, out[i].byte_count, threads) == examples[i]);
        }
        // One long input: its segments spread over lanes and threads.
        std::vector<std::uint8_t> all;
        for (const auto& e : examples) all.insert(all.end(), e.begin(), e.end());
        const auto whole = eqinfo::encode_parallel(proto, all, threads);
        REQUIRE(whole.tokens == serial.encode(all).tokens);
        REQUIRE(eqinfo::decode_windows_parallel(proto, whole.tokens, whole.byte_count, threads) == all);
        REQUIRE(eqinfo::decode_windows_parallel(proto, whole.tokens, std::nullopt, threads) ==
                serial.decode_bare(whole.tokens));
      }
    }
  }
}

TEST_CASE("segments: no window crosses a segment end, and each segment codes alone", "[lockstep]") {
  auto model = eqinfo_test::english_unigram(16);
  const auto text = eqinfo_test::english(5000);
  const std::uint64_t segment = 777;
  const settings s = eq(32, window_rule::delay, segment, 8);
  eqinfo::tokenizer tok(model, s);
  const auto e = tok.encode(text);
  REQUIRE(tok.decode(e.tokens, e.byte_count) == text);
  // The segments' own encodings, each as an input on its own with the last
  // window of every segment but the last cut by the rule, concatenate to the
  // stream: check by decoding each segment's tokens alone.
  settings alone = s;
  alone.segment_bytes = 0;
  eqinfo::tokenizer whole(model, alone);
  const auto unsegmented = whole.encode(text);
  REQUIRE(unsegmented.tokens != e.tokens);  // the cuts differ...
  // ...but by under one window per segment.
  const std::size_t per_window = s.tokens_per_window();
  const std::size_t segments = (text.size() + segment - 1) / segment;
  REQUIRE(e.tokens.size() <= unsegmented.tokens.size() + segments * per_window);
  // An input of at most S bytes is one segment: the same tokens as S = 0.
  const std::vector<std::uint8_t> head(text.begin(), text.begin() + segment);
  REQUIRE(tok.encode(head).tokens == whole.encode(head).tokens);
}

TEST_CASE("M1 work: at most 1.4 positions per byte to encode and to decode (shipped M1, b=16)", "[lockstep][m1]") {
  const auto file = eqinfo::load_m1(std::string(EQINFO_TEST_DATA_DIR) + "/../models/m1/m1.safetensors");
  const auto all = read_file(std::string(EQINFO_TEST_DATA_DIR) + "/sample/sotu_sample.txt");
  const std::vector<std::uint8_t> text(
      all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(all.size(), 16384)));
  settings s;  // EqualInfoAC[b=16, N=16], delay
  s.segment_bytes = 2048;
  m1_model model = file.model(16);
  eqinfo::detail::window_engine<m1_model> engine(model, s);
  const std::uint64_t before = engine.lanes().positions() + model.positions();
  const auto bits = eqinfo::detail::encode_windows(engine, text, nullptr, eqinfo::detail::cut_policy::by_rule, nullptr);
  const std::uint64_t encode_positions = engine.lanes().positions() + model.positions() - before;
  const auto back = eqinfo::detail::decode_windows(engine, bits, text.size(), nullptr);
  REQUIRE(back == text);
  const std::uint64_t decode_positions = engine.lanes().positions() + model.positions() - before - encode_positions;
  const double encode_per_byte = static_cast<double>(encode_positions) / static_cast<double>(text.size());
  const double decode_per_byte = static_cast<double>(decode_positions) / static_cast<double>(text.size());
  INFO("M1 positions per byte: encode " << encode_per_byte << ", decode " << decode_per_byte << " (" << text.size()
                                        << " bytes, " << bits.size() / 16 << " windows)");
  CHECK(encode_per_byte <= 1.4);
  CHECK(decode_per_byte <= 1.4);
  // The counts are deterministic: a second run costs exactly the same.
  const std::uint64_t again = engine.lanes().positions() + model.positions();
  REQUIRE(eqinfo::detail::encode_windows(engine, text, nullptr, eqinfo::detail::cut_policy::by_rule, nullptr) == bits);
  REQUIRE(engine.lanes().positions() + model.positions() - again == encode_positions);
  WARN("M1 positions per byte: encode " << encode_per_byte << ", decode " << decode_per_byte);
}
