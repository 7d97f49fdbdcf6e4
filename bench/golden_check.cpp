// SPDX-License-Identifier: MIT
// Golden-output checker for the arithmetic coder and everything built on it.
//
//   golden_check            prints one FNV-1a hash per category and a total;
//                           exits 1 unless the total equals the pinned one
//
// Run it before and after any change to coder.hpp / bits.hpp: the hashes must
// be identical (they fingerprint every output bit, every coder state and every
// decoded byte for fixed seeds). It also checks round trips on the way, so a
// mismatch is reported as a failure even without a reference.
//
// Covered: random CDFs (smooth, spiky, minimal-count, uniform) at every
// precision 8..24; empty input; inputs that keep the frame straddling 1/2 so
// that thousands of pending (follow) bits accumulate; runs of one byte;
// terminated_bits / terminated_bits_with / finish() after every prefix of
// short inputs; decoders with both paddings, the resuming constructor;
// bit_vector read/append/append_run/append_range/resize; token packing; the
// equal-info tokenizer (both window rules) and plain AC with bare decoding.
#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace {

struct fnv {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFFu;
      h *= 0x100000001b3ull;
    }
  }
  void add(const eqinfo::bit_vector& b) {
    add(b.size());
    for (std::uint64_t w : b.words()) add(w);
  }
  void add(const eqinfo::detail::interval_state& s) {
    add(s.low);
    add(s.high);
    add(s.pending);
    add(s.emitted);
  }
};

// TOTAL of the coder as of stream format 1 (commit c257bce); see docs/performance.md.
constexpr std::uint64_t expected_total = 0x50428def0ad93d5bull;

int failures = 0;
void fail(const std::string& what) {
  if (++failures <= 20) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

using rng = std::mt19937_64;

/// Random strictly increasing CDF of total 2^p, of one of several shapes.
eqinfo::cdf_table random_cdf(rng& g, unsigned p, int shape) {
  std::array<std::uint64_t, 256> w{};
  switch (shape) {
    case 0:  // smooth random
      for (auto& x : w) x = g() % 1000;
      break;
    case 1:  // spiky: a few heavy bytes
      for (auto& x : w) x = g() % 3;
      for (int i = 0; i < 4; ++i) w[g() % 256] = 1000000 + g() % 1000000;
      break;
    case 2:  // one dominant byte: everything else gets the minimal count
      w[g() % 256] = 1;
      break;
    case 3:  // uniform
      for (auto& x : w) x = 1;
      break;
    default:  // geometric-ish (English-like skew)
      for (std::size_t i = 0; i < 256; ++i) w[i] = (std::uint64_t{1} << (g() % 40)) + (g() & 7);
      break;
  }
  eqinfo::cdf_table cdf;
  eqinfo::quantize_cdf(std::span<const std::uint64_t, 256>(w), p, cdf);
  return cdf;
}

/// Bytes drawn from the CDF itself (so skew shows up in the data).
std::vector<std::uint8_t> draw(rng& g, const eqinfo::cdf_table& cdf, unsigned p, std::size_t n) {
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) {
    const std::uint32_t u = static_cast<std::uint32_t>(g() & ((std::uint64_t{1} << p) - 1));
    b = static_cast<std::uint8_t>(std::upper_bound(cdf.begin() + 1, cdf.end(), u) - cdf.begin() - 1);
  }
  return out;
}

