// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Bitstreams <-> N-bit tokens, and token serialisation (raw little-endian
/// and NumPy .npy).

#include <eqinfo/bits.hpp>
#include <eqinfo/detail/le_io.hpp>
#include <eqinfo/error.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace eqinfo {
inline namespace v1 {

/// A token value in [0, 2^N).
using token_t = std::uint32_t;

/// Bits -> N-bit tokens, MSB first: the stream's first bit is the top bit of
/// the first token. The last token is padded with zero bits.
inline std::vector<token_t> pack_tokens(const bit_vector& bits, unsigned token_bits) {
  if (token_bits < 1 || token_bits > 32) throw error(errc::invalid_argument, "token_bits must be in [1, 32]");
  const std::size_t count = (bits.size() + token_bits - 1) / token_bits;
  std::vector<token_t> tokens(count);
  for (std::size_t i = 0; i < count; ++i) tokens[i] = static_cast<token_t>(bits.read(i * token_bits, token_bits));
  return tokens;
}

/// N-bit tokens -> bits (tokens.size() * N of them).
/// Throws errc::token_out_of_range naming the first token >= 2^N.
inline bit_vector unpack_tokens(std::span<const token_t> tokens, unsigned token_bits) {
  if (token_bits < 1 || token_bits > 32) throw error(errc::invalid_argument, "token_bits must be in [1, 32]");
  const std::uint64_t limit = std::uint64_t{1} << token_bits;
  bit_vector bits;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= limit)
      throw error(errc::token_out_of_range, "token " + std::to_string(i) + " is " + std::to_string(tokens[i]) +
                                                ", not below 2^" + std::to_string(token_bits));
    bits.append(tokens[i], token_bits);
  }
  return bits;
}

/// Bytes per token in serialised files: 1 for N <= 8, 2 for N <= 16, else 4.
constexpr unsigned token_storage_bytes(unsigned token_bits) noexcept {
  return token_bits <= 8 ? 1u : token_bits <= 16 ? 2u : 4u;
}

/// Raw little-endian array of tokens (uint8/uint16/uint32 by N), the layout
/// nanoGPT-style loaders np.memmap.
inline std::vector<unsigned char> serialize_tokens_raw(std::span<const token_t> tokens, unsigned token_bits) {
  const unsigned width = token_storage_bytes(token_bits);
  std::vector<unsigned char> out;
  out.reserve(tokens.size() * width);
  for (token_t t : tokens) detail::put_le(out, t, static_cast<int>(width));
  return out;
}

/// Inverse of serialize_tokens_raw. Throws errc::truncated_tokens if the size
/// is not a whole number of tokens, errc::token_out_of_range for values >= 2^N.
inline std::vector<token_t> parse_tokens_raw(std::span<const unsigned char> data, unsigned token_bits,
                                             const std::string& source = "tokens") {
  const unsigned width = token_storage_bytes(token_bits);
  if (data.size() % width != 0)
    throw error(errc::truncated_tokens, source + ": " + std::to_string(data.size()) +
                                            " bytes is not a whole number of " + std::to_string(width) +
                                            "-byte tokens");
  std::vector<token_t> tokens(data.size() / width);
  detail::le_reader in(data, source, errc::truncated_tokens);
  const std::uint64_t limit = std::uint64_t{1} << token_bits;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::uint64_t v = in.get(static_cast<int>(width), "token");
    if (v >= limit)
      throw error(errc::token_out_of_range, source + ": token " + std::to_string(i) + " is " + std::to_string(v) +
                                                ", not below 2^" + std::to_string(token_bits));
    tokens[i] = static_cast<token_t>(v);
  }
  return tokens;
}

