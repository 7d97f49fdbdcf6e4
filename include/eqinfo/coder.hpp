// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Deterministic fixed-point binary arithmetic coder.
///
/// READ ME FIRST
/// -------------
/// * The coder maps a byte sequence to a nested sequence of intervals of
///   [0, 1). All arithmetic is on integers, so encoder and decoder agree on
///   every interval on every machine; nothing here touches floating point.
/// * Symbols come with an integer CDF of total 2^P (P = precision bits,
///   8..24): byte s owns [cdf[s], cdf[s+1]) and every byte owns at least one
///   count, so every byte is codable ("leaky" model).
/// * The interval is kept as a 32-bit frame [low, high] (inclusive) plus E
///   bits already emitted and F pending ("follow") bits, as in Witten, Neal
///   and Cleary (1987). The real interval it stands for is
///       prefix(E bits) . b . (not b)^F . rest
///   for any frame value 0.b rest, i.e. each pending bit is the complement of
///   the next resolved bit.
/// * Termination (paper sec. 2.4): the code of a message is the SHORTEST bit
///   string whose dyadic interval [0.c, 0.c + 2^-|c|) lies entirely inside the
///   final interval. After renormalisation the frame straddles 1/2 and is
///   wider than 1/4, so that string is E + F + j bits with j in {0, 1, 2}; see
///   terminated_bits(). The length is exact and O(1): equal-info windows
///   decide where to cut from it.
/// * Bits are FIFO: the first coded byte determines the first bits.
/// * Any change to what this file outputs for the same inputs is a breaking
///   change of EQINFO_STREAM_FORMAT.

#include <eqinfo/bits.hpp>
#include <eqinfo/error.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

// The coder's per-symbol steps are small and on the hot path of every
// encode and decode loop; GCC otherwise keeps some of them out of line.
#if defined(__GNUC__) || defined(__clang__)
#define EQINFO_ALWAYS_INLINE [[gnu::always_inline]] inline
#define EQINFO_NOINLINE [[gnu::noinline]]
#else
#define EQINFO_ALWAYS_INLINE inline
#define EQINFO_NOINLINE
#endif