/// Encodes, hashes everything, decodes with every decoder flavour and checks.
void code_and_hash(fnv& h, const eqinfo::cdf_table& cdf, unsigned p, std::span<const std::uint8_t> input,
                   bool per_step_finish) {
  eqinfo::arithmetic_encoder enc(p);
  std::vector<eqinfo::detail::interval_state> states;
  states.reserve(input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    const std::uint8_t b = input[i];
    h.add(enc.terminated_bits_with(cdf[b], cdf[b + 1u]));
    enc.encode(cdf, b);
    h.add(enc.state());
    h.add(enc.terminated_bits());
    states.push_back(enc.state());
    if (per_step_finish) h.add(enc.finish());
  }
  const eqinfo::bit_vector code = enc.finish();
  h.add(code);
  h.add(enc.emitted_bits());
  if (code.size() != enc.terminated_bits()) fail("finish() length != terminated_bits()");

  // Plain decode (zero padding), and the upper edge of the same cell.
  for (int pad = 0; pad < 2; ++pad) {
    eqinfo::arithmetic_decoder dec(code, 0, code.size(), p, pad != 0);
    for (std::size_t i = 0; i < input.size(); ++i) {
      const std::uint8_t b = dec.decode(cdf);
      h.add(b);
      if (b != input[i]) {
        fail("decode mismatch at " + std::to_string(i) + " p=" + std::to_string(p) + " pad=" + std::to_string(pad));
        break;
      }
      if (!(dec.state() == states[i])) fail("decoder state differs from encoder state");
    }
    h.add(dec.state());
    h.add(dec.terminated_bits());
  }
  // Embedded in a longer vector at an offset, with junk after the end.
  {
    eqinfo::bit_vector framed;
    framed.append_run(true, 37);
    framed.append_range(code, 0, code.size());
    framed.append(0xDEADBEEFCAFEF00Dull, 64);
    eqinfo::arithmetic_decoder dec(framed, 37, 37 + code.size(), p, false);
    for (std::size_t i = 0; i < input.size(); ++i)
      if (dec.decode(cdf) != input[i]) {
        fail("offset decode mismatch");
        break;
      }
    h.add(dec.state());
    // Resume from the middle state.
    if (!input.empty()) {
      const std::size_t mid = input.size() / 2;
      eqinfo::arithmetic_decoder res(framed, 37, 37 + code.size(), p, false, states[mid]);
      for (std::size_t i = mid + 1; i < input.size(); ++i)
        if (res.decode(cdf) != input[i]) {
          fail("resumed decode mismatch");
          break;
        }
      h.add(res.state());
    }
  }
  // Peek past the end: what a decoder reads from a truncated code.
  {
    const std::size_t cut = code.size() / 2;
    for (int pad = 0; pad < 2; ++pad) {
      eqinfo::arithmetic_decoder dec(code, 0, cut, p, pad != 0);
      for (std::size_t i = 0; i < std::min<std::size_t>(input.size() + 8, 4096); ++i) h.add(dec.decode(cdf));
      h.add(dec.state());
    }
  }
  // padded_code_equals after each state (short inputs only).
  if (per_step_finish)
    for (const auto& s : states) h.add(eqinfo::detail::padded_code_equals(s, code, code.significant_size()));
}

/// Drives the encoder through raw slices that keep the frame straddling 1/2:
/// each step picks the byte whose slice holds the frame point 1/2 (or a tiny
/// slice just around it), so pending bits pile up by the thousands.
void pending_storm(fnv& h, rng& g, unsigned p, std::size_t steps) {
  const eqinfo::cdf_table cdf = random_cdf(g, p, 0);
  eqinfo::arithmetic_encoder enc(p);
  std::vector<std::uint8_t> bytes;
  std::uint64_t max_pending = 0;
  for (std::size_t i = 0; i < steps; ++i) {
    const auto& s = enc.state();
    const std::uint64_t range = s.high - s.low + 1;
    const std::uint64_t v = (g() % 16 == 0) ? (g() & 0xFFFFFFFFull) : 0x80000000ull;
    std::uint64_t target = v < s.low || v > s.high ? 0 : (((v - s.low + 1) << p) - 1) / range;
    const auto b = static_cast<std::uint8_t>(
        std::upper_bound(cdf.begin() + 1, cdf.end(), static_cast<std::uint32_t>(target)) - cdf.begin() - 1);
    bytes.push_back(b);
    enc.encode(cdf, b);
    max_pending = std::max(max_pending, enc.state().pending);
  }
  h.add(max_pending);
  code_and_hash(h, cdf, p, bytes, false);
  // Also raw slices (not from a CDF) of width 1..3 around the middle.
  eqinfo::arithmetic_encoder raw(p);
  const std::uint32_t half = 1u << (p - 1);
  for (std::size_t i = 0; i < steps; ++i) {
    const std::uint32_t lo = half - static_cast<std::uint32_t>(g() % 2);
    raw.encode(lo, lo + 1 + static_cast<std::uint32_t>(g() % 2));
    h.add(raw.state());
  }
  h.add(raw.finish());
}

