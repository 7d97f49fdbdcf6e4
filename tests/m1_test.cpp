// SPDX-License-Identifier: MIT
// M1: the determinism contract (docs/determinism.md), the model file, and
// round trips through the tokenizer. Models are random but fixed: generated
// from a seed by integer arithmetic, so identical on every build.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/transformer.hpp>

#include <cfenv>

using eqinfo::cdf_table;
using eqinfo::errc;
using eqinfo::m1_model;
using eqinfo::transformer_config;
using eqinfo::transformer_weights;
using eqinfo_test::code_of;

namespace {

transformer_config tiny_config() {
  transformer_config c{.layers = 2, .d_model = 48, .heads = 3, .head_dim = 16, .d_ff = 96, .context = 96};
  return c;
}

std::shared_ptr<const transformer_weights> tiny_weights(std::uint64_t seed = 11) {
  return std::make_shared<const transformer_weights>(transformer_weights::random(tiny_config(), seed));
}

std::vector<cdf_table> one_at_a_time(m1_model m, std::span<const std::uint8_t> bytes) {
  std::vector<cdf_table> out;
  m.reset();
  for (std::uint8_t b : bytes) {
    out.push_back(m.predict());
    m.update(b);
  }
  return out;
}

}  // namespace

TEST_CASE("M1 CDFs are bit-identical whole-window and one byte at a time", "[m1][determinism]") {
  const auto w = tiny_weights();
  const auto text = eqinfo_test::english(250);  // > context: crosses two block boundaries
  const auto reference = one_at_a_time(m1_model(w, 16), text);
  // Whole runs of every length, starting anywhere: the same CDFs.
  for (std::size_t run : {1u, 2u, 7u, 33u, 95u, 96u, 97u, 250u}) {
    m1_model m(w, 16);
    std::vector<cdf_table> got(text.size());
    for (std::size_t i = 0; i < text.size(); i += run) {
      const std::size_t n = std::min(run, text.size() - i);
      m.predict_run(std::span(text).subspan(i, n), std::span(got).subspan(i, n));
    }
    INFO("run length " << run);
    REQUIRE(got == reference);
  }
  // Mixed: predict() then a run continuing from it.
  m1_model m(w, 16);
  std::vector<cdf_table> got(text.size());
  got[0] = m.predict();
  m.predict_run(std::span(text).subspan(0, 60), std::span(got).subspan(0, 60));
  REQUIRE(std::equal(got.begin(), got.begin() + 60, reference.begin()));
}

TEST_CASE("M1 plain-AC context restarts every `context` bytes, exactly like a reset", "[m1][determinism]") {
  const auto w = tiny_weights();
  const auto text = eqinfo_test::english(200);
  const auto whole = one_at_a_time(m1_model(w, 16), text);
  const std::size_t block = tiny_config().context;
  const auto second = one_at_a_time(m1_model(w, 16), std::span(text).subspan(block));
  REQUIRE(std::equal(second.begin(), second.end(), whole.begin() + static_cast<std::ptrdiff_t>(block)));
  REQUIRE_FALSE(
      std::equal(whole.begin() + 1, whole.begin() + 40, whole.begin() + 1 + static_cast<std::ptrdiff_t>(block)));
}

TEST_CASE("M1 results do not depend on what else the process computed", "[m1][determinism]") {
  // Batch composition: one model instance interleaving sequences, copies,
  // other models in between: the CDFs of a sequence stay the same.
  const auto w = tiny_weights();
  const auto a = eqinfo_test::english(120);
  const auto b = eqinfo_test::random_bytes(120, 5);
  const auto ref_a = one_at_a_time(m1_model(w, 16), a);
  m1_model shared(w, 16);
  REQUIRE(one_at_a_time(shared, b).size() == b.size());
  REQUIRE(one_at_a_time(shared, a) == ref_a);
  m1_model other(tiny_weights(99), 16);
  (void)one_at_a_time(other, a);
  REQUIRE(one_at_a_time(m1_model(w, 16), a) == ref_a);
}

