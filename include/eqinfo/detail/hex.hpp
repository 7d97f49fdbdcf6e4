// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Hexadecimal text, written and read in one place: CRC-32s and
/// fingerprints, shard separators, M1 self-test inputs, JSON \u escapes and
/// error messages.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {

inline constexpr char hex_digits[] = "0123456789abcdef";

/// Appends the low `digits` hex digits of `v`, most significant first, lowercase.
inline void append_hex(std::string& out, std::uint64_t v, unsigned digits) {
  for (unsigned i = digits; i-- > 0;) out.push_back(hex_digits[(v >> (4 * i)) & 0xFu]);
}

/// "0x" and 8 lowercase digits: how eqinfo writes CRC-32s and fingerprints.
inline std::string hex32(std::uint32_t v) {
  std::string s = "0x";
  append_hex(s, v, 8);
  return s;
}

/// Two lowercase digits per byte.
inline std::string hex_bytes(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(2 * bytes.size());
  for (const std::uint8_t b : bytes) append_hex(out, b, 2);
  return out;
}
inline std::string hex_bytes(std::string_view bytes) {
  return hex_bytes(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

/// The value of one hex digit, or -1. With `lowercase_only`, 'A'-'F' are not
/// digits: eqinfo's own files write lowercase and read it strictly.
inline int hex_value(char c, bool lowercase_only = false) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (!lowercase_only && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The number written with exactly text.size() (1 to 16) hex digits, or nullopt.
inline std::optional<std::uint64_t> parse_hex(std::string_view text, bool lowercase_only = false) noexcept {
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : text) {
    const int d = hex_value(c, lowercase_only);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

/// The bytes written as pairs of hex digits, or nullopt (odd length, or not a digit).
inline std::optional<std::vector<std::uint8_t>> parse_hex_bytes(std::string_view text, bool lowercase_only = false) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const auto b = parse_hex(text.substr(i, 2), lowercase_only);
    if (!b) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(*b));
  }
  return out;
}

}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
