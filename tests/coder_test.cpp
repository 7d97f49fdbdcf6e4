// SPDX-License-Identifier: MIT
// The arithmetic coder: round trips, exact termination length, and the
// shortest-enclosed-interval termination rule.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/coder.hpp>
#include <eqinfo/model.hpp>

using eqinfo::arithmetic_decoder;
using eqinfo::arithmetic_encoder;
using eqinfo::bit_vector;
using eqinfo::cdf_table;
using eqinfo_test::rng;

namespace {

cdf_table random_cdf(rng& r, unsigned precision) {
  std::array<std::uint64_t, 256> weights;
  const int shape = static_cast<int>(r.below(3));
  for (auto& w : weights) {
    const std::uint64_t x = r.next();
    w = shape == 0 ? x % 1000 : shape == 1 ? (x % 100 == 0 ? x % 1000000 : 0) : (x % 7 == 0 ? 1 : 0);
  }
  weights[r.below(256)] += shape == 2 ? 1000000000 : 0;  // sometimes one very likely byte
  cdf_table cdf;
  eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(weights), precision, cdf);
  return cdf;
}

// Symbols drawn from each step's own CDF, so likely symbols dominate as in text.
std::uint8_t draw(rng& r, const cdf_table& cdf, unsigned precision) {
  const auto target = static_cast<std::uint32_t>(r.next() & ((std::uint64_t{1} << precision) - 1));
  return static_cast<std::uint8_t>(std::upper_bound(cdf.begin() + 1, cdf.end(), target) - cdf.begin() - 1);
}

// Whether the dyadic cell of `code` lies inside the final interval of
// `message`: both edges of the cell (pad 0 / pad 1) decode to the message.
bool cell_inside(const bit_vector& code, const std::vector<cdf_table>& cdfs, const std::vector<std::uint8_t>& msg,
                 unsigned precision) {
  for (bool pad : {false, true}) {
    arithmetic_decoder d(code, 0, code.size(), precision, pad);
    for (std::size_t i = 0; i < msg.size(); ++i)
      if (d.decode(cdfs[i]) != msg[i]) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("coder round-trips random models and messages at every precision", "[coder]") {
  const unsigned precision = GENERATE(8u, 12u, 14u, 16u, 20u, 24u);
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    rng r{seed * 7919 + precision};
    const std::size_t n = r.below(seed < 5 ? 3 : 400);
    std::vector<cdf_table> cdfs(n);
    std::vector<std::uint8_t> msg(n);
    arithmetic_encoder enc(precision);
    for (std::size_t i = 0; i < n; ++i) {
      cdfs[i] = random_cdf(r, precision);
      msg[i] = r.below(4) == 0 ? static_cast<std::uint8_t>(r.next()) : draw(r, cdfs[i], precision);
      const auto predicted = enc.terminated_bits_with(cdfs[i][msg[i]], cdfs[i][msg[i] + 1u]);
      enc.encode(cdfs[i], msg[i]);
      REQUIRE(enc.terminated_bits() == predicted);  // the trial length is exact
    }
    const bit_vector code = enc.finish();
    REQUIRE(code.size() == enc.terminated_bits());
    arithmetic_decoder dec(code, 0, code.size(), precision);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(dec.decode(cdfs[i]) == msg[i]);
    REQUIRE(dec.state() == enc.state());
  }
}

TEST_CASE("termination is the shortest bit string whose interval lies inside the final interval", "[coder]") {
  const unsigned precision = GENERATE(8u, 12u, 16u);
  for (std::uint64_t seed = 1; seed <= 150; ++seed) {
    rng r{seed * 31 + precision};
    const std::size_t n = 1 + r.below(6);
    std::vector<cdf_table> cdfs(n);
    std::vector<std::uint8_t> msg(n);
    arithmetic_encoder enc(precision);
    for (std::size_t i = 0; i < n; ++i) {
      cdfs[i] = random_cdf(r, precision);
      msg[i] = draw(r, cdfs[i], precision);
      enc.encode(cdfs[i], msg[i]);
    }
    const bit_vector code = enc.finish();
    REQUIRE(cell_inside(code, cdfs, msg, precision));
    if (code.size() == 0) continue;
    // If a shorter code existed, one of the length-(L-1) cells next to the
    // code's start would lie inside (the final interval is then narrower than
    // 2^-(L-2), so at most three such cells meet it).
    const std::size_t shorter = code.size() - 1;
    const std::uint64_t prefix =
        shorter == 0 ? 0 : code.read(0, static_cast<unsigned>(std::min<std::size_t>(shorter, 64)));
    if (shorter > 64) continue;  // long codes: covered by the round trips above
    for (std::int64_t delta : {-1, 0, 1}) {
      const auto candidate_value = static_cast<std::int64_t>(prefix) + delta;
      if (candidate_value < 0 || (shorter < 64 && candidate_value >= (std::int64_t{1} << shorter))) continue;
      bit_vector candidate;
      candidate.append(static_cast<std::uint64_t>(candidate_value), static_cast<unsigned>(shorter));
      INFO("seed " << seed << " code " << code.to_string() << " shorter candidate " << candidate.to_string());
      REQUIRE_FALSE(cell_inside(candidate, cdfs, msg, precision));
    }
  }
}

TEST_CASE("a first byte of probability 2^-P costs exactly P bits", "[coder]") {
  const unsigned precision = GENERATE(8u, 14u, 16u, 24u);
  std::array<std::uint64_t, 256> weights{};
  weights[0] = 1u << 30;  // byte 0 takes almost everything, every other byte keeps 1 count
  cdf_table cdf;
  eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(weights), precision, cdf);
  std::uint64_t longest = 0;
  for (std::size_t byte = 1; byte < 256; ++byte) {
    REQUIRE(cdf[byte + 1] - cdf[byte] == 1);
    arithmetic_encoder enc(precision);
    enc.encode(cdf, static_cast<std::uint8_t>(byte));
    longest = std::max(longest, enc.terminated_bits());
  }
  REQUIRE(longest == precision);
}

