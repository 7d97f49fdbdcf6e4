// SPDX-License-Identifier: MIT
// Study: rate overhead of quantising a model's probabilities to P bits.
//
//   precision_overhead TRAIN_TEXT EVAL_TEXT
//
// For P in 10..24, codes EVAL_TEXT as one AC stream with an order-3 n-gram
// model (about as confident as a small byte LM) and with a static unigram,
// and prints the actual code length against the ideal -sum log2 p(x) of the
// unquantised float probabilities. Every stream is decoded and checked.
#include "ngram_model.hpp"

#include <eqinfo/tokenizer.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

namespace {

std::vector<std::uint8_t> read(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: precision_overhead TRAIN_TEXT EVAL_TEXT\n");
    return 2;
  }
  const auto train = read(argv[1]);
  const auto text = read(argv[2]);
  std::printf("%zu bytes; overhead = actual AC code length / ideal (float probabilities) - 1\n", text.size());
  std::printf("%3s | %-28s | %-28s\n", "P", "order-3 n-gram: bits/byte (overhead)", "unigram: bits/byte (overhead)");
  for (unsigned p : {10u, 12u, 14u, 15u, 16u, 18u, 20u, 24u}) {
    // order-3: ideal from the float probabilities the model quantises.
    eqinfo_bench::ngram_model model(train, 3, p);
    double ideal = 0;
    model.reset();
    for (std::uint8_t byte : text) {
      const auto& prob = model.probabilities();
      double total = 0;
      for (float f : prob) total += f;
      ideal -= std::log2(prob[byte] / total);
      model.update(byte);
    }
    eqinfo::settings s;
    s.kind = eqinfo::method::ac;
    s.precision_bits = p;
    eqinfo::tokenizer ac(model, s);
    const auto e = ac.encode(text);
    const bool ok = ac.decode(e.tokens, e.byte_count) == text;
    const double actual = double(e.tokens.size()) * s.token_bits;
    // unigram: ideal from the raw counts.
    const auto uni = eqinfo::unigram_model::estimate(train, p);
    double uni_ideal = 0, count_total = 0;
    for (auto c : uni.counts()) count_total += double(c);
    for (std::uint8_t byte : text) uni_ideal -= std::log2(std::max(1.0, double(uni.counts()[byte])) / count_total);
    eqinfo::tokenizer uac(uni, s);
    const auto ue = uac.encode(text);
    const bool uok = uac.decode(ue.tokens, ue.byte_count) == text;
    const double uactual = double(ue.tokens.size()) * s.token_bits;
    const double n = double(text.size());
    std::printf("%3u | %7.4f vs %7.4f (%+6.2f%%)%s | %7.4f vs %7.4f (%+6.2f%%)%s\n", p, actual / n, ideal / n,
                100 * (actual / ideal - 1), ok ? "" : " ROUND-TRIP FAILED", uactual / n, uni_ideal / n,
                100 * (uactual / uni_ideal - 1), uok ? "" : " ROUND-TRIP FAILED");
  }
}
