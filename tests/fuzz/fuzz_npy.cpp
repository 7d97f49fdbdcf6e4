// SPDX-License-Identifier: MIT
// Fuzz target: the .npy readers, for token arrays and for the int64 index
// and document tables of token shards.
//
// Input: byte 0 picks the reader (bits 0-1) and the token settings (bits
// 2-6: N = 1 + that value; bit 7: raw instead of .npy for the shard token
// reader); the rest is the file.
//   0: parse_tokens_npy(file, N)
//   1: shards::parse_int64_table<6> (shard-NNNNNN.idx.npy); with bit 7:
//      shards::parse_window_bytes (shard-NNNNNN.windows.npy)
//   2: shards::parse_int64_table<3> (shard-NNNNNN.docs.npy)
//   3: shards::parse_tokens(file, manifest with N and the token format)
// Asserts: the reader throws eqinfo::error with one of bad_magic,
// unsupported_version, truncated_tokens, token_out_of_range or (tables: a
// negative value) corrupt_stream, or it succeeds, and then the matching
// writer's file reads back as the same values (parse -> serialise -> parse),
// and writing those again gives the same bytes. std::bad_alloc or any other
// exception is a finding.
#include "fuzz_common.hpp"

#include <eqinfo/packing.hpp>
#include <eqinfo/shards.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using eqinfo::errc;
using bytes = std::vector<unsigned char>;

bool allowed(errc code, bool table) {
  return eqinfo_fuzz::one_of(
             code, {errc::bad_magic, errc::unsupported_version, errc::truncated_tokens, errc::token_out_of_range}) ||
         (table && code == errc::corrupt_stream);
}

template <std::size_t Columns>
void table(std::span<const unsigned char> file) {
  using rows = std::vector<std::array<std::uint64_t, Columns>>;
  const rows parsed = eqinfo::detail::shards::parse_int64_table<Columns>(file, "<fuzz>");
  const bytes written =
      eqinfo::detail::shards::int64_table<Columns>(std::span<const std::array<std::uint64_t, Columns>>(parsed));
  const rows again = eqinfo::detail::shards::parse_int64_table<Columns>(written, "<written>");
  EQINFO_FUZZ_CHECK(again == parsed);
  EQINFO_FUZZ_CHECK(eqinfo::detail::shards::int64_table<Columns>(
                        std::span<const std::array<std::uint64_t, Columns>>(again)) == written);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned mode = data[0] & 3u, token_bits = 1 + ((data[0] >> 2) & 31u);
  const bool raw = (data[0] & 0x80u) != 0;
  const std::span<const unsigned char> file(data + 1, size - 1);
  try {
    if (mode == 0) {
      const std::vector<eqinfo::token_t> tokens = eqinfo::parse_tokens_npy(file, token_bits, "<fuzz>");
      const bytes written = eqinfo::serialize_tokens_npy(tokens, token_bits);
      const std::vector<eqinfo::token_t> again = eqinfo::parse_tokens_npy(written, token_bits, "<written>");
      EQINFO_FUZZ_CHECK(again == tokens);
      EQINFO_FUZZ_CHECK(eqinfo::serialize_tokens_npy(again, token_bits) == written);
    } else if (mode == 1 && raw) {
      const std::vector<std::uint32_t> counts = eqinfo::detail::shards::parse_window_bytes(file, "<fuzz>");
      const bytes written = eqinfo::detail::shards::serialize_window_bytes(counts);
      const std::vector<std::uint32_t> again = eqinfo::detail::shards::parse_window_bytes(written, "<written>");
      EQINFO_FUZZ_CHECK(again == counts);
      EQINFO_FUZZ_CHECK(eqinfo::detail::shards::serialize_window_bytes(again) == written);
    } else if (mode == 1) {
      table<6>(file);
    } else if (mode == 2) {
      table<3>(file);
    } else {
      eqinfo::shard_manifest m;
      m.config.token_bits = token_bits;
      m.token_format = raw ? "raw" : "npy";
      const std::vector<eqinfo::token_t> tokens = eqinfo::detail::shards::parse_tokens(file, m, "<fuzz>");
      const bytes written = eqinfo::detail::shards::serialize_tokens(tokens, m);
      if (raw)
        EQINFO_FUZZ_CHECK(written.size() == file.size() && std::equal(written.begin(), written.end(), file.begin()));
      const std::vector<eqinfo::token_t> again = eqinfo::detail::shards::parse_tokens(written, m, "<written>");
      EQINFO_FUZZ_CHECK(again == tokens);
      EQINFO_FUZZ_CHECK(eqinfo::detail::shards::serialize_tokens(again, m) == written);
    }
  } catch (const eqinfo::error& e) {
    EQINFO_FUZZ_CHECK(allowed(e.code(), mode == 1 || mode == 2));
  }
  return 0;
}
