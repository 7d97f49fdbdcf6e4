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

/// Statistics of one equal-info encoding.
struct window_stats {
  std::size_t windows = 0;
  std::size_t bytes = 0;
  std::size_t greedy_cut_bytes = 0;  ///< sum over windows of the greedy cut g before any back-off
};

/// The input bytes one token stands for: [begin, end) (token offsets,
/// docs/format.md "Token offsets").
struct byte_span {
  std::uint64_t begin = 0, end = 0;
  friend bool operator==(const byte_span&, const byte_span&) = default;
};

/// Lanes advanced together by default when the model has a lane_set (M1):
/// enough rows for the int8 products to run near their batched speed, few
/// enough that the caches stay in L2.
inline constexpr std::size_t default_lanes = 64;

namespace detail {

/// The equal-info coder for one (model, settings): encodes many streams and
/// reads many windows, advancing up to `lanes` of them in lockstep when the
/// model has a lane_set (one batched model call per step: every lane's next
/// position), or one after another otherwise. Each stream and window is coded
/// on its own, exactly as alone: the output never depends on `lanes`.
///
/// Model work: a window of k bytes whose greedy cut is g costs g positions
/// to encode (its first CDF, after a reset, is the lane_set's cached one),
/// and k to decode exactly (the k-th checks that the next byte does not fit);
/// only windows where the encoder backed off (k < g) are cut again.
template <class M>
class window_engine {
 public:
  using lanes_type = typename lanes_of<M>::type;
  static constexpr bool lockstep = has_lane_set<M>;

  /// Codes with `model` (which must outlive the engine, and which it
  /// mutates, as the serial coder does) and its lanes.
  window_engine(M& model, const settings& s, std::size_t lanes = default_lanes)
      : model_(model), lanes_(model_), settings_(s), width_(lockstep ? std::max<std::size_t>(1, lanes) : 1) {}
  window_engine(const window_engine&) = delete;
  window_engine& operator=(const window_engine&) = delete;

  const settings& config() const noexcept { return settings_; }
  M& model() noexcept { return model_; }
  lanes_type& lanes() noexcept { return lanes_; }

  /// Encodes every job (windows into job.out).
  void encode(std::span<encode_job> jobs, window_stats* stats = nullptr, cut_policy policy = cut_policy::by_rule,
              progress_meter* progress = nullptr) {
    const settings& s = settings_;
    const std::size_t width = std::min(width_, std::max<std::size_t>(1, jobs.size()));
    lanes_.resize(width);
    struct lane {
      std::size_t job = no_cap, pos = 0, windows = 0;
    };
    if (scratch_.size() < width) scratch_.resize(width);
    std::size_t next = 0;
    std::uint64_t coded = 0;  // bytes in finished windows, all lanes
    std::vector<lane> lanes(width);
    const auto take = [&](std::size_t l) {
      lanes[l].job = no_cap;
      while (next < jobs.size()) {
        const std::size_t j = next++;
        if (jobs[j].bytes.empty()) continue;
        lanes[l] = {j, 0, 0};
        lanes_.restart(l);
        scratch_[l].begin();
        return;
      }
    };
    for (std::size_t l = 0; l < width; ++l) take(l);
    for (;;) {
      bool active = false;
      for (std::size_t l = 0; l < width; ++l) {
        lane& ln = lanes[l];
        window_scratch& w = scratch_[l];
        while (ln.job != no_cap && lanes_.ready(l)) {
          encode_job& job = jobs[ln.job];
          const std::span<const std::uint8_t> rest = job.bytes.subspan(ln.pos);
          const cdf_table& cdf = lanes_.cdf(l);
          if constexpr (!cdf_is_valid_by_construction<M>) check_cdf(cdf, s.precision_bits);
          if (cut_step(w, rest, cdf, s)) {
            lanes_.append(l, rest[w.states.size() - 1]);
            continue;
          }
          const std::size_t k = choose_cut(model_, rest, job.told_end, s, w, policy);
          if (stats) {
            ++stats->windows;
            stats->bytes += k;
            stats->greedy_cut_bytes += w.states.size();
          }
          job.out.append_range(w.window, 0, w.window.size());
          if (ln.windows++ == 0) job.first_cut = k;
          // k fits: a byte costs at least -log2(1 - 255 / 2^24) > 2.1e-5
          // bits, so k < 46,000 b <= 3.1e9 for any settings.
          if (job.record_cuts) job.cuts.push_back(static_cast<std::uint32_t>(k));
          ln.pos += k;
          coded += k;
          if (progress) progress->update(coded);
          if (ln.pos == job.bytes.size() || ln.windows == job.max_windows) {
            take(l);
          } else {
            lanes_.restart(l);
            w.begin();
          }
        }
        active = active || ln.job != no_cap;
      }
      if (!active) return;
      lanes_.evaluate();
    }
  }

