// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Equal-info windows (paper sec. 3.3): cut the bytes so that each window's
/// code is exactly `window_bits` bits, resetting coder and model per window,
/// and decode them back exactly. docs/format.md states the rules.
///
/// Vocabulary used below, for one window starting at some byte:
///   I_j     the coder's interval after the window's first j bytes;
///   c_j     its terminated code (shortest enclosed dyadic string), L_j = |c_j|;
///   pad(c)  c followed by zeros up to b bits -- what the window stores;
///   g       the greedy cut: the most bytes with L_g <= b;
///   K(w)    {j >= 1 : pad(c_j) == w} along the bytes the decoder reads from w.
/// The decoder reads w padded with zeros, so it reproduces bytes 1..k, but it
/// must also be told k: several j can share one padded code (a likely byte
/// can add zero bits). The rule picks one j from K(w); the encoder only ends a
/// window at a k the rule picks, backing off from g where it would not.

#include <eqinfo/bits.hpp>
#include <eqinfo/coder.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/model.hpp>
#include <eqinfo/settings.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {

/// Progress of one encode/decode call (tokenizer::set_progress): reports
/// `callback(done, total)` when `done` first reaches the next multiple of
/// `every` bytes (so at most once per `every` bytes), and once at the end.
/// `total == 0` while the total is unknown (bare decoding).
struct progress_meter {
  const std::function<void(std::uint64_t, std::uint64_t)>* callback;
  std::uint64_t every;
  std::uint64_t total;
  std::uint64_t next = every;

  void update(std::uint64_t done) {
    if (done < next || (total != 0 && done >= total)) return;  // the end is finish()'s
    (*callback)(done, total);
    next = (done / every + 1) * every;
  }
  void finish(std::uint64_t done) { (*callback)(done, done); }
};

template <class M>
inline const cdf_table& checked_predict(M& model, unsigned precision) {
  const cdf_table& cdf = model.predict();
  if constexpr (!cdf_is_valid_by_construction<M>) check_cdf(cdf, precision);
  return cdf;
}

/// The byte the decoder's value falls on: through the model's lookup table
/// when it has one (checked unless the model is valid by construction), else
/// by searching the CDF.
template <class M>
inline std::uint8_t peek_byte(const arithmetic_decoder& decoder, const M& model, const cdf_table& cdf) {
  if constexpr (has_symbol_lookup<M>) {
    const std::uint32_t target = decoder.target();
    const std::uint8_t byte = model.symbol_of(target);
    if constexpr (!cdf_is_valid_by_construction<M>) {
      if (!(cdf[byte] <= target && target < cdf[byte + 1u]))
        throw error(errc::invalid_model_output, "model's symbol_of(" + std::to_string(target) + ") returned byte " +
                                                    std::to_string(byte) + ", whose slice does not contain it");
    }
    return byte;
  } else {
    return decoder.peek(cdf);
  }
}

/// Decodes one byte (peek_byte, then consume).
template <class M>
inline std::uint8_t decode_byte(arithmetic_decoder& decoder, const M& model, const cdf_table& cdf) {
  const std::uint8_t byte = peek_byte(decoder, model, cdf);
  decoder.consume(cdf, byte);
  return byte;
}

/// CDFs of bytes[0], bytes[1], ... from the model's current context, through
/// the batched hook when the model has one, in chunks that double (the
/// window's length is not known in advance) up to 4,096 CDFs (bounded memory
/// for long AC streams).
template <class M>
class cdf_feed {
 public:
  cdf_feed(M& model, std::span<const std::uint8_t> bytes, unsigned precision, std::vector<cdf_table>& buffer,
           std::size_t first_chunk)
      : model_(model), bytes_(bytes), precision_(precision), buffer_(buffer), chunk_(first_chunk) {}

