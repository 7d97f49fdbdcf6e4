// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Everything that, with the input bytes and the model, determines the tokens.

#include <eqinfo/coder.hpp>
#include <eqinfo/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eqinfo {
inline namespace v1 {

/// How bytes become a bitstream (paper sec. 3.3). StaticAC is `ac` driven by
/// a unigram_model; the model, not the method, makes it static.
enum class method : std::uint8_t {
  bytes = 0,          ///< each byte is one 8-bit token
  ac = 1,             ///< one arithmetic-code stream per example
  equal_info_ac = 2,  ///< equal-info windows of exactly window_bits bits each
};

/// Where an equal-info window ends and how the decoder knows it
/// (docs/format.md has the exact rules and their measured cost).
enum class window_rule : std::uint8_t {
  /// The paper's Delay, made exact (the default): the decoder takes the
  /// FEWEST bytes whose zero-padded code is the window; the encoder never
  /// ends a window on a byte that left the padded code unchanged (nor equal
  /// to that of any shorter prefix), backing off to the last byte that did
  /// change it.
  delay = 1,
  /// Greedy with an exact check: the decoder takes the MOST bytes whose
  /// zero-padded code is the window (one byte if one byte already is); the
  /// encoder keeps the greedy cut where that decoder agrees and backs off
  /// otherwise. Measured worse than delay (docs/format.md); kept for studies.
  greedy_exact = 0,
};

/// Every name of a method, in one table. The first row of a method (with
/// its static_ac) is the name users see and type on the command line and in
/// Python; the canonical row is to_string's spelling, the one file formats
/// (.eqt headers, manifests, M1 self-tests) store; the other rows are the
/// aliases the CLI documents ('_' for '-', "equal-info-ac").
struct method_name {
  std::string_view text;
  method kind;
  bool static_ac;  ///< StaticAC: ac driven by a unigram model (the caller must supply one)
  bool canonical;
};
inline constexpr method_name method_names[] = {
    {"bytes", method::bytes, false, true},
    {"ac", method::ac, false, true},
    {"static-ac", method::ac, true, false},
    {"equal-info", method::equal_info_ac, false, false},
    {"equal_info_ac", method::equal_info_ac, false, true},
    {"static_ac", method::ac, true, false},
    {"equal_info", method::equal_info_ac, false, false},
    {"equal-info-ac", method::equal_info_ac, false, false},
};

/// The same for window rules.
struct rule_name {
  std::string_view text;
  window_rule rule;
  bool canonical;
};
inline constexpr rule_name rule_names[] = {
    {"delay", window_rule::delay, true},
    {"greedy-exact", window_rule::greedy_exact, false},
    {"greedy_exact", window_rule::greedy_exact, true},
};

/// The canonical (file format) name.
constexpr std::string_view to_string(method m) noexcept {
  for (const auto& n : method_names)
    if (n.kind == m && n.canonical) return n.text;
  return "?";
}
constexpr std::string_view to_string(window_rule r) noexcept {
  for (const auto& n : rule_names)
    if (n.rule == r && n.canonical) return n.text;
  return "?";
}

/// The name users see (CLI, Python): "bytes", "ac", "static-ac", "equal-info".
constexpr std::string_view user_name(method m, bool static_ac = false) noexcept {
  for (const auto& n : method_names)
    if (n.kind == m && n.static_ac == (static_ac && m == method::ac)) return n.text;
  return "?";
}
/// "delay" or "greedy-exact".
constexpr std::string_view user_name(window_rule r) noexcept {
  for (const auto& n : rule_names)
    if (n.rule == r) return n.text;
  return "?";
}

/// A method as users name it (any row of method_names).
struct named_method {
  method kind;
  bool static_ac;
};
constexpr std::optional<named_method> parse_method_name(std::string_view name) noexcept {
  for (const auto& n : method_names)
    if (n.text == name) return named_method{n.kind, n.static_ac};
  return std::nullopt;
}
/// A rule as users name it (any row of rule_names).
constexpr std::optional<window_rule> parse_window_rule(std::string_view name) noexcept {
  for (const auto& n : rule_names)
    if (n.text == name) return n.rule;
  return std::nullopt;
}

/// Canonical names only (what file formats store: no aliases).
constexpr std::optional<method> method_from_string(std::string_view text) noexcept {
  for (const auto& n : method_names)
    if (n.text == text && n.canonical) return n.kind;
  return std::nullopt;
}
constexpr std::optional<window_rule> rule_from_string(std::string_view text) noexcept {
  for (const auto& n : rule_names)
    if (n.text == text && n.canonical) return n.rule;
  return std::nullopt;
}

static_assert(to_string(method::equal_info_ac) == "equal_info_ac" && user_name(method::ac, true) == "static-ac" &&
              user_name(window_rule::greedy_exact) == "greedy-exact");

inline constexpr unsigned max_token_bits = 24;
inline constexpr unsigned max_window_bits = 65536;

/// Settings that affect tokens. Defaults: EqualInfoAC[b=16, N=16] at P=16,
/// the paper's best learnable setting (docs/format.md justifies P).
struct settings {
  method kind = method::equal_info_ac;
  unsigned window_bits = 16;     ///< b: bits per window (equal_info_ac only)
  unsigned token_bits = 16;      ///< N: bits per token, vocabulary 2^N (bytes: always 8)
  unsigned precision_bits = 16;  ///< P: the model's CDF totals 2^P
  window_rule rule = window_rule::delay;
  /// S: equal_info_ac codes the input in independent segments of S bytes (the
  /// last one shorter), each cut into windows on its own, so that one long
  /// input can use every core and lane; no window crosses a segment end.
  /// 0: one segment. The default, 64 KiB, costs about half a window per
  /// segment (docs/format.md has the measured cost in bytes/token).
  std::uint64_t segment_bytes = 65536;

  friend bool operator==(const settings&, const settings&) = default;

  /// Throws errc::invalid_settings naming the offending field.
  void validate() const {
    auto fail = [](const std::string& why) { throw error(errc::invalid_settings, why); };
    if (kind != method::bytes && kind != method::ac && kind != method::equal_info_ac)
      fail("unknown method " + std::to_string(static_cast<int>(kind)));
    if (kind == method::bytes) {
      if (token_bits != 8) fail("method bytes uses 8-bit tokens; token_bits is " + std::to_string(token_bits));
      return;
    }
    detail::check_precision(precision_bits);
    if (token_bits < 1 || token_bits > max_token_bits)
      fail("token_bits " + std::to_string(token_bits) + " is outside [1, " + std::to_string(max_token_bits) + "]");
    if (kind != method::equal_info_ac) return;
    if (rule != window_rule::greedy_exact && rule != window_rule::delay)
      fail("unknown window rule " + std::to_string(static_cast<int>(rule)));
    if (window_bits % token_bits != 0)
      fail("window_bits " + std::to_string(window_bits) + " is not a multiple of token_bits " +
           std::to_string(token_bits));
    if (window_bits > max_window_bits)
      fail("window_bits " + std::to_string(window_bits) + " exceeds " + std::to_string(max_window_bits));
    // The first byte of a window has a slice of c/2^P >= 2^-P at a dyadic
    // boundary, so its code is at most P bits (exactly P when c = 1).
    if (window_bits < precision_bits)
      fail("window_bits " + std::to_string(window_bits) + " cannot hold a byte of probability 2^-" +
           std::to_string(precision_bits) + ", whose code needs " + std::to_string(precision_bits) +
           " bits; use window_bits >= precision_bits");
  }

  /// Tokens per window (equal_info_ac).
  unsigned tokens_per_window() const noexcept { return window_bits / token_bits; }
};

}  // namespace v1
}  // namespace eqinfo
