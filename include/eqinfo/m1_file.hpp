// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1 model files: safetensors with eqinfo metadata (docs/m1.md, format
/// version 2 = int8 matrices with per-row scales, docs/m1-integer.md), the
/// self-test vectors a file carries, and the conversion of version 1 (float)
/// files. The only M1 header that depends on the tokenizer (self-tests
/// encode text).

#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/detail/hex.hpp>
#include <eqinfo/detail/json.hpp>
#include <eqinfo/detail/le_io.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/m1_model.hpp>
#include <eqinfo/m1_weights.hpp>
#include <eqinfo/token_file.hpp>
#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

static_assert(std::endian::native == std::endian::little, "eqinfo's M1 file reader assumes a little-endian host");

namespace eqinfo {
inline namespace v1 {

/// The model file format version this build writes and runs.
inline constexpr unsigned m1_format_version = 2;

/// One self-test vector of a model file: these bytes, with these settings,
/// must give exactly these tokens.
struct m1_self_test {
  settings config;
  std::vector<std::uint8_t> input;
  std::vector<token_t> tokens;
};

/// A loaded model file.
struct m1_file {
  std::shared_ptr<const transformer_weights> weights;
  std::string config_json;
  std::uint32_t tensor_crc32 = 0;
  std::uint32_t fingerprint = 0;  ///< CRC-32 of config_json followed by the 8 hex digits of tensor_crc32
  std::vector<m1_self_test> self_tests;

  /// A model for the tokenizer at precision P.
  m1_model model(unsigned precision_bits) const { return m1_model(weights, precision_bits, fingerprint); }
};

namespace detail {
namespace m1 {

enum class dtype { f32, i8, i32 };

inline const char* dtype_name(dtype t) { return t == dtype::f32 ? "F32" : t == dtype::i8 ? "I8" : "I32"; }
inline std::size_t dtype_size(dtype t) { return t == dtype::i8 ? 1 : 4; }

struct tensor_spec {
  std::string name;
  dtype type;
  std::vector<std::size_t> shape;
};

/// The tensors of a file of `version` (1: float matrices; 2: int8 matrices,
/// each followed by its "<name>.scale"), in file order. Matrices are
/// PyTorch's [out, in].
inline std::vector<tensor_spec> tensor_specs(const transformer_config& c, unsigned version) {
  const std::size_t d = c.d_model, a = c.attention_width();
  std::vector<tensor_spec> s;
  auto matrix = [&](const std::string& name, std::size_t out, std::size_t in) {
    if (version == 1) {
      s.push_back({name, dtype::f32, {out, in}});
    } else {
      s.push_back({name, dtype::i8, {out, in}});
      s.push_back({name + ".scale", dtype::f32, {out}});
    }
  };
  s.push_back({"embedding", dtype::f32, {257, d}});
  for (unsigned i = 0; i < c.layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    s.push_back({p + "attn_norm", dtype::f32, {d}});
    matrix(p + "q", a, d);
    matrix(p + "k", a, d);
    matrix(p + "v", a, d);
    matrix(p + "o", d, a);
    s.push_back({p + "rel_bias", dtype::f32, {c.heads, c.relative_buckets}});
    s.push_back({p + "mlp_norm", dtype::f32, {d}});
    matrix(p + "w1", c.d_ff, d);
    matrix(p + "w2", d, c.d_ff);
  }
  s.push_back({"final_norm", dtype::f32, {d}});
  matrix("lm_head", 256, d);
  s.push_back({"relative_buckets", dtype::i32, {c.context}});
  return s;
}

inline std::string hex8(std::uint32_t v) {
  std::string s;
  append_hex(s, v, 8);
  return s;
}

inline std::uint32_t fingerprint_of(const std::string& config_json, std::uint32_t tensor_crc) {
  const std::string id = config_json + hex8(tensor_crc);
  return detail::crc32(reinterpret_cast<const unsigned char*>(id.data()), id.size());
}

/// A parsed, checked safetensors M1 file: every tensor of tensor_specs
/// present with its dtype and shape, inside the data, no overlap, no gap, CRC
/// verified. Tensor bytes are read through floats()/int8s()/int32s().
struct file_view {
  std::string source;
  unsigned version = 0;
  std::string config_json;
  transformer_config config;
  std::uint32_t crc = 0;
  std::span<const unsigned char> body;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> ranges;
  const std::string* self_test_json = nullptr;
  json_value header;

  std::span<const unsigned char> bytes(const std::string& name) const {
    const auto& [b, e] = ranges.at(name);
    return body.subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b));
  }
  /// Float tensor; every value must be finite (and >= 0 if `non_negative`).
  std::vector<float> floats(const std::string& name, bool non_negative = false) const {
    const auto raw = bytes(name);
    std::vector<float> v(raw.size() / 4);
    std::memcpy(v.data(), raw.data(), raw.size());
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]) || (non_negative && v[i] < 0.0f))
        throw error(errc::bad_model_file, source + ": tensor \"" + name + "\"[" + std::to_string(i) +
                                              "] = " + std::to_string(v[i]) +
                                              (non_negative ? " is not finite and >= 0" : " is not finite"));
    return v;
  }
};