  /// CDF of bytes[pos()] given bytes[0, pos()).
  const cdf_table& current() {
    if constexpr (batched_byte_model<M>) {
      if (pos_ >= buffer_start_ + buffer_size_) {
        buffer_size_ = std::min(chunk_, bytes_.size() - pos_);
        buffer_start_ = pos_;
        if (buffer_.size() < buffer_size_) buffer_.resize(buffer_size_);
        model_.predict_run(bytes_.subspan(pos_, buffer_size_), std::span<cdf_table>(buffer_.data(), buffer_size_));
        chunk_ = std::min<std::size_t>(chunk_ * 2, max_chunk);  // bounded memory: 1 KiB per CDF
      }
      const cdf_table& cdf = buffer_[pos_ - buffer_start_];
      if constexpr (!cdf_is_valid_by_construction<M>) check_cdf(cdf, precision_);
      return cdf;
    } else {
      return checked_predict(model_, precision_);
    }
  }
  void advance() {
    if constexpr (!batched_byte_model<M>) model_.update(bytes_[pos_]);
    ++pos_;
  }
  std::size_t pos() const noexcept { return pos_; }

 private:
  static constexpr std::size_t max_chunk = 4096;
  M& model_;
  std::span<const std::uint8_t> bytes_;
  unsigned precision_;
  std::vector<cdf_table>& buffer_;
  std::size_t chunk_;
  std::size_t pos_ = 0;
  std::size_t buffer_start_ = 0;
  std::size_t buffer_size_ = 0;
};

/// Feeds `bytes` to a freshly reset model (cheapest way the model offers).
template <class M>
inline void reset_and_advance(M& model, std::span<const std::uint8_t> bytes, std::vector<cdf_table>& buffer) {
  model.reset();
  if constexpr (batched_byte_model<M>) {
    if (bytes.empty()) return;
    if (buffer.size() < bytes.size()) buffer.resize(bytes.size());
    model.predict_run(bytes, std::span<cdf_table>(buffer.data(), bytes.size()));
  } else {
    for (std::uint8_t b : bytes) model.update(b);
  }
}

/// pad(c) for a state whose emitted bits are emitted[0, E): exactly b bits.
inline void padded_code(const bit_vector& emitted, const interval_state& s, std::size_t b, bit_vector& out) {
  out.clear();
  out.append_range(emitted, 0, s.emitted);
  append_termination(s, out);
  out.resize(b);
}

/// Scratch memory reused across windows.
struct window_scratch {
  bit_vector emitted;
  bit_vector window;
  bit_vector candidate;
  std::vector<interval_state> states;  // states[j-1]: after the window's first j bytes
  std::vector<std::uint64_t> pad_words;
  std::vector<std::uint32_t> order;
  std::vector<cdf_table> cdfs;
  std::size_t chunk = 16;
};

/// How the encoder picks the cut; `greedy_unchecked` is the paper's plain
/// greedy, kept only to measure what exactness costs (it is not decodable).
enum class cut_policy { by_rule, greedy_unchecked };

/// Decoder for one window: what the rule decides. `bytes` are appended to out.
struct window_decoding {
  std::size_t bytes = 0;  ///< bytes taken from the window
  bool matched = false;   ///< K(w) was non-empty: a window an encoder can write
};

/// Decodes the window held in `window` (exactly b bits) under `rule`.
/// Reads only bytes the window's bits determine: byte j+1 is read only if the
/// whole cell [0.w, 0.w + 2^-b) lies in one byte's slice (checked by decoding
/// with zero and with one padding). This bounds the loop, and is the bare rule:
/// a window no encoder wrote (K(w) empty) decodes to all its determined bytes.
template <class M>
window_decoding decode_window(M& model, const bit_vector& window, const settings& s, std::vector<std::uint8_t>& out) {
  model.reset();
  const std::size_t b = window.size();
  const std::size_t significant = window.significant_size();
  arithmetic_decoder low_edge(window, 0, b, s.precision_bits, false);
  arithmetic_decoder high_edge(window, 0, b, s.precision_bits, true);
  const std::size_t base = out.size();
  std::size_t j = 0;
  std::size_t last_match = 0;
  for (;;) {
    const cdf_table& cdf = checked_predict(model, s.precision_bits);
    const std::uint8_t byte = peek_byte(low_edge, model, cdf);
    if (peek_byte(high_edge, model, cdf) != byte) break;  // the bits do not determine the next byte
    low_edge.consume(cdf, byte);
    high_edge.consume(cdf, byte);
    out.push_back(byte);
    ++j;
    if (padded_code_equals(low_edge.state(), window, significant)) {
      if (s.rule == window_rule::delay || j == 1) return {j, true};
      last_match = j;
    }
    model.update(byte);
  }
  if (last_match > 0) {
    out.resize(base + last_match);
    return {last_match, true};
  }
  return {j, false};
}

