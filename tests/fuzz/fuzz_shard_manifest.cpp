// SPDX-License-Identifier: MIT
// Fuzz target: parse_shard_manifest (manifest.json of a token shard
// directory) on arbitrary text.
//
// Asserts: parsing throws eqinfo::error with bad_magic, unsupported_version
// or corrupt_stream, or it succeeds with valid settings, and then to_json of
// the manifest parses back to an equal manifest (every field), whose to_json
// is the same text (parse -> serialise -> parse round trip).
#include "fuzz_common.hpp"

#include <eqinfo/shards.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

bool same_input(const eqinfo::shard_input& a, const eqinfo::shard_input& b) {
  return a.path == b.path && a.type == b.type && a.size == b.size && a.crc32 == b.crc32 &&
         a.first_document == b.first_document && a.documents == b.documents;
}

bool same(const eqinfo::shard_manifest& a, const eqinfo::shard_manifest& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (std::size_t i = 0; i < a.inputs.size(); ++i)
    if (!same_input(a.inputs[i], b.inputs[i])) return false;
  return a.eqinfo_version == b.eqinfo_version && a.stream_format == b.stream_format && a.config == b.config &&
         a.model_kind == b.model_kind && a.model_path == b.model_path && a.model_fingerprint == b.model_fingerprint &&
         a.example_bytes == b.example_bytes && a.separator == b.separator && a.keep_documents == b.keep_documents &&
         a.shard_examples == b.shard_examples && a.token_format == b.token_format && a.text_field == b.text_field &&
         a.shards == b.shards;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using eqinfo::errc;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  eqinfo::shard_manifest m;
  try {
    m = eqinfo::parse_shard_manifest(text, "<fuzz>");
  } catch (const eqinfo::error& e) {
    EQINFO_FUZZ_CHECK(
        eqinfo_fuzz::one_of(e.code(), {errc::bad_magic, errc::unsupported_version, errc::corrupt_stream}));
    return 0;
  }
  m.config.validate();
  const std::string json = eqinfo::to_json(m);
  const eqinfo::shard_manifest again = eqinfo::parse_shard_manifest(json, "<written>");
  EQINFO_FUZZ_CHECK(same(again, m));
  EQINFO_FUZZ_CHECK(eqinfo::to_json(again) == json);
  return 0;
}