TEST_CASE("empty message, long runs and a large input", "[coder]") {
  arithmetic_encoder empty(16);
  REQUIRE(empty.finish().size() == 0);
  const cdf_table skewed = [] {
    std::array<std::uint64_t, 256> w{};
    w[0] = 1000000;
    w[255] = 1;
    cdf_table c;
    eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(w), 16, c);
    return c;
  }();
  for (std::uint8_t fill : {std::uint8_t{0x00}, std::uint8_t{0xFF}}) {
    const std::size_t n = 1u << 20;  // 1 MiB of one byte value
    arithmetic_encoder enc(16);
    for (std::size_t i = 0; i < n; ++i) enc.encode(skewed, fill);
    const bit_vector code = enc.finish();
    arithmetic_decoder dec(code, 0, code.size(), 16);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i) wrong += dec.decode(skewed) != fill;
    REQUIRE(wrong == 0);
    if (fill == 0) REQUIRE(code.size() < n / 100);    // likely byte: far below 1 bit each
    if (fill == 0xFF) REQUIRE(code.size() > n * 15);  // 1/65536 each: ~16 bits
  }
}

TEST_CASE("encoder rejects empty slices and bad precisions", "[coder][errors]") {
  arithmetic_encoder enc(16);
  REQUIRE_THROWS_MATCHES(enc.encode(5, 5), eqinfo::error, Catch::Predicate<eqinfo::error>([](const eqinfo::error& e) {
                           return e.code() == eqinfo::errc::invalid_model_output;
                         }));
  REQUIRE_THROWS_AS(enc.encode(0, 70000), eqinfo::error);
  REQUIRE_THROWS_AS(arithmetic_encoder(7), eqinfo::error);
  REQUIRE_THROWS_AS(arithmetic_encoder(25), eqinfo::error);
}

