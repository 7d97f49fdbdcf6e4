// SPDX-License-Identifier: MIT
// Fuzz target: parse_token_file on arbitrary blobs.
//
// Asserts, for the blob and for a copy whose last 4 bytes are replaced by the
// CRC-32 of the rest (so that mutations get past the checksum): parsing
// either throws eqinfo::error with one of the codes token_file.hpp documents
// (bad_magic, unsupported_version, truncated_tokens, checksum_mismatch,
// invalid_settings, token_out_of_range), or succeeds, and then
// serialize_token_file gives back exactly the parsed bytes.
#include "fuzz_common.hpp"

#include <eqinfo/token_file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

void check(std::span<const unsigned char> blob) {
  using eqinfo::errc;
  eqinfo::token_file f;
  try {
    f = eqinfo::parse_token_file(blob, "<fuzz>");
  } catch (const eqinfo::error& e) {
    EQINFO_FUZZ_CHECK(
        eqinfo_fuzz::one_of(e.code(), {errc::bad_magic, errc::unsupported_version, errc::truncated_tokens,
                                       errc::checksum_mismatch, errc::invalid_settings, errc::token_out_of_range}));
    return;
  }
  f.config.validate();  // a parsed file holds valid settings
  const std::vector<unsigned char> again = eqinfo::serialize_token_file(f);
  // A file of the current stream format re-serialises to its own bytes; an
  // older one (format 1: no segment_bytes) to the current format, which
  // parses to the same file.
  if (blob.size() >= 12 && blob[8] == EQINFO_STREAM_FORMAT) {
    EQINFO_FUZZ_CHECK(again.size() == blob.size() && std::equal(again.begin(), again.end(), blob.begin()));
  } else {
    const eqinfo::token_file g = eqinfo::parse_token_file(again, "<fuzz, again>");
    EQINFO_FUZZ_CHECK(g.config == f.config && g.model_fingerprint == f.model_fingerprint &&
                      g.byte_count == f.byte_count && g.tokens == f.tokens);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  eqinfo_fuzz::check_with_and_without_crc(std::span<const unsigned char>(data, size), check);
  return 0;
}
