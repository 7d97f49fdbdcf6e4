// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// From what a user asks for to a tokenizer, the way the CLI, the Python
/// bindings and the Dask shard tasks all do it: the method named as users
/// name it, options left out take their defaults, a model file (unigram or
/// M1, or none for the uniform model) chosen by content. One definition, so
/// that `eqinfo encode`, `eqinfo.Tokenizer` and `eqinfo.dask` cannot drift
/// apart in what the same options mean. Links eqinfo::m1 (M1 is one of the
/// models), as m1_file.hpp does.

#include <eqinfo/error.hpp>
#include <eqinfo/m1_file.hpp>
#include <eqinfo/model.hpp>
#include <eqinfo/settings.hpp>
#include <eqinfo/tokenizer.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace eqinfo {
inline namespace v1 {

/// Settings as a user gives them: a method name (any row of method_names)
/// and the options given; std::nullopt is "not given".
/// (The `{}`s let designated initializers name only some fields under
/// -Wmissing-field-initializers.)
struct settings_request {
  std::optional<std::string> method{};
  std::optional<unsigned> window_bits{};
  std::optional<unsigned> token_bits{};
  std::optional<unsigned> precision_bits{};
  std::optional<std::string> rule{};
  std::optional<std::uint64_t> segment_bytes{};
};

/// The settings a request stands for, and whether it named static-ac (AC over
/// a unigram model: the settings say ac, the model says static).
struct resolved_settings {
  settings config;
  bool static_ac = false;
};

/// Resolves `r` with the model the user gave (`m1`, `unigram`, or neither for
/// the uniform model). Options not given take `base`'s values where a base is
/// given (the settings of a token file being decoded), else the library's
/// defaults (eqinfo::settings{}), with P the unigram file's precision. Method
/// bytes uses no model: 8-bit tokens, and its own b, P and rule. Methods other
/// than equal-info have one segment. Throws errc::invalid_settings for an
/// unknown name, static-ac without a unigram model, or (with `validate`)
/// settings that settings::validate refuses.
inline resolved_settings resolve_settings(const settings_request& r, const m1_file* m1, const unigram_model* unigram,
                                          const std::optional<settings>& base = std::nullopt, bool validate = true) {
  auto fail = [](const std::string& why) { throw error(errc::invalid_settings, why); };
  std::optional<named_method> named;
  if (r.method) {
    named = parse_method_name(*r.method);
    if (!named) fail("unknown method '" + *r.method + "' (use bytes, ac, static-ac or equal-info)");
  }
  if (named && named->static_ac && !unigram)
    fail(m1 ? "method static-ac needs a unigram model; with an M1 model use method ac"
            : "method static-ac needs a unigram model file");
  resolved_settings out;
  settings& s = out.config;
  if (base) s = *base;
  if (named) {
    s.kind = named->kind;
    out.static_ac = named->static_ac;
  }
  if (r.window_bits) s.window_bits = *r.window_bits;
  if (r.token_bits) s.token_bits = *r.token_bits;
  if (r.precision_bits)
    s.precision_bits = *r.precision_bits;
  else if (unigram && !base)
    s.precision_bits = unigram->precision_bits();
  if (r.segment_bytes) s.segment_bytes = *r.segment_bytes;
  if (r.rule) {
    const auto rule = parse_window_rule(*r.rule);
    if (!rule) fail("unknown window rule '" + *r.rule + "' (use delay or greedy-exact)");
    s.rule = *rule;
  }
  if (s.kind != method::equal_info_ac) s.segment_bytes = 0;  // segments are equal-info's alone
  if (s.kind == method::bytes) {
    if (r.token_bits && *r.token_bits != 8)
      fail("method bytes always uses 8-bit tokens (N=8); token_bits is " + std::to_string(*r.token_bits));
    s.token_bits = 8;
    s.precision_bits = 16;
    s.window_bits = 16;
    s.rule = window_rule::greedy_exact;
  }
  if (validate) s.validate();
  return out;
}

/// A tokenizer over whichever model a model file holds.
using any_tokenizer = std::variant<tokenizer<uniform_model>, tokenizer<unigram_model>, tokenizer<m1_model>>;

/// What a tokenizer's model is, as the CLI and bindings report it: "none"
/// (method bytes), "uniform", "unigram" or "m1".
struct chosen_tokenizer {
  any_tokenizer tok;
  std::string_view model_kind;
};

/// The tokenizer for `s` over the model given: M1, else the unigram model
/// requantised to P, else the uniform model; method bytes uses none.
inline chosen_tokenizer make_tokenizer(const settings& s, const m1_file* m1, const unigram_model* unigram) {
  if (s.kind == method::bytes) return {tokenizer(uniform_model(16), s), "none"};
  if (m1) return {tokenizer(m1->model(s.precision_bits), s), "m1"};
  if (unigram) return {tokenizer(unigram->with_precision(s.precision_bits), s), "unigram"};
  return {tokenizer(uniform_model(s.precision_bits), s), "uniform"};
}

/// The same for a parsed model file (std::nullopt: the uniform model).
inline chosen_tokenizer make_tokenizer(const settings& s, const std::optional<model_file>& file) {
  return make_tokenizer(s, file ? std::get_if<m1_file>(&*file) : nullptr,
                        file ? std::get_if<unigram_model>(&*file) : nullptr);
}

}  // namespace v1
}  // namespace eqinfo
