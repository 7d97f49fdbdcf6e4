// SPDX-License-Identifier: MIT
// Writes the seed corpora under tests/fuzz/corpus/ (run from the repository
// root after changing the settings table or the formats):
//   cmake --build BUILD --target fuzz_make_seed_corpus && BUILD/tests/fuzz/fuzz_make_seed_corpus tests/fuzz/corpus
// A few valid encodings per target plus some garbage; a few KB in all.
#include "fuzz_common.hpp"

#include <eqinfo/m1_config.hpp>
#include <eqinfo/model.hpp>
#include <eqinfo/packing.hpp>
#include <eqinfo/shards.hpp>
#include <eqinfo/token_file.hpp>
#include <eqinfo/tokenizer.hpp>

#include <array>
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

  // fuzz_json: the kinds of JSON eqinfo reads (a safetensors header, an M1
  // config, a .jsonl line) and every escape, number form and literal.
  const auto js = root / "fuzz_json";
  write(js, "safetensors-header",
        bytes_of(R"({"__metadata__":{"format":"eqinfo-m1","config":"{\"layers\":1}"},)"
                 R"("embed":{"dtype":"I8","shape":[256,16],"data_offsets":[0,4096]}})"));
  write(js, "config", bytes_of(eqinfo::transformer_config{}.to_json()));
  write(js, "jsonl-line",
        bytes_of(R"({"id": 1, "text": "caf\u00e9 \ud83d\ude00 \ud83d! tab\t nul\u0000 \"q\" \/", "x": [1, 2]})"));
  write(js, "numbers", bytes_of("[0, -0, 12, -3.25, 1e5, 1E+2, 2.5e-07, 18446744073709551615, 18446744073709551616]"));
  write(js, "literals", bytes_of(" {\"a\": [true, false, null, {}, [], \"\"]}\r\n"));
  write(js, "nested", bytes_of(std::string(64, '[') + std::string(64, ']')));
  write(js, "garbage", garbage(48, 5));

  // fuzz_npy: byte 0 picks the reader and N (see fuzz_npy.cpp).
  const auto np = root / "fuzz_npy";
  auto npy_input = [](unsigned mode, unsigned token_bits, bool raw, const std::vector<unsigned char>& file) {
    blob out = {static_cast<std::uint8_t>(mode | ((token_bits - 1) << 2) | (raw ? 0x80u : 0u))};
    out.insert(out.end(), file.begin(), file.end());
    return out;
  };
  const std::vector<eqinfo::token_t> some_tokens = {0, 1, 255, 7, 42, 200};
  write(np, "tokens-u1", npy_input(0, 8, false, eqinfo::serialize_tokens_npy(some_tokens, 8)));
  write(np, "tokens-u2", npy_input(0, 12, false, eqinfo::serialize_tokens_npy(some_tokens, 12)));
  write(np, "tokens-u4", npy_input(0, 20, false, eqinfo::serialize_tokens_npy(some_tokens, 20)));
  eqinfo::shard_manifest m16, m20;
  m16.config.token_bits = 16;
  m20.config.token_bits = 20;
  m20.token_format = "raw";
  write(np, "shard-tokens-npy", npy_input(3, 16, false, eqinfo::detail::shards::serialize_tokens(some_tokens, m16)));
  write(np, "shard-tokens-raw", npy_input(3, 20, true, eqinfo::detail::shards::serialize_tokens(some_tokens, m20)));
  const std::vector<eqinfo::shard_example> examples = {{0, 0, 0, 20, 0, 9}, {20, 1, 4, 11, 9, 5}};
  const std::vector<eqinfo::shard_document> documents = {{0, 0, 14}, {1, 16, 15}};
  write(np, "index", npy_input(1, 1, false, eqinfo::detail::shards::serialize_index(examples)));
  write(np, "documents", npy_input(2, 1, false, eqinfo::detail::shards::serialize_documents(documents)));
  // Found by review while writing fuzz_npy: a row count whose byte size
  // wraps around 2^64 to the data size (384307168202282326 x 48 = 2^64 + 32,
  // 768614336404564651 x 24 = 2^64 + 8) used to pass the size check, and the
  // table reader then asked for 2^64 bytes (std::length_error).
  auto npy_header = [](const std::string& shape, std::size_t data_bytes) {
    std::vector<unsigned char> body(data_bytes, 0);
    return eqinfo::detail::npy_file("<i8", shape, body);
  };
  write(np, "rows-overflow-index", npy_input(1, 1, false, npy_header("(384307168202282326, 6)", 32)));
  write(np, "rows-overflow-documents", npy_input(2, 1, false, npy_header("(768614336404564651, 3)", 8)));
  write(np, "garbage", npy_input(0, 16, false, garbage(40, 6)));

  // fuzz_shard_manifest: two manifests as eqinfo shard writes them, one cut.
  const auto sm = root / "fuzz_shard_manifest";
  eqinfo::shard_manifest a;
  a.eqinfo_version = "0.1.0";
  a.example_bytes = 20;
  a.shard_examples = 4;
  a.model_fingerprint = 0x12345678;
  a.inputs.push_back({"a.txt", "text", 14, 0x12345678, 0, 1});
  a.inputs.push_back({"b.jsonl", "jsonl", 15, 0x9abcdef0, 1, 2});
  a.shards.push_back({.tokens_file = "shard-000000.npy",
                      .index_file = "shard-000000.idx.npy",
                      .documents_file = "shard-000000.docs.npy",
                      .examples = 2,
                      .bytes = 31,
                      .tokens = 14,
                      .documents = 3});
  const std::string a_json = eqinfo::to_json(a);
  write(sm, "two-inputs", bytes_of(a_json));
  write(sm, "truncated", bytes_of(std::string_view(a_json).substr(0, a_json.size() / 2)));
  eqinfo::shard_manifest b;
  b.eqinfo_version = "1.2.3";
  b.config = {eqinfo::method::bytes, 16, 8, 16, eqinfo::window_rule::greedy_exact};
  b.model_kind = "none";
  b.separator = std::string("\0\xff\n", 3);
  b.keep_documents = true;
  b.token_format = "raw";
  write(sm, "bytes-raw-empty", bytes_of(eqinfo::to_json(b)));
  std::printf("seed corpus written under %s\n", root.string().c_str());
  return 0;
}
