// SPDX-License-Identifier: MIT
// Fuzz target: unigram_model::parse on arbitrary blobs.
//
// Asserts, for the blob and for a copy whose last 4 bytes are replaced by the
// CRC-32 of the rest (so that mutations get past the checksum): parsing
// either throws eqinfo::error with one of the documented codes (bad_magic,
// unsupported_version, bad_model_file, checksum_mismatch), or succeeds, and
// then serialize() gives back exactly the parsed bytes, the model's CDF is
// valid and its fingerprint is the stored CRC.
#include "fuzz_common.hpp"

#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/model.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace {

void check(std::span<const unsigned char> blob) {
  using eqinfo::errc;
  std::optional<eqinfo::unigram_model> m;
  try {
    m.emplace(eqinfo::unigram_model::parse(blob, "<fuzz>"));
  } catch (const eqinfo::error& e) {
    EQINFO_FUZZ_CHECK(eqinfo_fuzz::one_of(
        e.code(), {errc::bad_magic, errc::unsupported_version, errc::bad_model_file, errc::checksum_mismatch}));
    return;
  }
  const std::vector<unsigned char> again = m->serialize();
  EQINFO_FUZZ_CHECK(again.size() == blob.size() && std::equal(again.begin(), again.end(), blob.begin()));
  const eqinfo::cdf_table& cdf = m->predict();
  EQINFO_FUZZ_CHECK(cdf[0] == 0 && cdf[256] == (std::uint32_t{1} << m->precision_bits()));
  for (std::size_t s = 0; s < 256; ++s) EQINFO_FUZZ_CHECK(cdf[s] < cdf[s + 1]);
  for (std::uint32_t t : {std::uint32_t{0}, cdf[256] / 3, cdf[256] - 1}) {
    const std::uint8_t b = m->symbol_of(t);
    EQINFO_FUZZ_CHECK(cdf[b] <= t && t < cdf[b + 1u]);
  }
  EQINFO_FUZZ_CHECK(m->fingerprint() == eqinfo::detail::crc32(blob.data(), blob.size() - 4));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  eqinfo_fuzz::check_with_and_without_crc(std::span<const unsigned char>(data, size), check);
  return 0;
}