TEST_CASE("M1 round-trips every method, rule and window size", "[m1][tokenizer]") {
  const auto w = tiny_weights();
  const std::vector<std::vector<std::uint8_t>> inputs = {
      {}, {0x00}, eqinfo_test::english(300), eqinfo_test::random_bytes(200, 3), std::vector<std::uint8_t>(150, 0xFF)};
  for (auto kind : {eqinfo::method::ac, eqinfo::method::equal_info_ac}) {
    for (unsigned b : {16u, 32u, 128u}) {
      for (auto rule : {eqinfo::window_rule::delay, eqinfo::window_rule::greedy_exact}) {
        eqinfo::settings s;
        s.kind = kind;
        s.window_bits = b;
        s.rule = rule;
        eqinfo::tokenizer tok(m1_model(w, 16), s);
        for (const auto& in : inputs) {
          const auto e = tok.encode(in);
          INFO(eqinfo::to_string(kind) << " b=" << b << " " << eqinfo::to_string(rule) << " n=" << in.size());
          REQUIRE(tok.decode(e.tokens, e.byte_count) == in);
        }
        if (kind == eqinfo::method::ac) break;
      }
      if (kind == eqinfo::method::ac) break;
    }
  }
}

TEST_CASE("M1 golden tokens are unchanged on every build and kernel path", "[m1][golden]") {
  // Fixed model (seed), fixed input, fixed settings: CI builds this for
  // baseline x86-64, x86-64-v3, clang, -march=native -ffp-contract=fast and
  // EIGEN_DONT_VECTORIZE; every build runs every int8 path its CPU supports.
  const auto base = tiny_weights(2024);
  const auto text = eqinfo_test::bytes_of(
      "Tokens are a pure function of the input bytes, the model file and the settings. \x00\xff"
      "Equal-info windows cut the text so that every window compresses to exactly b bits.");
  struct golden {
    eqinfo::method kind;
    unsigned b;
    std::size_t tokens;
    std::uint32_t crc;
  };
  // (M1 format version 2, integer numerics: docs/m1-integer.md.)
  const golden cases[] = {{eqinfo::method::ac, 16, 62, 0xc6e06386},
                          {eqinfo::method::equal_info_ac, 16, 73, 0xf9a93715},
                          {eqinfo::method::equal_info_ac, 64, 68, 0x4ec56b08}};
  namespace int8 = eqinfo::detail::int8;
  const auto paths = eqinfo_test::int8_paths_here();
  for (auto path : paths.supported) {
    const auto w = std::make_shared<const transformer_weights>(base->for_path(path));
    for (const auto& g : cases) {
      eqinfo::settings s;
      s.kind = g.kind;
      s.window_bits = g.b;
      eqinfo::tokenizer tok(m1_model(w, 16), s);
      const auto e = tok.encode(text);
      const auto raw = eqinfo::serialize_tokens_raw(e.tokens, 16);
      const auto crc = eqinfo::detail::crc32(raw.data(), raw.size());
      INFO("path " << int8::name(path) << ": " << eqinfo::to_string(g.kind) << " b=" << g.b << " -> {"
                   << e.tokens.size() << ", 0x" << std::hex << crc << "}");
      CHECK(e.tokens.size() == g.tokens);
      CHECK(crc == g.crc);
    }
  }
  if (!paths.skipped.empty()) WARN("M1 golden tokens: int8 paths this CPU cannot run, skipped:" << paths.skipped);
}