TEST_CASE("bit_vector reads, appends and pads", "[coder][bits]") {
  rng r{99};
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<bool> ref;
    bit_vector v;
    const int pieces = static_cast<int>(r.below(20));
    for (int i = 0; i < pieces; ++i) {
      const unsigned count = r.below(65);
      const std::uint64_t bits = r.next();
      v.append(bits, count);
      for (unsigned k = count; k-- > 0;) ref.push_back((bits >> k) & 1u);
    }
    REQUIRE(v.size() == ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) REQUIRE(v[i] == ref[i]);
    const std::size_t pos = r.below(static_cast<std::uint32_t>(ref.size() + 10));
    const unsigned count = r.below(65);
    const bool pad = r.below(2) == 1;
    std::uint64_t expect = 0;
    for (unsigned k = 0; k < count; ++k) expect = (expect << 1) | (pos + k < ref.size() ? ref[pos + k] : pad);
    REQUIRE(v.read(pos, count, pad) == expect);
    std::size_t significant = 0;
    for (std::size_t i = 0; i < ref.size(); ++i)
      if (ref[i]) significant = i + 1;
    REQUIRE(v.significant_size() == significant);
    const std::size_t cut = r.below(static_cast<std::uint32_t>(ref.size() + 1));
    v.resize(cut);
    bit_vector rebuilt;
    for (std::size_t i = 0; i < cut; ++i) rebuilt.push_back(ref[i]);
    REQUIRE(v == rebuilt);
  }
}

// ---------------------------------------------------------------------------
// The coder against a bit-at-a-time reference (Witten, Neal and Cleary 1987,
// one renormalisation step per loop, as the format documents it). narrow()
// renormalises in one step and the decoder computes its target ahead of the
// renormalisation with a different division; every bit, every state and
// every target must still be the reference's.

namespace {

struct reference_coder {
  static constexpr std::uint64_t mask = 0xFFFFFFFFu, half = 0x80000000u, quarter = 0x40000000u;
  eqinfo::detail::interval_state s;
  bit_vector out;  // encoder: the emitted bits
  // decoder: the frame value and where the next bit comes from
  const bit_vector* in = nullptr;
  std::size_t next = 0, end = 0;
  bool pad = false;
  std::uint64_t value = 0;

  bool read_bit() {
    const bool bit = next < end ? (*in)[next] : pad;
    ++next;
    return bit;
  }
  void emit(bool bit) {
    out.push_back(bit);
    for (std::uint64_t i = 0; i < s.pending; ++i) out.push_back(!bit);
    s.emitted += 1 + s.pending;
    s.pending = 0;
  }
  void narrow(std::uint32_t c_lo, std::uint32_t c_hi, unsigned precision, bool decoding) {
    const std::uint64_t r = s.high - s.low + 1;
    s.high = s.low + ((r * c_hi) >> precision) - 1;
    s.low = s.low + ((r * c_lo) >> precision);
    for (;;) {
      if (s.high < half || s.low >= half) {  // E1 / E2
        if (!decoding) emit(s.low >= half);
        if (decoding) s.emitted += 1 + s.pending, s.pending = 0;
        s.low = (s.low << 1) & mask;
        s.high = ((s.high << 1) & mask) | 1u;
        if (decoding) value = ((value << 1) & mask) | std::uint64_t{read_bit()};
      } else if (s.low >= quarter && s.high < 3 * quarter) {  // E3: drop the second bit
        ++s.pending;
        s.low = (s.low << 1) & (mask >> 1);
        s.high = ((s.high << 1) & mask) | half | 1u;
        if (decoding) value = (value & half) | ((value << 1) & (mask >> 1)) | std::uint64_t{read_bit()};
      } else {
        return;
      }
    }
  }
  std::uint32_t target(unsigned precision) const {
    return static_cast<std::uint32_t>((((value - s.low + 1) << precision) - 1) / (s.high - s.low + 1));
  }
};

// Every byte drawn uniformly from the 256, so bytes of count 1 (slices
// narrower than 2^P) turn up often; or by probability, as in text; or the
// byte whose slice holds the middle of the frame, which keeps the frame
// straddling 1/2 and piles up pending bits.
std::uint8_t pick(rng& r, const cdf_table& cdf, unsigned precision, const reference_coder& ref, int mode) {
  if (mode == 0) return static_cast<std::uint8_t>(r.next());
  if (mode == 1) return draw(r, cdf, precision);
  const std::uint64_t width = ref.s.high - ref.s.low + 1;
  const std::uint64_t point = reference_coder::half > ref.s.low ? reference_coder::half - ref.s.low : 0;
  std::size_t s = 0;
  while (s < 255 && ((width * cdf[s + 1]) >> precision) <= point) ++s;
  return static_cast<std::uint8_t>(s);
}

}  // namespace

