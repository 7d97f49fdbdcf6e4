// SPDX-License-Identifier: MIT
#pragma once
// Peer for the benchmarks: a textbook byte-wise 32-bit rANS coder.
//
// Origin: a re-implementation of Fabian "ryg" Giesen's rans_byte.h
// (https://github.com/rygorous/ryg_rans, public domain, 2014): state in
// [L, 256 L) with L = 2^23, byte-wise renormalisation, the encoder runs over
// the input backwards and writes bytes backwards, the decoder runs forwards.
// Encoding divides by the frequency (RansEncPut); decoding maps the low P
// bits of the state to a symbol through a 2^P-entry table built once per
// model (the "cum2sym" table of ryg's example), then RansDecAdvance.
//
// It codes the same quantised frequencies (an eqinfo::cdf_table) at the same
// precision P as eqinfo's arithmetic coder, so the benchmark compares the
// coders, not the models. It is a benchmark peer only: not part of eqinfo.

#include <eqinfo/coder.hpp>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace eqinfo_bench {

class rans_byte {
 public:
  static constexpr std::uint32_t lower = 1u << 23;  // RANS_BYTE_L

  /// `cdf` totals 2^precision; precision <= 16 keeps every x_max below 2^32.
  rans_byte(const eqinfo::cdf_table& cdf, unsigned precision) : cdf_(cdf), precision_(precision) {
    if (precision > 16) throw std::invalid_argument("rans_byte: precision must be <= 16");
    cum2sym_.resize(std::size_t{1} << precision);
    for (unsigned s = 0; s < 256; ++s)
      for (std::uint32_t i = cdf[s]; i < cdf[s + 1]; ++i) cum2sym_[i] = static_cast<std::uint8_t>(s);
  }

  /// Encodes `in` into the tail of `buffer` (resized to a worst-case bound);
  /// returns the offset where the code starts.
  std::size_t encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& buffer) const {
    // Worst case: 2 bytes per symbol at P <= 16 (a count-1 symbol), plus the flush.
    const std::size_t bound = in.size() * 2 + 4;
    if (buffer.size() < bound) buffer.resize(bound);
    std::uint8_t* ptr = buffer.data() + buffer.size();
    std::uint32_t x = lower;
    for (std::size_t i = in.size(); i-- > 0;) {
      const std::uint32_t start = cdf_[in[i]];
      const std::uint32_t freq = cdf_[in[i] + 1u] - start;
      const std::uint32_t x_max = ((lower >> precision_) << 8) * freq;
      while (x >= x_max) {
        *--ptr = static_cast<std::uint8_t>(x & 0xFF);
        x >>= 8;
      }
      x = ((x / freq) << precision_) + (x % freq) + start;
    }
    ptr -= 4;
    ptr[0] = static_cast<std::uint8_t>(x);
    ptr[1] = static_cast<std::uint8_t>(x >> 8);
    ptr[2] = static_cast<std::uint8_t>(x >> 16);
    ptr[3] = static_cast<std::uint8_t>(x >> 24);
    return static_cast<std::size_t>(ptr - buffer.data());
  }

  /// Decodes out.size() symbols from `code`.
  void decode(std::span<const std::uint8_t> code, std::span<std::uint8_t> out) const {
    const std::uint8_t* ptr = code.data();
    std::uint32_t x =
        std::uint32_t{ptr[0]} | std::uint32_t{ptr[1]} << 8 | std::uint32_t{ptr[2]} << 16 | std::uint32_t{ptr[3]} << 24;
    ptr += 4;
    const std::uint32_t mask = (1u << precision_) - 1;
    for (auto& b : out) {
      const std::uint8_t s = cum2sym_[x & mask];
      b = s;
      const std::uint32_t start = cdf_[s];
      const std::uint32_t freq = cdf_[s + 1u] - start;
      x = freq * (x >> precision_) + (x & mask) - start;
      while (x < lower) x = (x << 8) | *ptr++;
    }
  }

 private:
  eqinfo::cdf_table cdf_;
  unsigned precision_;
  std::vector<std::uint8_t> cum2sym_;
};

}  // namespace eqinfo_bench
