// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The facade: `#include <eqinfo/tokenizer.hpp>` and use eqinfo::tokenizer.
///
///   eqinfo::settings s;                        // EqualInfoAC[b=16, N=16], P=16
///   eqinfo::tokenizer tok(eqinfo::unigram_model::load("en.unigram"), s);
///   eqinfo::encoded e = tok.encode(text);      // tokens + byte count
///   auto bytes = tok.decode(e.tokens, e.byte_count);   // == text, always
///   auto sample = tok.decode_bare(tokens_from_m2);     // never throws on in-range tokens

#include <eqinfo/bits.hpp>
#include <eqinfo/coder.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/model.hpp>
#include <eqinfo/packing.hpp>
#include <eqinfo/settings.hpp>
#include <eqinfo/token_file.hpp>
#include <eqinfo/version.hpp>
#include <eqinfo/windows.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eqinfo {
inline namespace v1 {

/// Tokens and the number of bytes they encode. The byte count is what makes
/// decoding exact at the end of the input (docs/format.md, "End of input").
struct encoded {
  std::vector<token_t> tokens;
  std::uint64_t byte_count = 0;
  /// Only from tokenizer::encode_with_offsets and encode_many(...,
  /// want_offsets::yes): offsets[i] is the byte span token i stands for.
  std::vector<byte_span> offsets;
};

/// Whether an encode call also returns token offsets (encoded::offsets).
enum class want_offsets : bool { no, yes };

namespace detail {
/// An owned object tied to its owner's address (the engine borrows the
/// tokenizer's model): copies and moves of the owner start without one.
template <class T>
class unshared {
 public:
  unshared() = default;
  unshared(const unshared&) noexcept {}
  unshared(unshared&&) noexcept {}
  unshared& operator=(const unshared&) noexcept {
    p_.reset();
    return *this;
  }
  unshared& operator=(unshared&&) noexcept {
    p_.reset();
    return *this;
  }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  T& operator*() const noexcept { return *p_; }
  void reset(T* p = nullptr) noexcept { p_.reset(p); }

 private:
  std::unique_ptr<T> p_;
};
}  // namespace detail

/// A model's identity for token files: its fingerprint() if it has one.
template <class M>
std::uint32_t model_fingerprint(const M& model) {
  if constexpr (requires {
                  { model.fingerprint() } -> std::convertible_to<std::uint32_t>;
                })
    return model.fingerprint();
  else
    return 0;
}

/// Bytes <-> tokens for one (model, settings) pair. Holds a copy of the model
/// and mutates it while coding: use one tokenizer per thread (copy it).
template <class Model>
class tokenizer {
  static_assert(detail::check_byte_model<Model>());

 public:
  /// Throws errc::invalid_settings, or errc::settings_mismatch if the model's
  /// precision differs from s.precision_bits.
  tokenizer(Model model, settings s) : model_(std::move(model)), settings_(s) {
    detail::check_model_precision(model_.precision_bits(), settings_);
  }

  const settings& config() const noexcept { return settings_; }
  const Model& model() const noexcept { return model_; }

  /// Progress for long inputs; never changes the tokens. During encode,
  /// decode and decode_bare, calls `callback(bytes_done, bytes_total)` at
  /// most once per `every_bytes` bytes (AC: bytes coded; equal-info: after
  /// the window that crosses the next multiple of `every_bytes`) and once at
  /// the end with bytes_done == bytes_total. Bytes are input bytes when
  /// encoding and decoded bytes when decoding (bytes_total: the byte count);
  /// decode_bare does not know the total and passes 0 until the final call.
  /// An empty callback turns progress off (the default; it then costs one
  /// null check per byte or window). Throws errc::invalid_argument if
  /// every_bytes is 0.
  void set_progress(std::function<void(std::uint64_t bytes_done, std::uint64_t bytes_total)> callback,
                    std::uint64_t every_bytes = 1 << 20) {
    if (every_bytes == 0) throw error(errc::invalid_argument, "set_progress: every_bytes must be positive");
    progress_ = std::move(callback);
    progress_every_ = every_bytes;
  }

  /// How many equal-info windows or segments advance together in one model
  /// call when the model has a lane_set (M1); default eqinfo::default_lanes.
  /// Never changes the tokens. Throws errc::invalid_argument for 0.
  void set_lanes(std::size_t lanes) {
    if (lanes == 0) throw error(errc::invalid_argument, "set_lanes: lanes must be positive");
    lanes_ = lanes;
    engine_.reset();
  }
  std::size_t lanes() const noexcept { return lanes_; }

  /// The equal-info coder this tokenizer uses (made on first use; copies of
  /// the tokenizer make their own).
  detail::window_engine<Model>& engine() {
    if (!engine_) engine_.reset(new detail::window_engine<Model>(model_, settings_, lanes_));
    return *engine_;
  }

  encoded encode(std::span<const std::uint8_t> bytes, want_offsets offsets = want_offsets::no) {
    encoded out;
    out.byte_count = bytes.size();
    std::optional<detail::progress_meter> meter;
    if (progress_) meter.emplace(detail::progress_meter{&progress_, progress_every_, bytes.size()});
    detail::progress_meter* const progress = meter ? &*meter : nullptr;
    std::vector<byte_span>* const spans = offsets == want_offsets::yes ? &out.offsets : nullptr;
    switch (settings_.kind) {
      case method::bytes:
        out.tokens.assign(bytes.begin(), bytes.end());
        if (spans)
          for (std::uint64_t i = 0; i < bytes.size(); ++i) spans->push_back({i, i + 1});
        break;
      case method::ac: out.tokens = pack_tokens(encode_ac(bytes, progress, spans), settings_.token_bits); break;
      case method::equal_info_ac:
        out.tokens =
            pack_tokens(detail::encode_windows(engine(), bytes, nullptr, detail::cut_policy::by_rule, progress, spans),
                        settings_.token_bits);
        break;
    }
    if (progress) progress->finish(bytes.size());
    return out;
  }
  encoded encode(std::string_view text, want_offsets offsets = want_offsets::no) {
    return encode(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                  offsets);
  }

  /// encode() plus the byte span each token stands for (encoded::offsets),
  /// computed from the cuts the encoder makes anyway (no model work):
  ///  - Bytes: token i is byte i.
  ///  - EqualInfoAC: every one of a window's b/N tokens stands for the
  ///    window's bytes; the windows' spans tile the input in order. (A
  ///    token alone is N of the window's b bits: it does not decode without
  ///    the rest of its window.)
  ///  - AC: one code for the whole input, so no token stands for bytes on its
  ///    own. offsets[t] = [e(t-1), e(t)) where e(t) is how many bytes the
  ///    encoder had read when token t's last bit became final (the input's
  ///    length for bits only the termination writes): the bytes that
  ///    settled token t. Spans may be empty and tile the input in order.
  /// The same for any thread count, lanes or segmenting of the work.
  encoded encode_with_offsets(std::span<const std::uint8_t> bytes) { return encode(bytes, want_offsets::yes); }
  encoded encode_with_offsets(std::string_view text) { return encode(text, want_offsets::yes); }

  /// Exact decoding of tokens this tokenizer wrote for `byte_count` bytes.
  /// Throws errc::token_out_of_range, truncated_tokens, trailing_bits or
  /// corrupt_stream (naming the token or window) for anything else.
  std::vector<std::uint8_t> decode(std::span<const token_t> tokens, std::uint64_t byte_count) {
    return decode_impl(tokens, byte_count);
  }

  /// Decoding of any in-range tokens (e.g. sampled from M2) by the documented
  /// bare rule: Bytes as is; AC to the bytes its bits determine; EqualInfoAC
  /// window by window by the rule, or to the window's determined bytes.
  /// Throws only errc::token_out_of_range (and truncated_tokens for a partial
  /// EqualInfoAC window).
  std::vector<std::uint8_t> decode_bare(std::span<const token_t> tokens) { return decode_impl(tokens, std::nullopt); }

 private:
  bit_vector encode_ac(std::span<const std::uint8_t> bytes, detail::progress_meter* progress,
                       std::vector<byte_span>* offsets) {
    model_.reset();
    arithmetic_encoder encoder(settings_.precision_bits);
    std::vector<cdf_table> buffer;
    detail::cdf_feed<Model> feed(model_, bytes, settings_.precision_bits, buffer, 256);
    const unsigned n = settings_.token_bits;
    std::uint64_t settled = 0;  // offsets: bytes read when the last finished token's bits were final
    while (feed.pos() < bytes.size()) {
      encoder.encode(feed.current(), bytes[feed.pos()]);
      feed.advance();
      if (offsets)  // emitted bits are final (pending bits wait until they are resolved)
        while (encoder.state().emitted >= (offsets->size() + 1) * n)
          offsets->push_back({std::exchange(settled, feed.pos()), feed.pos()});
      if (progress && feed.pos() >= progress->next) progress->update(feed.pos());
    }
    bit_vector code = encoder.finish();
    if (offsets)
      while (offsets->size() * n < code.size())
        offsets->push_back({std::exchange(settled, bytes.size()), bytes.size()});
    return code;
  }

  std::vector<std::uint8_t> decode_impl(std::span<const token_t> tokens, std::optional<std::uint64_t> byte_count) {
    std::optional<detail::progress_meter> meter;
    if (progress_) meter.emplace(detail::progress_meter{&progress_, progress_every_, byte_count.value_or(0)});
    std::vector<std::uint8_t> out = decode_unmetered(tokens, byte_count, meter ? &*meter : nullptr);
    if (meter) meter->finish(out.size());
    return out;
  }

  std::vector<std::uint8_t> decode_unmetered(std::span<const token_t> tokens, std::optional<std::uint64_t> byte_count,
                                             detail::progress_meter* progress) {
    const unsigned n = settings_.token_bits;
    switch (settings_.kind) {
      case method::bytes: {
        unpack_tokens(tokens, 8);  // range check
        if (byte_count && *byte_count != tokens.size())
          throw error(*byte_count < tokens.size() ? errc::trailing_bits : errc::truncated_tokens,
                      std::to_string(tokens.size()) + " byte tokens for " + std::to_string(*byte_count) + " bytes");
        return std::vector<std::uint8_t>(tokens.begin(), tokens.end());
      }
      case method::ac: return decode_ac(unpack_tokens(tokens, n), byte_count, progress);
      case method::equal_info_ac: {
        if (tokens.size() % settings_.tokens_per_window() != 0)
          throw error(errc::truncated_tokens, std::to_string(tokens.size()) + " tokens is not a whole number of " +
                                                  std::to_string(settings_.tokens_per_window()) + "-token windows");
        return detail::decode_windows(engine(), unpack_tokens(tokens, n), byte_count, progress);
      }
    }
    return {};
  }

  std::vector<std::uint8_t> decode_ac(const bit_vector& bits, std::optional<std::uint64_t> byte_count,
                                      detail::progress_meter* progress) {
    const unsigned p = settings_.precision_bits;
    model_.reset();
    std::vector<std::uint8_t> out;
    if (!byte_count) {  // bare: every byte the bits determine
      arithmetic_decoder low_edge(bits, 0, bits.size(), p, false);
      arithmetic_decoder high_edge(bits, 0, bits.size(), p, true);
      for (;;) {
        const cdf_table& cdf = detail::checked_predict(model_, p);
        const std::uint8_t byte = detail::peek_byte(low_edge, model_, cdf);
        if (detail::peek_byte(high_edge, model_, cdf) != byte) return out;
        low_edge.consume(cdf, byte);
        high_edge.consume(cdf, byte);
        out.push_back(byte);
        model_.update(byte);
        if (progress && out.size() >= progress->next) progress->update(out.size());
      }
    }
    arithmetic_decoder decoder(bits, 0, bits.size(), p);
    out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*byte_count, bits.size() * 4096)));
    if constexpr (cdf_is_static<Model> && has_slice_lookup<Model> && cdf_is_valid_by_construction<Model>) {
      // Runs of bytes per call. The code length only grows, so checking it
      // after each run finds a truncation; the run is then redone byte by
      // byte below, to name the byte.
      constexpr std::uint64_t run = 1 << 16;
      const auto slice_of = detail::slice_lookup(model_);
      while (out.size() < *byte_count) {
        const std::size_t start = out.size();
        const arithmetic_decoder before = decoder;
        // A run ends where progress is next due, as the byte loop reports.
        std::uint64_t length = std::min<std::uint64_t>(run, *byte_count - start);
        if (progress && progress->next > start) length = std::min<std::uint64_t>(length, progress->next - start);
        out.resize(start + static_cast<std::size_t>(length));
        decoder.decode_run(std::span(out).subspan(start), slice_of);
        if (decoder.terminated_bits() > bits.size()) {
          decoder = before;
          out.resize(start);
          break;
        }
        if (progress && out.size() >= progress->next) progress->update(out.size());
      }
    }
    for (std::uint64_t i = out.size(); i < *byte_count; ++i) {
      const std::uint8_t byte = detail::decode_byte(decoder, model_, detail::checked_predict(model_, p));
      // The code length only grows, and the encoder's whole code fit in `bits`.
      if (decoder.terminated_bits() > bits.size())
        throw error(errc::truncated_tokens,
                    "the tokens end before byte " + std::to_string(i) + " of " + std::to_string(*byte_count));
      out.push_back(byte);
      model_.update(byte);
      if (progress && out.size() >= progress->next) progress->update(out.size());
    }
    const std::uint64_t length = decoder.terminated_bits();
    if (bits.size() - length >= settings_.token_bits)
      throw error(errc::trailing_bits, "the code of " + std::to_string(*byte_count) + " bytes is " +
                                           std::to_string(length) + " bits, but " + std::to_string(bits.size()) +
                                           " bits of tokens follow");
    if (!detail::padded_code_equals(decoder.state(), bits, bits.significant_size()))
      throw error(errc::corrupt_stream, "the tokens are not the code of the bytes they decode to");
    return out;
  }

  Model model_;
  settings settings_;
  std::function<void(std::uint64_t, std::uint64_t)> progress_;
  std::uint64_t progress_every_ = 1 << 20;
  std::size_t lanes_ = default_lanes;
  detail::unshared<detail::window_engine<Model>> engine_;
};

