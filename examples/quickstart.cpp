// SPDX-License-Identifier: MIT
// Quickstart: estimate a unigram model, encode with the default settings
// (EqualInfoAC, b = 16 bits per window, N = 16 bits per token, P = 16),
// decode, and check the round trip.
//
//   quickstart [FILE]     (without FILE: a built-in text)
#include <eqinfo/tokenizer.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const char* const builtin_text =
    "We the People of the United States, in Order to form a more perfect Union, establish Justice, insure "
    "domestic Tranquility, provide for the common defence, promote the general Welfare, and secure the "
    "Blessings of Liberty to ourselves and our Posterity, do ordain and establish this Constitution for the "
    "United States of America.";

std::vector<std::uint8_t> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot open ") + path);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc > 2) {
    std::fprintf(stderr, "usage: %s [FILE]\n", argv[0]);
    return 2;
  }
  const std::string text_source = argc == 2 ? argv[1] : "built-in text";
  const std::vector<std::uint8_t> text =
      argc == 2 ? read_file(argv[1])
                : std::vector<std::uint8_t>(builtin_text, builtin_text + std::strlen(builtin_text));

  // The settings that determine the tokens; the defaults are the paper's
  // EqualInfoAC[b=16, N=16] with a 16-bit model precision.
  const eqinfo::settings settings;
  // A static byte-unigram model (StaticAC's model), estimated on the text itself.
  auto model = eqinfo::unigram_model::estimate(text, settings.precision_bits);

  eqinfo::tokenizer tok(model, settings);
  const eqinfo::encoded e = tok.encode(text);
  const std::vector<std::uint8_t> back = tok.decode(e.tokens, e.byte_count);
  if (back != text) {
    std::fprintf(stderr, "round trip FAILED on %s\n", text_source.c_str());
    return 1;
  }

  const double bytes_per_token =
      e.tokens.empty() ? 0.0 : static_cast<double>(text.size()) / static_cast<double>(e.tokens.size());
  std::printf("input:      %s, %zu bytes\n", text_source.c_str(), text.size());
  std::printf("settings:   %s, b=%u, N=%u, P=%u\n", std::string(eqinfo::to_string(settings.kind)).c_str(),
              settings.window_bits, settings.token_bits, settings.precision_bits);
  std::printf("tokens:     %zu (vocabulary 2^%u)\n", e.tokens.size(), settings.token_bits);
  std::printf("bytes/token: %.3f\n", bytes_per_token);
  std::printf("round trip: ok\n");
  return 0;
} catch (const std::exception& ex) {
  std::fprintf(stderr, "quickstart: %s\n", ex.what());
  return 1;
}
