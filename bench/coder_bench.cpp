// SPDX-License-Identifier: MIT
// Benchmarks of the arithmetic coder, token packing and equal-info windows,
// with a textbook rANS coder and memcpy as peers in the same binary (so ratios
// come from one run on one machine). bench/compare.sh turns the JSON output
// into a table of ns/symbol and ratios; docs/performance.md has the figures.
//
// Input: ~1 MiB of English text: data/sample/sotu_sample.txt if present, else
// /usr/share/common-licenses/* concatenated, repeated up to 1 MiB. The static
// model is an eqinfo::unigram_model estimated from that text at P = 16.
// Every benchmark checks its own output after the timed loop.
#include "peer_rans.hpp"

#include <benchmark/benchmark.h>

#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#ifndef EQINFO_BENCH_DATA_DIR
#define EQINFO_BENCH_DATA_DIR "data/sample"
#endif

namespace {

constexpr unsigned precision = 16;
constexpr std::size_t input_size = std::size_t{1} << 20;

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct corpus {
  std::string source;
  std::vector<std::uint8_t> text;  // exactly input_size bytes
};

const corpus& input() {
  static const corpus c = [] {
    corpus out;
    std::vector<std::uint8_t> raw;
    const std::filesystem::path sample = std::filesystem::path(EQINFO_BENCH_DATA_DIR) / "sotu_sample.txt";
    std::error_code ec;
    if (std::filesystem::is_regular_file(sample, ec)) {
      raw = read_file(sample);
      out.source = sample.string();
    }
    if (raw.empty()) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator("/usr/share/common-licenses", ec))
        if (e.is_regular_file(ec)) files.push_back(e.path());
      std::sort(files.begin(), files.end());  // directory order is not deterministic
      for (const auto& f : files) {
        const auto bytes = read_file(f);
        raw.insert(raw.end(), bytes.begin(), bytes.end());
      }
      out.source = "/usr/share/common-licenses/*";
    }
    if (raw.empty()) {  // last resort, keeps the benchmark runnable anywhere
      const std::string s = "We the People of the United States, in Order to form a more perfect Union, ";
      raw.assign(s.begin(), s.end());
      out.source = "built-in sentence";
    }
    out.text.reserve(input_size);
    while (out.text.size() < input_size)
      out.text.insert(out.text.end(), raw.begin(),
                      raw.begin() + static_cast<std::ptrdiff_t>(std::min(raw.size(), input_size - out.text.size())));
    return out;
  }();
  return c;
}

const eqinfo::unigram_model& unigram() {
  static const eqinfo::unigram_model m = eqinfo::unigram_model::estimate(input().text, precision);
  return m;
}

