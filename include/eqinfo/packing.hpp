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

/// N-bit tokens -> bits (tokens.size() * N of them), appended to `bits`.
/// Throws errc::token_out_of_range naming the first token >= 2^N (counted
/// from `first_index`: where `tokens` starts in its stream).
inline void append_tokens(std::span<const token_t> tokens, unsigned token_bits, bit_vector& bits,
                          std::uint64_t first_index = 0) {
  if (token_bits < 1 || token_bits > 32) throw error(errc::invalid_argument, "token_bits must be in [1, 32]");
  const std::uint64_t limit = std::uint64_t{1} << token_bits;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= limit)
      throw error(errc::token_out_of_range, "token " + std::to_string(first_index + i) + " is " +
                                                std::to_string(tokens[i]) + ", not below 2^" +
                                                std::to_string(token_bits));
    bits.append(tokens[i], token_bits);
  }
}

/// N-bit tokens -> bits (tokens.size() * N of them).
/// Throws errc::token_out_of_range naming the first token >= 2^N.
inline bit_vector unpack_tokens(std::span<const token_t> tokens, unsigned token_bits) {
  bit_vector bits;
  append_tokens(tokens, token_bits, bits);
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

namespace detail {
/// The little-endian tokens of `width` bytes each that make up `body`,
/// checked to be below 2^N. Throws errc::truncated_tokens for a partial
/// token, errc::token_out_of_range naming the first bad one.
inline std::vector<token_t> read_tokens(std::span<const unsigned char> body, unsigned width, unsigned token_bits,
                                        const std::string& source) {
  if (body.size() % width != 0)
    throw error(errc::truncated_tokens, source + ": " + std::to_string(body.size()) +
                                            " bytes is not a whole number of " + std::to_string(width) +
                                            "-byte tokens");
  std::vector<token_t> tokens(body.size() / width);
  le_reader in(body, source, errc::truncated_tokens);
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
}  // namespace detail

/// Inverse of serialize_tokens_raw. Throws errc::truncated_tokens if the size
/// is not a whole number of tokens, errc::token_out_of_range for values >= 2^N.
inline std::vector<token_t> parse_tokens_raw(std::span<const unsigned char> data, unsigned token_bits,
                                             const std::string& source = "tokens") {
  return detail::read_tokens(data, token_storage_bytes(token_bits), token_bits, source);
}

namespace detail {

/// A NumPy 1.0 file: header padded so the data starts at a multiple of 64
/// bytes, then `body`. `shape` is a Python tuple, e.g. "(5,)" or "(5, 4)".
inline std::vector<unsigned char> npy_file(const std::string& descr, const std::string& shape,
                                           std::span<const unsigned char> body) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic(6) + version(2) + length(2) + header + '\n' is a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::vector<unsigned char> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  put_le(out, header.size(), 2);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

/// A C-order .npy array of `columns` columns (0: one-dimensional): its dtype
/// ("<u2", ...), row count and data bytes.
struct npy_view {
  std::string descr;
  std::size_t rows = 0;
  std::span<const unsigned char> body;
};

/// Reads the header of a .npy file (versions 1 and 2) and checks its shape;
/// the data must be exactly rows x max(columns, 1) x width(descr) bytes, where
/// `width` maps a dtype to its size or 0 for one the caller does not take.
/// Throws errc::bad_magic, unsupported_version or truncated_tokens.
template <class Width>
npy_view parse_npy(std::span<const unsigned char> data, const std::string& source, std::size_t columns, Width&& width) {
  le_reader in(data, source, errc::truncated_tokens);
  const auto magic = in.take(6, "npy magic");
  if (std::memcmp(magic.data(), "\x93NUMPY", 6) != 0) throw error(errc::bad_magic, source + ": not a .npy file");
  const auto major = in.get(1, "npy version");
  in.get(1, "npy version");
  if (major != 1 && major != 2)
    throw error(errc::unsupported_version, source + ": .npy version " + std::to_string(major));
  const auto length = in.get(major == 1 ? 2 : 4, "npy header length");
  const auto raw = in.take(static_cast<std::size_t>(length), "npy header");
  std::string header(raw.begin(), raw.end());
  std::erase(header, ' ');
  auto value_at = [&](const std::string& key) {
    const auto at = header.find("'" + key + "':");
    if (at == std::string::npos) throw error(errc::bad_magic, source + ": .npy header lacks '" + key + "'");
    return at + key.size() + 3;
  };
  npy_view v;
  const std::size_t d = value_at("descr");
  const std::size_t d_end = header[d] == '\'' ? header.find('\'', d + 1) : std::string::npos;
  if (d_end == std::string::npos) throw error(errc::bad_magic, source + ": .npy header has a malformed 'descr'");
  v.descr = header.substr(d + 1, d_end - d - 1);
  const std::size_t w = width(v.descr);
  if (w == 0) throw error(errc::unsupported_version, source + ": .npy dtype " + v.descr + " is not supported here");
  if (header.compare(value_at("fortran_order"), 5, "False") != 0)
    throw error(errc::unsupported_version, source + ": Fortran-order arrays are not supported");
  std::size_t pos = value_at("shape"), digits = 0;
  if (header[pos] != '(') throw error(errc::bad_magic, source + ": .npy header has a malformed 'shape'");
  for (++pos; pos < header.size() && header[pos] >= '0' && header[pos] <= '9' && digits < 18; ++pos, ++digits)
    v.rows = v.rows * 10 + static_cast<std::size_t>(header[pos] - '0');
  // One-dimensional: "(n,)" (or numpy's never-written "(n)"); two: "(n,c)".
  const bool shape_ok =
      columns == 0 ? header.compare(pos, 2, ",)") == 0 || header.compare(pos, 1, ")") == 0
                   : header.compare(pos, std::to_string(columns).size() + 2, "," + std::to_string(columns) + ")") == 0;
  if (digits == 0 || !shape_ok)
    throw error(errc::unsupported_version, source + ": shape is not (n," +
                                               (columns == 0 ? std::string(")") : std::to_string(columns) + ")") +
                                               " (header " + header + ")");
  // Compared by division: rows x row bytes can wrap around 2^64 to the size.
  const std::size_t row_bytes = (columns == 0 ? 1 : columns) * w;
  if (in.remaining() % row_bytes != 0 || in.remaining() / row_bytes != v.rows)
    throw error(errc::truncated_tokens, source + ": header promises " + std::to_string(v.rows) + " rows of " +
                                            std::to_string(row_bytes) + " bytes, the file has " +
                                            std::to_string(in.remaining()) + " bytes of data");
  const std::size_t bytes = v.rows * row_bytes;
  v.body = in.take(bytes, "npy data");
  return v;
}

}  // namespace detail

/// A 1-D NumPy array (.npy format 1.0) of dtype <u1/<u2/<u4 chosen by N.
inline std::vector<unsigned char> serialize_tokens_npy(std::span<const token_t> tokens, unsigned token_bits) {
  const unsigned width = token_storage_bytes(token_bits);
  const auto body = serialize_tokens_raw(tokens, token_bits);
  return detail::npy_file(width == 1   ? "|u1"
                          : width == 2 ? "<u2"
                                       : "<u4",
                          "(" + std::to_string(tokens.size()) + ",)", body);
}

/// Reads a 1-D C-order .npy of unsigned integers (u1, u2 or u4, little-endian).
/// Throws errc::bad_magic, unsupported_version, truncated_tokens or
/// token_out_of_range.
inline std::vector<token_t> parse_tokens_npy(std::span<const unsigned char> data, unsigned token_bits,
                                             const std::string& source = "tokens.npy") {
  const auto width_of = [](const std::string& descr) -> std::size_t {
    return descr == "|u1" || descr == "<u1" ? 1 : descr == "<u2" ? 2 : descr == "<u4" ? 4 : 0;
  };
  const detail::npy_view v = detail::parse_npy(data, source, 0, width_of);
  return detail::read_tokens(v.body, static_cast<unsigned>(width_of(v.descr)), token_bits, source);  // rows x width
}

}  // namespace v1
}  // namespace eqinfo
