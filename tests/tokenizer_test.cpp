// SPDX-License-Identifier: MIT
// The facade: every method and setting round-trips every kind of input, bad
// input gets the documented error, and bare decoding never fails.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/tokenizer.hpp>

using eqinfo::errc;
using eqinfo::method;
using eqinfo::settings;
using eqinfo::token_t;
using eqinfo::window_rule;
using eqinfo_test::code_of;

namespace {

std::vector<std::pair<std::string, std::vector<std::uint8_t>>> inputs() {
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> in;
  in.emplace_back("empty", std::vector<std::uint8_t>{});
  in.emplace_back("one byte", std::vector<std::uint8_t>{'x'});
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  in.emplace_back("all 256 byte values", all);
  in.emplace_back("run of 0x00", std::vector<std::uint8_t>(3000, 0x00));
  in.emplace_back("run of 0xFF", std::vector<std::uint8_t>(3000, 0xFF));
  in.emplace_back("invalid UTF-8", std::vector<std::uint8_t>{0xC3, 0x28, 0xA0, 0xA1, 0xE2, 0x28, 0xA1, 0xF0, 0x28, 0x8C,
                                                             0xBC, 0xFF, 0xFE, 0x00, 0xC0, 0xAF, 'o', 'k'});
  for (std::uint64_t seed = 1; seed <= 4; ++seed)
    in.emplace_back("random seed " + std::to_string(seed), eqinfo_test::random_bytes(200 * seed * seed, seed));
  in.emplace_back("English", eqinfo_test::english(4000));
  return in;
}

std::vector<settings> all_settings() {
  std::vector<settings> out;
  settings bytes;
  bytes.kind = method::bytes;
  bytes.token_bits = 8;
  out.push_back(bytes);
  for (unsigned n : {1u, 8u, 12u, 16u}) {
    settings ac;
    ac.kind = method::ac;
    ac.token_bits = n;
    out.push_back(ac);
    for (unsigned b : {16u, 24u, 32u, 64u, 128u}) {
      if (b % n != 0) continue;
      for (auto rule : {window_rule::delay, window_rule::greedy_exact}) {
        settings s;
        s.window_bits = b;
        s.token_bits = n;
        s.rule = rule;
        out.push_back(s);
      }
    }
  }
  return out;
}

std::string describe(const settings& s) {
  return std::string(eqinfo::to_string(s.kind)) + " b=" + std::to_string(s.window_bits) +
         " N=" + std::to_string(s.token_bits) + " P=" + std::to_string(s.precision_bits) + " " +
         std::string(eqinfo::to_string(s.rule));
}

}  // namespace

TEST_CASE("every method and setting round-trips every kind of input", "[tokenizer]") {
  const auto unigram = eqinfo_test::english_unigram();
  const eqinfo_test::bigram_model bigram(eqinfo_test::english(), 16);
  for (const settings& s : all_settings()) {
    eqinfo::tokenizer uni(unigram, s);
    eqinfo::tokenizer big(bigram, s);
    eqinfo::tokenizer flat(eqinfo::uniform_model(16), s);
    for (const auto& [name, bytes] : inputs()) {
      INFO(describe(s) << " on " << name);
      for (auto* tok : {&uni}) {
        const auto e = tok->encode(bytes);
        REQUIRE(e.byte_count == bytes.size());
        for (token_t t : e.tokens) REQUIRE(t < (token_t{1} << s.token_bits));
        if (s.kind == method::equal_info_ac) REQUIRE(e.tokens.size() % s.tokens_per_window() == 0);
        REQUIRE(tok->decode(e.tokens, e.byte_count) == bytes);
      }
      const auto eb = big.encode(bytes);
      REQUIRE(big.decode(eb.tokens, eb.byte_count) == bytes);
      const auto ef = flat.encode(bytes);
      REQUIRE(flat.decode(ef.tokens, ef.byte_count) == bytes);
    }
  }
}

