// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Decoding tokens as they arrive, e.g. while M2 samples them:
///
///   eqinfo::stream_decoder dec(tok);             // bare decoding, as decode_bare
///   for (eqinfo::token_t t : sampled) {
///     auto bytes = dec.push(t);                  // the bytes t's window completes
///     std::cout << text.push(bytes);             // eqinfo::utf8_stream: whole characters
///   }
///   eqinfo::stream_end end = dec.finish();       // what a trailing partial window means
///
/// batch_stream_decoder decodes many sequences at once (a generation batch):
/// the windows completed by one push, across all sequences, are read in
/// lockstep, one batched model call per step when the model has a lane_set.
///
/// Same bytes: for any chunking of a stream, the pushes' bytes joined (with
/// finish()'s) are exactly decode_bare(stream), or decode(stream, byte_count)
/// when a byte count is given. Model work: each window is read once, when
/// its last token arrives, as decoding it in one piece reads it.

#include <eqinfo/tokenizer.hpp>
#include <eqinfo/utf8.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace eqinfo {
inline namespace v1 {

/// What finish() found at the end of a stream.
struct stream_end {
  /// Bytes not returned by push(): with a byte count, the final window's
  /// (push holds the last complete window back until a later token shows
  /// that it is not the final one); bare, none.
  std::vector<std::uint8_t> bytes;
  /// Bare decoding: tokens after the last complete window. A window's bits
  /// decode only as a whole, so these decode to nothing; decode_bare refuses
  /// such a stream (errc::truncated_tokens). 0 for Bytes, and with a byte count.
  std::size_t leftover_tokens = 0;
};

/// Decodes many token streams as their tokens arrive (see the file comment).
/// Methods Bytes and EqualInfoAC; plain AC has one code for the whole
/// stream, so it is refused (errc::invalid_settings): decode it whole.
template <class Model>
class batch_stream_decoder {
 public:
  /// `sequences` bare streams (decode_bare's rule), decoded with a copy of
  /// `tok`'s model and settings, its lanes per model call. (Exact decoding
  /// with a byte count is stream_decoder's: one stream.)
  batch_stream_decoder(const tokenizer<Model>& tok, std::size_t sequences) : tok_(tok), sequences_(sequences) {
    if (tok_.config().kind == method::ac)
      throw error(errc::invalid_settings,
                  "streaming decoding needs method bytes or equal-info: an AC stream is one code, whose bytes "
                  "are decoded from all of its tokens (use decode or decode_bare)");
    tok_.set_progress(nullptr);
  }

  std::size_t size() const noexcept { return sequences_.size(); }
  const settings& config() const noexcept { return tok_.config(); }

  /// Appends chunks[i] to sequence i, for every sequence (chunks.size() ==
  /// size(); empty chunks are fine), and returns per sequence the bytes
  /// that these tokens complete. Throws, before taking any chunk,
  /// errc::token_out_of_range naming the sequence and the token's index in
  /// it, or errc::invalid_argument for a chunk count that is not size() or
  /// tokens for a finished sequence.
  std::vector<std::vector<std::uint8_t>> push(std::span<const std::span<const token_t>> chunks) {
    if (chunks.size() != sequences_.size())
      throw error(errc::invalid_argument, "push: " + std::to_string(chunks.size()) + " chunks for " +
                                              std::to_string(sequences_.size()) + " sequences");
    const settings& s = tok_.config();
    const std::uint64_t limit = std::uint64_t{1} << s.token_bits;
    for (std::size_t q = 0; q < sequences_.size(); ++q) {
      const sequence& seq = live(q);
      if (seq.finished && !chunks[q].empty())
        throw error(errc::invalid_argument, where(q) + "push after finish() (reset() starts it again)");
      for (std::size_t i = 0; i < chunks[q].size(); ++i)
        if (chunks[q][i] >= limit)
          throw error(errc::token_out_of_range, where(q) + "token " + std::to_string(seq.tokens_seen + i) + " is " +
                                                    std::to_string(chunks[q][i]) + ", not below 2^" +
                                                    std::to_string(s.token_bits));
    }
    std::vector<std::vector<std::uint8_t>> out(sequences_.size());
    // The windows these chunks complete, across all sequences, in one run.
    bits_.clear();
    owners_.clear();
    for (std::size_t q = 0; q < sequences_.size(); ++q) {
      sequence& seq = sequences_[q];
      seq.tokens_seen += chunks[q].size();
      if (seq.byte_count) seq.all_tokens.insert(seq.all_tokens.end(), chunks[q].begin(), chunks[q].end());
      if (s.kind == method::bytes) {
        out[q].assign(chunks[q].begin(), chunks[q].end());
        seq.bytes_out += chunks[q].size();
        continue;
      }
      seq.pending.insert(seq.pending.end(), chunks[q].begin(), chunks[q].end());
      const std::size_t per = s.tokens_per_window();
      // Exact decoding reads a window by the rule only once a later token
      // shows that it is not the final window.
      const std::size_t keep = seq.byte_count ? 1 : 0;
      std::size_t taken = 0;
      while (seq.pending.size() - taken >= per + keep) {
        append_tokens(std::span(seq.pending).subspan(taken, per), s.token_bits, bits_);
        owners_.push_back(q);
        taken += per;
      }
      seq.pending.erase(seq.pending.begin(), seq.pending.begin() + static_cast<std::ptrdiff_t>(taken));
    }
    if (!owners_.empty()) {
      detail::window_engine<Model>& engine = tok_.engine();
      engine.read(bits_, 0, owners_.size(), {}, reads_);
      for (std::size_t n = 0; n < owners_.size(); ++n) {
        const std::size_t q = owners_[n];
        sequence& seq = sequences_[q];
        const auto& w = reads_.windows[n];
        // Throws only with a byte count, i.e. for stream_decoder's one stream.
        seq.failed = true;  // until the window is applied: later windows would start at the wrong byte
        const auto ruled = detail::rule_window(reads_, w, seq.bytes_out, s, seq.byte_count, seq.windows);
        seq.failed = false;
        const auto first = reads_.bytes.begin() + static_cast<std::ptrdiff_t>(w.begin);
        out[q].insert(out[q].end(), first, first + static_cast<std::ptrdiff_t>(ruled.decision.bytes));
        seq.bytes_out += ruled.decision.bytes;
        ++seq.windows;
      }
    }
    return out;
  }

  /// Ends sequence i. Bare: reports the leftover tokens (stream_end). With
  /// a byte count: decodes the whole stream exactly, which also checks that
  /// every window is the encoder's (this reads the stream a second time),
  /// and returns the bytes push() held back; throws what decode throws.
  stream_end finish(std::size_t i) {
    sequence& seq = live(i);
    if (seq.finished) throw error(errc::invalid_argument, where(i) + "finish() twice (reset() starts it again)");
    seq.finished = true;
    stream_end end;
    if (!seq.byte_count) {
      end.leftover_tokens = seq.pending.size();
      return end;
    }
    std::vector<std::uint8_t> all = tok_.decode(seq.all_tokens, *seq.byte_count);
    if (all.size() < seq.bytes_out)  // cannot happen: decode() applies the same rule to the same windows
      throw error(errc::corrupt_stream, where(i) + "decoded fewer bytes than were already returned");
    end.bytes.assign(all.begin() + static_cast<std::ptrdiff_t>(seq.bytes_out), all.end());
    return end;
  }

  /// Sequence i starts again, empty (a new stream in that slot).
  void reset(std::size_t i) {
    const std::optional<std::uint64_t> byte_count = sequences_[index(i)].byte_count;
    sequences_[i] = sequence{};
    sequences_[i].byte_count = byte_count;
  }

  /// Tokens and bytes of sequence i so far.
  std::uint64_t tokens_seen(std::size_t i) const { return sequences_[index(i)].tokens_seen; }
  std::uint64_t bytes_out(std::size_t i) const { return sequences_[index(i)].bytes_out; }
  /// The coder it reads windows with (its model-work counters).
  detail::window_engine<Model>& engine() { return tok_.engine(); }

 private:
  template <class>
  friend class stream_decoder;

  struct sequence {
    std::optional<std::uint64_t> byte_count;
    std::vector<token_t> pending;     // tokens not yet in a window read by the rule
    std::vector<token_t> all_tokens;  // with a byte count: all of them, for finish()
    std::uint64_t tokens_seen = 0, bytes_out = 0;
    std::size_t windows = 0;  // windows read by the rule
    bool finished = false, failed = false;
  };

  std::size_t index(std::size_t i) const {
    if (i >= sequences_.size())
      throw error(errc::invalid_argument,
                  "sequence " + std::to_string(i) + " of " + std::to_string(sequences_.size()) + " does not exist");
    return i;
  }
  sequence& live(std::size_t i) {
    sequence& seq = sequences_[index(i)];
    if (seq.failed) throw error(errc::corrupt_stream, where(i) + "an earlier window of this stream was corrupt");
    return seq;
  }
  std::string where(std::size_t i) const {
    return sequences_.size() == 1 ? std::string() : "sequence " + std::to_string(i) + ": ";
  }

  tokenizer<Model> tok_;
  std::vector<sequence> sequences_;
  bit_vector bits_;
  std::vector<std::size_t> owners_;  // the sequence of each window in bits_
  detail::window_reads reads_;
};

/// One stream, as its tokens arrive: batch_stream_decoder of one sequence.
template <class Model>
class stream_decoder {
 public:
  /// Bare decoding (decode_bare's rule), or exact decoding of `byte_count`
  /// bytes (decode's result and errors).
  explicit stream_decoder(const tokenizer<Model>& tok, std::optional<std::uint64_t> byte_count = std::nullopt)
      : batch_(tok, 1) {
    batch_.sequences_[0].byte_count = byte_count;
  }

  /// The bytes completed by `tokens` (see batch_stream_decoder::push).
  std::vector<std::uint8_t> push(std::span<const token_t> tokens) {
    const std::span<const token_t> one[] = {tokens};
    return std::move(batch_.push(one)[0]);
  }
  std::vector<std::uint8_t> push(token_t token) { return push(std::span<const token_t>(&token, 1)); }
  stream_end finish() { return batch_.finish(0); }
  /// Starts a new stream: bare, or exact for `byte_count` bytes.
  void reset(std::optional<std::uint64_t> byte_count = std::nullopt) {
    batch_.reset(0);
    batch_.sequences_[0].byte_count = byte_count;
  }
  std::uint64_t tokens_seen() const { return batch_.tokens_seen(0); }
  std::uint64_t bytes_out() const { return batch_.bytes_out(0); }
  const settings& config() const noexcept { return batch_.config(); }
  detail::window_engine<Model>& engine() { return batch_.engine(); }

 private:
  batch_stream_decoder<Model> batch_;
};

}  // namespace v1
}  // namespace eqinfo