inline file_view parse_file_view(std::span<const unsigned char> data, const std::string& source) {
  file_view f;
  f.source = source;
  detail::le_reader in(data, source, errc::bad_model_file);
  const std::uint64_t header_size = in.get(8, "safetensors header length");
  if (header_size > in.remaining())
    throw error(errc::bad_model_file, source + ": header length " + std::to_string(header_size) + " exceeds the " +
                                          std::to_string(in.remaining()) + " bytes that follow (truncated file?)");
  const auto header_bytes = in.take(static_cast<std::size_t>(header_size), "safetensors header");
  const std::string_view header_text(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size());
  f.header = detail::json_reader(header_text, source, errc::bad_model_file).parse();
  const json_value& header = f.header;
  if (header.type != json_value::kind::object)
    throw error(errc::bad_model_file, source + ": safetensors header is not a JSON object");
  const json_value* meta = header.find("__metadata__");
  auto meta_string = [&](const char* key) -> const std::string* {
    if (meta == nullptr || meta->type != json_value::kind::object) return nullptr;
    const json_value* v = meta->find(key);
    return v != nullptr && v->type == json_value::kind::string ? &v->text : nullptr;
  };
  const std::string* format = meta_string("format");
  if (format == nullptr || *format != "eqinfo-m1")
    throw error(errc::bad_magic, source + ": not an eqinfo M1 file (metadata \"format\" is not \"eqinfo-m1\")");
  const std::string* version = meta_string("format_version");
  if (version == nullptr || (*version != "1" && *version != "2"))
    throw error(errc::unsupported_version, source + ": M1 format version " + (version ? *version : "(none)") +
                                               ", this build reads versions 1 (to convert) and 2");
  f.version = *version == "1" ? 1 : 2;
  const std::string* config_json = meta_string("config");
  const std::string* crc_text = meta_string("tensor_crc32");
  if (config_json == nullptr || crc_text == nullptr)
    throw error(errc::bad_model_file, source + ": metadata lacks \"config\" or \"tensor_crc32\"");
  f.config_json = *config_json;
  f.config = transformer_config::from_json(*config_json, source);
  std::uint32_t stored_crc = 0;
  {
    const auto v = crc_text->size() == 8 ? parse_hex(*crc_text) : std::nullopt;
    if (!v) throw error(errc::bad_model_file, source + ": tensor_crc32 \"" + *crc_text + "\" is not 8 hex digits");
    stored_crc = static_cast<std::uint32_t>(*v);
  }
  f.self_test_json = meta_string("self_test");
  f.body = data.subspan(in.position());
  const auto specs = tensor_specs(f.config, f.version);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> sorted;
  for (const auto& spec : specs) {
    const json_value* t = header.find(spec.name);
    if (t == nullptr || t->type != json_value::kind::object)
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" is missing");
    const json_value* type = t->find("dtype");
    const char* want = dtype_name(spec.type);
    if (type == nullptr || type->type != json_value::kind::string || type->text != want)
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" must have dtype " + want);
    const json_value* shape = t->find("shape");
    bool shape_ok =
        shape != nullptr && shape->type == json_value::kind::array && shape->items.size() == spec.shape.size();
    std::uint64_t count = 1;
    for (std::size_t k = 0; shape_ok && k < spec.shape.size(); ++k) {
      shape_ok =
          detail::json_uint(&shape->items[k], spec.name + ".shape", errc::bad_model_file, source) == spec.shape[k];
      count *= spec.shape[k];
    }
    if (!shape_ok) {
      std::string expected;
      for (std::size_t k = 0; k < spec.shape.size(); ++k) {
        if (k) expected += ", ";
        expected += std::to_string(spec.shape[k]);
      }
      throw error(errc::bad_model_file,
                  source + ": tensor \"" + spec.name + "\" must have shape [" + expected + "] for this config");
    }
    const json_value* offsets = t->find("data_offsets");
    if (offsets == nullptr || offsets->type != json_value::kind::array || offsets->items.size() != 2)
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" lacks data_offsets");
    const auto begin = detail::json_uint(&offsets->items[0], spec.name + ".data_offsets", errc::bad_model_file, source);
    const auto end = detail::json_uint(&offsets->items[1], spec.name + ".data_offsets", errc::bad_model_file, source);
    if (begin > end || end > f.body.size() || end - begin != count * dtype_size(spec.type))
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" data [" + std::to_string(begin) +
                                            ", " + std::to_string(end) + ") does not fit its shape inside the " +
                                            std::to_string(f.body.size()) + "-byte data section (truncated file?)");
    f.ranges[spec.name] = {begin, end};
    sorted.emplace_back(begin, end);
  }
  if (header.members.size() != specs.size() + 1)
    throw error(errc::bad_model_file, source + ": the file has tensors this config does not use");
  std::sort(sorted.begin(), sorted.end());
  std::uint64_t covered = 0;
  for (const auto& [b, e] : sorted) {
    if (b != covered) throw error(errc::bad_model_file, source + ": tensor data overlaps or leaves gaps");
    covered = e;
  }
  if (covered != f.body.size())
    throw error(errc::bad_model_file,
                source + ": " + std::to_string(f.body.size() - covered) + " bytes after the last tensor");
  f.crc = detail::crc32(f.body.data(), f.body.size());
  if (f.crc != stored_crc)
    throw error(errc::checksum_mismatch,
                source + ": tensor data CRC-32 " + hex8(f.crc) + ", expected " + hex8(stored_crc));
  return f;
}