TEST_CASE("StaticAC reaches the unigram entropy, EqualInfoAC costs more per byte", "[tokenizer]") {
  const auto text = eqinfo_test::english();
  settings ac;
  ac.kind = method::ac;
  eqinfo::tokenizer static_ac(eqinfo_test::english_unigram(), ac);
  const double ac_bits = static_cast<double>(static_ac.encode(text).tokens.size()) * 16;
  double entropy = 0, total = 0;
  const auto& counts = static_ac.model().counts();
  for (auto c : counts) total += static_cast<double>(c);
  for (auto c : counts)
    if (c) entropy -= static_cast<double>(c) * std::log2(static_cast<double>(c) / total);
  REQUIRE(ac_bits / entropy == Approx(1.0).epsilon(0.002));  // within 0.2% of the ideal code length
  settings eq;                                               // defaults: EqualInfoAC b=16 N=16
  eqinfo::tokenizer eq_ac(eqinfo_test::english_unigram(), eq);
  REQUIRE(static_cast<double>(eq_ac.encode(text).tokens.size()) * 16 > ac_bits * 1.2);
}

TEST_CASE("bad tokens get the right error", "[tokenizer][errors]") {
  settings s;  // EqualInfoAC b=16, N=16
  eqinfo::tokenizer tok(eqinfo_test::english_unigram(), s);
  const auto text = eqinfo_test::english(500);
  auto e = tok.encode(text);
  REQUIRE(tok.decode(e.tokens, e.byte_count) == text);

  auto big = e.tokens;
  big[3] = 1u << 16;
  REQUIRE(code_of([&] { tok.decode(big, e.byte_count); }) == errc::token_out_of_range);
  REQUIRE(code_of([&] { tok.decode_bare(big); }) == errc::token_out_of_range);

  std::vector<token_t> fewer(e.tokens.begin(), e.tokens.end() - 1);
  const errc c = code_of([&] { tok.decode(fewer, e.byte_count); });
  REQUIRE((c == errc::corrupt_stream || c == errc::truncated_tokens));

  REQUIRE(code_of([&] { tok.decode(e.tokens, e.byte_count + 1); }) == errc::corrupt_stream);
  REQUIRE(code_of([&] { tok.decode(e.tokens, e.byte_count + 1000000000000ull); }) == errc::corrupt_stream);
  REQUIRE(code_of([&] { tok.decode(e.tokens, 3); }) == errc::corrupt_stream);
  REQUIRE(code_of([&] { tok.decode({}, 5); }) == errc::corrupt_stream);

  // Window-size mismatch (b=32 tokens read as b=16 is a different stream; odd counts are truncated).
  settings s8 = s;
  s8.window_bits = 32;
  s8.token_bits = 16;
  eqinfo::tokenizer tok32(eqinfo_test::english_unigram(), s8);
  auto e32 = tok32.encode(text);
  e32.tokens.push_back(0);
  REQUIRE(code_of([&] { tok32.decode(e32.tokens, e32.byte_count); }) == errc::truncated_tokens);

  // Flipped tokens: a clear error or other bytes, never a crash or hang.
  eqinfo_test::rng r{11};
  std::size_t errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    auto t = e.tokens;
    t[r.below(static_cast<std::uint32_t>(t.size()))] ^= 1u << r.below(16);
    try {
      const auto out = tok.decode(t, e.byte_count);
      REQUIRE(out.size() == e.byte_count);
    } catch (const eqinfo::error& err) {
      ++errors;
      REQUIRE((err.code() == errc::corrupt_stream));
    }
  }
  REQUIRE(errors > 0);
}

TEST_CASE("AC streams: truncated, padded and extended tokens are detected", "[tokenizer][errors]") {
  settings s;
  s.kind = method::ac;
  s.token_bits = 8;
  eqinfo::tokenizer tok(eqinfo_test::english_unigram(), s);
  const auto text = eqinfo_test::english(3000);
  const auto e = tok.encode(text);
  REQUIRE(tok.decode(e.tokens, e.byte_count) == text);
  auto longer = e.tokens;
  longer.push_back(0);
  REQUIRE(code_of([&] { tok.decode(longer, e.byte_count); }) == errc::trailing_bits);
  std::vector<token_t> shorter(e.tokens.begin(), e.tokens.end() - 2);
  const errc c = code_of([&] { tok.decode(shorter, e.byte_count); });
  REQUIRE((c == errc::truncated_tokens || c == errc::corrupt_stream));
  auto changed = e.tokens;
  changed.back() ^= 1;
  const errc flipped = code_of([&] { tok.decode(changed, e.byte_count); });
  REQUIRE((flipped == errc::corrupt_stream || flipped == errc::truncated_tokens));
  REQUIRE(code_of([&] { tok.decode(e.tokens, e.byte_count * 1000); }) == errc::truncated_tokens);
  {
    // The error names the first byte whose code does not fit (the static
    // model decodes in runs, and must still name that byte).
    const eqinfo::bit_vector bits = eqinfo::unpack_tokens(e.tokens, s.token_bits);
    eqinfo::arithmetic_decoder d(bits, 0, bits.size(), s.precision_bits);
    std::uint64_t first = 0;
    while (true) {
      d.decode(tok.model().predict());
      if (d.terminated_bits() > bits.size()) break;
      ++first;
    }
    REQUIRE(first >= text.size());
    try {
      tok.decode(e.tokens, first + 200000);
      FAIL("no error");
    } catch (const eqinfo::error& err) {
      REQUIRE(err.code() == errc::truncated_tokens);
      REQUIRE(std::string(err.what()).find("before byte " + std::to_string(first) + " of") != std::string::npos);
    }
  }
  const auto bare = tok.decode_bare(e.tokens);  // determined bytes: the text, perhaps plus a few
  REQUIRE(bare.size() >= text.size());
  REQUIRE(std::equal(text.begin(), text.end(), bare.begin()));
}