/// A 1-D NumPy array (.npy format 1.0) of dtype <u1/<u2/<u4 chosen by N.
inline std::vector<unsigned char> serialize_tokens_npy(std::span<const token_t> tokens, unsigned token_bits) {
  const unsigned width = token_storage_bytes(token_bits);
  std::string header = std::string("{'descr': '") +
                       (width == 1   ? "|u1"
                        : width == 2 ? "<u2"
                                     : "<u4") +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(tokens.size()) + ",), }";
  // magic(6) + version(2) + length(2) + header + '\n' is a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::vector<unsigned char> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  detail::put_le(out, header.size(), 2);
  out.insert(out.end(), header.begin(), header.end());
  const auto body = serialize_tokens_raw(tokens, token_bits);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

/// Reads a 1-D C-order .npy of unsigned integers (u1, u2 or u4, little-endian).
/// Throws errc::bad_magic, unsupported_version, truncated_tokens or
/// token_out_of_range.
inline std::vector<token_t> parse_tokens_npy(std::span<const unsigned char> data, unsigned token_bits,
                                             const std::string& source = "tokens.npy") {
  detail::le_reader in(data, source, errc::truncated_tokens);
  const auto magic = in.take(6, "npy magic");
  if (std::memcmp(magic.data(), "\x93NUMPY", 6) != 0) throw error(errc::bad_magic, source + ": not a .npy file");
  const auto major = in.get(1, "npy version");
  in.get(1, "npy version");
  if (major != 1 && major != 2)
    throw error(errc::unsupported_version, source + ": .npy version " + std::to_string(major));
  const auto header_length = in.get(major == 1 ? 2 : 4, "npy header length");
  const auto raw = in.take(static_cast<std::size_t>(header_length), "npy header");
  const std::string header(raw.begin(), raw.end());
  auto field = [&](const std::string& key) -> std::string {
    const auto at = header.find("'" + key + "'");
    if (at == std::string::npos) throw error(errc::bad_magic, source + ": .npy header lacks '" + key + "'");
    auto start = header.find(':', at) + 1;
    while (start < header.size() && header[start] == ' ') ++start;
    const char close = header[start] == '(' ? ')' : header[start] == '\'' ? '\'' : ',';
    const auto end = header.find(close, start + 1);
    return header.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
  };
  const std::string descr = field("descr");
  unsigned width = 0;
  if (descr == "'|u1'" || descr == "'<u1'")
    width = 1;
  else if (descr == "'<u2'")
    width = 2;
  else if (descr == "'<u4'")
    width = 4;
  else
    throw error(errc::unsupported_version, source + ": dtype " + descr + " is not <u1, <u2 or <u4");
  if (field("fortran_order").rfind("False", 0) != 0)
    throw error(errc::unsupported_version, source + ": Fortran-order arrays are not supported");
  const std::string shape = field("shape");  // "(n,)" or "(n)"
  std::size_t count = 0;
  std::size_t digits = 0;
  for (std::size_t i = 1; i < shape.size() && shape[i] >= '0' && shape[i] <= '9'; ++i, ++digits)
    count = count * 10 + static_cast<std::size_t>(shape[i] - '0');
  if (digits == 0 || digits > 18 || (shape[1 + digits] != ',' && shape[1 + digits] != ')') ||
      shape.find(',', 2 + digits) < shape.size() - 1)
    throw error(errc::unsupported_version, source + ": shape " + shape + " is not one-dimensional");
  if (in.remaining() != count * width)
    throw error(errc::truncated_tokens, source + ": header promises " + std::to_string(count) + " tokens (" +
                                            std::to_string(count * width) + " bytes), file has " +
                                            std::to_string(in.remaining()) + " bytes of data");
  const auto body = in.take(count * width, "npy data");
  std::vector<token_t> tokens(count);
  detail::le_reader values(body, source, errc::truncated_tokens);
  const std::uint64_t limit = std::uint64_t{1} << token_bits;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t v = values.get(static_cast<int>(width), "token");
    if (v >= limit)
      throw error(errc::token_out_of_range, source + ": token " + std::to_string(i) + " is " + std::to_string(v) +
                                                ", not below 2^" + std::to_string(token_bits));
    tokens[i] = static_cast<token_t>(v);
  }
  return tokens;
}

}  // namespace v1
}  // namespace eqinfo
