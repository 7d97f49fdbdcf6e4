// SPDX-License-Identifier: MIT
// Fuzz target: the M1 model-file parser (parse_m1, quantize_m1_file) on
// arbitrary blobs.
//
// Asserts, for the blob and for a copy whose tensor_crc32 metadata is
// rewritten to the CRC-32 of its data section (so that mutations of tensor
// bytes get past the checksum): parsing either throws eqinfo::error with a
// documented code, or succeeds, and then
//  * parse -> serialise -> parse gives the same weights, and serialising
//    those gives the same bytes again (the serialiser is canonical);
//  * for small models, the model runs: a few predictions give valid CDFs
//    whatever the weights (huge scales, zero rows), never a crash or NaN
//    reaching the coder.
#include "fuzz_common.hpp"

#include <eqinfo/transformer.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

using eqinfo::errc;

void check(std::span<const unsigned char> blob) {
  std::optional<eqinfo::m1_file> file;
  try {
    file.emplace(eqinfo::parse_m1(blob, "<fuzz>", /*run_self_test=*/false));
  } catch (const eqinfo::error& e) {
    EQINFO_FUZZ_CHECK(eqinfo_fuzz::one_of(e.code(), {errc::bad_magic, errc::unsupported_version, errc::bad_model_file,
                                                     errc::checksum_mismatch, errc::invalid_settings}));
    if (e.code() == errc::unsupported_version) {
      // Version 1 files convert (or fail with a documented code).
      try {
        const auto w = eqinfo::quantize_m1_file(blob, "<fuzz>");
        EQINFO_FUZZ_CHECK(eqinfo::parse_m1(eqinfo::serialize_m1(w), "<again>", false).weights->config == w.config);
      } catch (const eqinfo::error& e2) {
        EQINFO_FUZZ_CHECK(
            eqinfo_fuzz::one_of(e2.code(), {errc::bad_magic, errc::unsupported_version, errc::bad_model_file,
                                            errc::checksum_mismatch, errc::invalid_settings}));
      }
    }
    return;
  }
  const auto canonical = eqinfo::serialize_m1(*file->weights, file->self_tests);
  const auto again = eqinfo::parse_m1(canonical, "<canonical>", false);
  EQINFO_FUZZ_CHECK(*again.weights == *file->weights);
  EQINFO_FUZZ_CHECK(again.self_tests.size() == file->self_tests.size());
  EQINFO_FUZZ_CHECK(eqinfo::serialize_m1(*again.weights, again.self_tests) == canonical);
  const auto& c = file->weights->config;
  const std::uint64_t work = std::uint64_t{c.layers} * (std::uint64_t{c.d_model} * (c.attention_width() + c.d_ff)) +
                             std::uint64_t{c.context} * c.attention_width() * c.layers;
  if (work <= 200000) {
    eqinfo::m1_model m = file->model(16);
    m.reset();
    for (std::uint8_t b : {std::uint8_t{'a'}, std::uint8_t{0}, std::uint8_t{255}}) {
      const eqinfo::cdf_table& cdf = m.predict();
      EQINFO_FUZZ_CHECK(cdf[0] == 0 && cdf[256] == 65536u);
      for (std::size_t s = 0; s < 256; ++s) EQINFO_FUZZ_CHECK(cdf[s] < cdf[s + 1]);
      m.update(b);
    }
  }
}

/// The blob with its "tensor_crc32":"xxxxxxxx" rewritten to the CRC-32 of the
/// data section after the header (empty if the blob has no such field).
std::vector<unsigned char> with_fixed_crc(std::span<const unsigned char> blob) {
  if (blob.size() < 8) return {};
  std::uint64_t header = 0;
  for (int k = 7; k >= 0; --k) header = (header << 8) | blob[static_cast<std::size_t>(k)];
  if (header > blob.size() - 8) return {};
  const std::string text(blob.begin() + 8, blob.begin() + 8 + static_cast<std::ptrdiff_t>(header));
  const std::string key = "\"tensor_crc32\":\"";
  const auto at = text.find(key);
  if (at == std::string::npos || at + key.size() + 8 > text.size()) return {};
  std::vector<unsigned char> out(blob.begin(), blob.end());
  const auto body = blob.subspan(8 + static_cast<std::size_t>(header));
  const std::string hex = eqinfo::detail::m1::hex8(eqinfo::detail::crc32(body.data(), body.size()));
  std::copy(hex.begin(), hex.end(), out.begin() + 8 + static_cast<std::ptrdiff_t>(at + key.size()));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const unsigned char> blob(data, size);
  check(blob);
  const auto fixed = with_fixed_crc(blob);
  if (!fixed.empty()) check(fixed);
  return 0;
}
