// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// UTF-8 at the edges of streamed bytes: a window can end inside a
/// multi-byte character. eqinfo::utf8_stream passes on whole characters and
/// holds back an incomplete one until the bytes that complete it arrive (as
/// Hugging Face's DecodeStream does).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

namespace eqinfo {
inline namespace v1 {

/// How many bytes at the end of `bytes` are the start of a UTF-8 character
/// that more bytes could still complete (0 to 3). Bytes that no continuation
/// can make valid (a stray continuation byte, C0, F5..FF, an overlong or
/// surrogate start) are not held back: they are passed on, for the reader
/// to replace or refuse.
constexpr std::size_t incomplete_utf8_suffix(std::span<const std::uint8_t> bytes) noexcept {
  const std::size_t n = bytes.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const std::uint8_t lead = bytes[n - back];
    if ((lead & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t need = lead >= 0xC2 && lead <= 0xDF   ? 2
                             : lead >= 0xE0 && lead <= 0xEF ? 3
                             : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                            : 0;
    if (need <= back) return 0;  // ASCII, invalid, or a complete character
    if (back >= 2) {             // the second byte's range (RFC 3629): no overlongs, surrogates or > U+10FFFF
      const std::uint8_t second = bytes[n - back + 1];
      const std::uint8_t low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
      const std::uint8_t high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
      if (second < low || second > high) return 0;
    }
    return back;
  }
  return 0;
}

/// Streamed bytes -> text that never splits a character (see the file comment).
class utf8_stream {
 public:
  /// `bytes` after the held-back ones, up to the last whole character.
  std::string push(std::span<const std::uint8_t> bytes) {
    held_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const std::size_t keep =
        incomplete_utf8_suffix(std::span(reinterpret_cast<const std::uint8_t*>(held_.data()), held_.size()));
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
  }
  /// The end of the stream: whatever is held back (an incomplete character).
  std::string finish() { return std::exchange(held_, std::string()); }
  /// Bytes held back now (0 to 3).
  std::size_t held() const noexcept { return held_.size(); }

 private:
  std::string held_;
};

}  // namespace v1
}  // namespace eqinfo
