// SPDX-License-Identifier: MIT
// Token offsets, the streaming decoder and the UTF-8 helper (issue #14):
// offsets tile the input and match what each window decodes to; streaming
// gives decode_bare's / decode's bytes for every chunking, batch and lane
// count, at the model cost of decoding once; characters are never split.

#include "m1_support.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/m1_file.hpp>
#include <eqinfo/parallel.hpp>
#include <eqinfo/stream_decoder.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/transformer.hpp>
#include <eqinfo/utf8.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using eqinfo::byte_span;
using eqinfo::method;
using eqinfo::settings;
using eqinfo::token_t;
using eqinfo::window_rule;
using bytes = std::vector<std::uint8_t>;

settings make(method kind, unsigned b, unsigned n, window_rule rule = window_rule::delay,
              std::uint64_t segment_bytes = 0) {
  settings s;
  s.kind = kind;
  s.window_bits = b;
  s.token_bits = kind == method::bytes ? 8 : n;
  s.rule = rule;
  s.segment_bytes = segment_bytes;
  return s;
}

std::vector<settings> all_settings() {
  return {make(method::bytes, 16, 8),
          make(method::ac, 16, 8),
          make(method::ac, 16, 16),
          make(method::equal_info_ac, 16, 16),
          make(method::equal_info_ac, 16, 8),
          make(method::equal_info_ac, 32, 8, window_rule::greedy_exact),
          make(method::equal_info_ac, 16, 16, window_rule::delay, 100),
          make(method::equal_info_ac, 24, 12, window_rule::greedy_exact, 37)};
}

std::string describe(const settings& s) {
  return std::string(eqinfo::to_string(s.kind)) + " b=" + std::to_string(s.window_bits) +
         " N=" + std::to_string(s.token_bits) + " " + std::string(eqinfo::to_string(s.rule)) +
         " S=" + std::to_string(s.segment_bytes);
}

/// Offsets tile [0, n): each span starts where the previous ended, or
/// repeats it (the tokens of one window), and the last ends at n.
void require_tiling(const std::vector<byte_span>& offsets, std::size_t tokens, std::uint64_t n) {
  REQUIRE(offsets.size() == tokens);
  std::uint64_t covered = 0;
  for (std::size_t t = 0; t < offsets.size(); ++t) {
    INFO("token " << t);
    REQUIRE(offsets[t].begin <= offsets[t].end);
    const bool same_as_previous = t > 0 && offsets[t] == offsets[t - 1];
    if (!same_as_previous) REQUIRE(offsets[t].begin == covered);
    covered = offsets[t].end;
  }
  REQUIRE(covered == (tokens == 0 ? 0 : n));
}

std::shared_ptr<const eqinfo::transformer_weights> small_m1() {
  static const auto weights = eqinfo_test::tiny_m1(9, 32);
  return weights;
}