/// Whether the greedy_exact decoder, reading pad(c_k) = `window` after the
/// bytes `prefix` (= the window's first k bytes, state `at`), would read past k.
template <class M>
bool continuation_matches(M& model, std::span<const std::uint8_t> prefix, const interval_state& at,
                          const bit_vector& window, const settings& s, window_scratch& scratch) {
  reset_and_advance(model, prefix, scratch.cdfs);
  const std::size_t b = window.size();
  const std::size_t significant = window.significant_size();
  arithmetic_decoder low_edge(window, 0, b, s.precision_bits, false, at);
  arithmetic_decoder high_edge(window, 0, b, s.precision_bits, true, at);
  for (;;) {
    const cdf_table& cdf = checked_predict(model, s.precision_bits);
    const std::uint8_t byte = peek_byte(low_edge, model, cdf);
    if (peek_byte(high_edge, model, cdf) != byte) return false;
    low_edge.consume(cdf, byte);
    high_edge.consume(cdf, byte);
    if (padded_code_equals(low_edge.state(), window, significant)) return true;
    model.update(byte);
  }
}

/// Encodes one window from the start of `rest`; leaves its b bits in
/// scratch.window and returns how many bytes it holds (>= 1).
/// A window holding all of `rest` is the final one, whose length the decoder
/// is told, so it needs no rule.
template <class M>
std::size_t encode_window(M& model, std::span<const std::uint8_t> rest, const settings& s, window_scratch& w,
                          cut_policy policy) {
  const std::size_t b = s.window_bits;
  model.reset();
  interval_state state;
  w.emitted.clear();
  w.states.clear();
  vector_bit_sink sink{&w.emitted};
  cdf_feed<M> feed(model, rest, s.precision_bits, w.cdfs, w.chunk);
  while (feed.pos() < rest.size()) {
    const cdf_table& cdf = feed.current();
    const std::uint8_t byte = rest[feed.pos()];
    narrow(state, cdf[byte], cdf[byte + 1u], s.precision_bits, sink);
    if (terminated_bits(state) > b) break;
    w.states.push_back(state);
    feed.advance();
  }
  const std::size_t greedy = w.states.size();
  // Adapt the batched chunk to the windows seen (costs nothing for plain models).
  w.chunk = std::max<std::size_t>(8, greedy + greedy / 2 + 4);
  if (greedy == 0)  // impossible when window_bits >= precision_bits (settings::validate)
    throw error(errc::invalid_settings, "a window of " + std::to_string(b) + " bits cannot hold one byte");

  std::size_t k = greedy;
  if (greedy < rest.size() && policy == cut_policy::by_rule) {
    if (s.rule == window_rule::delay) {
      // k must be the first j with its padded code: take the largest
      // group-leader index among equal padded codes.
      const std::size_t words = (b + 63) / 64;
      w.pad_words.resize(greedy * words);
      for (std::size_t j = 0; j < greedy; ++j) {
        padded_code(w.emitted, w.states[j], b, w.candidate);
        std::copy(w.candidate.words().begin(), w.candidate.words().end(), w.pad_words.data() + j * words);
      }
      w.order.resize(greedy);
      for (std::size_t j = 0; j < greedy; ++j) w.order[j] = static_cast<std::uint32_t>(j);
      const auto key = [&](std::uint32_t j) { return w.pad_words.data() + std::size_t{j} * words; };
      std::sort(w.order.begin(), w.order.end(), [&](std::uint32_t x, std::uint32_t y) {
        if (std::equal(key(x), key(x) + words, key(y))) return x < y;
        return std::lexicographical_compare(key(x), key(x) + words, key(y), key(y) + words);
      });
      k = 0;
      for (std::size_t i = 0; i < greedy; ++i) {
        const bool leader = i == 0 || !std::equal(key(w.order[i]), key(w.order[i]) + words, key(w.order[i - 1]));
        if (leader) k = std::max<std::size_t>(k, w.order[i] + 1);
      }
    } else {
      for (k = greedy; k > 1; --k) {
        padded_code(w.emitted, w.states[k - 1], b, w.candidate);
        const std::size_t significant = w.candidate.significant_size();
        if (padded_code_equals(w.states[0], w.candidate, significant)) continue;  // decoder would stop at 1
        if (!continuation_matches(model, rest.first(k), w.states[k - 1], w.candidate, s, w)) break;
      }
    }
  }
  padded_code(w.emitted, w.states[k - 1], b, w.window);
  return k;
}