TEST_CASE("bare decoding of random tokens never fails for any method", "[tokenizer][bare]") {
  const auto unigram = eqinfo_test::english_unigram();
  eqinfo_test::rng r{2024};
  for (const settings& s : all_settings()) {
    eqinfo::tokenizer tok(unigram, s);
    for (int trial = 0; trial < 20; ++trial) {
      std::size_t count = r.below(40);
      if (s.kind == method::equal_info_ac) count -= count % s.tokens_per_window();
      std::vector<token_t> tokens(count);
      for (auto& t : tokens) t = static_cast<token_t>(r.next() & ((std::uint64_t{1} << s.token_bits) - 1));
      if (trial == 0) std::fill(tokens.begin(), tokens.end(), (token_t{1} << s.token_bits) - 1);
      INFO(describe(s));
      REQUIRE_NOTHROW(tok.decode_bare(tokens));
    }
  }
}

TEST_CASE("settings are validated with a message naming the field", "[tokenizer][errors]") {
  const auto model = eqinfo_test::english_unigram();
  auto reject = [&](settings s, const std::string& field) {
    try {
      eqinfo::tokenizer tok(model, s);
      FAIL("accepted " << describe(s));
    } catch (const eqinfo::error& e) {
      REQUIRE(e.code() == errc::invalid_settings);
      REQUIRE_THAT(e.what(), Catch::Contains(field));
    }
  };
  settings s;
  s.window_bits = 20;
  s.token_bits = 16;
  reject(s, "not a multiple of token_bits");
  s.window_bits = 8;
  s.token_bits = 8;
  reject(s, "cannot hold a byte");
  s = settings{};
  s.token_bits = 0;
  reject(s, "token_bits");
  s = settings{};
  s.kind = method::bytes;
  reject(s, "8-bit tokens");
  s = settings{};
  s.precision_bits = 7;
  reject(s, "precision_bits");
  s = settings{};
  s.kind = static_cast<method>(9);
  reject(s, "unknown method");
  s = settings{};
  s.precision_bits = 14;
  s.window_bits = 16;
  REQUIRE(code_of([&] { eqinfo::tokenizer tok(model, s); }) == errc::settings_mismatch);
}

TEST_CASE("method and window-rule names parse as the CLI and Python spell them", "[tokenizer][settings]") {
  for (method m : {method::bytes, method::ac, method::equal_info_ac}) {
    const auto named = eqinfo::parse_method_name(eqinfo::to_string(m));
    REQUIRE(named);
    CHECK(named->kind == m);
    CHECK_FALSE(named->static_ac);
  }
  for (const char* name : {"static-ac", "static_ac"}) {
    const auto named = eqinfo::parse_method_name(name);
    REQUIRE(named);
    CHECK(named->kind == method::ac);
    CHECK(named->static_ac);
  }
  CHECK(eqinfo::parse_method_name("equal-info")->kind == method::equal_info_ac);
  for (window_rule r : {window_rule::delay, window_rule::greedy_exact})
    CHECK(eqinfo::parse_window_rule(eqinfo::to_string(r)) == r);
  CHECK(eqinfo::parse_window_rule("greedy-exact") == window_rule::greedy_exact);
  for (const char* bad : {"", "Bytes", "equal", "static", "gzip"}) CHECK_FALSE(eqinfo::parse_method_name(bad));
  for (const char* bad : {"", "greedy", "Delay"}) CHECK_FALSE(eqinfo::parse_window_rule(bad));
}