/// Tokens in random chunks of 0..max tokens.
std::vector<std::vector<token_t>> chunks_of(const std::vector<token_t>& tokens, std::size_t max, std::uint64_t seed) {
  eqinfo_test::rng r{seed};
  std::vector<std::vector<token_t>> out;
  for (std::size_t at = 0; at < tokens.size();) {
    const std::size_t n = std::min<std::size_t>(r.below(static_cast<std::uint32_t>(max + 1)), tokens.size() - at);
    out.emplace_back(tokens.begin() + static_cast<std::ptrdiff_t>(at),
                     tokens.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  return out;
}

template <class Model>
bytes stream_all(const eqinfo::tokenizer<Model>& tok, const std::vector<std::vector<token_t>>& chunks,
                 std::optional<std::uint64_t> byte_count, eqinfo::stream_end* end = nullptr) {
  eqinfo::stream_decoder<Model> dec(tok, byte_count);
  bytes out;
  for (const auto& c : chunks) {
    const auto got = dec.push(c);
    out.insert(out.end(), got.begin(), got.end());
  }
  eqinfo::stream_end e = dec.finish();
  out.insert(out.end(), e.bytes.begin(), e.bytes.end());
  if (end) *end = e;
  return out;
}

const std::string chinese =
    "\xE4\xBA\xBA\xE4\xBA\xBA\xE7\x94\x9F\xE8\x80\x8C\xE8\x87\xAA\xE7\x94\xB1\xEF\xBC\x8C\xE5\x9C\xA8\xE5\xB0\x8A"
    "\xE4\xB8\xA5\xE5\x92\x8C\xE6\x9D\x83\xE5\x88\xA9\xE4\xB8\x8A\xE4\xB8\x80\xE5\xBE\x8B\xE5\xB9\xB3\xE7\xAD\x89"
    "\xE3\x80\x82\xE4\xBB\x96\xE4\xBB\xAC\xE8\xB5\x8B\xE6\x9C\x89\xE7\x90\x86\xE6\x80\xA7\xE5\x92\x8C\xE8\x89\xAF"
    "\xE5\xBF\x83\xEF\xBC\x8C\xE5\xB9\xB6\xE5\xBA\x94\xE4\xBB\xA5\xE5\x85\x84\xE5\xBC\x9F\xE5\x85\xB3\xE7\xB3\xBB"
    "\xE7\x9A\x84\xE7\xB2\xBE\xE7\xA5\x9E\xE7\x9B\xB8\xE5\xAF\xB9\xE5\xBE\x85\xE3\x80\x82 \xF0\x9F\x98\x80 mixed "
    "ASCII \xC3\xA9t\xC3\xA9.";

/// Whether `s` is valid UTF-8 (RFC 3629).
bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t rest = s.size() - i;
    // A whole character: its first byte and length.
    const std::uint8_t c = p[i];
    const std::size_t len = c < 0x80                 ? 1
                            : c >= 0xC2 && c <= 0xDF ? 2
                            : c >= 0xE0 && c <= 0xEF ? 3
                            : c >= 0xF0 && c <= 0xF4 ? 4
                                                     : 0;
    if (len == 0 || len > rest) return false;
    // Its bytes alone are not an incomplete character, and each prefix is.
    for (std::size_t k = 1; k < len; ++k)
      if (eqinfo::incomplete_utf8_suffix(std::span(p + i, k)) != k) return false;
    if (eqinfo::incomplete_utf8_suffix(std::span(p + i, len)) != 0) return false;
    i += len;
  }
  return true;
}

}  // namespace

TEST_CASE("offsets: every method's tokens tile the input, without changing the tokens", "[offsets]") {
  const auto model = eqinfo_test::english_unigram(16);
  const std::vector<bytes> inputs = {{}, {0x41}, eqinfo_test::english(3000), eqinfo_test::random_bytes(500, 3)};
  for (const settings& s : all_settings()) {
    eqinfo::tokenizer tok(model, s);
    for (const auto& in : inputs) {
      INFO(describe(s) << " n=" << in.size());
      const eqinfo::encoded with = tok.encode_with_offsets(in);
      const eqinfo::encoded without = tok.encode(in);
      REQUIRE(without.offsets.empty());
      REQUIRE(with.tokens == without.tokens);
      require_tiling(with.offsets, with.tokens.size(), in.size());
      if (s.kind == method::bytes)
        for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(with.offsets[i] == byte_span{i, i + 1});
    }
  }
}

TEST_CASE("offsets: each equal-info window's span is what its tokens decode to alone", "[offsets]") {
  const auto model = eqinfo_test::english_unigram(16);
  const auto text = eqinfo_test::english(4000);
  for (const settings& s : {make(method::equal_info_ac, 16, 16), make(method::equal_info_ac, 16, 8),
                            make(method::equal_info_ac, 32, 8, window_rule::greedy_exact)}) {
    INFO(describe(s));
    eqinfo::tokenizer tok(model, s);
    const auto e = tok.encode_with_offsets(text);
    const std::size_t per = s.tokens_per_window();
    const std::size_t windows = e.tokens.size() / per;
    REQUIRE(windows > 100);
    // Windows decode alone (model and coder reset per window); every window
    // but the final one (told its length) decodes by the rule to exactly its span.
    for (std::size_t w = 0; w + 1 < windows; ++w) {
      INFO("window " << w);
      for (std::size_t t = 1; t < per; ++t) REQUIRE(e.offsets[w * per + t] == e.offsets[w * per]);
      const std::span<const token_t> mine(e.tokens.data() + w * per, per);
      const byte_span span = e.offsets[w * per];
      REQUIRE(tok.decode_bare(mine) == bytes(text.begin() + static_cast<std::ptrdiff_t>(span.begin),
                                             text.begin() + static_cast<std::ptrdiff_t>(span.end)));
    }
  }
}