TEST_CASE("M1 model file round-trips and rejects truncation, tampering and bad versions", "[m1][file]") {
  const auto w = tiny_weights();
  const auto tests = eqinfo::make_m1_self_tests(w, {eqinfo_test::english(60)}, {eqinfo::settings{}});
  const auto bytes = eqinfo::serialize_m1(*w, tests);
  const auto file = eqinfo::parse_m1(bytes, "m1.safetensors");
  REQUIRE(file.weights->config == w->config);
  REQUIRE(file.weights->embedding == w->embedding);
  REQUIRE(file.weights->layers[1].w2 == w->layers[1].w2);
  REQUIRE(file.weights->buckets == w->buckets);
  REQUIRE(file.self_tests.size() == 1);
  REQUIRE(eqinfo::serialize_m1(*file.weights, file.self_tests) == bytes);  // canonical
  const auto text = eqinfo_test::english(100);
  REQUIRE(one_at_a_time(file.model(16), text) == one_at_a_time(m1_model(w, 16), text));

  // Truncation anywhere: a clear error, never a crash or a huge allocation.
  for (std::size_t cut = 0; cut < bytes.size(); cut += (cut < 4096 ? 1 : 997)) {
    const std::vector<unsigned char> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    const errc c = code_of([&] { eqinfo::parse_m1(part, "m1"); });
    REQUIRE((c == errc::bad_model_file || c == errc::bad_magic));
  }
  // A flipped bit in the tensor data: checksum.
  const std::uint64_t header = bytes[0] | (std::uint64_t{bytes[1]} << 8);
  for (std::size_t at : {header + 8, header + 8 + 1000, bytes.size() - 1}) {
    auto flipped = bytes;
    flipped[at] ^= 0x10;
    REQUIRE(code_of([&] { eqinfo::parse_m1(flipped, "m1"); }) == errc::checksum_mismatch);
  }
  // Header damage: some error from the documented set, never garbage.
  for (std::size_t at = 8; at < 8 + header; at += 7) {
    auto flipped = bytes;
    flipped[at] ^= 0x01;
    try {
      const auto f = eqinfo::parse_m1(flipped, "m1");
      // The few flips that keep a valid file (e.g. inside padding) must not change the model.
      REQUIRE(f.weights->lm_head == w->lm_head);
    } catch (const eqinfo::error& e) {
      const errc c = e.code();
      REQUIRE((c == errc::bad_model_file || c == errc::bad_magic || c == errc::unsupported_version ||
               c == errc::checksum_mismatch || c == errc::self_test_failed || c == errc::invalid_settings));
    }
  }
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s(bytes.begin(), bytes.end());
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    return std::vector<unsigned char>(s.begin(), s.end());
  };
  REQUIRE(code_of([&] { eqinfo::parse_m1(replace("\"format_version\":\"2\"", "\"format_version\":\"9\""), "m1"); }) ==
          errc::unsupported_version);
  REQUIRE(code_of([&] { eqinfo::parse_m1(replace("eqinfo-m1", "eqinfo-mX"), "m1"); }) == errc::bad_magic);
  REQUIRE(code_of([&] { eqinfo::parse_m1(replace("\"layers\\\":2", "\"layers\\\":3"), "m1"); }) ==
          errc::bad_model_file);  // shapes no longer match the config
  REQUIRE(code_of([] { eqinfo::load_m1("/nonexistent/m1.safetensors"); }) == errc::io_error);
}

TEST_CASE("M1 model file: out-of-range int8 weights and bad scales are refused", "[m1][file]") {
  auto w = transformer_weights::random(tiny_config(), 3);
  const auto with = [&](auto change) {
    auto copy = w;
    change(copy);
    return eqinfo::serialize_m1(copy);
  };
  REQUIRE_NOTHROW(eqinfo::parse_m1(with([](transformer_weights&) {}), "m1"));
  auto e = [](const std::vector<unsigned char>& bytes) {
    try {
      eqinfo::parse_m1(bytes, "m1.safetensors");
    } catch (const eqinfo::error& err) {
      return std::string(err.what());
    }
    return std::string("(accepted)");
  };
  const auto minus128 = e(with([](transformer_weights& x) { x.layers[1].w1.q(3, 4) = -128; }));
  REQUIRE_THAT(minus128, Catch::Contains("layers.1.w1") && Catch::Contains("-128"));
  const auto negative = e(with([](transformer_weights& x) { x.lm_head.scale[7] = -1.0f; }));
  REQUIRE_THAT(negative, Catch::Contains("lm_head.scale") && Catch::Contains("[7]"));
  const auto nan = e(with([](transformer_weights& x) { x.layers[0].rel_bias(1, 2) = NAN; }));
  REQUIRE_THAT(nan, Catch::Contains("layers.0.rel_bias") && Catch::Contains("not finite"));
}

