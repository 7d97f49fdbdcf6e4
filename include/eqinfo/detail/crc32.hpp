// SPDX-License-Identifier: MIT
#pragma once
// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): the same value as
// Python's zlib.crc32, so files can be checked from either side.

#include <array>
#include <cstddef>
#include <cstdint>

namespace eqinfo {
inline namespace v1 {
namespace detail {

inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}();

/// Continues a CRC: crc32(b, crc32(a)) == crc32(a + b). Start with crc = 0.
constexpr std::uint32_t crc32(const unsigned char* data, std::size_t size, std::uint32_t crc = 0) noexcept {
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = crc32_table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