TEST_CASE("offsets: AC token t is final once the bytes before its span's end are coded", "[offsets]") {
  const auto model = eqinfo_test::english_unigram(16);
  const auto text = eqinfo_test::english(1500);
  for (unsigned n : {8u, 16u}) {
    eqinfo::tokenizer tok(model, make(method::ac, 16, n));
    const auto e = tok.encode_with_offsets(text);
    for (std::size_t t = 0; t < e.tokens.size(); t += 7) {
      INFO("N=" << n << " token " << t);
      const std::uint64_t end = e.offsets[t].end;
      // The code of the first `end` bytes already starts with tokens 0..t.
      const auto prefix = tok.encode(std::span(text.data(), end));
      REQUIRE(prefix.tokens.size() >= t + 1);
      REQUIRE(
          std::equal(e.tokens.begin(), e.tokens.begin() + static_cast<std::ptrdiff_t>(t + 1), prefix.tokens.begin()));
    }
  }
}

TEST_CASE("offsets: the same for every thread count, lane count and batch (M1 lane sets)", "[offsets][m1]") {
  const auto w = small_m1();
  std::vector<bytes> examples;
  for (std::size_t i = 0; i < 12; ++i)
    examples.push_back(i % 3 == 0 ? eqinfo_test::random_bytes(i * 11, i) : eqinfo_test::english(i * 37 + 1));
  std::vector<std::span<const std::uint8_t>> spans(examples.begin(), examples.end());
  for (const settings& s : {make(method::equal_info_ac, 16, 8, window_rule::delay, 64),
                            make(method::equal_info_ac, 16, 16, window_rule::greedy_exact, 0)}) {
    eqinfo::tokenizer serial(eqinfo::m1_model(w, 16), s);
    serial.set_lanes(1);
    for (std::size_t lanes : {1u, 64u}) {
      for (unsigned threads : {1u, 2u}) {
        INFO(describe(s) << " lanes " << lanes << " threads " << threads);
        eqinfo::tokenizer proto(eqinfo::m1_model(w, 16), s);
        proto.set_lanes(lanes);
        const auto out = eqinfo::encode_many(proto, std::span<const std::span<const std::uint8_t>>(spans), threads,
                                             eqinfo::want_offsets::yes);
        for (std::size_t i = 0; i < examples.size(); ++i) {
          const auto want = serial.encode_with_offsets(examples[i]);
          REQUIRE(out[i].tokens == want.tokens);
          REQUIRE(out[i].offsets == want.offsets);
        }
        bytes all;
        for (const auto& e : examples) all.insert(all.end(), e.begin(), e.end());
        const auto whole = eqinfo::encode_parallel(proto, all, threads, eqinfo::want_offsets::yes);
        REQUIRE(whole.offsets == serial.encode_with_offsets(all).offsets);
        require_tiling(whole.offsets, whole.tokens.size(), all.size());
      }
    }
  }
}

TEST_CASE("offsets: no extra model work (M1 positions equal plain encoding's)", "[offsets][m1]") {
  const auto text = eqinfo_test::english(2000);
  eqinfo::tokenizer tok(eqinfo::m1_model(small_m1(), 16), make(method::equal_info_ac, 16, 16));
  auto& engine = tok.engine();
  const auto count = [&] { return engine.lanes().positions() + tok.model().positions(); };
  const std::uint64_t start = count();
  const auto plain = tok.encode(text);
  const std::uint64_t plain_positions = count() - start;
  const auto with = tok.encode_with_offsets(text);
  REQUIRE(with.tokens == plain.tokens);
  REQUIRE(count() - start - plain_positions == plain_positions);
}

