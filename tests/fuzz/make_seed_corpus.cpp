// SPDX-License-Identifier: MIT
// Writes the seed corpora under tests/fuzz/corpus/ (run from the repository
// root after changing the settings table or the formats):
//   cmake --build BUILD --target fuzz_make_seed_corpus && BUILD/tests/fuzz/fuzz_make_seed_corpus tests/fuzz/corpus
// A few valid encodings per target plus some garbage; a few KB in all.
#include "fuzz_common.hpp"

#include <eqinfo/model.hpp>
#include <eqinfo/token_file.hpp>
#include <eqinfo/tokenizer.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using blob = std::vector<std::uint8_t>;

void write(const std::filesystem::path& dir, const std::string& name, const blob& data) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

blob bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

blob garbage(std::size_t n, std::uint64_t seed) {
  blob out(n);
  for (auto& b : out) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<std::uint8_t>(seed >> 56);
  }
  return out;
}

/// fuzz_decode_tokens input: selector, byte count (u16 LE), tokens.
blob decode_input(std::size_t row, std::uint64_t byte_count, const std::vector<eqinfo::token_t>& tokens,
                  unsigned token_bits) {
  blob out = {static_cast<std::uint8_t>(row), static_cast<std::uint8_t>(byte_count),
              static_cast<std::uint8_t>(byte_count >> 8)};
  const std::size_t width = token_bits <= 8 ? 1 : token_bits <= 16 ? 2 : 3;
  for (eqinfo::token_t t : tokens)
    for (std::size_t k = 0; k < width; ++k) out.push_back(static_cast<std::uint8_t>(t >> (8 * k)));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  const std::vector<blob> texts = {
      bytes_of("the cat sat on the mat."),
      bytes_of(eqinfo_fuzz::paragraph.substr(0, 120)),
      bytes_of("It is a truth"),
      garbage(40, 7),
  };

  // fuzz_roundtrip: texts, empty, all byte values.
  const auto rt = root / "fuzz_roundtrip";
  write(rt, "empty", {});
  for (std::size_t i = 0; i < texts.size(); ++i) write(rt, "text" + std::to_string(i), texts[i]);
  blob all(256);
  for (std::size_t i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  write(rt, "all256", all);

  // fuzz_decode_tokens and fuzz_token_file: valid encodings for every row.
  const auto dt = root / "fuzz_decode_tokens";
  const auto tf = root / "fuzz_token_file";
  const auto& table = eqinfo_fuzz::configs();
  for (std::size_t row = 0; row < table.size(); ++row) {
    eqinfo_fuzz::with_tokenizer(table[row], [&](auto& tok) {
      const blob& text = texts[row % 3];
      const eqinfo::encoded e = tok.encode(text);
      const unsigned n = table[row].settings.token_bits;
      write(dt, "row" + std::to_string(row), decode_input(row, e.byte_count, e.tokens, n));
      if (row % 4 == 0)
        write(tf, "row" + std::to_string(row), eqinfo::serialize_token_file(eqinfo::make_token_file(tok, e)));
    });
  }
  write(dt, "garbage-masked", garbage(64, 1));
  blob unmasked = garbage(48, 2);
  unmasked[0] = 0x80 | 5;
  write(dt, "garbage-unmasked", unmasked);
  write(dt, "big-count", decode_input(5, 60000, {1, 2, 3, 4}, 16));

  // fuzz_token_file: also a truncated file and garbage after the magic.
  eqinfo_fuzz::with_tokenizer(table[5], [&](auto& tok) {
    blob file = eqinfo::serialize_token_file(eqinfo::make_token_file(tok, tok.encode(texts[1])));
    file.resize(file.size() / 2);
    write(tf, "truncated", file);
  });
  blob g = bytes_of("EQINFOTK");
  const blob tail = garbage(40, 3);
  g.insert(g.end(), tail.begin(), tail.end());
  write(tf, "garbage", g);

  // fuzz_unigram_file: two valid files, a truncated one, garbage.
  const auto uf = root / "fuzz_unigram_file";
  const auto p16 = eqinfo::unigram_model::estimate(eqinfo_fuzz::paragraph_bytes(), 16).serialize();
  write(uf, "paragraph-p16", {p16.begin(), p16.end()});
  const auto p8 = eqinfo::unigram_model::estimate(texts[0], 8).serialize();
  write(uf, "cat-p8", {p8.begin(), p8.end()});
  write(uf, "truncated", {p16.begin(), p16.begin() + 100});
  write(uf, "garbage", garbage(64, 4));
  std::printf("seed corpus written under %s\n", root.string().c_str());
  return 0;
}