/// Validates `s` and that the model codes at its precision.
/// Throws errc::invalid_settings or errc::settings_mismatch.
inline void check_model_precision(unsigned model_precision, const settings& s) {
  s.validate();
  if (s.kind != method::bytes && model_precision != s.precision_bits)
    throw error(errc::settings_mismatch, "model precision_bits " + std::to_string(model_precision) +
                                             " differs from settings precision_bits " +
                                             std::to_string(s.precision_bits));
}

/// Number of b-bit windows in `bits`; throws errc::truncated_tokens for a partial one.
inline std::size_t window_count(const bit_vector& bits, const settings& s) {
  const std::size_t b = s.window_bits;
  if (bits.size() % b != 0)
    throw error(errc::truncated_tokens,
                std::to_string(bits.size()) + " bits is not a whole number of " + std::to_string(b) + "-bit windows");
  return bits.size() / b;
}

/// "window 3 (tokens 6..7)", for error messages.
inline std::string window_name(std::size_t i, const settings& s) {
  const std::size_t per = s.tokens_per_window();
  return "window " + std::to_string(i) + " (tokens " + std::to_string(i * per) + ".." +
         std::to_string(i * per + per - 1) + ")";
}

/// The final window of an exact decode: it holds exactly the bytes still
/// missing from `byte_count`, and must be their code. Appends them to `out`;
/// throws errc::corrupt_stream naming window `index` otherwise (bounded: the
/// code length only grows, and the final window's code fits in b bits).
template <class M>
void decode_final_window(M& model, const bit_vector& window, std::uint64_t byte_count, std::vector<std::uint8_t>& out,
                         const settings& s, std::size_t index) {
  const std::size_t b = s.window_bits;
  if (byte_count <= out.size())
    throw error(errc::corrupt_stream, window_name(index, s) + ": no bytes left for the final window");
  const std::uint64_t remaining = byte_count - out.size();
  model.reset();
  arithmetic_decoder decoder(window, 0, b, s.precision_bits);
  for (std::uint64_t n = 0; n < remaining; ++n) {
    const cdf_table& cdf = checked_predict(model, s.precision_bits);
    const std::uint8_t byte = decode_byte(decoder, model, cdf);
    if (decoder.terminated_bits() > b)
      throw error(errc::corrupt_stream, window_name(index, s) + ": final window cannot hold the remaining " +
                                            std::to_string(remaining) + " bytes");
    out.push_back(byte);
    model.update(byte);
  }
  if (!padded_code_equals(decoder.state(), window, window.significant_size()))
    throw error(errc::corrupt_stream, window_name(index, s) + ": final window is not the code of its bytes");
}

/// Exact decoding also requires the encoder's own cuts: a window that the
/// rule reads back correctly but that the encoder would have cut elsewhere
/// (e.g. 't' alone where the encoder packs "th") is not a stream it writes,
/// and accepting it would break the one-to-one map between bytes and tokens.
/// Re-cuts the decoded bytes window by window (one encoder pass) and throws
/// errc::corrupt_stream naming the first window that differs. Windows are
/// checked independently: [first, last) checks only those (parallel.hpp).
template <class M>
void check_canonical_cuts(M& model, std::span<const std::uint8_t> out, std::span<const std::size_t> starts,
                          const bit_vector& bits, const settings& s, std::size_t first = 0,
                          std::size_t last = static_cast<std::size_t>(-1)) {
  window_scratch scratch;
  const std::size_t b = s.window_bits;
  for (std::size_t i = first; i + 1 < starts.size() && i < last; ++i) {
    const std::size_t k = encode_window(model, out.subspan(starts[i]), s, scratch, cut_policy::by_rule);
    bool same = k == starts[i + 1] - starts[i];
    for (std::size_t at = 0; same && at < b; at += 64) {
      const unsigned n = static_cast<unsigned>(std::min<std::size_t>(64, b - at));
      same = scratch.window.read(at, n) == bits.read(i * b + at, n);
    }
    if (!same) {
      throw error(errc::corrupt_stream, window_name(i, s) + " decodes to " + std::to_string(starts[i + 1] - starts[i]) +
                                            " bytes, but the encoder cuts those bytes after " + std::to_string(k) +
                                            ": not a token stream this encoder writes");
    }
  }
}

}  // namespace detail