TEST_CASE("stream_decoder: every chunking gives decode_bare's bytes (and decode's with a byte count)", "[stream]") {
  const auto model = eqinfo_test::english_unigram(16);
  for (const settings& s : all_settings()) {
    if (s.kind == method::ac) continue;
    eqinfo::tokenizer tok(model, s);
    const std::vector<bytes> inputs = {{}, {0x41}, eqinfo_test::english(1200), eqinfo_test::random_bytes(300, 9)};
    for (const auto& in : inputs) {
      const auto e = tok.encode(in);
      const auto bare = tok.decode_bare(e.tokens);
      for (std::size_t max : {1u, 2u, 3u, 5u, 64u}) {
        for (std::uint64_t seed : {1u, 2u}) {
          INFO(describe(s) << " n=" << in.size() << " chunks of <= " << max << " seed " << seed);
          const auto chunks = chunks_of(e.tokens, max, seed);
          eqinfo::stream_end end;
          REQUIRE(stream_all(tok, chunks, std::nullopt, &end) == bare);
          REQUIRE(end.leftover_tokens == 0);
          REQUIRE(stream_all(tok, chunks, e.byte_count) == in);
        }
      }
    }
    // Tokens no encoder wrote (as sampled from M2): the bare rule, and a
    // trailing partial window reported, not decoded.
    eqinfo_test::rng r{77};
    std::vector<token_t> random(s.kind == method::bytes ? 333 : 40 * s.tokens_per_window());
    for (auto& t : random) t = static_cast<token_t>(r.below(1u << s.token_bits));
    for (std::size_t max : {1u, 4u}) {
      INFO(describe(s) << " random tokens, chunks of <= " << max);
      eqinfo::stream_end end;
      REQUIRE(stream_all(tok, chunks_of(random, max, 5), std::nullopt, &end) == tok.decode_bare(random));
      REQUIRE(end.leftover_tokens == 0);
      if (s.kind == method::equal_info_ac && s.tokens_per_window() > 1) {
        std::vector<token_t> partial(random.begin(), random.end() - 1);
        bytes all_but_last = stream_all(tok, chunks_of(partial, max, 6), std::nullopt, &end);
        REQUIRE(end.leftover_tokens == s.tokens_per_window() - 1);
        const std::vector<token_t> whole(random.begin(),
                                         random.end() - static_cast<std::ptrdiff_t>(s.tokens_per_window()));
        REQUIRE(all_but_last == tok.decode_bare(whole));
      }
    }
  }
}

