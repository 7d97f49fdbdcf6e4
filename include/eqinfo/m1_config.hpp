// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1's shape (transformer_config) and T5's relative-position buckets.
/// The ranges checked here are the ones docs/m1-integer.md's overflow proof
/// relies on; training/eqinfo_m1 checks the same table.

#include <eqinfo/detail/json.hpp>
#include <eqinfo/error.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace eqinfo {
inline namespace v1 {

/// Shape of an M1. Defaults: the paper's "3m".
struct transformer_config {
  unsigned layers = 3;
  unsigned d_model = 256;
  unsigned heads = 4;
  unsigned head_dim = 64;
  unsigned d_ff = 1024;
  unsigned context = 1024;  ///< positions attended over, BOS included
  unsigned relative_buckets = 32;
  unsigned relative_max_distance = 128;
  float norm_epsilon = 1e-6f;

  friend bool operator==(const transformer_config&, const transformer_config&) = default;

  unsigned attention_width() const noexcept { return heads * head_dim; }

  /// Parameters outside the embedding and the output head.
  std::uint64_t non_embedding_parameters() const noexcept {
    const std::uint64_t d = d_model, a = attention_width();
    return layers * (2 * d + 4 * d * a + std::uint64_t{heads} * relative_buckets + 2 * d * d_ff) + d;
  }

  /// Throws `code` (invalid_settings, or bad_model_file when read from a file).
  void validate(const std::string& source = "transformer_config", errc code = errc::invalid_settings) const {
    auto check = [&](bool ok, const char* what) {
      if (!ok) throw error(code, source + ": " + what);
    };
    // Every range, from the table Python's M1Config.validate reads too.
#define EQINFO_M1_CHECK(condition, message) check(condition, message);
#include <eqinfo/detail/m1_config_checks.inc>
#undef EQINFO_M1_CHECK
    check(std::isfinite(norm_epsilon) && norm_epsilon > 0, "norm_epsilon must be positive and finite");
  }

  /// Compact JSON in the field order of docs/m1.md (what the model file stores).
  std::string to_json() const {
    char eps[32];
    const auto r = std::to_chars(eps, eps + sizeof eps, norm_epsilon);
    detail::json_writer o(detail::json_writer::style::compact);
    o.object().member("layers", layers).member("d_model", d_model).member("heads", heads);
    o.member("head_dim", head_dim).member("d_ff", d_ff).member("context", context);
    o.member("relative_buckets", relative_buckets).member("relative_max_distance", relative_max_distance);
    o.key("norm_epsilon").raw(std::string_view(eps, static_cast<std::size_t>(r.ptr - eps))).end();
    return o.str();
  }

  static transformer_config from_json(std::string_view text, const std::string& source) {
    const auto v = detail::json_reader(text, source + " config", errc::bad_model_file).parse();
    if (v.type != detail::json_value::kind::object)
      throw error(errc::bad_model_file, source + ": config is not a JSON object");
    transformer_config c;
    auto field = [&](const char* name) {
      const auto n = detail::json_uint(v.find(name), std::string("config.") + name, errc::bad_model_file, source);
      if (n > 1u << 24) throw error(errc::bad_model_file, source + ": config." + name + " is out of range");
      return static_cast<unsigned>(n);
    };
    c.layers = field("layers");
    c.d_model = field("d_model");
    c.heads = field("heads");
    c.head_dim = field("head_dim");
    c.d_ff = field("d_ff");
    c.context = field("context");
    c.relative_buckets = field("relative_buckets");
    c.relative_max_distance = field("relative_max_distance");
    const auto* eps = v.find("norm_epsilon");
    if (eps == nullptr || eps->type != detail::json_value::kind::number)
      throw error(errc::bad_model_file, source + ": config.norm_epsilon is missing");
    const auto r = std::from_chars(eps->text.data(), eps->text.data() + eps->text.size(), c.norm_epsilon);
    if (r.ec != std::errc() || r.ptr != eps->text.data() + eps->text.size())
      throw error(errc::bad_model_file, source + ": config.norm_epsilon = " + eps->text + " is not a number");
    for (const auto& [key, value] : v.members) {
      static constexpr std::string_view known[] = {
          "layers",      "d_model", "heads", "head_dim", "d_ff", "context", "relative_buckets", "relative_max_distance",
          "norm_epsilon"};
      if (std::find(std::begin(known), std::end(known), key) == std::end(known))
        throw error(errc::bad_model_file, source + ": unknown config field \"" + key + "\"");
    }
    c.validate(source, errc::bad_model_file);
    return c;
  }
};

/// T5's causal relative-position bucket of a distance n = t - j >= 0
/// (computed once, stored in the model file; never at inference time).
inline std::int32_t relative_position_bucket(unsigned n, unsigned buckets, unsigned max_distance) {
  const unsigned max_exact = buckets / 2;
  // (max_distance <= max_exact is rejected by transformer_config::validate;
  // without the guard the formula below would divide by log(1) = 0.)
  if (n < max_exact || max_exact == 0 || max_distance <= max_exact)
    return static_cast<std::int32_t>(std::min(n, buckets - 1));
  const double scaled = std::log(static_cast<double>(n) / max_exact) /
                        std::log(static_cast<double>(max_distance) / max_exact) * (buckets - max_exact);
  const double bucket = max_exact + std::floor(scaled);
  return static_cast<std::int32_t>(std::min<double>(bucket, buckets - 1));
}

}  // namespace v1
}  // namespace eqinfo