TEST_CASE("version 1 (float) model files are refused with how to convert them, and convert", "[m1][file]") {
  const std::string path = std::string(EQINFO_TEST_DATA_DIR) + "/../tests/data/m1_v1_tiny.safetensors";
  const auto bytes = eqinfo::detail::read_file_bytes(path);
  std::string message;
  try {
    eqinfo::parse_m1(bytes, "old.safetensors");
  } catch (const eqinfo::error& err) {
    REQUIRE(err.code() == errc::unsupported_version);
    message = err.what();
  }
  REQUIRE_THAT(message, Catch::Contains("m1-quantize") && Catch::Contains("version 1"));
  const auto w = eqinfo::quantize_m1_file(bytes, "old.safetensors");
  REQUIRE(w.config.d_model == 16);
  // Row-wise quant8: every row uses the full int8 range (or is all zero).
  for (long r = 0; r < w.layers[0].w1.q.rows(); ++r) {
    const int peak = w.layers[0].w1.q.row(r).cast<int>().cwiseAbs().maxCoeff();
    REQUIRE((peak == 127 || (peak == 0 && w.layers[0].w1.scale[r] == 0.0f)));
  }
  // The converted model runs and round-trips.
  const auto converted = eqinfo::parse_m1(eqinfo::serialize_m1(w), "new.safetensors");
  eqinfo::tokenizer tok(converted.model(16), eqinfo::settings{});
  const auto text = eqinfo_test::english(80);
  const auto e = tok.encode(text);
  REQUIRE(tok.decode(e.tokens, e.byte_count) == text);
}

TEST_CASE("a self-test that does not reproduce fails the load", "[m1][file]") {
  const auto w = tiny_weights();
  auto tests = eqinfo::make_m1_self_tests(w, {eqinfo_test::english(40)}, {eqinfo::settings{}});
  tests[0].tokens[1] ^= 1;  // as if the writing build's numerics differed
  const auto bytes = eqinfo::serialize_m1(*w, tests);
  try {
    eqinfo::parse_m1(bytes, "m1.safetensors");
    FAIL("loaded");
  } catch (const eqinfo::error& e) {
    REQUIRE(e.code() == errc::self_test_failed);
    REQUIRE_THAT(e.what(), Catch::Contains("from token 1"));
  }
  REQUIRE_NOTHROW(eqinfo::parse_m1(bytes, "m1.safetensors", false));
}

TEST_CASE("tokens made with one M1 are refused by another", "[m1][file]") {
  const auto a = eqinfo::parse_m1(eqinfo::serialize_m1(*tiny_weights(1)), "a");
  const auto b = eqinfo::parse_m1(eqinfo::serialize_m1(*tiny_weights(2)), "b");
  REQUIRE(a.fingerprint != b.fingerprint);
  eqinfo::settings s;
  eqinfo::tokenizer ta(a.model(16), s), tb(b.model(16), s);
  const auto file = eqinfo::make_token_file(ta, ta.encode(std::string_view("hello")));
  REQUIRE(code_of([&] { eqinfo::check_token_file(tb, file); }) == errc::settings_mismatch);
  REQUIRE_NOTHROW(eqinfo::check_token_file(ta, file));
}