/// The weights of a checked file; version 1 matrices are quantised row-wise
/// (what `eqinfo m1-quantize` does), version 2 ones are taken as stored.
inline transformer_weights weights_of(const file_view& f) {
  const auto& c = f.config;
  const std::size_t d = c.d_model;
  auto vec = [&](const std::string& name) {
    const auto v = f.floats(name);
    return Eigen::VectorXf(Eigen::Map<const Eigen::VectorXf>(v.data(), static_cast<Eigen::Index>(v.size())));
  };
  auto fmat = [&](const std::string& name, std::size_t rows, std::size_t cols) {
    const auto v = f.floats(name);
    return transformer_weights::float_matrix(Eigen::Map<const transformer_weights::float_matrix>(
        v.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols)));
  };
  auto matrix = [&](const std::string& name, std::size_t out, std::size_t in) {
    if (f.version == 1) return int8_matrix::quantize(f.floats(name), out, in);
    int8_matrix m;
    const auto raw = f.bytes(name);
    m.q.resize(static_cast<Eigen::Index>(out), static_cast<Eigen::Index>(in));
    std::memcpy(m.q.data(), raw.data(), raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i)
      if (m.q.data()[i] == -128)
        throw error(errc::bad_model_file, f.source + ": tensor \"" + name + "\"[" + std::to_string(i) +
                                              "] = -128; int8 weights must be in [-127, 127]");
    const auto s = f.floats(name + ".scale", true);
    m.scale = Eigen::Map<const Eigen::VectorXf>(s.data(), static_cast<Eigen::Index>(s.size()));
    return m;
  };
  transformer_weights w;
  w.config = c;
  w.embedding = fmat("embedding", 257, d);
  for (unsigned i = 0; i < c.layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    transformer_weights::layer l;
    l.attn_norm = vec(p + "attn_norm");
    l.wq = matrix(p + "q", c.attention_width(), d);
    l.wk = matrix(p + "k", c.attention_width(), d);
    l.wv = matrix(p + "v", c.attention_width(), d);
    l.wo = matrix(p + "o", d, c.attention_width());
    l.rel_bias = fmat(p + "rel_bias", c.heads, c.relative_buckets);
    l.mlp_norm = vec(p + "mlp_norm");
    l.w1 = matrix(p + "w1", c.d_ff, d);
    l.w2 = matrix(p + "w2", d, c.d_ff);
    w.layers.push_back(std::move(l));
  }
  w.final_norm = vec("final_norm");
  w.lm_head = matrix("lm_head", 256, d);
  const auto raw = f.bytes("relative_buckets");
  w.buckets.resize(raw.size() / 4);
  std::memcpy(w.buckets.data(), raw.data(), raw.size());
  for (std::size_t n = 0; n < w.buckets.size(); ++n)
    if (w.buckets[n] < 0 || static_cast<unsigned>(w.buckets[n]) >= c.relative_buckets)
      throw error(errc::bad_model_file, f.source + ": relative_buckets[" + std::to_string(n) +
                                            "] = " + std::to_string(w.buckets[n]) + " is not a bucket index");
  w.pack(int8::active());
  return w;
}

