// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// bit_vector: the bitstream between the arithmetic coder and token packing.

#include <eqinfo/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace eqinfo {
inline namespace v1 {

/// Bits in first-in-first-out order. Bit i lives in word i / 64 at bit
/// 63 - i % 64 (MSB first), so a stream reads left to right like the binary
/// fraction 0.b0 b1 b2 ... that the arithmetic coder's interval refers to.
/// Bits past size() in the last word are always zero (operator== relies on it).
class bit_vector {
 public:
  bit_vector() = default;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const std::vector<std::uint64_t>& words() const noexcept { return words_; }

  bool operator[](std::size_t i) const noexcept { return (words_[i >> 6] >> (63 - (i & 63))) & 1u; }

  /// `count` bits (0..64) starting at `pos`, MSB first, as the low bits of the
  /// result. Positions at or past size() read as `pad` (the decoder's padding).
  std::uint64_t read(std::size_t pos, unsigned count, bool pad = false) const noexcept {
    // Fast path: all `count` bits lie before size(). Bit pos is bit `offset`
    // (from the top) of word w; the next word, if any, supplies the rest. The
    // double shift keeps the shift amount below 64 when offset is 0.
    if (count <= 64 && pos <= size_ && count <= size_ - pos) {
      if (count == 0) return 0;
      const std::size_t w = pos >> 6;
      const unsigned offset = static_cast<unsigned>(pos & 63);
      const std::uint64_t next = w + 1 < words_.size() ? words_[w + 1] : 0;
      const std::uint64_t top = (words_[w] << offset) | ((next >> 1) >> (63 - offset));
      return top >> (64 - count);
    }
    return read_slow(pos, count, pad);
  }

 private:
  std::uint64_t read_slow(std::size_t pos, unsigned count, bool pad) const noexcept {
    if (count == 0) return 0;
    std::uint64_t out = 0;
    unsigned done = 0;
    while (done < count) {
      const std::size_t p = pos + done;
      if (p >= size_) {
        const unsigned rest = count - done;
        out = shl(out, rest) | (pad ? low_mask(rest) : 0);
        break;
      }
      const std::size_t word = p >> 6;
      const unsigned offset = static_cast<unsigned>(p & 63);
      unsigned take = 64 - offset;
      if (take > count - done) take = count - done;
      if (p + take > size_) take = static_cast<unsigned>(size_ - p);
      const std::uint64_t bits = (words_[word] << offset) >> (64 - take);
      out = shl(out, take) | bits;
      done += take;
    }
    return out;
  }

 public:
  void push_back(bool bit) { append(bit ? 1u : 0u, 1); }

  /// Appends the low `count` bits of `bits` (count <= 64), most significant first.
  void append(std::uint64_t bits, unsigned count) {
    if (count == 0) return;
    bits &= low_mask(count);
    const unsigned used = static_cast<unsigned>(size_ & 63);
    if (used == 0) {
      words_.push_back(bits << (64 - count));
    } else {
      // The partial last word is words_[size_ / 64] (indexed, not back():
      // GCC 12 cannot see that used != 0 implies a word and warns).
      const unsigned room = 64 - used;
      std::uint64_t& last = words_[size_ >> 6];
      if (count <= room) {
        last |= bits << (room - count);
      } else {
        last |= bits >> (count - room);
        words_.push_back(bits << (64 - (count - room)));
      }
    }
    size_ += count;
  }

  /// Appends `count` copies of `bit` (the coder's pending "follow" bits).
  void append_run(bool bit, std::uint64_t count) {
    const std::uint64_t pattern = bit ? ~std::uint64_t{0} : 0;
    while (count >= 64) {
      append(pattern, 64);
      count -= 64;
    }
    append(pattern, static_cast<unsigned>(count));
  }

  /// Appends bits [begin, end) of `other`.
  void append_range(const bit_vector& other, std::size_t begin, std::size_t end) {
    while (begin < end) {
      const unsigned take = end - begin >= 64 ? 64u : static_cast<unsigned>(end - begin);
      append(other.read(begin, take), take);
      begin += take;
    }
  }

  /// Truncates to `n` bits, or extends with zero bits.
  void resize(std::size_t n) {
    if (n > size_) {
      append_run(false, n - size_);
      return;
    }
    size_ = n;
    words_.resize((n + 63) >> 6);
    if (n & 63) words_.back() &= ~low_mask(64 - static_cast<unsigned>(n & 63));
  }

  void clear() noexcept {
    words_.clear();
    size_ = 0;
  }

  /// Index of the last 1 bit plus one (0 if all bits are zero).
  std::size_t significant_size() const noexcept {
    for (std::size_t w = words_.size(); w-- > 0;) {
      if (words_[w] != 0) {
        unsigned trailing = 0;
        std::uint64_t v = words_[w];
        while ((v & 1u) == 0) {
          v >>= 1;
          ++trailing;
        }
        return w * 64 + (64 - trailing);
      }
    }
    return 0;
  }

  /// "0110..." for messages and tests.
  std::string to_string() const {
    std::string s;
    s.reserve(size_);
    for (std::size_t i = 0; i < size_; ++i) s.push_back((*this)[i] ? '1' : '0');
    return s;
  }

  friend bool operator==(const bit_vector& a, const bit_vector& b) noexcept {
    return a.size_ == b.size_ && a.words_ == b.words_;
  }

 private:
  static constexpr std::uint64_t low_mask(unsigned n) noexcept {
    return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
  }
  static constexpr std::uint64_t shl(std::uint64_t v, unsigned n) noexcept { return n >= 64 ? 0 : v << n; }

  std::vector<std::uint64_t> words_;
  std::size_t size_ = 0;
};

}  // namespace v1
}  // namespace eqinfo