TEST_CASE("exp_nonpositive is accurate and exact at 0", "[m1]") {
  using eqinfo::detail::m1::exp_nonpositive;
  REQUIRE(exp_nonpositive(0.0f) == 1.0f);
  REQUIRE(exp_nonpositive(-0.0f) == 1.0f);
  REQUIRE(exp_nonpositive(-INFINITY) == 0.0f);
  REQUIRE(exp_nonpositive(-200.0f) == 0.0f);
  double worst = 0;
  for (float x = -86.0f; x <= 0.0f; x += 0.0137f) {
    const double rel = std::abs(exp_nonpositive(x) / std::exp(static_cast<double>(x)) - 1.0);
    worst = std::max(worst, rel);
  }
  REQUIRE(worst < 1e-6);
}

TEST_CASE("M1 refuses a floating-point environment that would change its results", "[m1]") {
  m1_model m(tiny_weights(), 16);
  REQUIRE(std::fesetround(FE_UPWARD) == 0);
  const errc c = code_of([&] { m.reset(); });
  std::fesetround(FE_TONEAREST);
  REQUIRE(c == errc::invalid_argument);
#ifdef EQINFO_HAVE_MXCSR
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040u);  // FTZ + DAZ, as -ffast-math's crtfastmath.o sets at start-up
  const errc d = code_of([&] { m.reset(); });
  _mm_setcsr(saved);
  REQUIRE(d == errc::invalid_argument);
#endif
  REQUIRE_NOTHROW(m.reset());
}

TEST_CASE("parse_model_file tells unigram and M1 files apart by content", "[m1][file]") {
  const auto m1_bytes = eqinfo::serialize_m1(*tiny_weights());
  const auto m1 = eqinfo::parse_model_file(m1_bytes, "a.bin");
  REQUIRE(std::holds_alternative<eqinfo::m1_file>(m1));
  REQUIRE(eqinfo::is_m1_file(m1_bytes));
  const auto unigram_bytes = eqinfo_test::english_unigram(16).serialize();
  const auto u = eqinfo::parse_model_file(unigram_bytes, "b.safetensors");  // the name does not matter
  REQUIRE(std::holds_alternative<eqinfo::unigram_model>(u));
  REQUIRE_FALSE(eqinfo::is_m1_file(unigram_bytes));
  const std::vector<std::uint8_t> neither = eqinfo_test::bytes_of("neither a model nor a safetensors file");
  REQUIRE(code_of([&] { (void)eqinfo::parse_model_file(neither, "c"); }) == errc::bad_magic);
}

TEST_CASE("M1 config ranges: the table Python reads too (detail/m1_config_checks.inc)", "[m1]") {
  transformer_config base{.layers = 1, .d_model = 8, .heads = 2, .head_dim = 4, .d_ff = 8, .context = 8};
  base.validate();
  // The same edge cases as training/tests/test_m1_reference.py.
  struct edge {
    void (*change)(transformer_config&);
    bool ok;
  };
  const edge edges[] = {
      {[](transformer_config& c) { c.relative_buckets = 32, c.relative_max_distance = 16; }, false},
      {[](transformer_config& c) { c.relative_buckets = 32, c.relative_max_distance = 17; }, true},
      {[](transformer_config& c) { c.relative_buckets = 5, c.relative_max_distance = 2; }, false},
      {[](transformer_config& c) { c.relative_buckets = 5, c.relative_max_distance = 3; }, true},
      {[](transformer_config& c) { c.heads = 128, c.head_dim = 1024; }, false},
      {[](transformer_config& c) { c.heads = 64, c.head_dim = 1024; }, true},
      {[](transformer_config& c) { c.context = 1; }, false},
      {[](transformer_config& c) { c.layers = 257; }, false},
      {[](transformer_config& c) { c.d_ff = 65537; }, false},
  };
  for (std::size_t i = 0; i < std::size(edges); ++i) {
    INFO("edge " << i);
    transformer_config c = base;
    edges[i].change(c);
    if (edges[i].ok)
      c.validate();
    else
      CHECK(code_of([&] { c.validate(); }) == errc::invalid_settings);
  }
}