inline std::vector<m1_self_test> parse_self_tests(const std::string& text, const std::string& source) {
  const json_value list = detail::json_reader(text, source + " self_test", errc::bad_model_file).parse();
  if (list.type != json_value::kind::array) throw error(errc::bad_model_file, source + ": self_test is not an array");
  std::vector<m1_self_test> out;
  for (const auto& item : list.items) {
    m1_self_test t;
    const json_value* s = item.find("settings");
    const json_value* hex = item.find("input_hex");
    const json_value* tokens = item.find("tokens");
    if (s == nullptr || hex == nullptr || tokens == nullptr || hex->type != json_value::kind::string ||
        tokens->type != json_value::kind::array || hex->text.size() % 2 != 0)
      throw error(errc::bad_model_file, source + ": malformed self_test entry");
    const json_value* method_name = s->find("method");
    const json_value* rule_name = s->find("rule");
    if (method_name == nullptr || rule_name == nullptr)
      throw error(errc::bad_model_file, source + ": self_test settings lack method or rule");
    const auto kind = method_from_string(method_name->text);
    if (!kind) throw error(errc::bad_model_file, source + ": self_test method \"" + method_name->text + "\"");
    t.config.kind = *kind;
    const auto rule = rule_from_string(rule_name->text);
    if (!rule) throw error(errc::bad_model_file, source + ": self_test rule \"" + rule_name->text + "\"");
    t.config.rule = *rule;
    auto small = [&](const char* key) {
      const auto v = detail::json_uint(s->find(key), std::string("self_test ") + key, errc::bad_model_file, source);
      if (v > 1u << 20) throw error(errc::bad_model_file, source + ": self_test " + key + " out of range");
      return static_cast<unsigned>(v);
    };
    t.config.window_bits = small("window_bits");
    t.config.token_bits = small("token_bits");
    t.config.precision_bits = small("precision_bits");
    t.config.validate();
    auto input = parse_hex_bytes(hex->text);
    if (!input) throw error(errc::bad_model_file, source + ": bad self_test input_hex");
    t.input = std::move(*input);
    for (const auto& tok : tokens->items)
      t.tokens.push_back(
          static_cast<token_t>(detail::json_uint(&tok, "self_test token", errc::bad_model_file, source)));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace m1
}  // namespace detail

inline void to_json(const m1_self_test& t, detail::json_writer& o) {
  o.object().key("settings").object();
  o.member("method", to_string(t.config.kind)).member("window_bits", t.config.window_bits);
  o.member("token_bits", t.config.token_bits).member("precision_bits", t.config.precision_bits);
  o.member("rule", to_string(t.config.rule)).end();
  o.member("input_hex", detail::hex_bytes(t.input)).member("byte_count", t.input.size());
  o.key("tokens").array();
  for (const token_t v : t.tokens) o.value(v);
  o.end().end();
}
inline std::string to_json(const m1_self_test& t) {
  detail::json_writer o(detail::json_writer::style::compact);
  to_json(t, o);
  return o.str();
}

/// Encodes `inputs` under each of `configs` with these weights: the self-test
/// vectors to store in a model file.
inline std::vector<m1_self_test> make_m1_self_tests(std::shared_ptr<const transformer_weights> weights,
                                                    const std::vector<std::vector<std::uint8_t>>& inputs,
                                                    const std::vector<settings>& configs) {
  std::vector<m1_self_test> out;
  for (const auto& s : configs) {
    tokenizer tok(m1_model(weights, s.precision_bits), s);
    for (const auto& in : inputs) out.push_back({s, in, tok.encode(in).tokens});
  }
  return out;
}

/// The safetensors bytes of a version 2 model file (docs/m1.md).
inline std::vector<unsigned char> serialize_m1(const transformer_weights& w,
                                               const std::vector<m1_self_test>& self_tests = {}) {
  using detail::m1::dtype;
  const auto& c = w.config;
  c.validate();
  std::map<std::string, std::vector<unsigned char>> data;
  auto put_floats = [&](const std::string& name, const float* v, std::size_t n) {
    auto& out = data[name];
    for (std::size_t i = 0; i < n; ++i) detail::put_le(out, std::bit_cast<std::uint32_t>(v[i]), 4);
  };
  auto put_matrix = [&](const std::string& name, const int8_matrix& m) {
    auto& out = data[name];
    const auto* q = reinterpret_cast<const unsigned char*>(m.q.data());
    out.assign(q, q + m.q.size());
    put_floats(name + ".scale", m.scale.data(), static_cast<std::size_t>(m.scale.size()));
  };
  put_floats("embedding", w.embedding.data(), static_cast<std::size_t>(w.embedding.size()));
  for (unsigned i = 0; i < c.layers; ++i) {
    const auto& l = w.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    put_floats(p + "attn_norm", l.attn_norm.data(), static_cast<std::size_t>(l.attn_norm.size()));
    put_matrix(p + "q", l.wq);
    put_matrix(p + "k", l.wk);
    put_matrix(p + "v", l.wv);
    put_matrix(p + "o", l.wo);
    put_floats(p + "rel_bias", l.rel_bias.data(), static_cast<std::size_t>(l.rel_bias.size()));
    put_floats(p + "mlp_norm", l.mlp_norm.data(), static_cast<std::size_t>(l.mlp_norm.size()));
    put_matrix(p + "w1", l.w1);
    put_matrix(p + "w2", l.w2);
  }
  put_floats("final_norm", w.final_norm.data(), static_cast<std::size_t>(w.final_norm.size()));
  put_matrix("lm_head", w.lm_head);
  for (std::int32_t v : w.buckets) detail::put_le(data["relative_buckets"], static_cast<std::uint32_t>(v), 4);

  std::vector<unsigned char> body;
  detail::json_writer header(detail::json_writer::style::compact);
  header.object();
  for (const auto& spec : detail::m1::tensor_specs(c, m1_format_version)) {
    const auto& bytes = data.at(spec.name);
    std::size_t count = detail::m1::dtype_size(spec.type);
    for (std::size_t k : spec.shape) count *= k;
    if (bytes.size() != count)
      throw error(errc::invalid_argument, "serialize_m1: tensor \"" + spec.name + "\" does not match the config");
    const std::size_t begin = body.size();
    body.insert(body.end(), bytes.begin(), bytes.end());
    header.key(spec.name).object().member("dtype", detail::m1::dtype_name(spec.type)).key("shape").array();
    for (const std::size_t k : spec.shape) header.value(k);
    header.end().key("data_offsets").array().value(begin).value(body.size()).end().end();
  }
  const std::uint32_t crc = detail::crc32(body.data(), body.size());
  detail::json_writer tests(detail::json_writer::style::compact);
  tests.array();
  for (const m1_self_test& t : self_tests) to_json(t, tests);
  tests.end();
  header.key("__metadata__").object().member("format", "eqinfo-m1");
  header.member("format_version", std::to_string(m1_format_version)).member("config", c.to_json());
  header.member("tensor_crc32", detail::m1::hex8(crc));
  if (!self_tests.empty()) header.member("self_test", tests.str());
  header.end().end();
  std::string text = header.str();
  while (text.size() % 8 != 0) text.push_back(' ');
  std::vector<unsigned char> out;
  detail::put_le(out, text.size(), 8);
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

/// Parses and validates a version 2 model file; with `run_self_test`,
/// re-encodes its self-test vectors. Throws errc::bad_model_file (truncated
/// or inconsistent; names the tensor), bad_magic, unsupported_version (also
/// for version 1 float files, with how to convert them), checksum_mismatch
/// or self_test_failed. Checks every size against the file before allocating.
inline m1_file parse_m1(std::span<const unsigned char> data, const std::string& source, bool run_self_test = true) {
  const auto view = detail::m1::parse_file_view(data, source);
  if (view.version != m1_format_version)
    throw error(errc::unsupported_version,
                source +
                    ": M1 format version 1 (float weights) is not run by this build, which computes M1 in "
                    "int8 (format version 2); convert it with 'eqinfo m1-quantize " +
                    source +
                    " -o OUT' (tokens made with a version 1 model cannot be decoded by this build: its numerics "
                    "differ)");
  m1_file file;
  file.weights = std::make_shared<const transformer_weights>(detail::m1::weights_of(view));
  file.config_json = view.config_json;
  file.tensor_crc32 = view.crc;
  file.fingerprint = detail::m1::fingerprint_of(view.config_json, view.crc);
  if (view.self_test_json != nullptr) file.self_tests = detail::m1::parse_self_tests(*view.self_test_json, source);
  if (run_self_test) {
    for (std::size_t i = 0; i < file.self_tests.size(); ++i) {
      const auto& t = file.self_tests[i];
      tokenizer tok(file.model(t.config.precision_bits), t.config);
      const auto got = tok.encode(t.input).tokens;
      if (got != t.tokens) {
        std::size_t at = 0;
        while (at < got.size() && at < t.tokens.size() && got[at] == t.tokens[at]) ++at;
        throw error(errc::self_test_failed, source + ": self-test " + std::to_string(i) + " (" +
                                                std::to_string(t.input.size()) +
                                                " bytes) gives different tokens from token " + std::to_string(at) +
                                                ": this build's M1 numerics differ from the build that wrote the file");
      }
    }
  }
  return file;
}

/// Quantises a version 1 (float) model file into version 2 weights (row-wise
/// quant8 of every matrix; docs/m1-integer.md). Its self-tests are dropped:
/// the tokens change. Also accepts a version 2 file (returned as stored).
inline transformer_weights quantize_m1_file(std::span<const unsigned char> data, const std::string& source) {
  return detail::m1::weights_of(detail::m1::parse_file_view(data, source));
}

inline m1_file load_m1(const std::string& path, bool run_self_test = true) {
  return parse_m1(detail::read_file_bytes(path), path, run_self_test);
}

/// A model file as eqinfo reads it (CLI, Python, studies): a unigram model
/// or an M1, told apart by content, never by name.
using model_file = std::variant<unigram_model, m1_file>;

/// Whether `data` is an M1 file: safetensors (an 8-byte little-endian header
/// length, then the JSON header's '{'), not a unigram file ("EQINFOUG").
inline bool is_m1_file(std::span<const std::uint8_t> data) noexcept {
  return data.size() >= 9 && data[8] == '{' && std::memcmp(data.data(), "EQINFOUG", 8) != 0;
}

/// Parses a model file of either kind; errors name `source` (a file that is
/// neither is refused by the unigram parser: errc::bad_magic).
inline model_file parse_model_file(std::span<const std::uint8_t> data, const std::string& source,
                                   bool run_self_test = true) {
  if (is_m1_file(data)) return parse_m1(data, source, run_self_test);
  return unigram_model::parse(data, source);
}

inline model_file load_model_file(const std::string& path, bool run_self_test = true) {
  return parse_model_file(detail::read_file_bytes(path), path, run_self_test);
}

inline void save_m1(const std::string& path, const transformer_weights& w,
                    const std::vector<m1_self_test>& tests = {}) {
  detail::write_file_bytes(path, serialize_m1(w, tests));
}

}  // namespace v1
}  // namespace eqinfo
