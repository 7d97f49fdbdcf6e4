// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The steps of equal-info coding for one window, which windows.hpp puts
/// together into streams (window_engine): narrowing a window by a byte, the
/// rule's cut and the decoder's reading of one window, the final window, segment
/// ends. Its vocabulary (I_j, c_j, g, K(w)) is explained at the top of windows.hpp.

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

/// How the encoder picks the cut; `greedy_unchecked` is the paper's plain
/// greedy, kept only to measure what exactness costs (it is not decodable).
enum class cut_policy { by_rule, greedy_unchecked };

namespace detail {
using eqinfo::cut_policy;  // the studies and benchmarks name it here

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

/// The byte the decoder's value falls on, and its slice: through the
/// model's slice_of or symbol_of table when it has one (checked unless the
/// model is valid by construction), else by searching the CDF.
template <class M>
inline symbol_slice peek_slice(const arithmetic_decoder& decoder, const M& model, const cdf_table& cdf) {
  if constexpr (has_slice_lookup<M> || has_symbol_lookup<M>) {
    const std::uint32_t target = decoder.target();
    symbol_slice slice;
    if constexpr (has_slice_lookup<M>) {
      slice = model.slice_of(target);
    } else {
      const std::uint8_t byte = model.symbol_of(target);
      slice = {cdf[byte], cdf[byte + 1u], byte};
    }
    if constexpr (!cdf_is_valid_by_construction<M>) {
      if (!(slice.low == cdf[slice.byte] && slice.high == cdf[slice.byte + 1u] && slice.low <= target &&
            target < slice.high))
        throw error(errc::invalid_model_output, "model's lookup of " + std::to_string(target) + " returned byte " +
                                                    std::to_string(slice.byte) + ", whose slice does not contain it");
    }
    return slice;
  } else {
    const std::uint8_t byte = decoder.peek(cdf);
    return {cdf[byte], cdf[byte + 1u], byte};
  }
}

/// The byte the decoder's value falls on (see peek_slice).
template <class M>
inline std::uint8_t peek_byte(const arithmetic_decoder& decoder, const M& model, const cdf_table& cdf) {
  return peek_slice(decoder, model, cdf).byte;
}

/// Decodes one byte (peek_slice, then consume its slice).
template <class M>
inline std::uint8_t decode_byte(arithmetic_decoder& decoder, const M& model, const cdf_table& cdf) {
  const symbol_slice slice = peek_slice(decoder, model, cdf);
  decoder.consume(slice.low, slice.high);
  return slice.byte;
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

/// One window's encoding in progress, and the scratch its cut needs.
struct window_scratch {
  interval_state state;                // after the bytes narrowed so far
  bit_vector emitted;                  // the bits the coder has emitted for them
  bit_vector window;                   // the result: pad(c_k), exactly b bits
  bit_vector candidate;                // a padded code being compared
  std::vector<interval_state> states;  // states[j-1]: after the window's first j bytes
  std::vector<std::uint64_t> pad_words;
  std::vector<std::uint32_t> order;
  std::vector<cdf_table> cdfs;  // continuation_matches' prefix run

  void begin() {
    state = {};
    emitted.clear();
    states.clear();
  }
};

/// Decoder for one window: what the rule decides. `bytes` are appended to out.
struct window_decoding {
  std::size_t bytes = 0;  ///< bytes taken from the window
  bool matched = false;   ///< K(w) was non-empty: a window an encoder can write
};

/// "No limit" for a window's byte count (no segment end ahead).
inline constexpr std::size_t no_cap = static_cast<std::size_t>(-1);

/// Lanes for a model without a lane_set: the model itself, always ready, so
/// the coder runs each window to its end before the next (the serial path).
template <class M>
class single_lane {
 public:
  explicit single_lane(M& model) : model_(&model) {}
  void resize(std::size_t) noexcept {}
  void restart(std::size_t) { model_->reset(); }
  void append(std::size_t, std::uint8_t byte) { model_->update(byte); }
  bool ready(std::size_t) const noexcept { return true; }
  void evaluate() noexcept {}
  const cdf_table& cdf(std::size_t) { return model_->predict(); }

 private:
  M* model_;
};

template <class M, bool = has_lane_set<M>>
struct lanes_of {
  using type = single_lane<M>;
};
template <class M>
struct lanes_of<M, true> {
  using type = typename M::lane_set;
};

/// Narrows the window in `w` by the next byte of `rest` with `cdf` (the CDF
/// after the bytes already in it). Returns true if the model must see that
/// byte before the next step, false once the window's greedy cut g is known
/// (w.states.size()): the byte did not fit in b bits, or `rest` is used up.
inline bool cut_step(window_scratch& w, std::span<const std::uint8_t> rest, const cdf_table& cdf, const settings& s) {
  const std::uint8_t byte = rest[w.states.size()];
  vector_bit_sink sink{&w.emitted};
  narrow(w.state, cdf[byte], cdf[byte + 1u], s.precision_bits, sink);
  if (terminated_bits(w.state) > s.window_bits) return false;
  w.states.push_back(w.state);
  return w.states.size() < rest.size();
}

/// Decodes one window with two decoders reading the window's bits padded
/// with zeros and with ones: byte j+1 is read only if the whole cell
/// [0.w, 0.w + 2^-b) lies in one byte's slice. This bounds the reading, and
/// is the bare rule: a window no encoder wrote (K(w) empty) decodes to all
/// its determined bytes. Records every j whose padded code is the window
/// (delay stops at the first; greedy_exact at j = 1 or when undetermined).
struct window_reader {
  bit_vector window;
  std::size_t significant = 0;
  std::optional<arithmetic_decoder> low_edge, high_edge;
  std::vector<std::uint8_t> bytes;     // determined bytes read so far
  std::vector<std::uint32_t> matches;  // the j with pad(c_j) == window, ascending
  std::vector<interval_state> states;  // states[j-1]: after bytes[0, j)

  void begin(const bit_vector& bits, std::size_t first_bit, std::size_t b, unsigned precision) {
    window.clear();
    window.append_range(bits, first_bit, first_bit + b);
    significant = window.significant_size();
    low_edge.emplace(window, 0, b, precision, false);
    high_edge.emplace(window, 0, b, precision, true);
    bytes.clear();
    matches.clear();
    states.clear();
  }

  /// Reads one byte with `cdf` (the CDF after `bytes`). True if the model
  /// must see bytes.back() before the next step; false when reading stops.
  template <class M>
  bool step(const M& model, const cdf_table& cdf, window_rule rule) {
    const std::uint8_t byte = peek_byte(*low_edge, model, cdf);
    if (peek_byte(*high_edge, model, cdf) != byte) return false;  // the bits do not determine the next byte
    low_edge->consume(cdf, byte);
    high_edge->consume(cdf, byte);
    bytes.push_back(byte);
    states.push_back(low_edge->state());
    if (padded_code_equals(low_edge->state(), window, significant)) {
      matches.push_back(static_cast<std::uint32_t>(bytes.size()));
      if (rule == window_rule::delay || bytes.size() == 1) return false;
    }
    return true;
  }
};

/// What the rule takes from a window read as `read` bytes with `matches`,
/// when at most `cap` bytes are left before a segment end: delay takes the
/// first match; greedy_exact takes 1 if 1 matches, else the last match;
/// no match within the cap: every determined byte up to the cap, unmatched.
inline window_decoding rule_decision(std::size_t read, std::span<const std::uint32_t> matches, window_rule rule,
                                     std::size_t cap) {
  std::size_t take = 0;
  for (const std::uint32_t j : matches) {
    if (j > cap) break;
    take = j;
    if (rule == window_rule::delay || j == 1) break;
  }
  if (take > 0) return {take, true};
  return {std::min(read, cap), false};
}

/// Whether the greedy_exact decoder, reading pad(c_k) = `window` after the
/// bytes `prefix` (= the window's first k bytes, state `at`), would read past
/// k -- and not past `cap` bytes (a segment end).
template <class M>
bool continuation_matches(M& model, std::span<const std::uint8_t> prefix, const interval_state& at,
                          const bit_vector& window, const settings& s, window_scratch& scratch,
                          std::size_t cap = no_cap) {
  reset_and_advance(model, prefix, scratch.cdfs);
  const std::size_t b = window.size();
  const std::size_t significant = window.significant_size();
  arithmetic_decoder low_edge(window, 0, b, s.precision_bits, false, at);
  arithmetic_decoder high_edge(window, 0, b, s.precision_bits, true, at);
  for (std::size_t read = prefix.size(); read < cap; ++read) {
    const cdf_table& cdf = checked_predict(model, s.precision_bits);
    const std::uint8_t byte = peek_byte(low_edge, model, cdf);
    if (peek_byte(high_edge, model, cdf) != byte) return false;
    low_edge.consume(cdf, byte);
    high_edge.consume(cdf, byte);
    if (padded_code_equals(low_edge.state(), window, significant)) return true;
    model.update(byte);
  }
  return false;
}

/// The delay rule's cut among the first `g` states of `w`: k must be the
/// first j with its padded code, so take the largest group-leader index
/// among equal padded codes.
inline std::size_t largest_leader(window_scratch& w, std::size_t g, std::size_t b) {
  const std::size_t words = (b + 63) / 64;
  w.pad_words.resize(g * words);
  for (std::size_t j = 0; j < g; ++j) {
    padded_code(w.emitted, w.states[j], b, w.candidate);
    std::copy(w.candidate.words().begin(), w.candidate.words().end(), w.pad_words.data() + j * words);
  }
  w.order.resize(g);
  for (std::size_t j = 0; j < g; ++j) w.order[j] = static_cast<std::uint32_t>(j);
  const auto key = [&](std::uint32_t j) { return w.pad_words.data() + std::size_t{j} * words; };
  std::sort(w.order.begin(), w.order.end(), [&](std::uint32_t x, std::uint32_t y) {
    if (std::equal(key(x), key(x) + words, key(y))) return x < y;
    return std::lexicographical_compare(key(x), key(x) + words, key(y), key(y) + words);
  });
  std::size_t k = 0;
  for (std::size_t i = 0; i < g; ++i) {
    const bool leader = i == 0 || !std::equal(key(w.order[i]), key(w.order[i]) + words, key(w.order[i - 1]));
    if (leader) k = std::max<std::size_t>(k, w.order[i] + 1);
  }
  return k;
}

/// The cut of a window whose greedy cut g = w.states.size() is known: the
/// final window (all of `rest`, told_end: the decoder is told its length)
/// keeps g; otherwise the rule picks k <= g, where g may stop at `rest`'s end
/// (a segment end). Leaves pad(c_k) in w.window and returns k.
template <class M>
std::size_t choose_cut(M& model, std::span<const std::uint8_t> rest, bool told_end, const settings& s,
                       window_scratch& w, cut_policy policy) {
  const std::size_t b = s.window_bits;
  const std::size_t greedy = w.states.size();
  if (greedy == 0)  // impossible when window_bits >= precision_bits (settings::validate)
    throw error(errc::invalid_settings, "a window of " + std::to_string(b) + " bits cannot hold one byte");
  std::size_t k = greedy;
  if (policy == cut_policy::by_rule && !(told_end && greedy == rest.size())) {
    if (s.rule == window_rule::delay) {
      k = largest_leader(w, greedy, b);
    } else {
      for (k = greedy; k > 1; --k) {
        padded_code(w.emitted, w.states[k - 1], b, w.candidate);
        const std::size_t significant = w.candidate.significant_size();
        if (padded_code_equals(w.states[0], w.candidate, significant)) continue;  // decoder would stop at 1
        if (!continuation_matches(model, rest.first(k), w.states[k - 1], w.candidate, s, w,
                                  told_end ? no_cap : rest.size()))
          break;
      }
    }
  }
  padded_code(w.emitted, w.states[k - 1], b, w.window);
  return k;
}

/// Encodes one window from the start of `rest` on `model` alone (studies and
/// tests; the coder itself uses window_engine); leaves its b bits in
/// w.window, its greedy cut in w.states.size(), and returns how many bytes it
/// holds (>= 1). A window holding all of `rest` is the final one.
template <class M>
std::size_t encode_window(M& model, std::span<const std::uint8_t> rest, const settings& s, window_scratch& w,
                          cut_policy policy) {
  single_lane<M> lane(model);
  lane.restart(0);
  w.begin();
  while (cut_step(w, rest, checked_predict(model, s.precision_bits), s)) lane.append(0, rest[w.states.size() - 1]);
  return choose_cut(model, rest, true, s, w, policy);
}

/// Decodes the window held in `window` (exactly b bits) under `rule` on
/// `model` alone (studies and tests); appends its bytes to `out`.
template <class M>
window_decoding decode_window(M& model, const bit_vector& window, const settings& s, std::vector<std::uint8_t>& out) {
  window_reader r;
  r.begin(window, 0, window.size(), s.precision_bits);
  model.reset();
  while (r.step(model, checked_predict(model, s.precision_bits), s.rule)) model.update(r.bytes.back());
  const window_decoding d = rule_decision(r.bytes.size(), r.matches, s.rule, no_cap);
  out.insert(out.end(), r.bytes.begin(), r.bytes.begin() + static_cast<std::ptrdiff_t>(d.bytes));
  return d;
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

/// Where the segment holding byte `offset` ends: segments are the
/// settings' segment_bytes long and coded independently, so no window
/// crosses their ends (the cut there follows the rule like any other).
/// `total`: the byte count when known; the last segment ends at the input's
/// end, where the final window is told its length instead. no_cap: no
/// segment end ahead (segment_bytes == 0, or the last segment).
inline std::size_t segment_end(std::uint64_t offset, const settings& s, std::optional<std::uint64_t> total) {
  if (s.segment_bytes == 0) return no_cap;
  const std::uint64_t end = (offset / s.segment_bytes + 1) * s.segment_bytes;
  if (total && end >= *total) return no_cap;
  return static_cast<std::size_t>(end);
}

/// One stream of windows for window_engine::encode: `bytes` (a segment, or
/// the rest of one for the exactness check), windows appended to `out`.
struct encode_job {
  std::span<const std::uint8_t> bytes;
  bool told_end = true;              ///< its end is the input's end (the final window is told its length)
  std::size_t max_windows = no_cap;  ///< stop after this many windows
  bit_vector out;                    ///< the windows' bits
  std::size_t first_cut = 0;         ///< bytes in the first window
  bool record_cuts = false;          ///< also fill `cuts` (token offsets)
  std::vector<std::uint32_t> cuts;   ///< record_cuts: bytes in each window, in order
};

/// What window_engine::read found in a run of windows [first, first + n).
struct window_reads {
  struct window {
    std::size_t begin = 0, read = 0;               // its determined bytes: bytes[begin, begin + read)
    std::size_t match_begin = 0, match_count = 0;  // its matches: matches[match_begin, + match_count)
    bool needs_check = true;                       // the encoder's cut is not yet known to be the decoder's
  };
  std::size_t first = 0;
  std::vector<window> windows;
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint32_t> matches;
};

}  // namespace detail

}  // namespace v1
}  // namespace eqinfo