void bit_vector_checks(fnv& h, rng& g) {
  eqinfo::bit_vector v;
  for (int i = 0; i < 20000; ++i) {
    const unsigned op = static_cast<unsigned>(g() % 6);
    if (op == 0)
      v.push_back(g() & 1);
    else if (op == 1) {
      // Arguments are drawn in named order: C++ leaves the evaluation order of
      // g() calls inside one argument list unspecified (GCC and Clang differ).
      const auto count = static_cast<unsigned>(g() % 65);
      const auto bits = g();
      v.append(bits, count);
    } else if (op == 2) {
      const auto count = g() % 150;
      const bool bit = g() & 1;
      v.append_run(bit, count);
    } else if (op == 3 && v.size() > 0) {
      const std::size_t a = g() % v.size(), b = a + g() % (v.size() - a + 1);
      eqinfo::bit_vector w;
      w.append(g(), 13);
      w.append_range(v, a, b);
      h.add(w);
    } else if (op == 4 && v.size() > 10000) {
      v.resize(v.size() - g() % 300);
    }
    if (v.size() > 0) {
      const std::size_t pos = g() % (v.size() + 70);
      const unsigned count = static_cast<unsigned>(g() % 65);
      h.add(v.read(pos, count, false));
      h.add(v.read(pos, count, true));
    }
  }
  h.add(v);
  h.add(v.significant_size());
  for (unsigned n : {1u, 7u, 8u, 12u, 16u, 24u, 32u}) {
    const auto t = eqinfo::pack_tokens(v, n);
    for (auto x : t) h.add(x);
    const auto back = eqinfo::unpack_tokens(t, n);
    h.add(back);
  }
}

template <class M>
void tokenizer_checks(fnv& h, M model, std::span<const std::uint8_t> text, unsigned p) {
  for (unsigned b : {16u, 24u, 32u, 64u, 128u}) {
    if (b < p) continue;
    for (auto rule : {eqinfo::window_rule::greedy_exact, eqinfo::window_rule::delay}) {
      eqinfo::settings s;
      s.window_bits = b;
      s.token_bits = b % 16 == 0 ? 16 : 8;
      s.precision_bits = p;
      s.rule = rule;
      eqinfo::tokenizer<M> tok(model, s);
      const auto e = tok.encode(text);
      for (auto t : e.tokens) h.add(t);
      const auto back = tok.decode(e.tokens, e.byte_count);
      if (!std::equal(back.begin(), back.end(), text.begin(), text.end())) fail("equal-info round trip");
      const auto bare = tok.decode_bare(e.tokens);
      h.add(bare.size());
      for (auto x : bare) h.add(x);
    }
  }
  eqinfo::settings s;
  s.kind = eqinfo::method::ac;
  s.precision_bits = p;
  s.token_bits = 16;
  eqinfo::tokenizer<M> tok(model, s);
  const auto e = tok.encode(text);
  for (auto t : e.tokens) h.add(t);
  const auto back = tok.decode(e.tokens, e.byte_count);
  if (!std::equal(back.begin(), back.end(), text.begin(), text.end())) fail("ac round trip");
  const auto bare = tok.decode_bare(e.tokens);
  h.add(bare.size());
}

}  // namespace