/// The token file this tokenizer's output belongs in (settings, model
/// fingerprint and byte count travel with the tokens).
template <class Model>
token_file make_token_file(const tokenizer<Model>& tok, encoded e) {
  return token_file{tok.config(), model_fingerprint(tok.model()), e.byte_count, std::move(e.tokens)};
}

/// Throws errc::settings_mismatch unless `file` was written with this
/// tokenizer's settings and model.
template <class Model>
void check_token_file(const tokenizer<Model>& tok, const token_file& file) {
  const settings& s = tok.config();
  auto mismatch = [](const std::string& what, const std::string& file_value, const std::string& ours) {
    throw error(errc::settings_mismatch,
                "tokens were made with " + what + " " + file_value + ", decoding with " + ours);
  };
  if (file.config.kind != s.kind)
    mismatch("method", std::string(to_string(file.config.kind)), std::string(to_string(s.kind)));
  if (s.kind == method::bytes) return;
  if (file.config.token_bits != s.token_bits)
    mismatch("token_bits", std::to_string(file.config.token_bits), std::to_string(s.token_bits));
  if (file.config.precision_bits != s.precision_bits)
    mismatch("precision_bits", std::to_string(file.config.precision_bits), std::to_string(s.precision_bits));
  if (s.kind == method::equal_info_ac) {
    if (file.config.window_bits != s.window_bits)
      mismatch("window_bits", std::to_string(file.config.window_bits), std::to_string(s.window_bits));
    if (file.config.rule != s.rule)
      mismatch("window rule", std::string(to_string(file.config.rule)), std::string(to_string(s.rule)));
    if (file.config.segment_bytes != s.segment_bytes)
      mismatch("segment_bytes", std::to_string(file.config.segment_bytes), std::to_string(s.segment_bytes));
  }
  const std::uint32_t ours = model_fingerprint(tok.model());
  if (file.model_fingerprint != ours)
    mismatch("the model with fingerprint", detail::hex32(file.model_fingerprint), detail::hex32(ours));
}

}  // namespace v1
}  // namespace eqinfo
