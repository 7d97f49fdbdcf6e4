// SPDX-License-Identifier: MIT
// Study: what exact decoding of equal-info windows costs, per rule.
//
//   window_rules TRAIN_TEXT EVAL_TEXT
//
// For b in {16, 32, 64, 128} and two models (static unigram = StaticAC, and
// an order-3 n-gram that, like M1, sees only the window's bytes), prints mean
// bytes per window for the paper's plain greedy cut (not decodable in
// general), greedy_exact and delay, plus how often plain greedy windows would
// be misread by each decoder rule. Every exact encoding is decoded and checked.
#include "ngram_model.hpp"

#include <eqinfo/tokenizer.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

std::vector<std::uint8_t> read(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class M>
void study(const char* name, M model, const std::vector<std::uint8_t>& text, unsigned b) {
  eqinfo::settings s;
  s.window_bits = b;
  s.token_bits = 16;
  s.precision_bits = model.precision_bits();
  // Plain greedy: windows and how each decoder rule would read them.
  eqinfo::window_stats greedy;
  const auto greedy_bits =
      eqinfo::encode_equal_info(model, text, s, &greedy, eqinfo::detail::cut_policy::greedy_unchecked);
  std::size_t misread[2] = {0, 0};
  std::size_t zero_bit_end = 0, no_alternative = 0;
  {
    // Re-cut greedily window by window and compare each rule's reading.
    eqinfo::detail::window_scratch scratch;
    std::size_t pos = 0;
    while (pos < text.size()) {
      const std::size_t k = eqinfo::detail::encode_window(model, std::span(text).subspan(pos), s, scratch,
                                                          eqinfo::detail::cut_policy::greedy_unchecked);
      if (pos + k < text.size() && k >= 2) {
        // Did the last byte leave the zero-padded code unchanged? Then the
        // window's bits are identical for k-1 and k bytes. A different
        // termination tie-break could only help if the final interval held
        // a second shortest code (both halves or both quarters of the frame).
        eqinfo::bit_vector last, before;
        eqinfo::detail::padded_code(scratch.emitted, scratch.states[k - 1], b, last);
        eqinfo::detail::padded_code(scratch.emitted, scratch.states[k - 2], b, before);
        if (last == before) {
          ++zero_bit_end;
          const auto& st = scratch.states[k - 1];
          using namespace eqinfo::detail;
          const bool two_quarters =
              termination_tail(st) != tail_kind::none && st.low <= frame_quarter && st.high >= 3 * frame_quarter - 1;
          const bool two_halves = st.low == 0 && st.high == frame_mask && st.pending > 0;
          no_alternative += !(two_quarters || two_halves);
        }
      }
      if (pos + k < text.size()) {
        for (int r = 0; r < 2; ++r) {
          eqinfo::settings rs = s;
          rs.rule = r == 0 ? eqinfo::window_rule::greedy_exact : eqinfo::window_rule::delay;
          std::vector<std::uint8_t> out;
          const auto got = eqinfo::detail::decode_window(model, scratch.window, rs, out);
          misread[r] += got.bytes != k;
        }
      }
      pos += k;
    }
  }
  (void)greedy_bits;
  const double g = double(greedy.bytes) / double(greedy.windows);
  std::printf("%-8s b=%3u greedy %6.3f B/win (misread by greedy_exact decoder %5.2f%%, by delay decoder %5.2f%%)", name,
              b, g, 100.0 * double(misread[0]) / double(greedy.windows),
              100.0 * double(misread[1]) / double(greedy.windows));
  for (auto rule : {eqinfo::window_rule::greedy_exact, eqinfo::window_rule::delay}) {
    s.rule = rule;
    eqinfo::window_stats st;
    const auto bits = eqinfo::encode_equal_info(model, text, s, &st);
    const auto back = eqinfo::decode_equal_info(model, bits, s, text.size());
    const double k = double(st.bytes) / double(st.windows);
    std::printf(" | %s %6.3f (%+.2f%%)%s", std::string(eqinfo::to_string(rule)).c_str(), k, 100.0 * (k / g - 1),
                back == text ? "" : " ROUND-TRIP FAILED");
  }
  std::printf(
      "\n         greedy windows ending on a byte that added zero bits: %5.2f%%; of those, with no other shortest "
      "code to switch to: %5.2f%%\n",
      100.0 * double(zero_bit_end) / double(greedy.windows),
      100.0 * double(no_alternative) / double(std::max<std::size_t>(1, zero_bit_end)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: window_rules TRAIN_TEXT EVAL_TEXT\n");
    return 2;
  }
  const auto train = read(argv[1]);
  const auto eval = read(argv[2]);
  for (unsigned p : {14u, 16u}) {
    std::printf("P = %u, eval %zu bytes\n", p, eval.size());
    for (unsigned b : {16u, 32u, 64u, 128u}) {
      study("unigram", eqinfo::unigram_model::estimate(train, p), eval, b);
      study("order3", eqinfo_bench::ngram_model(train, 3, p), eval, b);
    }
  }
}