int main() {
  fnv total;
  auto report = [&](const char* name, const fnv& h) {
    std::printf("%-22s %016" PRIx64 "\n", name, h.h);
    total.add(h.h);
  };

  {
    fnv h;
    rng g(1);
    for (unsigned p = eqinfo::min_precision_bits; p <= eqinfo::max_precision_bits; ++p)
      for (int shape = 0; shape < 5; ++shape) {
        const auto cdf = random_cdf(g, p, shape);
        const auto data = draw(g, cdf, p, 3000 + g() % 3000);
        code_and_hash(h, cdf, p, data, false);
      }
    report("random_cdfs", h);
  }
  {
    fnv h;
    rng g(2);
    for (unsigned p = eqinfo::min_precision_bits; p <= eqinfo::max_precision_bits; ++p)
      for (int shape = 0; shape < 5; ++shape)
        for (std::size_t n : {0u, 1u, 2u, 3u, 5u, 17u, 64u}) {
          const auto cdf = random_cdf(g, p, shape);
          const auto data = draw(g, cdf, p, n);
          code_and_hash(h, cdf, p, data, true);
        }
    report("short_and_empty", h);
  }
  {
    fnv h;
    rng g(3);
    for (unsigned p = eqinfo::min_precision_bits; p <= eqinfo::max_precision_bits; p += 2)
      for (int shape = 0; shape < 5; ++shape) {
        const auto cdf = random_cdf(g, p, shape);
        for (std::uint8_t b : {std::uint8_t{0}, std::uint8_t{255}, static_cast<std::uint8_t>(g())}) {
          std::vector<std::uint8_t> run(20000, b);  // one byte over and over (rare or common)
          code_and_hash(h, cdf, p, run, false);
        }
      }
    report("long_runs", h);
  }
  {
    fnv h;
    rng g(4);
    for (unsigned p = eqinfo::min_precision_bits; p <= eqinfo::max_precision_bits; ++p) pending_storm(h, g, p, 6000);
    report("pending_storm", h);
  }
  {
    fnv h;
    rng g(5);
    bit_vector_checks(h, g);
    report("bit_vector_packing", h);
  }
  {
    fnv h;
    rng g(6);
    std::string text;
    static const char* words[] = {"the ",
                                  "of ",
                                  "and ",
                                  "to ",
                                  "in ",
                                  "a ",
                                  "is ",
                                  "that ",
                                  "for ",
                                  "it ",
                                  "as ",
                                  "was ",
                                  "with ",
                                  "be ",
                                  "by ",
                                  "on ",
                                  "not ",
                                  "he ",
                                  "this ",
                                  "are ",
                                  "or ",
                                  "his ",
                                  "from ",
                                  "at ",
                                  "which ",
                                  "but ",
                                  "have ",
                                  "an ",
                                  "had ",
                                  "they ",
                                  "you ",
                                  "were ",
                                  "their ",
                                  "one ",
                                  "all ",
                                  "we ",
                                  "can ",
                                  "her ",
                                  "has ",
                                  "there ",
                                  "been ",
                                  "if ",
                                  "more ",
                                  "when ",
                                  "will ",
                                  "would ",
                                  "who ",
                                  "so ",
                                  "no ",
                                  "Congress. ",
                                  "\n",
                                  "1787, ",
                                  "\xc3\xa9t\xc3\xa9 "};
    while (text.size() < 12000) text += words[g() % (sizeof(words) / sizeof(*words))];
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    for (unsigned p : {8u, 12u, 16u, 20u, 24u}) {
      tokenizer_checks(h, eqinfo::unigram_model::estimate(bytes, p), bytes, p);
      tokenizer_checks(h, eqinfo::uniform_model(p), bytes.first(3000), p);
    }
    report("tokenizer", h);
  }
  std::printf("%-22s %016" PRIx64 "\n", "TOTAL", total.h);
  if (failures) {
    std::printf("%d round-trip failures\n", failures);
    return 1;
  }
  if (total.h != expected_total) {
    std::printf("TOTAL differs from the pinned %016" PRIx64
                ": the coder's output changed (a breaking change of EQINFO_STREAM_FORMAT)\n",
                expected_total);
    return 1;
  }
  std::printf("OK: identical to the pinned golden hashes\n");
  return 0;
}