/// Per-symbol time as a counter: shows ns per symbol (CPU time, like the rest).
void set_rates(benchmark::State& state, std::size_t symbols, std::size_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
  state.counters["ns_per_symbol"] = benchmark::Counter(
      static_cast<double>(symbols) * 1e-9, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["symbols"] = static_cast<double>(symbols);
}

eqinfo::bit_vector ac_encode(const eqinfo::cdf_table& cdf, std::span<const std::uint8_t> text) {
  eqinfo::arithmetic_encoder enc(precision);
  for (std::uint8_t b : text) enc.encode(cdf, b);
  return enc.finish();
}

bool ac_decodes_to(const eqinfo::bit_vector& code, const eqinfo::cdf_table& cdf, std::span<const std::uint8_t> text) {
  eqinfo::arithmetic_decoder dec(code, 0, code.size(), precision);
  for (std::uint8_t b : text)
    if (dec.decode(cdf) != b) return false;
  return dec.terminated_bits() == code.size();
}

// ---------------------------------------------------------------------------
// The pure coder.

void encode_with(benchmark::State& state, const eqinfo::cdf_table& cdf) {
  const auto& text = input().text;
  eqinfo::arithmetic_encoder enc(precision);
  eqinfo::bit_vector code;
  for (auto _ : state) {
    enc.reset();
    for (std::uint8_t b : text) enc.encode(cdf, b);
    code = enc.finish();
    benchmark::DoNotOptimize(code.words().data());
  }
  set_rates(state, text.size(), text.size());
  state.counters["bits_per_symbol"] = static_cast<double>(code.size()) / static_cast<double>(text.size());
  if (!ac_decodes_to(code, cdf, text)) state.SkipWithError("encoder output does not decode to the input");
}

// With `lookup`, the byte and its slice come from the model's slice_of()
// table, a run at a time (what the tokenizer does for static models, and what
// rANS decoders do); without it,
// from a binary search of the CDF (what it does for models with context).
template <class Model>
void decode_with(benchmark::State& state, const Model& model, bool lookup) {
  const auto& text = input().text;
  const eqinfo::cdf_table& cdf = model.predict();
  const eqinfo::bit_vector code = ac_encode(cdf, text);
  std::vector<std::uint8_t> out(text.size());
  for (auto _ : state) {
    eqinfo::arithmetic_decoder dec(code, 0, code.size(), precision);
    if (lookup) {
      dec.decode_run(out, eqinfo::detail::slice_lookup(model));
    } else {
      for (auto& b : out) b = dec.decode(cdf);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, text.size(), text.size());
  if (out != text) state.SkipWithError("decoded bytes differ from the input");
}

void BM_encode(benchmark::State& state) { encode_with(state, unigram().predict()); }
void BM_decode(benchmark::State& state) { decode_with(state, unigram(), true); }
void BM_decode_search(benchmark::State& state) { decode_with(state, unigram(), false); }
void BM_encode_uniform(benchmark::State& state) { encode_with(state, eqinfo::uniform_model(precision).predict()); }
void BM_decode_uniform(benchmark::State& state) { decode_with(state, eqinfo::uniform_model(precision), true); }

// ---------------------------------------------------------------------------
// Peers: textbook rANS on the same quantised frequencies, and memcpy.

void BM_rans_encode(benchmark::State& state) {
  const auto& text = input().text;
  const eqinfo_bench::rans_byte coder(unigram().predict(), precision);
  std::vector<std::uint8_t> buffer;
  std::size_t start = 0;
  for (auto _ : state) {
    start = coder.encode(text, buffer);
    benchmark::DoNotOptimize(buffer.data() + start);
    benchmark::ClobberMemory();
  }
  set_rates(state, text.size(), text.size());
  state.counters["bits_per_symbol"] =
      8.0 * static_cast<double>(buffer.size() - start) / static_cast<double>(text.size());
  std::vector<std::uint8_t> back(text.size());
  coder.decode(std::span(buffer).subspan(start), back);
  if (back != text) state.SkipWithError("rANS round trip failed");
}

void BM_rans_decode(benchmark::State& state) {
  const auto& text = input().text;
  const eqinfo_bench::rans_byte coder(unigram().predict(), precision);
  std::vector<std::uint8_t> buffer;
  const std::size_t start = coder.encode(text, buffer);
  const std::span<const std::uint8_t> code = std::span(buffer).subspan(start);
  std::vector<std::uint8_t> out(text.size());
  for (auto _ : state) {
    coder.decode(code, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, text.size(), text.size());
  if (out != text) state.SkipWithError("rANS decode differs from the input");
}

void BM_memcpy(benchmark::State& state) {
  const auto& text = input().text;
  std::vector<std::uint8_t> out(text.size());
  for (auto _ : state) {
    std::memcpy(out.data(), text.data(), text.size());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, text.size(), text.size());
  if (out != text) state.SkipWithError("memcpy differs");
}

// ---------------------------------------------------------------------------
// Token packing: the code of the input as N-bit tokens.

void BM_pack(benchmark::State& state) {
  const auto n = static_cast<unsigned>(state.range(0));
  const eqinfo::bit_vector bits = ac_encode(unigram().predict(), input().text);
  std::vector<eqinfo::token_t> tokens;
  for (auto _ : state) {
    tokens = eqinfo::pack_tokens(bits, n);
    benchmark::DoNotOptimize(tokens.data());
  }
  set_rates(state, tokens.size(), (bits.size() + 7) / 8);
  if (tokens.size() != (bits.size() + n - 1) / n) state.SkipWithError("wrong token count");
  eqinfo::bit_vector back = eqinfo::unpack_tokens(tokens, n);
  back.resize(bits.size());
  if (!(back == bits)) state.SkipWithError("unpack(pack(bits)) != bits");
}

void BM_unpack(benchmark::State& state) {
  const auto n = static_cast<unsigned>(state.range(0));
  const eqinfo::bit_vector bits = ac_encode(unigram().predict(), input().text);
  const std::vector<eqinfo::token_t> tokens = eqinfo::pack_tokens(bits, n);
  eqinfo::bit_vector back;
  for (auto _ : state) {
    back = eqinfo::unpack_tokens(tokens, n);
    benchmark::DoNotOptimize(back.words().data());
  }
  set_rates(state, tokens.size(), (bits.size() + 7) / 8);
  back.resize(bits.size());
  if (!(back == bits)) state.SkipWithError("unpack(pack(bits)) != bits");
}

// ---------------------------------------------------------------------------
// Equal-info windows through the tokenizer facade (unigram model, N = 16).
// Arguments: window bits b, rule (0 = greedy_exact, 1 = delay).

constexpr std::size_t window_input_size = std::size_t{1} << 18;  // 256 KiB keeps a run short

eqinfo::settings window_settings(const benchmark::State& state) {
  eqinfo::settings s;
  s.kind = eqinfo::method::equal_info_ac;
  s.window_bits = static_cast<unsigned>(state.range(0));
  s.token_bits = 16;
  s.precision_bits = precision;
  s.rule = state.range(1) == 0 ? eqinfo::window_rule::greedy_exact : eqinfo::window_rule::delay;
  return s;
}

void BM_equal_info_encode(benchmark::State& state) {
  const std::span<const std::uint8_t> text = std::span(input().text).first(window_input_size);
  eqinfo::tokenizer<eqinfo::unigram_model> tok(unigram(), window_settings(state));
  eqinfo::encoded e;
  for (auto _ : state) {
    e = tok.encode(text);
    benchmark::DoNotOptimize(e.tokens.data());
  }
  set_rates(state, text.size(), text.size());
  state.counters["bytes_per_window"] =
      static_cast<double>(text.size()) / static_cast<double>(e.tokens.size() / tok.config().tokens_per_window());
  state.SetLabel(std::string(eqinfo::to_string(tok.config().rule)));
  const auto back = tok.decode(e.tokens, e.byte_count);
  if (!std::equal(back.begin(), back.end(), text.begin(), text.end()))
    state.SkipWithError("equal-info round trip failed");
}

void BM_equal_info_decode(benchmark::State& state) {
  const std::span<const std::uint8_t> text = std::span(input().text).first(window_input_size);
  eqinfo::tokenizer<eqinfo::unigram_model> tok(unigram(), window_settings(state));
  const eqinfo::encoded e = tok.encode(text);
  std::vector<std::uint8_t> back;
  for (auto _ : state) {
    back = tok.decode(e.tokens, e.byte_count);
    benchmark::DoNotOptimize(back.data());
  }
  set_rates(state, text.size(), text.size());
  state.SetLabel(std::string(eqinfo::to_string(tok.config().rule)));
  if (!std::equal(back.begin(), back.end(), text.begin(), text.end()))
    state.SkipWithError("equal-info decode differs from the input");
}

}  // namespace

BENCHMARK(BM_encode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode_search)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_uniform)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode_uniform)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_rans_encode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_rans_decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_memcpy)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_pack)->Arg(8)->Arg(12)->Arg(16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_unpack)->Arg(8)->Arg(12)->Arg(16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_equal_info_encode)
    ->ArgNames({"b", "delay"})
    ->ArgsProduct({{16, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_equal_info_decode)
    ->ArgNames({"b", "delay"})
    ->ArgsProduct({{16, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("input", input().source + ", " + std::to_string(input().text.size()) + " bytes");
  benchmark::AddCustomContext("precision_bits", std::to_string(precision));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