TEST_CASE("coder output, states and targets equal the bit-at-a-time reference", "[coder][reference]") {
  const unsigned precision = GENERATE(8u, 11u, 12u, 13u, 14u, 15u, 16u, 17u, 20u, 24u);
  for (std::uint64_t seed = 1; seed <= 24; ++seed) {
    rng r{seed * 1000003 + precision};
    const int mode = static_cast<int>(seed % 3);
    const std::size_t n = 1 + r.below(600);
    std::vector<cdf_table> cdfs(n);
    std::vector<std::uint8_t> msg(n);
    std::vector<eqinfo::detail::interval_state> states;
    cdf_table uniform;
    for (std::size_t i = 0; i <= 256; ++i) uniform[i] = static_cast<std::uint32_t>(i << (precision - 8));

    arithmetic_encoder enc(precision);
    reference_coder ref;
    for (std::size_t i = 0; i < n; ++i) {
      cdfs[i] = r.below(5) == 0 ? uniform : random_cdf(r, precision);
      msg[i] = pick(r, cdfs[i], precision, ref, mode);
      const std::uint32_t lo = cdfs[i][msg[i]], hi = cdfs[i][msg[i] + 1u];
      const std::uint64_t predicted = enc.terminated_bits_with(lo, hi);
      enc.encode(lo, hi);
      ref.narrow(lo, hi, precision, false);
      INFO("precision " << precision << " seed " << seed << " step " << i);
      REQUIRE(enc.state() == ref.s);
      REQUIRE(enc.emitted_bits() == ref.out);
      REQUIRE(predicted == enc.terminated_bits());
      states.push_back(ref.s);
    }
    const bit_vector code = enc.finish();
    bit_vector expected = ref.out;
    eqinfo::detail::append_termination(ref.s, expected);
    REQUIRE(code == expected);

    // Decoders: both paddings, and cut short (so that they read padding).
    for (const bool pad : {false, true}) {
      for (const std::size_t cut : {code.size(), code.size() / 2}) {
        arithmetic_decoder dec(code, 0, cut, precision, pad);
        reference_coder rd;
        rd.in = &code;
        rd.end = cut;
        rd.pad = pad;
        for (int b = 0; b < 32; ++b) rd.value = (rd.value << 1) | std::uint64_t{rd.read_bit()};
        for (std::size_t i = 0; i < n; ++i) {
          INFO("precision " << precision << " seed " << seed << " pad " << pad << " cut " << cut << " step " << i);
          REQUIRE(dec.target() == rd.target(precision));
          const std::uint8_t byte = dec.peek(cdfs[i]);
          if (cut == code.size()) REQUIRE(byte == msg[i]);
          dec.consume(cdfs[i], byte);
          rd.narrow(cdfs[i][byte], cdfs[i][byte + 1u], precision, true);
          REQUIRE(dec.state() == rd.s);
        }
        REQUIRE(dec.target() == rd.target(precision));
      }
    }

    // Decoders resumed at a state the encoder passed through.
    const std::size_t at = r.below(static_cast<std::uint32_t>(n));
    for (const bool pad : {false, true}) {
      arithmetic_decoder dec(code, 0, code.size(), precision, pad, states[at]);
      for (std::size_t i = at + 1; i < n; ++i) REQUIRE(dec.decode(cdfs[i]) == msg[i]);
      REQUIRE(dec.state() == enc.state());
    }
  }
}

