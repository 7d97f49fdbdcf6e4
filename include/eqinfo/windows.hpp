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
#include <eqinfo/detail/window_steps.hpp>
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

  /// Lanes for encoding `jobs` streams: the engine's lanes, or all of them
  /// when they are at most twice as many. Streams of similar length run in
  /// waves of `lanes`; 98 examples at 64 lanes ran as 64 and then 34 rows a
  /// step, the second wave as many steps for half the rows. One wave of up
  /// to 2 x lanes rows costs a little more per row than `lanes` rows (the
  /// products' data outgrow L1), far less than a second, half-empty wave.
  std::size_t encode_width(std::size_t jobs) const noexcept {
    if (!lockstep || jobs == 0) return 1;
    return jobs <= 2 * width_ ? jobs : width_;
  }
  lanes_type& lanes() noexcept { return lanes_; }

  /// Encodes every job (windows into job.out).
  void encode(std::span<encode_job> jobs, window_stats* stats = nullptr, cut_policy policy = cut_policy::by_rule,
              progress_meter* progress = nullptr) {
    const settings& s = settings_;
    const std::size_t width = encode_width(jobs.size());
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
