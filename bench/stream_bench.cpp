// SPDX-License-Identifier: MIT
// Streaming decoding latency and the cost of token offsets (issue #14),
// shipped M1 (models/m1), EqualInfoAC b=16, default build dispatch, one core.
//
//  BM_stream/N/B        B sequences (a generation batch; B = 1, 64), one token
//                       per sequence per push: us_per_window is the time from
//                       the token that completes a window to its bytes, per
//                       window (a batch's windows are read in lockstep).
//  BM_decode_once/N/B   the same windows decoded in one decode_bare call per
//                       sequence, B sequences (B = 1: serial; B = 64: the
//                       64 streams' windows together in one batch decoder
//                       push): us_per_window of decoding without streaming.
//                       Target: BM_stream costs no more M1 work per window
//                       than this (tests/stream_test.cpp asserts the
//                       position counts are equal).
//  BM_encode/offsets    encode 16 KB with and without offsets (0 / 1):
//                       target overhead under 2 %.
#include <benchmark/benchmark.h>

#include <eqinfo/m1_file.hpp>
#include <eqinfo/stream_decoder.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/transformer.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using eqinfo::token_t;

const std::vector<std::uint8_t>& text() {
  static const std::vector<std::uint8_t> t = [] {
    std::ifstream in(std::string(EQINFO_BENCH_DATA_DIR) + "/sotu_sample.txt", std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }();
  return t;
}

eqinfo::tokenizer<eqinfo::m1_model> make(unsigned n) {
  static const eqinfo::m1_file file = eqinfo::load_m1(EQINFO_BENCH_MODEL);
  eqinfo::settings s;
  s.window_bits = 16;
  s.token_bits = n;
  return eqinfo::tokenizer<eqinfo::m1_model>(file.model(16), s);
}

/// B token streams: the encodings of B consecutive 1 KB pieces of the text.
std::vector<std::vector<token_t>> streams(unsigned n, std::size_t b) {
  auto tok = make(n);
  std::vector<std::vector<token_t>> out;
  const auto& t = text();
  for (std::size_t i = 0; i < b; ++i) {
    const std::size_t at = (i * 1024) % (t.size() - 1024);
    out.push_back(tok.encode(std::span(t.data() + at, 1024)).tokens);
  }
  return out;
}

void BM_stream(benchmark::State& state) {
  const auto n = static_cast<unsigned>(state.range(0));
  const auto b = static_cast<std::size_t>(state.range(1));
  const auto tok = make(n);
  const auto in = streams(n, b);
  std::size_t shortest = in[0].size();
  for (const auto& s : in) shortest = std::min(shortest, s.size());
  const std::size_t per = 16 / n;
  shortest -= shortest % per;
  std::uint64_t windows = 0, bytes = 0;
  for (auto _ : state) {
    eqinfo::batch_stream_decoder dec(tok, b);
    std::vector<std::span<const token_t>> chunks(b);
    for (std::size_t t = 0; t < shortest; ++t) {
      for (std::size_t q = 0; q < b; ++q) chunks[q] = std::span(in[q]).subspan(t, 1);
      const auto out = dec.push(chunks);
      for (const auto& o : out) bytes += o.size();
    }
    windows += b * (shortest / per);
  }
  state.counters["us_per_window"] =
      benchmark::Counter(static_cast<double>(windows) / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["bytes_per_s"] = benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kIsRate);
}

void BM_decode_once(benchmark::State& state) {
  const auto n = static_cast<unsigned>(state.range(0));
  const auto b = static_cast<std::size_t>(state.range(1));
  auto tok = make(n);
  const auto in = streams(n, b);
  std::uint64_t windows = 0, bytes = 0;
  for (auto _ : state) {
    if (b == 1) {
      bytes += tok.decode_bare(in[0]).size();
      windows += in[0].size() / (16 / n);
    } else {  // all streams' windows in one push: lockstep over all of them
      eqinfo::batch_stream_decoder dec(tok, b);
      std::vector<std::span<const token_t>> chunks(in.begin(), in.end());
      for (const auto& o : dec.push(chunks)) bytes += o.size();
      for (const auto& s : in) windows += s.size() / (16 / n);
    }
  }
  state.counters["us_per_window"] =
      benchmark::Counter(static_cast<double>(windows) / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["bytes_per_s"] = benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kIsRate);
}

void BM_encode(benchmark::State& state) {
  const bool offsets = state.range(0) != 0;
  auto tok = make(16);
  const std::span<const std::uint8_t> in(text().data(), std::min<std::size_t>(text().size(), 16384));
  for (auto _ : state) {
    const auto e = tok.encode(in, offsets ? eqinfo::want_offsets::yes : eqinfo::want_offsets::no);
    benchmark::DoNotOptimize(e.tokens.data());
    benchmark::DoNotOptimize(e.offsets.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(in.size()));
}

BENCHMARK(BM_stream)->Args({16, 1})->Args({8, 1})->Args({16, 64})->Args({8, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode_once)->Args({16, 1})->Args({8, 1})->Args({16, 64})->Args({8, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