namespace eqinfo {
inline namespace v1 {

/// The integer CDF of the next byte: byte s owns [cdf[s], cdf[s+1]),
/// cdf[0] == 0, cdf[256] == 2^P, strictly increasing.
using cdf_table = std::array<std::uint32_t, 257>;

/// A byte and its slice [low, high) of 2^P.
struct symbol_slice {
  std::uint32_t low = 0, high = 0;
  std::uint8_t byte = 0;
  friend bool operator==(const symbol_slice&, const symbol_slice&) = default;
};

/// Supported precisions. 256 symbols need at least 8 bits; the 32-bit frame
/// stays wider than 2^30 > 2^24 after renormalisation, so every symbol keeps a
/// non-empty sub-interval and the rounding error of a slice stays below
/// 2^(P-30) of its width.
inline constexpr unsigned min_precision_bits = 8;
inline constexpr unsigned max_precision_bits = 24;

namespace detail {

/// The one precision check: throws `code` ("WHERE precision_bits P is
/// outside [8, 24]") for a P the coder cannot use.
inline void check_precision(std::uint64_t precision, errc code = errc::invalid_settings, std::string_view where = {}) {
  // (A string_view: the coder checks P per window, and a passing check must build nothing.)
  if (precision < min_precision_bits || precision > max_precision_bits)
    throw error(code, std::string(where) + "precision_bits " + std::to_string(precision) + " is outside [" +
                          std::to_string(min_precision_bits) + ", " + std::to_string(max_precision_bits) + "]");
}

inline constexpr std::uint64_t frame_mask = 0xFFFFFFFFull;
inline constexpr std::uint64_t frame_half = 0x80000000ull;
inline constexpr std::uint64_t frame_quarter = 0x40000000ull;

static_assert(max_precision_bits <= 30, "the frame must stay wider than 2^P after renormalisation");
static_assert(32 + max_precision_bits + 1 <= 64, "range * cdf must fit in 64 bits");

/// Coder state shared by encoder and decoder (they evolve identically).
struct interval_state {
  std::uint64_t low = 0;            ///< frame low, 32-bit value
  std::uint64_t high = frame_mask;  ///< frame high (inclusive), 32-bit value
  std::uint64_t pending = 0;        ///< F: follow bits awaiting the next resolved bit
  std::uint64_t emitted = 0;        ///< E: bits already final

  friend bool operator==(const interval_state&, const interval_state&) = default;
};

/// How the shortest enclosed dyadic interval continues after the E emitted
/// bits; see termination_tail().
enum class tail_kind : std::uint8_t {
  none,      ///< F == 0 and the frame is all of [0,1): the code is the emitted bits
  zero,      ///< "0" + 1^F        : frame half [0, 1/2)
  one,       ///< "1" + 0^F        : frame half [1/2, 1)
  zero_one,  ///< "0" + 1^F + "1"  : frame quarter [1/4, 1/2)
  one_zero,  ///< "1" + 0^F + "0"  : frame quarter [1/2, 3/4)
};

/// Shortest enclosed dyadic interval of a renormalised state. Why only these
/// five: any dyadic interval of length >= 2^-(E+F) would have to cover the
/// whole frame, possible only when F == 0 and the frame is [0,1); below that,
/// the frame straddles 1/2 with low < 1/4 or high >= 3/4, so a half (j = 1) or
/// a quarter (j = 2) always fits. Ties prefer the lower interval.
constexpr tail_kind termination_tail(const interval_state& s) noexcept {
  if (s.low == 0 && s.high == frame_mask && s.pending == 0) return tail_kind::none;
  if (s.low == 0) return tail_kind::zero;
  if (s.high == frame_mask) return tail_kind::one;
  if (s.low <= frame_quarter) return tail_kind::zero_one;
  return tail_kind::one_zero;  // renormalised: low > 1/4 implies high >= 3/4
}

/// Exact length in bits of the terminated code of state `s`.
constexpr std::uint64_t terminated_bits(const interval_state& s) noexcept {
  switch (termination_tail(s)) {
    case tail_kind::none: return s.emitted;
    case tail_kind::zero:
    case tail_kind::one: return s.emitted + s.pending + 1;
    default: return s.emitted + s.pending + 2;
  }
}

/// Appends the termination bits (after the E emitted ones) of `s` to `out`.
inline void append_termination(const interval_state& s, bit_vector& out) {
  switch (termination_tail(s)) {
    case tail_kind::none: return;
    case tail_kind::zero:
      out.push_back(false);
      out.append_run(true, s.pending);
      return;
    case tail_kind::one:
      out.push_back(true);
      out.append_run(false, s.pending);
      return;
    case tail_kind::zero_one:
      out.push_back(false);
      out.append_run(true, s.pending);
      out.push_back(true);
      return;
    case tail_kind::one_zero:
      out.push_back(true);
      out.append_run(false, s.pending);
      out.push_back(false);
      return;
  }
}

/// Whether `bits` (of any length, zero-padded) equals the terminated code of a
/// state whose E emitted bits are bits[0, E) -- i.e. whether the code padded with
/// zeros to bits.size() is `bits`. Requires terminated_bits(s) <= bits.size().
inline bool padded_code_equals(const interval_state& s, const bit_vector& bits, std::size_t significant) {
  const std::uint64_t length = terminated_bits(s);
  if (length > bits.size() || significant > length) return false;
  const std::size_t e = s.emitted;
  const tail_kind tail = termination_tail(s);
  if (tail == tail_kind::none) return true;
  const bool first = tail == tail_kind::one || tail == tail_kind::one_zero;
  if (bits[e] != first) return false;
  for (std::uint64_t i = 0; i < s.pending; ++i)
    if (bits[e + 1 + i] == first) return false;
  if (tail == tail_kind::zero_one) return bits[e + 1 + s.pending];
  if (tail == tail_kind::one_zero) return !bits[e + 1 + s.pending];
  return true;
}

/// Bit sinks receive, after each narrowing, the narrowed (not yet shifted)
/// frame low, the number n of its leading bits that became final, and the F
/// pending bits before them. When n > 0 the bits to emit are the first final
/// bit, F complements of it, then the other n - 1 final bits; when n == 0
/// there are none.

/// Sink that discards emitted bits (used to measure a trial step).
struct null_bit_sink {
  void emit(std::uint64_t, unsigned, std::uint64_t) noexcept {}
};

/// Sink that appends emitted bits to a bit_vector.
struct vector_bit_sink {
  bit_vector* out;
  void emit(std::uint64_t low, unsigned n, std::uint64_t pending) {
    if (n == 0) return;
    const bool first = (low >> 31) & 1u;
    const std::uint64_t rest = (low >> (32 - n)) & ((std::uint64_t{1} << (n - 1)) - 1);
    const unsigned rest_count = n - 1;
    if (pending + rest_count < 64) {  // usual case: one append of 1 + pending + rest_count <= 64 bits
      const auto f = static_cast<unsigned>(pending);
      const std::uint64_t head = first ? std::uint64_t{1} << f : (std::uint64_t{1} << f) - 1;  // 1 0^F or 0 1^F
      out->append((head << rest_count) | rest, f + 1 + rest_count);
      return;
    }
    out->push_back(first);
    out->append_run(!first, pending);
    out->append(rest, rest_count);
  }
};

/// Final bits not yet in the bit_vector: the low `count` (< 64) bits of `word`.
struct bit_accumulator {
  std::uint64_t word = 0;
  unsigned count = 0;
};

/// Sink of the encoder: collects bits in a 64-bit accumulator and appends
/// whole words to the bit_vector, without branching on n. The emitted bits
/// are `out` followed by the accumulator's.
///
/// Why one addition forms the bits: with the n final bits t = f R (first bit
/// f, then R), the output f (not f)^F R equals t + (2^F - 1) * 2^(n-1) for
/// f = 1 (1 0^F R) and for f = 0 (0 1^F R) alike.
struct word_bit_sink {
  bit_vector& out;
  bit_accumulator& acc;

  EQINFO_ALWAYS_INLINE void emit(std::uint64_t low, unsigned n, std::uint64_t pending) {
    if (pending + n >= 64) [[unlikely]] {
      emit_long(low, n, pending);
      return;
    }
    const std::uint64_t resolved = std::uint64_t{0} - std::uint64_t{n != 0};
    const std::uint64_t final_bits = low >> (32 - n);  // low < 2^32: 0 when n == 0
    const std::uint64_t follow = (((std::uint64_t{1} << pending) - 1) << n) >> 1;
    put(final_bits + (follow & resolved), static_cast<unsigned>((pending + n) & resolved));
  }

  /// Appends the low `bits` (0..63) of `value`, whose higher bits are zero.
  EQINFO_ALWAYS_INLINE void put(std::uint64_t value, unsigned bits) {
    if (acc.count + bits < 64) [[likely]] {
      acc.word = (acc.word << bits) | value;
      acc.count += bits;
      return;
    }
    const unsigned room = 64 - acc.count;  // 1..63, since bits <= 63
    out.append((acc.word << room) | (value >> (bits - room)), 64);
    acc.word = value;  // bits above the new count are shifted out before they are read
    acc.count = bits - room;
  }

  /// Moves the accumulated bits to `out`.
  void flush() {
    out.append(acc.word, acc.count);
    acc = {};
  }

 private:
  EQINFO_NOINLINE void emit_long(std::uint64_t low, unsigned n, std::uint64_t pending) {
    flush();
    vector_bit_sink{&out}.emit(low, n, pending);
  }
};

/// Narrows `s` to the slice [cdf_low, cdf_high) of 2^P and renormalises.
///
/// Slice: low' = low + floor(r*c_lo / 2^P), high' = low + floor(r*c_hi / 2^P) - 1
/// with r = high - low + 1 in (2^30, 2^32]; r >= 2^P makes every slice with
/// c_hi > c_lo non-empty.
/// Renormalisation does, in one step, what WNC does bit by bit:
///  E1/E2: the n leading bits on which low and high agree are final; the
///         first resolves the F pending bits.
///  E3:    while low = 01... and high = 10..., drop the second bit of both
///         (keep the first) and count one more pending bit.
/// What renormalisation did: n final bits (E1/E2), then m pending steps (E3).
struct renorm_steps {
  unsigned n = 0;
  unsigned m = 0;
};

/// How n and m are found at once (k = n + m). Write low' and high' as 32-bit
/// strings, position 0 first. Since low' <= high', they read
///     low'  = A 0 1^m X        high' = A 1 0^m Y        (|A| = n)
/// where X, Y do not start with 1 and 0 respectively. Then t = low' & ~high'
/// is 0^(n+1) 1^m 0 ...: zero wherever the two agree, zero at position n.
/// Filling positions 0..n of t with ones gives 1^(k+1) 0 ..., so
/// k + 1 = countl_one(t | fill). Both are taken in 64 bits with the frame in
/// the top half (low half zero), which makes n = 32 (low' == high') come out
/// without a special case: agree below is 2^31 then, fill covers 33 bits, t is 0.
/// After E1/E2 the frame is low = 0..., high = 1..., and E3 maps x to
/// 2(x - 1/4) m times; together, low'' = (low' << k) mod 2^31 and
/// high'' = ((high' << k) + 2^k - 1) mod 2^32 with its top bit set, the same
/// values as WNC's n shifts and m E3 steps. Nothing here branches on n or m.
///
/// narrow_range() is narrow() for callers that keep r = high - low + 1 next to
/// the state (the encoder and decoder do): r is then updated as
/// r'' = (floor(r*c_hi/2^P) - floor(r*c_lo/2^P)) << k, which is what
/// high'' - low'' + 1 equals (E1/E2 and E3 both double the width), so the next
/// symbol's multiplications need not wait for low'' and high''.
///
/// With `Whole` false, s.high and s.emitted are left as they were: a caller
/// that keeps r (high = low + r - 1) and counts bits read (E + F) can derive
/// them, and has two fewer values to carry from symbol to symbol.
template <class Sink, bool Whole = true>
EQINFO_ALWAYS_INLINE renorm_steps narrow_range(interval_state& s, std::uint64_t& range, std::uint32_t cdf_low,
                                               std::uint32_t cdf_high, unsigned precision, Sink& sink) {
  const std::uint64_t low_offset = (range * cdf_low) >> precision;
  const std::uint64_t high_offset = (range * cdf_high) >> precision;
  const std::uint64_t low = s.low + low_offset;
  const std::uint64_t high = s.low + (high_offset - 1);

  // Top set bit of `agree` is bit 63 - n (bit 31 when low == high).
  const std::uint64_t agree = ((low ^ high) << 32) | frame_half;
  const unsigned top = 63u ^ static_cast<unsigned>(std::countl_zero(agree));  // 63 - n, in [31, 63]
  const std::uint64_t fill = ~std::uint64_t{0} << top;                        // positions 0..n
  const std::uint64_t t = (low & ~high) << 32;
  const unsigned k = static_cast<unsigned>(std::countl_one(t | fill)) - 1;  // n + m, in [0, 32]
  const unsigned n = 63u - top;
  const unsigned m = k - n;

  if constexpr (!std::is_same_v<Sink, null_bit_sink>) sink.emit(low, n, s.pending);
  // E = E + n + F and F = m when n > 0; F = F + m when n == 0 (no branch).
  const std::uint64_t resolved = std::uint64_t{0} - std::uint64_t{n != 0};
  if constexpr (Whole) s.emitted += (n + s.pending) & resolved;
  s.pending = (s.pending & ~resolved) + m;
  s.low = (low << k) & (frame_mask >> 1);
  if constexpr (Whole) s.high = ((high << k) | ((std::uint64_t{1} << k) - 1) | frame_half) & frame_mask;
  range = (high_offset - low_offset) << k;
  return {n, m};
}

template <class Sink>
inline renorm_steps narrow(interval_state& s, std::uint32_t cdf_low, std::uint32_t cdf_high, unsigned precision,
                           Sink& sink) {
  std::uint64_t range = s.high - s.low + 1;
  return narrow_range(s, range, cdf_low, cdf_high, precision, sink);
}

/// Throws errc::invalid_model_output unless `cdf` is a valid CDF of total 2^P.
inline void check_cdf(const cdf_table& cdf, unsigned precision) {
  bool ok = cdf[0] == 0 && cdf[256] == (std::uint32_t{1} << precision);
  for (std::size_t i = 0; i < 256; ++i) ok &= cdf[i] < cdf[i + 1];
  if (ok) return;
  std::string where = "cdf[0] = " + std::to_string(cdf[0]) + ", cdf[256] = " + std::to_string(cdf[256]) +
                      " (expected 0 and 2^" + std::to_string(precision) + ")";
  for (std::size_t i = 0; i < 256; ++i)
    if (cdf[i] >= cdf[i + 1]) {
      where = "byte " + std::to_string(i) + " has an empty or negative slice (cdf[" + std::to_string(i) +
              "] = " + std::to_string(cdf[i]) + " >= cdf[" + std::to_string(i + 1) +
              "] = " + std::to_string(cdf[i + 1]) + ")";
      break;
    }
  throw error(errc::invalid_model_output, "model returned an invalid CDF: " + where);
}

/// Quotient and remainder of a / b, for b < 2^32 and a / b < 2^32 (so a < 2^64
/// but a >> 32 < b). On x86-64 that is one 64-by-32-bit DIV, which is
/// faster than the 128-by-64-bit DIV a compiler emits for uint64_t / uint64_t.
struct quotient_remainder {
  std::uint64_t quotient, remainder;
};
inline quotient_remainder divide_below_2_32(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  std::uint32_t q, r;
  __asm__("divl %4"
          : "=a"(q), "=d"(r)
          : "a"(static_cast<std::uint32_t>(a)), "d"(static_cast<std::uint32_t>(a >> 32)),
            "rm"(static_cast<std::uint32_t>(b)));
  return {q, r};
#else
  return {a / b, a % b};
#endif
}

/// The 32-bit frame value of a decoder reading `bits` from `pos`, after a
/// state with E emitted and F pending bits: bits[E], then bits[E+F+1 ...].
struct value_reader {
  const bit_vector* bits;
  std::size_t end;  ///< bits at or past `end` read as `pad`
  bool pad;
  /// `count` (0..64) bits from `pos`, MSB first, as the low bits of the result.
  std::uint64_t read(std::size_t pos, unsigned count) const noexcept {
    if (count == 0) return 0;
    if (pos < end && count <= end - pos) return bits->read(pos, count);
    if (pos >= end) return pad ? ones(count) : 0;
    const unsigned inside = static_cast<unsigned>(end - pos);
    const unsigned outside = count - inside;  // 1..63
    return (bits->read(pos, inside) << outside) | (pad ? ones(outside) : 0);
  }
  static constexpr std::uint64_t ones(unsigned count) noexcept {
    return count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
  }
};

}  // namespace detail

/// Encodes bytes (or any symbols of a 257-entry CDF) into a bit_vector.
/// Preconditions: precision in [min_precision_bits, max_precision_bits].
class arithmetic_encoder {
 public:
  explicit arithmetic_encoder(unsigned precision_bits) : precision_(precision_bits) {
    detail::check_precision(precision_bits);
  }

  unsigned precision_bits() const noexcept { return precision_; }

  /// Codes the slice [cdf_low, cdf_high) of 2^P.
  /// Throws errc::invalid_model_output if the slice is empty or exceeds 2^P.
  EQINFO_ALWAYS_INLINE void encode(std::uint32_t cdf_low, std::uint32_t cdf_high) {
    if (cdf_low >= cdf_high || cdf_high > (std::uint32_t{1} << precision_)) [[unlikely]]
      throw_bad_slice(cdf_low, cdf_high);
    detail::word_bit_sink sink{bits_, buffered_bits_};
    detail::narrow_range(state_, range_, cdf_low, cdf_high, precision_, sink);
  }
  EQINFO_ALWAYS_INLINE void encode(const cdf_table& cdf, std::uint8_t byte) { encode(cdf[byte], cdf[byte + 1u]); }

  /// Exact length of the terminated code of everything encoded so far.
  std::uint64_t terminated_bits() const noexcept { return detail::terminated_bits(state_); }

  /// Exact length the terminated code would have after also coding the slice.
  std::uint64_t terminated_bits_with(std::uint32_t cdf_low, std::uint32_t cdf_high) const noexcept {
    detail::interval_state trial = state_;
    std::uint64_t range = range_;
    detail::null_bit_sink sink;
    detail::narrow_range(trial, range, cdf_low, cdf_high, precision_, sink);
    return detail::terminated_bits(trial);
  }

  /// The terminated code: the shortest bit string whose dyadic interval lies
  /// inside the final interval. The encoder stays usable (more symbols may
  /// follow; the next finish() then covers them too).
  bit_vector finish() const {
    bit_vector out = emitted_bits();
    detail::append_termination(state_, out);
    return out;
  }

  void reset() noexcept {
    state_ = {};
    range_ = detail::frame_mask + 1;
    bits_.clear();
    buffered_bits_ = {};
  }

  const detail::interval_state& state() const noexcept { return state_; }
  /// The bits that are final so far (state().emitted of them), as a copy.
  bit_vector emitted_bits() const {
    bit_vector out = bits_;
    out.append(buffered_bits_.word, buffered_bits_.count);
    return out;
  }

 private:
  [[noreturn]] EQINFO_NOINLINE static void throw_bad_slice(std::uint32_t cdf_low, std::uint32_t cdf_high) {
    throw error(errc::invalid_model_output,
                "empty or out-of-range slice [" + std::to_string(cdf_low) + ", " + std::to_string(cdf_high) + ")");
  }

  detail::interval_state state_;
  std::uint64_t range_ = detail::frame_mask + 1;  ///< state_.high - state_.low + 1
  bit_vector bits_;                               ///< the final bits, but for the last few:
  detail::bit_accumulator buffered_bits_;         ///< the final bits not yet appended to bits_
  unsigned precision_;
};

/// Decodes symbols from bits [begin, end) of a bit_vector, reading `pad`
/// beyond `end` (the paper's decoder pads with zeros; pad = true reads the
/// upper edge of the same cell, see windows.hpp).
class arithmetic_decoder {
 public:
  arithmetic_decoder(const bit_vector& bits, std::size_t begin, std::size_t end, unsigned precision_bits,
                     bool pad = false)
      : reader_{&bits, end, pad}, begin_(begin), precision_(precision_bits) {
    detail::check_precision(precision_bits);
    if (begin > end || end > bits.size())
      throw error(errc::invalid_argument, "decoder range is outside the bit vector");
    hot_.value = reader_.read(begin_, 32);
    hot_.next = begin_ + 32;
    hot_.target = divided_target(hot_, precision_);
  }

  /// A decoder that resumes at state `at`, as if it had decoded the symbols
  /// that led the encoder there (their bits are bits[begin, begin + E)).
  /// The frame value is then bit E followed by the bits after the F pending ones.
  arithmetic_decoder(const bit_vector& bits, std::size_t begin, std::size_t end, unsigned precision_bits, bool pad,
                     const detail::interval_state& at)
      : arithmetic_decoder(bits, begin, end, precision_bits, pad) {
    hot_.state = at;
    hot_.range = at.high - at.low + 1;
    const std::size_t first = begin_ + at.emitted;
    hot_.value = (reader_.read(first, 1) << 31) | reader_.read(first + at.pending + 1, 31);
    hot_.next = first + at.pending + 32;
    hot_.target = divided_target(hot_, precision_);
  }

  /// The point of [0, 2^P) the current value falls on: the byte to decode is
  /// the s with cdf[s] <= target() < cdf[s+1]. Models with a static CDF can
  /// map it to the byte with a table (see unigram_model::symbol_of).
  /// Always floor(((v - low + 1) * 2^P - 1) / r) for the current frame value
  /// v (so that floor(r*c/2^P) <= v - low  <=>  c <= target()); consume()
  /// computes it ahead, see there.
  std::uint32_t target() const noexcept { return static_cast<std::uint32_t>(hot_.target); }

  /// The byte whose slice contains the current value (does not consume it).
  EQINFO_ALWAYS_INLINE std::uint8_t peek(const cdf_table& cdf) const noexcept {
    const std::uint32_t target = this->target();
    // A plain (branchy) binary search on purpose: branchless two-level SIMD
    // searches measured slower here, since predicted branches let the CPU
    // start the next symbol before the division has finished.
    const auto it = std::upper_bound(cdf.begin() + 1, cdf.end(), target);
    return static_cast<std::uint8_t>(it - cdf.begin() - 1);
  }

  /// Consumes `byte`'s slice (normally the one peek() returned).
  ///
  /// The next target, without waiting for the renormalisation: with
  /// r0 = floor(r*c_hi/2^P) - floor(r*c_lo/2^P) (the slice, r'' = r0 * 2^k after
  /// renormalising by k = n + m) and d = v - low' (v in the slice: d < r0),
  /// the renormalised offset is v'' - low'' = d * 2^k + in, in = the k bits
  /// read. So target'' = floor(((d*2^k + in + 1) * 2^P - 1) / (r0 * 2^k))
  ///                   = floor((d * 2^P + e) / r0),  e = floor(((in + 1) * 2^P - 1) / 2^k) < 2^P,
  /// = q + [rem >= r0 - e] with q, rem = divmod(d * 2^P, r0) when r0 >= 2^P.
  /// The division starts as soon as the slice is known and runs alongside
  /// the renormalisation; e is the top P bits of the lookahead with every bit
  /// after the first k set. Otherwise (r0 < 2^P: a rare, very unlikely byte,
  /// or a value outside the slice because some other byte was consumed) the
  /// target is the plain division of the new state.
  ///
  /// The test is a branch, not a select: predicted (it fails only for bytes
  /// rarer than 2^P / r, at P = 16 those of count 1 to 3), it lets the
  /// division start as soon as its operands are known.
  EQINFO_ALWAYS_INLINE void consume(const cdf_table& cdf, std::uint8_t byte) noexcept {
    consume(cdf[byte], cdf[byte + 1u]);
  }

  /// consume() for the slice [cdf_low, cdf_high) of 2^P.
  EQINFO_ALWAYS_INLINE void consume(std::uint32_t cdf_low, std::uint32_t cdf_high) noexcept {
    step(hot_, reader_, precision_, cdf_low, cdf_high);
  }

  EQINFO_ALWAYS_INLINE std::uint8_t decode(const cdf_table& cdf) noexcept {
    const std::uint8_t byte = peek(cdf);
    consume(cdf, byte);
    return byte;
  }

  /// Decodes out.size() bytes of a model whose CDF does not change:
  /// `slice_of(target)` returns the symbol_slice owning `target` (as
  /// unigram_model::slice_of does). The same bytes and state as a loop of
  /// consume(slice_of(target())), but the state stays in registers for the
  /// whole run instead of going through memory between calls. If it can
  /// also be called as `slice_of(target, hint)`, hint <= target is the
  /// quotient before consume()'s last +0/+1 correction, known a few cycles
  /// earlier: a table lookup indexed by the hint starts that much sooner
  /// (unigram_model::slice_of).
  template <class SliceOf>
  void decode_run(std::span<std::uint8_t> out, const SliceOf& slice_of) {
    // P = 16, the default, as a constant: its shifts then take no register.
    if (precision_ == 16)
      run(out, slice_of, std::integral_constant<unsigned, 16>{});
    else
      run(out, slice_of, precision_);
  }

  /// State after the symbols decoded so far (equal to the encoder's).
  detail::interval_state state() const noexcept {
    detail::interval_state s = hot_.state;
    s.high = s.low + hot_.range - 1;
    s.emitted = hot_.next - begin_ - 32 - s.pending;  // every bit read is emitted, pending or in the frame
    return s;
  }
  std::uint64_t terminated_bits() const noexcept { return detail::terminated_bits(state()); }

 private:
  /// Everything that changes from symbol to symbol.
  struct decoding {
    detail::interval_state state;                  ///< low and pending (see state() for high and emitted)
    std::uint64_t range = detail::frame_mask + 1;  ///< state.high - state.low + 1
    std::uint64_t value = 0;
    std::size_t next = 0;
    /// Lookahead: bits [next, next + look_bits) at the top of look, refilled
    /// from the bit vector once per ~64 bits, off the dependency chain.
    std::uint64_t look = 0;
    // 64-bit on purpose: GCC packs two adjacent 32-bit fields into one SSE
    // register, which put four extra instructions on the decoder's chain.
    std::uint64_t look_bits = 0;
    std::uint64_t target = 0;  ///< below 2^P
  };

  template <class SliceOf, class Precision>
  void run(std::span<std::uint8_t> out, const SliceOf& slice_of, Precision precision) {
    decoding h = hot_;
    std::uint64_t hint = h.target;
    for (std::uint8_t& byte : out) {
      symbol_slice slice;
      if constexpr (std::is_invocable_r_v<symbol_slice, const SliceOf&, std::uint32_t, std::uint32_t>)
        slice = slice_of(static_cast<std::uint32_t>(h.target), static_cast<std::uint32_t>(hint));
      else
        slice = slice_of(static_cast<std::uint32_t>(h.target));
      hint = step(h, reader_, precision, slice.low, slice.high);
      byte = slice.byte;
    }
    hot_ = h;
  }

  /// consume(), on `h`; returns a hint for the new target: the quotient
  /// before its correction (<= the target), or the target itself.
  EQINFO_ALWAYS_INLINE static std::uint64_t step(decoding& h, const detail::value_reader& reader, unsigned precision,
                                                 std::uint32_t cdf_low, std::uint32_t cdf_high) noexcept {
    const std::uint64_t slice_low = (h.range * cdf_low) >> precision;
    const std::uint64_t slice_width = ((h.range * cdf_high) >> precision) - slice_low;
    const std::uint64_t offset = h.value - h.state.low - slice_low;  // v - low' (mod 2^64)
    if (!(offset < slice_width && slice_width >> precision != 0 && slice_width <= detail::frame_mask)) [[unlikely]] {
      h = step_slowly(h, reader, precision, cdf_low, cdf_high);
      return h.target;
    }
    const auto [quotient, remainder] = detail::divide_below_2_32(offset << precision, slice_width);
    const std::uint64_t e = renormalise(h, reader, precision, cdf_low, cdf_high);
    h.target = quotient + std::uint64_t{remainder >= slice_width - e};  // e < 2^P <= width
    return quotient;
  }

  /// step() when the target cannot be computed ahead. (By value, so that
  /// the caller's copy of the state need not live in memory.)
  EQINFO_NOINLINE static decoding step_slowly(decoding h, const detail::value_reader& reader, unsigned precision,
                                              std::uint32_t cdf_low, std::uint32_t cdf_high) noexcept {
    renormalise(h, reader, precision, cdf_low, cdf_high);
    h.target = divided_target(h, precision);
    return h;
  }

  /// Narrows to the slice, shifts the value as low and high were shifted,
  /// and returns e (see consume()).
  EQINFO_ALWAYS_INLINE static std::uint64_t renormalise(decoding& h, const detail::value_reader& reader,
                                                        unsigned precision, std::uint32_t cdf_low,
                                                        std::uint32_t cdf_high) noexcept {
    detail::null_bit_sink sink;
    const auto [n, m] =
        detail::narrow_range<detail::null_bit_sink, false>(h.state, h.range, cdf_low, cdf_high, precision, sink);
    // Shift the value exactly as low and high were shifted: E1/E2 shifts in
    // the next n bits, E3 keeps the top bit and shifts in the m bits after
    // them. With k = n + m and W = (value << k) | next k bits, that is
    //   value = top bit of (W >> m) | low 31 bits of W.
    const unsigned k = n + m;
    if (k > h.look_bits) {
      h.look = reader.read(h.next, 64);
      h.look_bits = 64;
    }
    const std::uint64_t in = (h.look >> 1) >> (63 - k);  // k may be 0
    const std::uint64_t e = (h.look | (~std::uint64_t{0} >> k)) >> (64 - precision);
    h.look <<= k;
    h.look_bits -= k;
    h.next += k;
    const std::uint64_t w = (h.value << k) | in;
    h.value = ((w >> m) & detail::frame_half) | (w & (detail::frame_mask >> 1));
    return e;
  }

  /// target() by its definition.
  static std::uint64_t divided_target(const decoding& h, unsigned precision) noexcept {
    return (((h.value - h.state.low + 1) << precision) - 1) / h.range;
  }

  decoding hot_;
  detail::value_reader reader_;
  std::size_t begin_;
  unsigned precision_;
};

}  // namespace v1
}  // namespace eqinfo