TEST_CASE("user models with invalid CDFs are caught, not coded", "[tokenizer][errors]") {
  struct broken_model {
    eqinfo::cdf_table cdf{};
    unsigned precision_bits() const { return 16; }
    void reset() {}
    const eqinfo::cdf_table& predict() {
      for (int i = 0; i <= 256; ++i) cdf[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(i * 256);
      cdf[100] = cdf[101];  // byte 100 has an empty slice
      return cdf;
    }
    void update(std::uint8_t) {}
  };
  for (auto kind : {method::ac, method::equal_info_ac}) {
    settings s;
    s.kind = kind;
    eqinfo::tokenizer tok(broken_model{}, s);
    try {
      tok.encode(std::string_view("abc"));
      FAIL("no error");
    } catch (const eqinfo::error& e) {
      REQUIRE(e.code() == errc::invalid_model_output);
      REQUIRE_THAT(e.what(), Catch::Contains("byte 100"));
    }
  }
}

TEST_CASE("exact decoding refuses windows the encoder would have cut elsewhere", "[tokenizer][errors]") {
  // Found by fuzz_decode_tokens: each window below decodes by the rule, but
  // the encoder packs "th" into the first window, not 't' alone.
  eqinfo::tokenizer tok(eqinfo::uniform_model(16), settings{});
  REQUIRE(tok.encode(std::string_view("the")).tokens == std::vector<token_t>{0x7468, 0x6500});
  try {
    tok.decode(std::vector<token_t>{0x7400, 0x6865}, 3);
    FAIL("accepted non-canonical tokens");
  } catch (const eqinfo::error& e) {
    REQUIRE(e.code() == errc::corrupt_stream);
    REQUIRE_THAT(e.what(), Catch::Contains("window 0"));
  }
  REQUIRE(tok.decode_bare(std::vector<token_t>{0x7400, 0x6865}).size() >= 2);  // bare decoding still reads it
}

namespace {
// A static model whose lookup hook lies about one byte: decoding must refuse
// it (invalid_model_output), for the slice_of and the symbol_of hook alike.
template <bool Slice>
struct lying_lookup_model {
  eqinfo::unigram_model inner = eqinfo_test::english_unigram();
  unsigned precision_bits() const noexcept { return inner.precision_bits(); }
  void reset() noexcept {}
  const eqinfo::cdf_table& predict() const noexcept { return inner.predict(); }
  void update(std::uint8_t) noexcept {}
  eqinfo::symbol_slice lie(std::uint32_t target) const noexcept {
    eqinfo::symbol_slice s = inner.slice_of(target);
    if (s.byte == 'e') s = {s.low, s.high, static_cast<std::uint8_t>('f')};  // 'e' decodes as 'f'
    return s;
  }
  eqinfo::symbol_slice slice_of(std::uint32_t target) const noexcept requires Slice { return lie(target); }
  std::uint8_t symbol_of(std::uint32_t target) const noexcept requires(!Slice) { return lie(target).byte; }
};
}  // namespace

TEST_CASE("a model whose slice_of or symbol_of disagrees with its CDF is refused when decoding",
          "[tokenizer][errors]") {
  static_assert(eqinfo::has_slice_lookup<lying_lookup_model<true>> &&
                !eqinfo::has_symbol_lookup<lying_lookup_model<true>>);
  static_assert(eqinfo::has_symbol_lookup<lying_lookup_model<false>> &&
                !eqinfo::has_slice_lookup<lying_lookup_model<false>>);
  const auto text = eqinfo_test::english(2000);
  for (method kind : {method::ac, method::equal_info_ac}) {
    settings s;
    s.kind = kind;
    eqinfo::tokenizer honest(eqinfo_test::english_unigram(), s);
    const auto e = honest.encode(text);
    eqinfo::tokenizer slice_liar(lying_lookup_model<true>{}, s);
    eqinfo::tokenizer symbol_liar(lying_lookup_model<false>{}, s);
    INFO("method " << eqinfo::to_string(kind));
    REQUIRE(code_of([&] { slice_liar.decode(e.tokens, e.byte_count); }) == errc::invalid_model_output);
    REQUIRE(code_of([&] { symbol_liar.decode(e.tokens, e.byte_count); }) == errc::invalid_model_output);
  }
}