  /// The first byte of each window (-1: not determined by its bits), which
  /// needs only the fresh-context CDF: the exactness check's next byte.
  std::vector<int> first_bytes(const bit_vector& bits, std::size_t windows) {
    const settings& s = settings_;
    lanes_.resize(1);
    lanes_.restart(0);
    if (!lanes_.ready(0)) lanes_.evaluate();
    const cdf_table& cdf = lanes_.cdf(0);
    if constexpr (!cdf_is_valid_by_construction<M>) check_cdf(cdf, s.precision_bits);
    std::vector<int> out(windows);
    bit_vector window;
    for (std::size_t i = 0; i < windows; ++i) {
      window.clear();
      window.append_range(bits, i * s.window_bits, (i + 1) * s.window_bits);
      const arithmetic_decoder low_edge(window, 0, s.window_bits, s.precision_bits, false);
      const arithmetic_decoder high_edge(window, 0, s.window_bits, s.precision_bits, true);
      const std::uint8_t byte = peek_byte(low_edge, model_, cdf);
      out[i] = peek_byte(high_edge, model_, cdf) == byte ? byte : -1;
    }
    return out;
  }

  /// Reads windows [first, last) of `bits` (uncapped; rule_decision applies
  /// the segment ends later).
  ///
  /// With `next_first` (exact decoding: every window's first byte,
  /// first_bytes()), a delay window also runs the encoder's greedy cut on:
  /// its lane keeps its context and narrows by the bytes that follow it (the
  /// next windows' bytes, read from their lanes or their results) until one
  /// does not fit. If the delay cut among those states is still k (the first
  /// match), the encoder cuts there and the window needs no re-cut. This
  /// costs g - k + 1 positions, not a whole window again. Where the bytes
  /// that follow are not at hand (the block's last window, an unmatched
  /// window), the window is left to recut_jobs.
  void read(const bit_vector& bits, std::size_t first, std::size_t last, std::span<const int> next_first,
            window_reads& out, progress_meter* progress = nullptr) {
    const settings& s = settings_;
    const std::size_t b = s.window_bits;
    const std::size_t n = last - first;
    out.first = first;
    out.windows.assign(n, {});
    out.bytes.clear();
    out.matches.clear();
    const std::size_t width = std::min(width_, std::max<std::size_t>(1, n));
    lanes_.resize(width);
    if (readers_.size() < width) readers_.resize(width);
    if (scratch_.size() < width) scratch_.resize(width);
    enum class phase : std::uint8_t { idle, reading, continuing };
    struct lane {
      std::size_t window = no_cap;
      phase state = phase::idle;
      std::size_t k = 0;  // continuing: the window's bytes (its first match)
    };
    std::vector<lane> lanes(width);
    constexpr std::size_t not_started = no_cap, finished = no_cap - 1;
    std::vector<std::size_t> lane_of(n, not_started);  // a window's lane while it is read
    std::size_t next = first;
    std::uint64_t done_bytes = 0;
    const bool exact_delay = !next_first.empty() && s.rule == window_rule::delay;

    const auto take = [&](std::size_t l) {
      lanes[l] = {};
      if (next == last) return;
      lanes[l] = {next, phase::reading, 0};
      lane_of[next - first] = l;
      readers_[l].begin(bits, next * b, b, s.precision_bits);
      lanes_.restart(l);
      ++next;
    };
    const auto finish = [&](std::size_t l, bool needs_check) {
      const window_reader& r = readers_[l];
      const std::size_t i = lanes[l].window;
      window_reads::window& w = out.windows[i - first];
      w = {out.bytes.size(), r.bytes.size(), out.matches.size(), r.matches.size(), needs_check};
      out.bytes.insert(out.bytes.end(), r.bytes.begin(), r.bytes.end());
      out.matches.insert(out.matches.end(), r.matches.begin(), r.matches.end());
      lane_of[i - first] = finished;
      done_bytes += rule_decision(r.bytes.size(), r.matches, s.rule, no_cap).bytes;
      if (progress) progress->update(done_bytes);
      take(l);
    };
    // Byte t (0-based) after window i's bytes: -1 not known yet (a window
    // still being read), -2 never (not in this run, or unmatched).
    const auto following = [&](std::size_t i, std::size_t t) -> int {
      if (t == 0) return next_first[i + 1];
      for (std::size_t j = i + 1; j < last; ++j) {
        const std::size_t l = lane_of[j - first];
        if (l == not_started) return -2;
        if (l == finished) {
          const auto& w = out.windows[j - first];
          if (w.match_count == 0) return -2;
          const std::size_t length = out.matches[w.match_begin];
          if (t < length) return out.bytes[w.begin + t];
          t -= length;
          continue;
        }
        const window_reader& r = readers_[l];
        if (t < r.bytes.size()) return r.bytes[t];
        if (lanes[l].state == phase::reading) return -1;
        t -= r.bytes.size();  // read to its first match: these are its bytes
      }
      return -2;
    };

    for (std::size_t l = 0; l < width; ++l) take(l);
    for (;;) {
      bool waiting = false;
      for (std::size_t l = 0; l < width; ++l) {
        window_reader& r = readers_[l];
        while (lanes[l].state != phase::idle && lanes_.ready(l)) {
          const std::size_t i = lanes[l].window;
          if (lanes[l].state == phase::continuing) {
            // The CDF after the window's first w.states.size() bytes: does the next one fit?
            window_scratch& w = scratch_[l];
            const int y = following(i, w.states.size() - lanes[l].k);
            if (y == -1) break;  // its window is still being read
            if (y == -2) {
              finish(l, true);
              continue;
            }
            const cdf_table& cdf = lanes_.cdf(l);
            if constexpr (!cdf_is_valid_by_construction<M>) check_cdf(cdf, s.precision_bits);
            vector_bit_sink sink{&w.emitted};
            const auto byte = static_cast<std::uint8_t>(y);
            narrow(w.state, cdf[byte], cdf[byte + 1u], s.precision_bits, sink);
            if (terminated_bits(w.state) > b) {
              finish(l, largest_leader(w, w.states.size(), b) != lanes[l].k);
              continue;
            }
            w.states.push_back(w.state);
            lanes_.append(l, byte);
            continue;
          }
          const cdf_table& cdf = lanes_.cdf(l);
          if constexpr (!cdf_is_valid_by_construction<M>) check_cdf(cdf, s.precision_bits);
          if (r.step(model_, cdf, s.rule)) {
            lanes_.append(l, r.bytes.back());
            continue;
          }
          if (exact_delay && !r.matches.empty() && i + 1 < next_first.size() && next_first[i + 1] >= 0) {
            // Continue as the encoder: its state and emitted bits after the k bytes.
            window_scratch& w = scratch_[l];
            w.begin();
            w.state = r.states.back();
            w.states.assign(r.states.begin(), r.states.end());
            w.emitted.append_range(r.window, 0, w.state.emitted);
            lanes[l].state = phase::continuing;
            lanes[l].k = r.bytes.size();
            lanes_.append(l, r.bytes.back());
            continue;
          }
          finish(l, true);
        }
        waiting = waiting || lanes[l].state != phase::idle;
      }
      if (!waiting) return;
      lanes_.evaluate();
    }
  }