/// Statistics of one equal-info encoding.
struct window_stats {
  std::size_t windows = 0;
  std::size_t bytes = 0;
  std::size_t greedy_cut_bytes = 0;  ///< sum over windows of the greedy cut g before any back-off
};

/// Encodes `bytes` into equal-info windows of s.window_bits bits each.
/// The final window holds whatever is left; its length is carried out of band
/// (the byte count), see decode_equal_info.
template <byte_model M>
bit_vector encode_equal_info(M& model, std::span<const std::uint8_t> bytes, const settings& s,
                             window_stats* stats = nullptr, detail::cut_policy policy = detail::cut_policy::by_rule,
                             detail::progress_meter* progress = nullptr) {
  detail::check_model_precision(model.precision_bits(), s);
  bit_vector out;
  detail::window_scratch scratch;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const std::size_t k = detail::encode_window(model, bytes.subspan(pos), s, scratch, policy);
    if (stats) {
      ++stats->windows;
      stats->bytes += k;
      stats->greedy_cut_bytes += scratch.states.size();
    }
    out.append_range(scratch.window, 0, scratch.window.size());
    pos += k;
    if (progress) progress->update(pos);
  }
  return out;
}

/// Decodes equal-info windows.
///
/// With `byte_count` (exact decoding): every window but the last is read by
/// the rule, the last one yields exactly the remaining bytes, and each window
/// must be one this encoder writes; otherwise throws errc::corrupt_stream
/// naming the window. Without it (bare decoding, e.g. tokens sampled from a
/// model): every window is read by the rule, or to all its determined bytes
/// if no prefix's code matches; never throws for well-formed bits.
/// Throws errc::truncated_tokens if bits.size() is not a multiple of b.
template <byte_model M>
std::vector<std::uint8_t> decode_equal_info(M& model, const bit_vector& bits, const settings& s,
                                            std::optional<std::uint64_t> byte_count,
                                            detail::progress_meter* progress = nullptr) {
  detail::check_model_precision(model.precision_bits(), s);
  const std::size_t b = s.window_bits;
  const std::size_t windows = detail::window_count(bits, s);
  std::vector<std::uint8_t> out;
  if (byte_count) {
    if ((windows == 0) != (*byte_count == 0))
      throw error(errc::corrupt_stream,
                  std::to_string(windows) + " windows cannot hold " + std::to_string(*byte_count) + " bytes");
    // Every window holds at least one byte; reserve no more than that bound.
    out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*byte_count, windows * 64)));
  }
  bit_vector window;
  std::vector<std::size_t> starts = {0};  // where each window's bytes begin in `out`
  const auto where = [&](std::size_t i) { return detail::window_name(i, s); };
  for (std::size_t i = 0; i < windows; ++i) {
    window.clear();
    window.append_range(bits, i * b, (i + 1) * b);
    if (byte_count && i + 1 == windows) {
      detail::decode_final_window(model, window, *byte_count, out, s, i);
      starts.push_back(out.size());
      break;
    }
    const auto result = detail::decode_window(model, window, s, out);
    if (byte_count) {
      if (!result.matched)
        throw error(errc::corrupt_stream, where(i) + ": no prefix of the decoded bytes has this window as its code");
      if (out.size() >= *byte_count)
        throw error(errc::corrupt_stream,
                    where(i) + ": the windows hold more than " + std::to_string(*byte_count) + " bytes");
    }
    if (progress) progress->update(out.size());
    starts.push_back(out.size());
  }
  if (byte_count) detail::check_canonical_cuts(model, out, starts, bits, s);
  return out;
}

}  // namespace v1
}  // namespace eqinfo
