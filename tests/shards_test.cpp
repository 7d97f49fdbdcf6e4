// SPDX-License-Identifier: MIT
// The token shard reader (eqinfo/shards.hpp): manifest round trip, a shard
// written by the serialisers read back, and damage found; the JSON reader's
// \u escapes (jsonl corpora escape every non-ASCII character).
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/detail/json.hpp>
#include <eqinfo/shards.hpp>
#include <eqinfo/tokenizer.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

using eqinfo::errc;
using eqinfo_test::code_of;
namespace fs = std::filesystem;

namespace {

std::string unescape(const std::string& json) {
  return eqinfo::detail::json_reader(json, "test", errc::corrupt_stream).parse().text;
}

/// A shard directory of one shard with two examples, written with the
/// library's serialisers (what `eqinfo shard` writes).
struct fixture {
  fs::path dir;
  eqinfo::shard_manifest m;
  std::string text = "Hello, shards!\n\nsecond document";

  /// window_bytes: EqualInfoAC b=16, N=8 with shard-000000.windows.npy.
  explicit fixture(bool window_bytes = false) {
    static int made = 0;  // fixtures alive at once get their own directories
    dir =
        fs::temp_directory_path() / ("eqinfo-shards-test-" + std::to_string(::getpid()) + "-" + std::to_string(made++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    m.eqinfo_version = "0.1.0";
    m.example_bytes = 20;
    m.shard_examples = 4;
    m.model_fingerprint = eqinfo::uniform_model(16).fingerprint();
    m.inputs.push_back({"a.txt", "text", 14, 0x12345678, 0, 1});
    m.inputs.push_back({"b.txt", "text", 15, 0x9abcdef0, 1, 1});
    if (window_bytes) {
      m.config.token_bits = 8;
      m.window_bytes = true;
    }
    eqinfo::tokenizer tok(eqinfo::uniform_model(16), m.config);
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    const auto first = tok.encode_with_offsets(bytes.subspan(0, 20));
    const auto second = tok.encode_with_offsets(bytes.subspan(20));
    std::vector<eqinfo::token_t> tokens = first.tokens;
    tokens.insert(tokens.end(), second.tokens.begin(), second.tokens.end());
    const std::vector<eqinfo::shard_example> index = {
        {0, 0, 0, 20, 0, first.tokens.size()}, {20, 1, 4, text.size() - 20, first.tokens.size(), second.tokens.size()}};
    const std::vector<eqinfo::shard_document> documents = {{0, 0, 14}, {1, 16, 15}};
    eqinfo::shard_record r;
    r.tokens_file = "shard-000000.npy";
    r.index_file = "shard-000000.idx.npy";
    r.documents_file = "shard-000000.docs.npy";
    auto put = [&](const std::string& name, const std::vector<unsigned char>& data, std::uint64_t& size,
                   std::uint32_t& crc) {
      eqinfo::detail::write_file_bytes((dir / name).string(), data);
      size = data.size();
      crc = eqinfo::detail::crc32(data.data(), data.size());
    };
    put(r.tokens_file, eqinfo::detail::shards::serialize_tokens(tokens, m), r.tokens_file_size, r.tokens_crc32);
    put(r.index_file, eqinfo::detail::shards::serialize_index(index), r.index_file_size, r.index_crc32);
    put(r.documents_file, eqinfo::detail::shards::serialize_documents(documents), r.documents_file_size,
        r.documents_crc32);
    r.examples = 2;
    r.bytes = text.size();
    r.tokens = tokens.size();
    r.documents = 2;
    if (window_bytes) {
      const unsigned per = m.config.tokens_per_window();
      for (const auto* e : {&first, &second})
        for (std::size_t t = 0; t < e->offsets.size(); t += per)
          windows.push_back(static_cast<std::uint32_t>(e->offsets[t].end - e->offsets[t].begin));
      r.windows_file = "shard-000000.windows.npy";
      put(r.windows_file, eqinfo::detail::shards::serialize_window_bytes(windows), r.windows_file_size,
          r.windows_crc32);
    }
    m.shards.push_back(r);
    write_manifest();
  }
  void write_manifest() {
    eqinfo::detail::write_file_bytes(
        (dir / "manifest.json").string(),
        std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(eqinfo::to_json(m).data()),
                                       eqinfo::to_json(m).size()));
  }
  ~fixture() { fs::remove_all(dir); }
  std::vector<std::uint32_t> windows;  // window_bytes: what the windows file holds
};

}  // namespace

TEST_CASE("JSON \\u escapes: surrogate pairs are one code point, lone surrogates are kept", "[shards][json]") {
  CHECK(unescape(R"("caf\u00e9")") == "caf\xc3\xa9");
  CHECK(unescape(R"("\ud83d\ude00!")") == "\xf0\x9f\x98\x80!");
  CHECK(unescape(R"("\ud83d!")") == "\xed\xa0\xbd!");  // lone high surrogate: WTF-8
  CHECK(unescape(R"("\ud83d\u0041")") ==
        "\xed\xa0\xbd"
        "A");                                                      // not followed by a low one
  CHECK(unescape(R"("nul\u0000x")") == std::string("nul\0x", 5));  // a NUL byte in a document
  CHECK(code_of([] { unescape(R"("\ud83d\u12")"); }) == errc::corrupt_stream);
}

TEST_CASE("a shard manifest survives to_json and parse_shard_manifest", "[shards]") {
  eqinfo::shard_manifest m;
  m.eqinfo_version = "1.2.3";
  m.config.kind = eqinfo::method::equal_info_ac;
  m.config.window_bits = 32;
  m.config.token_bits = 8;
  m.config.rule = eqinfo::window_rule::greedy_exact;
  m.model_kind = "unigram";
  m.model_path = "dir/en \"quoted\".unigram";
  m.model_fingerprint = 0xdeadbeef;
  m.separator = std::string("\0\xff\n", 3);
  m.keep_documents = true;
  m.token_format = "raw";
  m.inputs.push_back({"x.jsonl", "jsonl", 100, 0xcafef00d, 0, 7});
  m.shards.push_back({.tokens_file = "shard-000000.bin",
                      .index_file = "shard-000000.idx.npy",
                      .documents_file = "shard-000000.docs.npy",
                      .examples = 3,
                      .bytes = 99,
                      .tokens = 50,
                      .source_crc32 = 0x01020304});
  const std::string json = eqinfo::to_json(m);
  const eqinfo::shard_manifest back = eqinfo::parse_shard_manifest(json, "manifest.json");
  CHECK(back.config == m.config);
  CHECK(back.model_path == m.model_path);
  CHECK(back.model_fingerprint == m.model_fingerprint);
  CHECK(back.separator == m.separator);
  CHECK(back.keep_documents);
  CHECK(back.shards == m.shards);
  CHECK(back.inputs.at(0).documents == 7);
  CHECK(eqinfo::to_json(back) == json);                     // deterministic
  CHECK(json.find("\"separator\":") == std::string::npos);  // not UTF-8: only separator_hex

  std::string tampered = json;
  tampered.replace(tampered.find("\"bytes\": 99"), 11, "\"bytes\": 98");
  CHECK(code_of([&] { eqinfo::parse_shard_manifest(tampered, "m"); }) == errc::corrupt_stream);  // totals differ
  CHECK(code_of([] { eqinfo::parse_shard_manifest("{\"format\": \"other\"}", "m"); }) == errc::bad_magic);
  CHECK(code_of([] { eqinfo::parse_shard_manifest("{", "m"); }) == errc::corrupt_stream);
}

TEST_CASE("load_shard reads what the serialisers wrote and finds damage", "[shards]") {
  fixture f;
  const eqinfo::shard_manifest m = eqinfo::load_shard_manifest(f.dir);
  const eqinfo::shard s = eqinfo::load_shard(f.dir, m, 0);
  REQUIRE(s.examples.size() == 2);
  CHECK(s.documents.size() == 2);
  eqinfo::tokenizer tok(eqinfo::uniform_model(16), m.config);
  std::string back;
  for (std::size_t i = 0; i < s.examples.size(); ++i) {
    const auto bytes = tok.decode(s.tokens_of(i), s.examples[i].byte_count);
    back.append(bytes.begin(), bytes.end());
  }
  CHECK(back == f.text);
  CHECK(code_of([&] { eqinfo::load_shard(f.dir, m, 1); }) == errc::invalid_argument);

  // One byte changed in the token file: the CRC no longer matches.
  const auto path = (f.dir / "shard-000000.npy").string();
  auto data = eqinfo::detail::read_file_bytes(path);
  data[data.size() - 1] ^= 1;
  eqinfo::detail::write_file_bytes(path, data);
  CHECK(code_of([&] { eqinfo::load_shard(f.dir, m, 0); }) == errc::checksum_mismatch);
  fs::remove(path);
  CHECK(code_of([&] { eqinfo::load_shard(f.dir, m, 0); }) == errc::io_error);
}

TEST_CASE("window byte counts: stored, read back as token offsets, and checked", "[shards][offsets]") {
  fixture f(true);
  const eqinfo::shard_manifest m = eqinfo::load_shard_manifest(f.dir);
  REQUIRE(m.window_bytes);
  CHECK(eqinfo::to_json(m).find("\"window_bytes\": true") != std::string::npos);
  const eqinfo::shard s = eqinfo::load_shard(f.dir, m, 0);
  REQUIRE(s.window_bytes == f.windows);
  eqinfo::tokenizer tok(eqinfo::uniform_model(16), m.config);
  const unsigned per = m.config.tokens_per_window();
  for (std::size_t i = 0; i < s.examples.size(); ++i) {
    // The stored counts give the offsets encode_with_offsets gives for the example's bytes.
    const auto& e = s.examples[i];
    const auto want = tok.encode_with_offsets(std::string_view(f.text).substr(e.stream_offset, e.byte_count));
    std::uint64_t at = 0;
    std::size_t t = 0;
    for (const std::uint32_t k : s.window_bytes_of(i)) {
      for (unsigned j = 0; j < per; ++j, ++t) REQUIRE(want.offsets.at(t) == eqinfo::byte_span{at, at + k});
      at += k;
    }
    REQUIRE(t == want.tokens.size());
  }
  // Manifests without the flag have no "window_bytes" key (their bytes do not change).
  fixture plain;
  CHECK(eqinfo::to_json(eqinfo::load_shard_manifest(plain.dir)).find("window_bytes") == std::string::npos);

  // Counts that do not add up to an example's bytes (file and CRC consistent): corrupt_stream.
  auto changed = f.windows;
  changed[0] += 1;  // example 0's windows hold one byte more than it has
  eqinfo::shard_manifest bad = m;
  const auto data = eqinfo::detail::shards::serialize_window_bytes(changed);
  eqinfo::detail::write_file_bytes((f.dir / bad.shards[0].windows_file).string(), data);
  bad.shards[0].windows_crc32 = eqinfo::detail::crc32(data.data(), data.size());
  CHECK(code_of([&] { eqinfo::load_shard(f.dir, bad, 0); }) == errc::corrupt_stream);
  // A record without its windows file, or window_bytes for another method: the manifest is refused.
  eqinfo::shard_manifest missing = m;
  missing.shards[0].windows_file.clear();
  CHECK(code_of([&] { eqinfo::parse_shard_manifest(eqinfo::to_json(missing), "m"); }) == errc::corrupt_stream);
  eqinfo::shard_manifest other = m;
  other.config.kind = eqinfo::method::ac;
  CHECK(code_of([&] { eqinfo::parse_shard_manifest(eqinfo::to_json(other), "m"); }) == errc::corrupt_stream);
}