 private:
  M& model_;
  lanes_type lanes_;
  settings settings_;
  std::size_t width_;
  std::vector<window_scratch> scratch_;
  std::vector<window_reader> readers_;
};

/// The jobs that encode `bytes`: one per segment (settings::segment_bytes),
/// recording their cuts for token offsets if `record_cuts`.
inline std::vector<encode_job> segment_jobs(std::span<const std::uint8_t> bytes, const settings& s,
                                            bool record_cuts = false) {
  std::vector<encode_job> jobs;
  const std::size_t step = s.segment_bytes == 0 ? bytes.size() : static_cast<std::size_t>(s.segment_bytes);
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    encode_job job;
    job.bytes = bytes.subspan(at, std::min(step, bytes.size() - at));
    job.told_end = at + job.bytes.size() == bytes.size();
    job.record_cuts = record_cuts;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

/// The windows of all jobs, in order.
inline bit_vector concatenate(std::span<const encode_job> jobs) {
  bit_vector out;
  for (const auto& job : jobs) out.append_range(job.out, 0, job.out.size());
  return out;
}

/// Decoded bytes in order, and where each window starts in them.
struct assembled {
  std::vector<std::uint8_t> bytes;
  std::vector<std::size_t> starts;  // starts[i]: where window i's bytes begin; one more entry at the end
  std::vector<std::size_t> recut;   // windows whose cut the encoder must confirm (exact decoding)
};

/// What the rule takes from window `index` of a stream, read as `w` in
/// `run`, when `offset` bytes precede it; cap: the bytes left before its
/// segment's end. With a byte count (a window that is not the final one),
/// throws errc::corrupt_stream for a window no encoder writes.
struct ruled_window {
  window_decoding decision;
  std::size_t cap = no_cap;
};
inline ruled_window rule_window(const window_reads& run, const window_reads::window& w, std::uint64_t offset,
                                const settings& s, std::optional<std::uint64_t> byte_count, std::size_t index) {
  const std::size_t end = segment_end(offset, s, byte_count);
  const std::size_t cap = end == no_cap ? no_cap : static_cast<std::size_t>(end - offset);
  const window_decoding d =
      rule_decision(w.read, std::span(run.matches).subspan(w.match_begin, w.match_count), s.rule, cap);
  if (byte_count && !d.matched)
    throw error(errc::corrupt_stream,
                window_name(index, s) + ": no prefix of the decoded bytes has this window as its code");
  if (byte_count && offset + d.bytes >= *byte_count)
    throw error(errc::corrupt_stream,
                window_name(index, s) + ": the windows hold more than " + std::to_string(*byte_count) + " bytes");
  return {d, cap};
}

/// Puts the reads of windows [0, n) together in order, applying the rule and
/// the segment ends; with a byte count, throws errc::corrupt_stream for the
/// first window (in order) that no encoder writes, as the serial decoder does.
inline void assemble(std::span<const window_reads> runs, const settings& s, std::optional<std::uint64_t> byte_count,
                     assembled& out) {
  std::size_t i = 0;
  for (const window_reads& run : runs) {
    for (const auto& w : run.windows) {
      const std::size_t offset = out.bytes.size();
      const auto [d, cap] = rule_window(run, w, offset, s, byte_count, i);
      out.bytes.insert(out.bytes.end(), run.bytes.begin() + static_cast<std::ptrdiff_t>(w.begin),
                       run.bytes.begin() + static_cast<std::ptrdiff_t>(w.begin + d.bytes));
      out.starts.push_back(offset);
      // A window cut at a segment end ends at its first match: the encoder's cut.
      if (byte_count && (w.needs_check || s.rule != window_rule::delay) && d.bytes != cap) out.recut.push_back(i);
      ++i;
    }
  }
}

/// The exactness check's re-cuts: window i's bytes, to its segment's end.
inline std::vector<encode_job> recut_jobs(const assembled& a, const settings& s, std::uint64_t byte_count) {
  std::vector<encode_job> jobs;
  for (const std::size_t i : a.recut) {
    const std::size_t begin = a.starts[i];
    const std::size_t end = segment_end(begin, s, byte_count);
    encode_job job;
    job.bytes = std::span(a.bytes).subspan(begin, (end == no_cap ? a.bytes.size() : end) - begin);
    job.told_end = end == no_cap;
    job.max_windows = 1;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

/// Exact decoding also requires the encoder's own cuts: a window that the
/// rule reads back correctly but that the encoder would have cut elsewhere
/// (e.g. 't' alone where the encoder packs "th") is not a stream it writes,
/// and accepting it would break the one-to-one map between bytes and tokens.
/// Compares the re-cut windows (recut_jobs, encoded) with the stream and
/// throws errc::corrupt_stream naming the first that differs.
inline void check_recuts(const assembled& a, std::span<const encode_job> jobs, const bit_vector& bits,
                         const settings& s) {
  const std::size_t b = s.window_bits;
  for (std::size_t n = 0; n < jobs.size(); ++n) {
    const std::size_t i = a.recut[n];
    const std::size_t k = jobs[n].first_cut, got = a.starts[i + 1] - a.starts[i];
    bool same = k == got;
    for (std::size_t at = 0; same && at < b; at += 64) {
      const unsigned count = static_cast<unsigned>(std::min<std::size_t>(64, b - at));
      same = jobs[n].out.read(at, count) == bits.read(i * b + at, count);
    }
    if (!same)
      throw error(errc::corrupt_stream, window_name(i, s) + " decodes to " + std::to_string(got) +
                                            " bytes, but the encoder cuts those bytes after " + std::to_string(k) +
                                            ": not a token stream this encoder writes");
  }
}

/// Appends the offsets of the tokens of `jobs` (encoded with record_cuts;
/// the consecutive pieces of one input): every token of a window stands for
/// the window's bytes.
inline void append_window_offsets(std::span<const encode_job> jobs, const settings& s, std::vector<byte_span>& out) {
  std::uint64_t at = 0;
  for (const encode_job& job : jobs)
    for (const std::uint32_t k : job.cuts) {
      out.insert(out.end(), s.tokens_per_window(), byte_span{at, at + k});
      at += k;
    }
}

/// Encodes `bytes` into equal-info windows on `engine`; with `offsets`, also
/// each token's byte span (appended).
template <class M>
bit_vector encode_windows(window_engine<M>& engine, std::span<const std::uint8_t> bytes, window_stats* stats,
                          cut_policy policy, progress_meter* progress, std::vector<byte_span>* offsets = nullptr) {
  std::vector<encode_job> jobs = segment_jobs(bytes, engine.config(), offsets != nullptr);
  engine.encode(jobs, stats, policy, progress);
  if (offsets) append_window_offsets(jobs, engine.config(), *offsets);
  return concatenate(jobs);
}

/// The number of windows in `bits`, after the entry checks of exact
/// (`byte_count`) and bare decoding.
inline std::size_t checked_window_count(const bit_vector& bits, const settings& s,
                                        std::optional<std::uint64_t> byte_count) {
  const std::size_t windows = window_count(bits, s);
  if (byte_count && (windows == 0) != (*byte_count == 0))
    throw error(errc::corrupt_stream,
                std::to_string(windows) + " windows cannot hold " + std::to_string(*byte_count) + " bytes");
  return windows;
}

/// The windows read by the rule: all but the final one when decoding exactly.
inline std::size_t ruled_windows(std::size_t windows, bool exact) noexcept {
  return exact && windows > 0 ? windows - 1 : windows;
}

/// The end of exact decoding once the ruled windows are assembled in `a`:
/// the final window, then the encoder's re-cuts (`encode_jobs(jobs)`, on
/// one engine or on threads) compared with the stream. Returns the bytes.
template <class M, class EncodeJobs>
std::vector<std::uint8_t> finish_exact(assembled& a, const bit_vector& bits, std::size_t windows,
                                       std::uint64_t byte_count, M& model, const settings& s,
                                       EncodeJobs&& encode_jobs) {
  if (windows == 0) return {};
  const std::size_t b = s.window_bits;
  bit_vector window;
  window.append_range(bits, (windows - 1) * b, windows * b);
  a.starts.push_back(a.bytes.size());
  decode_final_window(model, window, byte_count, a.bytes, s, windows - 1);
  a.starts.push_back(a.bytes.size());
  std::vector<encode_job> jobs = recut_jobs(a, s, byte_count);
  encode_jobs(std::span<encode_job>(jobs));
  check_recuts(a, jobs, bits, s);
  return std::move(a.bytes);
}

/// Decodes equal-info windows on `engine` (see decode_equal_info).
template <class M>
std::vector<std::uint8_t> decode_windows(window_engine<M>& engine, const bit_vector& bits,
                                         std::optional<std::uint64_t> byte_count, progress_meter* progress) {
  const settings& s = engine.config();
  const std::size_t windows = checked_window_count(bits, s, byte_count);
  std::vector<int> next_first;
  if (byte_count) next_first = engine.first_bytes(bits, windows);
  window_reads reads;
  engine.read(bits, 0, ruled_windows(windows, byte_count.has_value()), next_first, reads, progress);
  assembled a;
  assemble(std::span(&reads, 1), s, byte_count, a);
  if (!byte_count) return std::move(a.bytes);
  return finish_exact(a, bits, windows, *byte_count, engine.model(), s,
                      [&](std::span<encode_job> jobs) { engine.encode(jobs); });
}

}  // namespace detail

/// Encodes `bytes` into equal-info windows of s.window_bits bits each.
/// The final window holds whatever is left; its length is carried out of band
/// (the byte count), see decode_equal_info.
template <byte_model M>
bit_vector encode_equal_info(M& model, std::span<const std::uint8_t> bytes, const settings& s,
                             window_stats* stats = nullptr, cut_policy policy = cut_policy::by_rule) {
  detail::check_model_precision(model.precision_bits(), s);
  detail::window_engine<M> engine(model, s);
  return detail::encode_windows(engine, bytes, stats, policy, nullptr);
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
                                            std::optional<std::uint64_t> byte_count) {
  detail::check_model_precision(model.precision_bits(), s);
  detail::window_engine<M> engine(model, s);
  return detail::decode_windows(engine, bits, byte_count, nullptr);
}

}  // namespace v1
}  // namespace eqinfo