TEST_CASE("decoder targets equal the reference after consuming bytes other than the peeked one", "[coder][reference]") {
  // Not how a decoder is meant to be used, but target() is defined for any
  // frame value: the value then lies outside the frame and the decoder must
  // still give the reference's figures.
  const unsigned precision = GENERATE(8u, 12u, 16u, 24u);
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    rng r{seed * 77 + precision};
    const bit_vector code = [&] {
      bit_vector b;
      for (int i = 0; i < 40; ++i) b.append(r.next(), 64);
      return b;
    }();
    arithmetic_decoder dec(code, 0, code.size(), precision, seed % 2 == 0);
    reference_coder rd;
    rd.in = &code;
    rd.end = code.size();
    rd.pad = seed % 2 == 0;
    for (int b = 0; b < 32; ++b) rd.value = (rd.value << 1) | std::uint64_t{rd.read_bit()};
    for (int i = 0; i < 200; ++i) {
      const cdf_table cdf = random_cdf(r, precision);
      INFO("precision " << precision << " seed " << seed << " step " << i);
      REQUIRE(dec.target() == rd.target(precision));
      const std::uint8_t byte = r.below(3) == 0 ? static_cast<std::uint8_t>(r.next()) : dec.peek(cdf);
      dec.consume(cdf, byte);
      rd.narrow(cdf[byte], cdf[byte + 1u], precision, true);
      REQUIRE(dec.state() == rd.s);
    }
  }
}

TEST_CASE("decode_run gives the bytes, states and targets of a byte-at-a-time loop", "[coder]") {
  // Counts with many bytes of count 0 or 1: at every precision some slices
  // are narrower than 2^P, which takes the step off its fast path.
  const unsigned precision = GENERATE(8u, 12u, 16u, 20u, 24u);
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    rng r{seed * 7919 + precision};
    std::array<std::uint64_t, 256> counts{};
    for (auto& c : counts) c = r.below(4) == 0 ? r.below(100000) : r.below(2);
    const eqinfo::unigram_model model(counts, precision);
    const cdf_table& cdf = model.predict();
    std::vector<std::uint8_t> msg(1 + r.below(5000));
    for (auto& b : msg) b = r.below(8) == 0 ? static_cast<std::uint8_t>(r.next()) : draw(r, cdf, precision);
    arithmetic_encoder enc(precision);
    for (const std::uint8_t b : msg) enc.encode(cdf, b);
    const bit_vector code = enc.finish();

    // The hinted lookup: any hint <= target finds the target's slice.
    for (int i = 0; i < 2000; ++i) {
      const std::uint32_t t = r.below(std::uint32_t{1} << precision);
      const std::uint32_t hint = t - r.below(std::min<std::uint32_t>(t, 5000) + 1);
      REQUIRE(model.slice_of(t, hint) == model.slice_of(t));
    }
    for (const bool pad : {false, true}) {
      for (const std::size_t cut : {code.size(), code.size() / 2}) {
        INFO("precision " << precision << " seed " << seed << " pad " << pad << " cut " << cut);
        arithmetic_decoder one(code, 0, cut, precision, pad);
        arithmetic_decoder runs(code, 0, cut, precision, pad);
        std::vector<std::uint8_t> expected, got;
        while (expected.size() < msg.size()) {
          const std::size_t length = std::min<std::size_t>(r.below(300), msg.size() - expected.size());
          for (std::size_t i = 0; i < length; ++i) {
            const std::uint8_t b = one.peek(cdf);
            REQUIRE(model.symbol_of(one.target()) == b);
            one.consume(cdf, b);
            expected.push_back(b);
          }
          got.resize(got.size() + length);
          // Alternately with the plain lookup and the hinted one (whose
          // hints must never exceed the target).
          bool hints_below = true;
          if (expected.size() % 2)
            runs.decode_run(std::span(got).last(length), [&](std::uint32_t t) { return model.slice_of(t); });
          else
            runs.decode_run(std::span(got).last(length), [&](std::uint32_t t, std::uint32_t hint) {
              hints_below = hints_below && hint <= t;
              return model.slice_of(t, hint);
            });
          REQUIRE(hints_below);
          REQUIRE(got == expected);
          REQUIRE(runs.state() == one.state());
          REQUIRE(runs.target() == one.target());
        }
        if (cut == code.size()) REQUIRE(got == msg);
      }
    }
  }
}