TEST_CASE("stream_decoder: bad tokens and misuse raise the documented errors", "[stream]") {
  const auto model = eqinfo_test::english_unigram(16);
  const settings s = make(method::equal_info_ac, 16, 8);
  eqinfo::tokenizer tok(model, s);
  using eqinfo::errc;
  using eqinfo_test::code_of;
  {
    eqinfo::stream_decoder dec(tok);
    const std::vector<token_t> ok = {1, 2, 3};
    (void)dec.push(ok);
    const std::vector<token_t> bad = {4, 256};
    REQUIRE(code_of([&] { (void)dec.push(bad); }) == errc::token_out_of_range);
    try {
      (void)dec.push(bad);
    } catch (const eqinfo::error& e) {
      REQUIRE(std::string(e.what()).find("token 4 is 256") != std::string::npos);
    }
    REQUIRE(dec.tokens_seen() == 3);  // the bad chunk was not taken
    REQUIRE(dec.finish().leftover_tokens == 1);
    REQUIRE(code_of([&] { (void)dec.finish(); }) == errc::invalid_argument);
    REQUIRE(code_of([&] { (void)dec.push(ok); }) == errc::invalid_argument);
    dec.reset();
    REQUIRE(dec.push(ok).size() <= 16);
  }
  // Exact decoding: a tampered stream fails with decode's error code.
  const auto text = eqinfo_test::english(600);
  auto e = tok.encode(text);
  e.tokens[10] ^= 0x5A;
  errc want = code_of([&] { (void)tok.decode(e.tokens, e.byte_count); });
  REQUIRE(code_of([&] { (void)stream_all(tok, chunks_of(e.tokens, 3, 1), e.byte_count); }) == want);
  const auto good = tok.encode(text);
  REQUIRE(code_of([&] { (void)stream_all(tok, chunks_of(good.tokens, 3, 1), good.byte_count + 1); }) ==
          code_of([&] { (void)tok.decode(good.tokens, good.byte_count + 1); }));
  // Plain AC is one code: refused.
  eqinfo::tokenizer ac(model, make(method::ac, 16, 16));
  REQUIRE(code_of([&] { eqinfo::stream_decoder<eqinfo::unigram_model> dec(ac); }) == errc::invalid_settings);
  // Batches: a chunk count that is not the batch size; an unknown sequence.
  eqinfo::batch_stream_decoder batch(tok, 3);
  const std::vector<std::span<const token_t>> two(2);
  REQUIRE(code_of([&] { (void)batch.push(two); }) == errc::invalid_argument);
  REQUIRE(code_of([&] { (void)batch.finish(3); }) == errc::invalid_argument);
}

TEST_CASE("batch_stream_decoder: interleaved sequences decode as each alone, for every lane count", "[stream][m1]") {
  const auto w = small_m1();
  for (const settings& s : {make(method::equal_info_ac, 16, 8, window_rule::delay, 50),
                            make(method::equal_info_ac, 16, 16, window_rule::greedy_exact)}) {
    eqinfo::tokenizer serial(eqinfo::m1_model(w, 16), s);
    std::vector<std::vector<token_t>> streams;
    for (std::size_t i = 0; i < 9; ++i) {
      if (i % 3 == 2) {  // tokens no encoder wrote
        eqinfo_test::rng r{i};
        std::vector<token_t> t(s.tokens_per_window() * (5 + i));
        for (auto& x : t) x = static_cast<token_t>(r.below(1u << s.token_bits));
        streams.push_back(t);
      } else {
        streams.push_back(serial.encode(eqinfo_test::english(i * 41 + 3)).tokens);
      }
    }
    for (std::size_t lanes : {1u, 3u, 64u}) {
      INFO(describe(s) << " lanes " << lanes);
      eqinfo::tokenizer tok(eqinfo::m1_model(w, 16), s);
      tok.set_lanes(lanes);
      eqinfo::batch_stream_decoder batch(tok, streams.size());
      std::vector<bytes> got(streams.size());
      std::vector<std::size_t> at(streams.size(), 0);
      eqinfo_test::rng r{lanes};
      for (bool more = true; more;) {
        more = false;
        std::vector<std::span<const token_t>> chunks(streams.size());
        for (std::size_t q = 0; q < streams.size(); ++q) {
          const std::size_t n = std::min<std::size_t>(r.below(4), streams[q].size() - at[q]);
          chunks[q] = std::span(streams[q]).subspan(at[q], n);
          at[q] += n;
          more = more || at[q] < streams[q].size();
        }
        const auto out = batch.push(chunks);
        for (std::size_t q = 0; q < streams.size(); ++q) got[q].insert(got[q].end(), out[q].begin(), out[q].end());
      }
      for (std::size_t q = 0; q < streams.size(); ++q) {
        REQUIRE(batch.finish(q).leftover_tokens == 0);
        REQUIRE(got[q] == serial.decode_bare(streams[q]));
      }
    }
  }
}

