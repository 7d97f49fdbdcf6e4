// SPDX-License-Identifier: MIT
#pragma once
// Explicit little-endian reading and writing of fixed-width integers, with
// bounds checks that name the file and the field.

#include <eqinfo/error.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {

inline void put_le(std::vector<unsigned char>& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<unsigned char>(value >> (8 * i)));
}

/// Sequential little-endian reader over a byte span; every read is
/// bounds-checked and a short read throws `short_code` naming `what`.
class le_reader {
 public:
  le_reader(std::span<const unsigned char> data, std::string source, errc short_code)
      : data_(data), source_(std::move(source)), short_code_(short_code) {}

  std::uint64_t get(int bytes, const char* what) {
    need(static_cast<std::size_t>(bytes), what);
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t{data_[pos_ + static_cast<std::size_t>(i)]} << (8 * i);
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }
  std::span<const unsigned char> take(std::size_t n, const char* what) {
    need(n, what);
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::size_t position() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return data_.size() - pos_; }
  const std::string& source() const noexcept { return source_; }

 private:
  void need(std::size_t n, const char* what) const {
    if (n > data_.size() - pos_)
      throw error(short_code_, source_ + ": truncated at byte " + std::to_string(pos_) + " while reading " + what +
                                   " (" + std::to_string(n) + " bytes needed, " + std::to_string(data_.size() - pos_) +
                                   " left)");
  }
  std::span<const unsigned char> data_;
  std::size_t pos_ = 0;
  std::string source_;
  errc short_code_;
};

inline std::vector<unsigned char> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(errc::io_error, path + ": cannot open for reading");
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw error(errc::io_error, path + ": read failed");
  return data;
}

inline void write_file_bytes(const std::string& path, std::span<const unsigned char> data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw error(errc::io_error, path + ": cannot open for writing");
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw error(errc::io_error, path + ": write failed");
}

}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
