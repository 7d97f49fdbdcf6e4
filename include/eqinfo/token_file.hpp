// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The .eqt token file: tokens plus everything needed to decode them exactly.
///
/// Layout (little-endian):
///   "EQINFOTK" | u32 stream format | u8 method | u8 window rule | u8 token_bits
///   | u8 precision_bits | u32 window_bits | u64 segment_bytes (format >= 2)
///   | u32 model fingerprint | u64 byte count | u64 token count
///   | tokens (1, 2 or 4 bytes each by N) | u32 CRC-32 of everything before it
///
/// Format 1 files (eqinfo 0.2, no segments) are read with segment_bytes 0,
/// which is what they were coded with.

#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/detail/hex.hpp>
#include <eqinfo/detail/le_io.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/packing.hpp>
#include <eqinfo/settings.hpp>
#include <eqinfo/version.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace eqinfo {
inline namespace v1 {
struct token_file {
  settings config;
  std::uint32_t model_fingerprint = 0;  ///< identifies the model (0: none recorded)
  std::uint64_t byte_count = 0;
  std::vector<token_t> tokens;
};

inline std::vector<unsigned char> serialize_token_file(const token_file& f) {
  std::vector<unsigned char> out = {'E', 'Q', 'I', 'N', 'F', 'O', 'T', 'K'};
  detail::put_le(out, EQINFO_STREAM_FORMAT, 4);
  detail::put_le(out, static_cast<std::uint8_t>(f.config.kind), 1);
  detail::put_le(out, static_cast<std::uint8_t>(f.config.rule), 1);
  detail::put_le(out, f.config.token_bits, 1);
  detail::put_le(out, f.config.precision_bits, 1);
  detail::put_le(out, f.config.window_bits, 4);
  detail::put_le(out, f.config.segment_bytes, 8);
  detail::put_le(out, f.model_fingerprint, 4);
  detail::put_le(out, f.byte_count, 8);
  detail::put_le(out, f.tokens.size(), 8);
  const auto body = serialize_tokens_raw(f.tokens, f.config.token_bits);
  out.insert(out.end(), body.begin(), body.end());
  detail::put_le(out, detail::crc32(out.data(), out.size()), 4);
  return out;
}

/// Throws errc::bad_magic, unsupported_version, truncated_tokens (short file),
/// checksum_mismatch, invalid_settings or token_out_of_range.
inline token_file parse_token_file(std::span<const unsigned char> data, const std::string& source) {
  detail::le_reader in(data, source, errc::truncated_tokens);
  const auto magic = in.take(8, "magic");
  if (std::memcmp(magic.data(), "EQINFOTK", 8) != 0)
    throw error(errc::bad_magic, source + ": not an eqinfo token file (magic is not \"EQINFOTK\")");
  const auto format = in.get(4, "stream format");
  if (format != EQINFO_STREAM_FORMAT && format != 1)
    throw error(errc::unsupported_version, source + ": stream format " + std::to_string(format) +
                                               ", this build reads formats 1 to " +
                                               std::to_string(EQINFO_STREAM_FORMAT));
  token_file f;
  f.config.kind = static_cast<method>(in.get(1, "method"));
  f.config.rule = static_cast<window_rule>(in.get(1, "window rule"));
  f.config.token_bits = static_cast<unsigned>(in.get(1, "token_bits"));
  f.config.precision_bits = static_cast<unsigned>(in.get(1, "precision_bits"));
  f.config.window_bits = static_cast<unsigned>(in.get(4, "window_bits"));
  f.config.segment_bytes = format >= 2 ? in.get(8, "segment_bytes") : 0;
  f.model_fingerprint = static_cast<std::uint32_t>(in.get(4, "model fingerprint"));
  f.byte_count = in.get(8, "byte count");
  const std::uint64_t count = in.get(8, "token count");
  if (f.config.token_bits < 1 || f.config.token_bits > max_token_bits)
    throw error(errc::invalid_settings, source + ": token_bits " + std::to_string(f.config.token_bits));
  const unsigned width = token_storage_bytes(f.config.token_bits);
  // Check the count against the file size before allocating anything.
  if (in.remaining() < 4 || (in.remaining() - 4) / width < count || (in.remaining() - 4) != count * width)
    throw error(errc::truncated_tokens, source + ": header promises " + std::to_string(count) +
                                            " tokens, the file holds " + std::to_string(in.remaining()) +
                                            " bytes after the header");
  const std::size_t body_end = in.position() + static_cast<std::size_t>(count) * width;
  const std::uint32_t stored = static_cast<std::uint32_t>(
      detail::le_reader(data.subspan(body_end), source, errc::truncated_tokens).get(4, "checksum"));
  const std::uint32_t actual = detail::crc32(data.data(), body_end);
  if (stored != actual)
    throw error(errc::checksum_mismatch,
                source + ": CRC-32 " + detail::hex32(actual) + ", expected " + detail::hex32(stored));
  f.config.validate();
  f.tokens = parse_tokens_raw(data.subspan(in.position(), static_cast<std::size_t>(count) * width), f.config.token_bits,
                              source);
  return f;
}

}  // namespace v1
}  // namespace eqinfo