TEST_CASE("stream_decoder: one token at a time costs the M1 work of decoding once", "[stream][m1]") {
  const auto file = eqinfo::load_m1(std::string(EQINFO_TEST_DATA_DIR) + "/../models/m1/m1.safetensors");
  const auto text = eqinfo_test::english(3000);
  for (unsigned n : {16u, 8u}) {
    INFO("N=" << n);
    eqinfo::tokenizer tok(file.model(16), make(method::equal_info_ac, 16, n));
    const auto e = tok.encode(text);
    eqinfo::tokenizer bare_tok(file.model(16), make(method::equal_info_ac, 16, n));
    auto& engine = bare_tok.engine();
    const std::uint64_t before = engine.lanes().positions() + bare_tok.model().positions();
    const auto whole = bare_tok.decode_bare(e.tokens);
    const std::uint64_t once = engine.lanes().positions() + bare_tok.model().positions() - before;

    eqinfo::stream_decoder dec(tok);
    auto& stream_engine = dec.engine();
    const std::uint64_t start = stream_engine.lanes().positions() + stream_engine.model().positions();
    bytes streamed;
    for (const token_t t : e.tokens) {
      const auto got = dec.push(t);
      streamed.insert(streamed.end(), got.begin(), got.end());
    }
    const std::uint64_t streaming = stream_engine.lanes().positions() + stream_engine.model().positions() - start;
    REQUIRE(streamed == whole);
    INFO("positions: streamed " << streaming << ", decoded at once " << once);
    REQUIRE(streaming == once);
  }
}

TEST_CASE("utf8_stream: whole characters only, at every split, on Chinese text", "[stream][utf8]") {
  using eqinfo::incomplete_utf8_suffix;
  const auto span_of = [](const std::string& s) {
    return std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  REQUIRE(incomplete_utf8_suffix(span_of("")) == 0);
  REQUIRE(incomplete_utf8_suffix(span_of("ab")) == 0);
  REQUIRE(incomplete_utf8_suffix(span_of("a\xE4")) == 1);
  REQUIRE(incomplete_utf8_suffix(span_of("a\xE4\xBA")) == 2);
  REQUIRE(incomplete_utf8_suffix(span_of("a\xE4\xBA\xBA")) == 0);
  REQUIRE(incomplete_utf8_suffix(span_of("\xF0\x9F\x98")) == 3);
  REQUIRE(incomplete_utf8_suffix(span_of("\xF0\x8F\x98")) == 0);  // overlong: never completes
  REQUIRE(incomplete_utf8_suffix(span_of("\xED\xA0")) == 0);      // a surrogate
  REQUIRE(incomplete_utf8_suffix(span_of("\xC0")) == 0);          // never valid
  REQUIRE(incomplete_utf8_suffix(span_of("\x80\x80\x80")) == 0);  // stray continuation bytes
  REQUIRE(valid_utf8(chinese));

  // Split the text at every byte: each piece passed on is whole characters.
  for (std::size_t cut = 0; cut <= chinese.size(); ++cut) {
    eqinfo::utf8_stream text;
    const std::string a = text.push(span_of(chinese.substr(0, cut)));
    const std::string b = text.push(span_of(chinese.substr(cut)));
    REQUIRE(valid_utf8(a));
    REQUIRE(valid_utf8(b));
    REQUIRE(a + b + text.finish() == chinese);
  }

  // End to end: Chinese text encoded, then decoded a token at a time.
  const auto model = eqinfo_test::english_unigram(16);
  for (unsigned n : {8u, 16u}) {
    eqinfo::tokenizer tok(model, make(method::equal_info_ac, 16, n));
    const bytes in(chinese.begin(), chinese.end());
    const auto e = tok.encode(in);
    eqinfo::stream_decoder dec(tok, e.byte_count);
    eqinfo::utf8_stream text;
    std::string out;
    std::size_t split = 0;  // windows that ended inside a character
    for (const token_t t : e.tokens) {
      const auto got = dec.push(t);
      const std::string piece = text.push(got);
      REQUIRE(valid_utf8(piece));
      split += text.held() > 0 ? 1 : 0;
      out += piece;
    }
    out += text.push(dec.finish().bytes);
    out += text.finish();
    REQUIRE(out == chinese);
    INFO("N=" << n << ": " << split << " pushes held back part of a character");
    REQUIRE(split > 0);  // the test does cross character boundaries
  }
}
