// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// What a probability model must provide (byte_model), the one audited
/// float-to-integer quantiser, and the built-in uniform and unigram models.

#include <eqinfo/coder.hpp>
#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/detail/hex.hpp>
#include <eqinfo/detail/le_io.hpp>
#include <eqinfo/error.hpp>

#include <array>
#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace eqinfo {
inline namespace v1 {

/// A next-byte model the coder can drive.
///
///   m.precision_bits()  P: every CDF it returns totals exactly 2^P.
///   m.reset()           forget all context (start of every window / stream).
///   m.predict()         CDF of the next byte given the context; the reference
///                       stays valid until the next non-const call.
///   m.update(byte)      append `byte` to the context (predict() need not
///                       have been called first).
///
/// The model must be a pure function of its context: the same sequence of
/// reset/update calls must give bit-identical CDFs on every run, thread and
/// machine, or the decoder will not reproduce the encoder's bytes.
template <class M>
concept byte_model = requires(M& m, const M& cm, std::uint8_t byte) {
  { cm.precision_bits() } -> std::convertible_to<unsigned>;
  m.reset();
  { m.predict() } -> std::convertible_to<const cdf_table&>;
  m.update(byte);
};

/// Optional hook for models that are faster on a run of known bytes (the
/// Transformer M1 evaluates a whole window at once): fills out[i] with the
/// CDF of bytes[i] given the context plus bytes[0, i), and leaves the context
/// extended by all of `bytes` -- exactly what predict()/update() one at a time
/// would give, bit for bit.
template <class M>
concept batched_byte_model = byte_model<M> &&
    requires(M& m, std::span<const std::uint8_t> bytes, std::span<cdf_table> out) {
  m.predict_run(bytes, out);
};

/// Optional hook for models that are faster on many contexts at once (M1
/// stacks their rows into one int8 product per weight matrix): a nested type
/// `M::lane_set`, built from the model, holding independent contexts
/// ("lanes") that the window coder advances in lockstep.
///
///   lane_set(const M&)    lanes share the model's (read-only) parameters
///   l.resize(n)           at least n lanes (never shrinks)
///   l.restart(i)          lane i forgets its context (reset())
///   l.append(i, byte)     appends `byte` to lane i's context (update())
///   l.ready(i)            whether cdf(i) is available without evaluate()
///   l.evaluate()          computes the CDFs of every lane that is not ready
///   l.cdf(i)              CDF of lane i's next byte; valid until lane i changes
///
/// Each lane must give exactly the CDFs that reset/update/predict on a copy
/// of the model give, bit for bit, whatever the other lanes hold and however
/// many are evaluated together: the tokens may not depend on the batch.
template <class M>
concept has_lane_set = byte_model<M> &&
    requires(const M& model, typename M::lane_set& l, std::size_t i, std::uint8_t byte) {
  requires std::constructible_from<typename M::lane_set, const M&>;
  l.resize(i);
  l.restart(i);
  l.append(i, byte);
  { l.ready(i) } -> std::convertible_to<bool>;
  l.evaluate();
  { l.cdf(i) } -> std::convertible_to<const cdf_table&>;
};

/// Optional decoder hook for models whose CDF never changes:
///   std::uint8_t m.symbol_of(std::uint32_t target) const
/// returns the byte s with cdf[s] <= target < cdf[s+1] (a table lookup
/// instead of a binary search). Checked against the CDF unless the model is
/// valid by construction.
template <class M>
concept has_symbol_lookup = requires(const M& m, std::uint32_t target) {
  { m.symbol_of(target) } -> std::convertible_to<std::uint8_t>;
};

/// Optional decoder hook, a faster form of symbol_of: `m.slice_of(target)`
/// returns the byte s owning `target` together with its slice
/// {cdf[s], cdf[s+1]}, so that the decoder need not load them again.
template <class M>
concept has_slice_lookup = requires(const M& m, std::uint32_t target) {
  { m.slice_of(target) } -> std::convertible_to<symbol_slice>;
};

/// A model may declare `static constexpr bool cdf_is_valid_by_construction =
/// true;` when every CDF it returns comes from quantize_cdf(); otherwise the
/// coder checks each CDF (256 comparisons) before using it.
// (A nested requirement: false when the member is missing.)
template <class M>
inline constexpr bool cdf_is_valid_by_construction = requires {
  requires bool(M::cdf_is_valid_by_construction);
};

/// A model may declare `static constexpr bool cdf_is_static = true;` when its
/// CDF never changes (update() does nothing). With a slice_of hook too, its
/// bytes are then decoded many per call (arithmetic_decoder::decode_run).
template <class M>
inline constexpr bool cdf_is_static = requires {
  requires bool(M::cdf_is_static);
};

namespace detail {

/// The slice lookup arithmetic_decoder::decode_run takes, for a model with
/// slice_of: with decode_run's hint where the model also has
/// slice_of(target, hint).
template <has_slice_lookup M>
auto slice_lookup(const M& m) {
  if constexpr (requires(std::uint32_t t) {
                  { m.slice_of(t, t) } -> std::convertible_to<symbol_slice>;
                })
    return [&m](std::uint32_t target, std::uint32_t hint) -> symbol_slice { return m.slice_of(target, hint); };
  else
    return [&m](std::uint32_t target) -> symbol_slice { return m.slice_of(target); };
}

__extension__ typedef unsigned __int128 uint128;

/// One static_assert per missing member, so a user type that does not model
/// byte_model gets a message naming the member instead of a concept dump.
template <class M>
constexpr bool check_byte_model() {
  static_assert(
      requires(const M& m) {
        { m.precision_bits() } -> std::convertible_to<unsigned>;
      },
      "eqinfo model is missing: unsigned precision_bits() const");
  static_assert(
      requires(M & m) { m.reset(); }, "eqinfo model is missing: void reset()");
  static_assert(
      requires(M & m) {
        { m.predict() } -> std::convertible_to<const cdf_table&>;
      },
      "eqinfo model is missing: const eqinfo::cdf_table& predict()");
  static_assert(
      requires(M & m, std::uint8_t b) { m.update(b); }, "eqinfo model is missing: void update(std::uint8_t)");
  static_assert(std::copy_constructible<M>, "eqinfo model must be copyable (one copy per thread)");
  return true;
}

/// Byte lookup for a fixed CDF: the byte owning a point of [0, 2^P), and its
/// slice, from a 4,096-entry table of the byte each 2^(P-12)-wide bucket
/// starts with, plus a short forward scan when the point lies past that
/// byte's slice (buckets are narrower than most slices). Lets the decoder of
/// a static model skip the binary search, as rANS decoders do. Each entry
/// also holds the byte's slice, so the decoder's next step does not wait for
/// a second load from the CDF.
class symbol_lookup {
 public:
  symbol_lookup() = default;
  symbol_lookup(const cdf_table& cdf, unsigned precision) : shift_(precision > 12 ? precision - 12 : 0) {
    const std::uint32_t buckets = std::uint32_t{1} << (precision - shift_);
    std::size_t s = 0;
    for (std::uint32_t i = 0; i < buckets; ++i) {
      while (cdf[s + 1] <= (i << shift_)) ++s;
      // low | byte << 28 | high << 36 (P <= 24 keeps low and high below
      // 2^28): low and high then take one instruction each to unpack.
      entries_[i] = cdf[s] | std::uint64_t{s} << 28 | std::uint64_t{cdf[s + 1]} << 36;
    }
  }
  /// The slice owning `target`, looked up from the bucket of hint <= target
  /// (the bucket's first slice starts at or before hint, so a search from
  /// it finds target's).
  symbol_slice find_slice(const cdf_table& cdf, std::uint32_t target, std::uint32_t hint) const noexcept {
    const std::uint64_t e = entries_[hint >> shift_];
    const symbol_slice first{static_cast<std::uint32_t>(e & 0xFFFFFFFu), static_cast<std::uint32_t>(e >> 36),
                             static_cast<std::uint8_t>(e >> 28)};
    if (target < first.high) [[likely]]
      return first;
    std::size_t s = first.byte + 1u;
    while (cdf[s + 1] <= target) ++s;
    return {cdf[s], cdf[s + 1], static_cast<std::uint8_t>(s)};
  }
  symbol_slice find_slice(const cdf_table& cdf, std::uint32_t target) const noexcept {
    return find_slice(cdf, target, target);
  }
  std::uint8_t find(const cdf_table& cdf, std::uint32_t target) const noexcept { return find_slice(cdf, target).byte; }

 private:
  std::array<std::uint64_t, 4096> entries_{};
  unsigned shift_ = 0;
};

}  // namespace detail

/// Integer weights -> CDF of total 2^P. Every byte gets 1 count plus its
/// share of the other 2^P - 256, rounded down; the few counts rounding leaves
/// go to the heaviest byte (lowest index on ties). All-zero weights give the
/// uniform CDF. Pure integer arithmetic: identical on every machine.
inline void quantize_cdf(std::span<const std::uint64_t, 256> weights, unsigned precision, cdf_table& out) {
  detail::check_precision(precision);
  detail::uint128 total = 0;
  std::size_t heaviest = 0;
  for (std::size_t i = 0; i < 256; ++i) {
    total += weights[i];
    if (weights[i] > weights[heaviest]) heaviest = i;
  }
  const std::uint64_t full = std::uint64_t{1} << precision;
  const std::uint64_t spare = full - 256;
  std::array<std::uint64_t, 256> counts;
  std::uint64_t used = 0;
  // floor(w * spare / total). When every product and the total are below
  // 2^53 (M1: w <= 2^24, so always) they are exact doubles: a double
  // quotient is then within 1 of the true one, and the integer corrections
  // below make it exactly the floor -- the same integers as the 128-bit
  // division, without its cost (256 of them per CDF).
  const std::uint64_t heaviest_weight = weights[heaviest];
  const bool exact_in_double = total != 0 && total < (detail::uint128{1} << 53) &&
                               static_cast<detail::uint128>(heaviest_weight) * spare < (detail::uint128{1} << 53);
  if (exact_in_double) {
    const auto divisor = static_cast<std::uint64_t>(total);
    const double inverse = 1.0 / static_cast<double>(divisor);
    for (std::size_t i = 0; i < 256; ++i) {
      const std::uint64_t product = weights[i] * spare;
      // share <= spare < 2^24 and the double quotient's relative error is
      // below 2^-51, so its error is below 2^-27: truncated, it is the floor
      // or one off either way, and one step each way makes it exact.
      auto share = static_cast<std::uint64_t>(static_cast<double>(product) * inverse);
      share -= share * divisor > product ? 1 : 0;
      share += (share + 1) * divisor <= product ? 1 : 0;
      counts[i] = 1 + share;
      used += counts[i];
    }
  } else {
    for (std::size_t i = 0; i < 256; ++i) {
      const std::uint64_t share =
          total == 0 ? spare / 256
                     : static_cast<std::uint64_t>(static_cast<detail::uint128>(weights[i]) * spare / total);
      counts[i] = 1 + share;
      used += counts[i];
    }
  }
  counts[heaviest] += full - used;  // 0 <= full - used <= 256
  out[0] = 0;
  for (std::size_t i = 0; i < 256; ++i) out[i + 1] = static_cast<std::uint32_t>(out[i] + counts[i]);
}

/// Float probabilities (non-negative, finite, not all zero; need not sum to
/// 1) -> CDF of total 2^P. Each float is decoded from its bit pattern into an
/// exact integer scaled to the largest one, so the result does not depend on
/// the FPU's rounding mode, flush-to-zero or the ISA. Throws
/// errc::invalid_model_output naming the first NaN, infinite or negative entry,
/// or if all entries are zero.
inline void quantize_cdf(std::span<const float, 256> probabilities, unsigned precision, cdf_table& out) {
  std::array<std::uint32_t, 256> mantissa;
  std::array<int, 256> exponent;
  int max_exponent = -1000;
  for (std::size_t i = 0; i < 256; ++i) {
    const auto bits = std::bit_cast<std::uint32_t>(probabilities[i]);
    const auto biased = static_cast<int>((bits >> 23) & 0xFFu);
    const std::uint32_t fraction = bits & 0x7FFFFFu;
    if (biased == 0xFF || (bits >> 31) != 0) {
      if (bits == 0x80000000u) {  // -0.0 is zero
        mantissa[i] = 0;
        exponent[i] = 0;
        continue;
      }
      const char* what = biased == 0xFF ? (fraction != 0 ? "NaN" : "infinite") : "negative";
      throw error(errc::invalid_model_output, "probability of byte " + std::to_string(i) + " is " + what);
    }
    mantissa[i] = biased == 0 ? fraction : (fraction | 0x800000u);  // value = mantissa * 2^(exponent - 150)
    exponent[i] = biased == 0 ? 1 : biased;
    if (mantissa[i] != 0 && exponent[i] > max_exponent) max_exponent = exponent[i];
  }
  if (max_exponent == -1000) throw error(errc::invalid_model_output, "all 256 probabilities are zero");
  // Scale to the largest value: weight = mantissa * 2^(30 + e - e_max) <= 2^54,
  // so 256 weights sum below 2^62.
  std::array<std::uint64_t, 256> weights;
  for (std::size_t i = 0; i < 256; ++i) {
    const int shift = max_exponent - exponent[i];
    weights[i] = shift >= 54 ? 0 : (std::uint64_t{mantissa[i]} << 30) >> shift;
  }
  quantize_cdf(std::span<const std::uint64_t, 256>(weights), precision, out);
}

/// Every byte equally likely: 8 bits per byte (the Bytes baseline's rate).
class uniform_model {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;
  static constexpr bool cdf_is_static = true;

  explicit uniform_model(unsigned precision_bits = 16) : precision_(precision_bits) {
    detail::check_precision(precision_bits);
    for (std::uint32_t i = 0; i <= 256; ++i) cdf_[i] = i << (precision_bits - 8);
  }
  unsigned precision_bits() const noexcept { return precision_; }
  void reset() noexcept {}
  const cdf_table& predict() const noexcept { return cdf_; }
  void update(std::uint8_t) noexcept {}
  /// The byte owning `target` (optional decoder hook for static models).
  std::uint8_t symbol_of(std::uint32_t target) const noexcept {
    return static_cast<std::uint8_t>(target >> (precision_ - 8));
  }
  /// The byte owning `target` and its slice (optional decoder hook).
  symbol_slice slice_of(std::uint32_t target) const noexcept {
    const unsigned shift = precision_ - 8;
    const std::uint32_t low = target >> shift << shift;
    return {low, low + (std::uint32_t{1} << shift), static_cast<std::uint8_t>(target >> shift)};
  }
  /// Identity recorded in token files: CRC-32 of "uniform/P".
  std::uint32_t fingerprint() const {
    const std::string id = "uniform/" + std::to_string(precision_);
    return detail::crc32(reinterpret_cast<const unsigned char*>(id.data()), id.size());
  }

 private:
  cdf_table cdf_;
  unsigned precision_;
};

/// A static byte-unigram model: the paper's StaticAC. Holds the raw byte
/// counts, so the same file serves any precision.
///
/// File format (little-endian, 2,068 bytes):
///   "EQINFOUG" | u32 version (1) | u32 precision_bits | 256 x u64 counts | u32 CRC-32 of all before it
class unigram_model {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;
  static constexpr bool cdf_is_static = true;
  static constexpr std::uint32_t file_version = 1;
  static constexpr std::size_t file_size = 8 + 4 + 4 + 256 * 8 + 4;

  unigram_model(const std::array<std::uint64_t, 256>& counts, unsigned precision_bits)
      : counts_(counts), precision_(precision_bits) {
    quantize_cdf(std::span<const std::uint64_t, 256>(counts_), precision_, cdf_);
    lookup_ = detail::symbol_lookup(cdf_, precision_);
  }

  /// Counts every byte of `corpus` once.
  static unigram_model estimate(std::span<const std::uint8_t> corpus, unsigned precision_bits) {
    std::array<std::uint64_t, 256> counts{};
    for (std::uint8_t b : corpus) ++counts[b];
    return unigram_model(counts, precision_bits);
  }

  unsigned precision_bits() const noexcept { return precision_; }
  void reset() noexcept {}
  const cdf_table& predict() const noexcept { return cdf_; }
  void update(std::uint8_t) noexcept {}
  /// The byte owning `target` (optional decoder hook for static models).
  std::uint8_t symbol_of(std::uint32_t target) const noexcept { return lookup_.find(cdf_, target); }
  /// The byte owning `target` and its slice (optional decoder hook).
  symbol_slice slice_of(std::uint32_t target) const noexcept { return lookup_.find_slice(cdf_, target); }
  /// The same, given hint <= target (arithmetic_decoder::decode_run's hint).
  symbol_slice slice_of(std::uint32_t target, std::uint32_t hint) const noexcept {
    return lookup_.find_slice(cdf_, target, hint);
  }

  const std::array<std::uint64_t, 256>& counts() const noexcept { return counts_; }
  /// Identity recorded in token files: the CRC-32 the model file stores (of
  /// everything before it; a CRC over the whole file would be a constant).
  std::uint32_t fingerprint() const {
    const auto bytes = serialize();
    return detail::crc32(bytes.data(), bytes.size() - 4);
  }
  /// The same counts quantised at another precision.
  unigram_model with_precision(unsigned precision_bits) const { return unigram_model(counts_, precision_bits); }

  std::vector<unsigned char> serialize() const {
    std::vector<unsigned char> out(magic, magic + 8);
    detail::put_le(out, file_version, 4);
    detail::put_le(out, precision_, 4);
    for (std::uint64_t c : counts_) detail::put_le(out, c, 8);
    detail::put_le(out, detail::crc32(out.data(), out.size()), 4);
    return out;
  }

  /// Parses a unigram file; `source` names it in error messages.
  /// Throws errc::bad_magic, unsupported_version, bad_model_file (truncated,
  /// trailing bytes, bad precision) or checksum_mismatch.
  static unigram_model parse(std::span<const unsigned char> data, const std::string& source) {
    detail::le_reader in(data, source, errc::bad_model_file);
    const auto head = in.take(8, "magic");
    if (std::memcmp(head.data(), magic, 8) != 0)
      throw error(errc::bad_magic, source + ": not an eqinfo unigram file (magic is not \"EQINFOUG\")");
    const auto version = in.get(4, "version");
    if (version != file_version)
      throw error(errc::unsupported_version, source + ": unigram file version " + std::to_string(version) +
                                                 ", this build reads version " + std::to_string(file_version));
    const auto precision = in.get(4, "precision_bits");
    std::array<std::uint64_t, 256> counts;
    for (auto& c : counts) c = in.get(8, "byte counts");
    const auto body = in.position();
    const auto stored = static_cast<std::uint32_t>(in.get(4, "checksum"));
    if (in.remaining() != 0)
      throw error(errc::bad_model_file,
                  source + ": " + std::to_string(in.remaining()) + " unexpected bytes after the checksum");
    const std::uint32_t actual = detail::crc32(data.data(), body);
    if (stored != actual)
      throw error(errc::checksum_mismatch, source + ": CRC-32 " + hex(actual) + ", expected " + hex(stored));
    detail::check_precision(precision, errc::bad_model_file, source + ": ");
    return unigram_model(counts, static_cast<unsigned>(precision));
  }

  void save(const std::string& path) const { detail::write_file_bytes(path, serialize()); }
  static unigram_model load(const std::string& path) { return parse(detail::read_file_bytes(path), path); }

 private:
  static constexpr char magic[9] = "EQINFOUG";
  static std::string hex(std::uint32_t v) { return detail::hex32(v); }

  std::array<std::uint64_t, 256> counts_;
  cdf_table cdf_;
  detail::symbol_lookup lookup_;
  unsigned precision_;
};

static_assert(byte_model<uniform_model>);
static_assert(byte_model<unigram_model>);

}  // namespace v1
}  // namespace eqinfo
