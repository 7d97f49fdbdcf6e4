// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Token shards: the directories `eqinfo shard` writes (docs/format.md,
/// "Token shards"), read back with their checks.
///
///   const auto m = eqinfo::load_shard_manifest("shards/");       // manifest.json
///   eqinfo::tokenizer tok(model, m.config);
///   for (std::size_t k = 0; k < m.shards.size(); ++k) {
///     const eqinfo::shard s = eqinfo::load_shard("shards/", m, k);  // sizes and CRCs checked
///     for (std::size_t i = 0; i < s.examples.size(); ++i)
///       use(s.tokens_of(i), tok.decode(s.tokens_of(i), s.examples[i].byte_count));
///   }
///
/// Standard library only. Python loaders need none of this: every file is a
/// plain .npy (or raw little-endian) array.

#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/detail/hex.hpp>
#include <eqinfo/detail/json.hpp>
#include <eqinfo/detail/le_io.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/packing.hpp>
#include <eqinfo/settings.hpp>
#include <eqinfo/token_file.hpp>
#include <eqinfo/version.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eqinfo {
inline namespace v1 {

/// Version of the shard directory layout (manifest "shard_format").
inline constexpr unsigned shard_format_version = 1;

/// One row of shard-NNNNNN.idx.npy (int64 [examples, 6], in this order).
/// The "example stream" is the bytes of all examples, in order, across
/// shards: the joined corpus, or with keep_documents the documents back to
/// back.
struct shard_example {
  std::uint64_t stream_offset = 0;    ///< offset of the example's first byte in the example stream
  std::uint64_t document = 0;         ///< document of that byte (a separator belongs to the document before it)
  std::uint64_t document_offset = 0;  ///< offset of that byte in the document; >= its length: in the separator after it
  std::uint64_t byte_count = 0;       ///< bytes the example encodes (what exact decoding needs)
  std::uint64_t token_offset = 0;     ///< first token of the example in the shard's token array
  std::uint64_t token_count = 0;
  friend bool operator==(const shard_example&, const shard_example&) = default;
};

/// One row of shard-NNNNNN.docs.npy (int64 [documents, 3]): every document
/// whose bytes, or whose following separator, the shard's examples hold.
struct shard_document {
  std::uint64_t document = 0;       ///< global document index (manifest inputs: first_document)
  std::uint64_t stream_offset = 0;  ///< offset of its first byte in the example stream
  std::uint64_t byte_count = 0;     ///< its length, without the separator
  friend bool operator==(const shard_document&, const shard_document&) = default;
};

/// An input file, after directories were expanded.
struct shard_input {
  std::string path;         ///< as given (relative paths: to the directory the shard command ran in)
  std::string type;         ///< "text" (the file is one document) or "jsonl" (one per non-blank line)
  std::uint64_t size = 0;   ///< bytes
  std::uint32_t crc32 = 0;  ///< of the whole file
  std::uint64_t first_document = 0;
  std::uint64_t documents = 0;
};

/// A finished shard: its files and what they hold.
struct shard_record {
  std::string tokens_file{}, index_file{}, documents_file{};  ///< names inside the directory
  std::uint64_t tokens_file_size = 0, index_file_size = 0, documents_file_size = 0;
  std::uint32_t tokens_crc32 = 0, index_crc32 = 0, documents_crc32 = 0;  ///< of each whole file
  /// With shard_manifest::window_bytes: shard-NNNNNN.windows.npy (else "").
  std::string windows_file{};
  std::uint64_t windows_file_size = 0;
  std::uint32_t windows_crc32 = 0;
  std::uint64_t examples = 0, bytes = 0, tokens = 0, documents = 0;
  std::uint32_t source_crc32 = 0;  ///< CRC-32 of the examples' bytes, in order
  friend bool operator==(const shard_record&, const shard_record&) = default;
};

/// manifest.json: how the shards were made and what they hold.
struct shard_manifest {
  std::string eqinfo_version;  ///< "MAJOR.MINOR.PATCH" of the writer
  unsigned stream_format = EQINFO_STREAM_FORMAT;
  settings config;
  std::string model_kind = "uniform";  ///< "none" (bytes), "uniform", "unigram" (StaticAC with ac) or "m1"
  std::string model_path;              ///< as given to the writer ("" for none/uniform)
  std::uint32_t model_fingerprint = 0;
  std::uint64_t example_bytes = 10240;
  std::string separator = "\n\n";  ///< bytes between joined documents
  bool keep_documents = false;
  std::uint64_t shard_examples = 1024;
  std::string token_format = "npy";  ///< "npy" (shard-NNNNNN.npy) or "raw" (shard-NNNNNN.bin)
  std::string text_field = "text";   ///< the jsonl field holding the document
  /// EqualInfoAC: also store every window's byte count (token offsets,
  /// shard-NNNNNN.windows.npy); never changes the tokens.
  bool window_bytes = false;
  std::vector<shard_input> inputs;
  std::vector<shard_record> shards;

  /// Bytes per stored token: 2 (uint16) for N <= 16, else 4 (uint32).
  unsigned token_width() const noexcept { return config.token_bits <= 16 ? 2u : 4u; }
};

/// The tokens, index and document table of one shard.
struct shard {
  std::vector<token_t> tokens;
  std::vector<shard_example> examples;
  std::vector<shard_document> documents;
  /// With window_bytes: the byte count of each window of `tokens`, in order.
  std::vector<std::uint32_t> window_bytes;
  unsigned tokens_per_window = 0;  ///< b/N with window_bytes, else 0

  std::span<const token_t> tokens_of(std::size_t example) const {
    const shard_example& e = examples.at(example);
    return std::span<const token_t>(tokens).subspan(static_cast<std::size_t>(e.token_offset),
                                                    static_cast<std::size_t>(e.token_count));
  }
  /// With window_bytes: the byte count of each window of the example.
  std::span<const std::uint32_t> window_bytes_of(std::size_t example) const {
    const shard_example& e = examples.at(example);
    if (tokens_per_window == 0) return {};
    return std::span<const std::uint32_t>(window_bytes)
        .subspan(static_cast<std::size_t>(e.token_offset / tokens_per_window),
                 static_cast<std::size_t>(e.token_count / tokens_per_window));
  }
};

namespace detail {
namespace shards {

inline const char* const index_columns[] = {"stream_offset", "document",     "document_offset",
                                            "byte_count",    "token_offset", "token_count"};
inline const char* const documents_columns[] = {"document", "stream_offset", "byte_count"};

// Whether `s` can be written as a JSON string as is (otherwise only its hex
// form is: JSON text must be UTF-8).
inline bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (n == 0 || n > s.size() - i) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n;
  }
  return true;
}

/// The data of a C-order .npy file of dtype `descr` (of `width` bytes) and
/// `columns` columns (0: one-dimensional); sets `rows`.
inline std::span<const unsigned char> npy_body(std::span<const unsigned char> data, const std::string& source,
                                               const std::string& descr, std::size_t width, std::size_t columns,
                                               std::size_t& rows) {
  const npy_view v =
      parse_npy(data, source, columns, [&](const std::string& d) -> std::size_t { return d == descr ? width : 0; });
  rows = v.rows;
  return v.body;
}

template <std::size_t Columns>
std::vector<unsigned char> int64_table(std::span<const std::array<std::uint64_t, Columns>> rows) {
  std::vector<unsigned char> body;
  body.reserve(rows.size() * Columns * 8);
  for (const auto& row : rows)
    for (std::uint64_t v : row) put_le(body, v, 8);
  return npy_file("<i8", "(" + std::to_string(rows.size()) + ", " + std::to_string(Columns) + ")", body);
}

template <std::size_t Columns>
std::vector<std::array<std::uint64_t, Columns>> parse_int64_table(std::span<const unsigned char> data,
                                                                  const std::string& source) {
  std::size_t rows = 0;
  const auto body = npy_body(data, source, "<i8", 8, Columns, rows);
  std::vector<std::array<std::uint64_t, Columns>> out(rows);
  le_reader in(body, source, errc::truncated_tokens);
  for (auto& row : out)
    for (auto& v : row) {
      v = in.get(8, "int64 value");
      if (v >> 63) throw error(errc::corrupt_stream, source + ": negative value in an index table");
    }
  return out;
}

/// The token array of a shard: uint16 (N <= 16) or uint32, little-endian.
inline std::vector<unsigned char> serialize_tokens(std::span<const token_t> tokens, const shard_manifest& m) {
  const unsigned width = m.token_width();
  std::vector<unsigned char> body;
  body.reserve(tokens.size() * width);
  for (token_t t : tokens) put_le(body, t, static_cast<int>(width));
  if (m.token_format == "raw") return body;
  return npy_file(width == 2 ? "<u2" : "<u4", "(" + std::to_string(tokens.size()) + ",)", body);
}

inline std::vector<token_t> parse_tokens(std::span<const unsigned char> data, const shard_manifest& m,
                                         const std::string& source) {
  const unsigned width = m.token_width();
  std::span<const unsigned char> body = data;
  if (m.token_format == "npy") {
    std::size_t rows = 0;
    body = npy_body(data, source, width == 2 ? "<u2" : "<u4", width, 0, rows);
  }
  return read_tokens(body, width, m.config.token_bits, source);
}

/// shard-NNNNNN.windows.npy: 1-D <u4, every window's byte count (a window
/// holds fewer than 2^32 bytes: windows.hpp, encode_job::cuts).
inline std::vector<unsigned char> serialize_window_bytes(std::span<const std::uint32_t> counts) {
  std::vector<unsigned char> body;
  body.reserve(counts.size() * 4);
  for (const std::uint32_t c : counts) put_le(body, c, 4);
  return npy_file("<u4", "(" + std::to_string(counts.size()) + ",)", body);
}

inline std::vector<std::uint32_t> parse_window_bytes(std::span<const unsigned char> data, const std::string& source) {
  std::size_t rows = 0;
  const auto body = npy_body(data, source, "<u4", 4, 0, rows);
  std::vector<std::uint32_t> out(rows);
  le_reader in(body, source, errc::truncated_tokens);
  for (auto& c : out) c = static_cast<std::uint32_t>(in.get(4, "window byte count"));
  return out;
}

inline std::vector<unsigned char> serialize_index(std::span<const shard_example> rows) {
  std::vector<std::array<std::uint64_t, 6>> table;
  table.reserve(rows.size());
  for (const auto& e : rows)
    table.push_back({e.stream_offset, e.document, e.document_offset, e.byte_count, e.token_offset, e.token_count});
  return int64_table<6>(std::span<const std::array<std::uint64_t, 6>>(table));
}

inline std::vector<unsigned char> serialize_documents(std::span<const shard_document> rows) {
  std::vector<std::array<std::uint64_t, 3>> table;
  table.reserve(rows.size());
  for (const auto& d : rows) table.push_back({d.document, d.stream_offset, d.byte_count});
  return int64_table<3>(std::span<const std::array<std::uint64_t, 3>>(table));
}

inline void write_record(const shard_record& r, json_writer& o) {
  o.object();
  o.member("tokens_file", r.tokens_file).member("tokens_file_size", r.tokens_file_size);
  o.member("tokens_crc32", hex32(r.tokens_crc32));
  o.member("index_file", r.index_file).member("index_file_size", r.index_file_size);
  o.member("index_crc32", hex32(r.index_crc32));
  o.member("documents_file", r.documents_file).member("documents_file_size", r.documents_file_size);
  o.member("documents_crc32", hex32(r.documents_crc32));
  o.member("examples", r.examples).member("bytes", r.bytes).member("tokens", r.tokens);
  o.member("documents", r.documents).member("source_crc32", hex32(r.source_crc32));
  if (!r.windows_file.empty()) {
    o.member("windows_file", r.windows_file).member("windows_file_size", r.windows_file_size);
    o.member("windows_crc32", hex32(r.windows_crc32));
  }
  o.end();
}

/// A shard's manifest entry alone (the done-record of a resumable run).
inline std::string record_json(const shard_record& r) {
  json_writer o;
  write_record(r, o);
  return o.str();
}

/// Reads the fields of a JSON object, naming `source` and the field in errors.
class object_reader {
 public:
  object_reader(const json_value& v, std::string source) : v_(v), source_(std::move(source)) {
    if (v.type != json_value::kind::object) fail("is not a JSON object");
  }
  [[noreturn]] void fail(const std::string& why) const { throw error(errc::corrupt_stream, source_ + " " + why); }
  const json_value& field(std::string_view key, json_value::kind type) const {
    const json_value* f = v_.find(key);
    if (f == nullptr) fail("lacks \"" + std::string(key) + "\"");
    if (f->type != type) fail("has a \"" + std::string(key) + "\" of the wrong type");
    return *f;
  }
  std::uint64_t number(std::string_view key) const {
    return json_uint(&field(key, json_value::kind::number), std::string(key), errc::corrupt_stream, source_);
  }
  unsigned small(std::string_view key) const {
    const std::uint64_t v = number(key);
    if (v > 1u << 20) fail("has \"" + std::string(key) + "\" out of range");
    return static_cast<unsigned>(v);
  }
  std::string text(std::string_view key) const { return field(key, json_value::kind::string).text; }
  bool flag(std::string_view key) const { return field(key, json_value::kind::boolean).boolean; }
  std::uint32_t crc(std::string_view key) const {
    const std::string s = text(key);
    const auto v =
        s.size() == 10 && s[0] == '0' && s[1] == 'x' ? parse_hex(std::string_view(s).substr(2), true) : std::nullopt;
    if (!v) fail("has \"" + std::string(key) + "\" = \"" + s + "\", not a 0x-prefixed 8-digit hex number");
    return static_cast<std::uint32_t>(*v);
  }
  const std::string& source() const noexcept { return source_; }

 private:
  const json_value& v_;
  std::string source_;
};

inline shard_record parse_record(const json_value& v, const std::string& source) {
  const object_reader o(v, source);
  shard_record r;
  r.tokens_file = o.text("tokens_file");
  r.tokens_file_size = o.number("tokens_file_size");
  r.tokens_crc32 = o.crc("tokens_crc32");
  r.index_file = o.text("index_file");
  r.index_file_size = o.number("index_file_size");
  r.index_crc32 = o.crc("index_crc32");
  r.documents_file = o.text("documents_file");
  r.documents_file_size = o.number("documents_file_size");
  r.documents_crc32 = o.crc("documents_crc32");
  r.examples = o.number("examples");
  r.bytes = o.number("bytes");
  r.tokens = o.number("tokens");
  r.documents = o.number("documents");
  r.source_crc32 = o.crc("source_crc32");
  std::vector<const std::string*> names = {&r.tokens_file, &r.index_file, &r.documents_file};
  if (v.find("windows_file") != nullptr) {
    r.windows_file = o.text("windows_file");
    r.windows_file_size = o.number("windows_file_size");
    r.windows_crc32 = o.crc("windows_crc32");
    names.push_back(&r.windows_file);
  }
  for (const std::string* name : names)
    if (name->empty() || name->find('/') != std::string::npos || name->find('\\') != std::string::npos ||
        *name == "." || *name == "..")
      o.fail("names the file \"" + *name + "\", which is not a plain file name in the directory");
  return r;
}

}  // namespace shards
}  // namespace detail

/// The JSON of `m` (manifest.json; deterministic: the same manifest gives
/// the same text).
inline std::string to_json(const shard_manifest& m) {
  using detail::hex32;
  const settings& s = m.config;
  detail::json_writer o;
  o.object(true).member("format", "eqinfo-shards").member("shard_format", shard_format_version);
  o.member("eqinfo_version", m.eqinfo_version).member("stream_format", m.stream_format);
  o.key("settings").object().member("method", to_string(s.kind));
  if (s.kind == method::equal_info_ac) o.member("window_bits", s.window_bits);
  o.member("token_bits", s.token_bits);
  if (s.kind != method::bytes) o.member("precision_bits", s.precision_bits);
  if (s.kind == method::equal_info_ac) o.member("rule", to_string(s.rule));
  if (s.kind == method::equal_info_ac && m.stream_format >= 2) o.member("segment_bytes", s.segment_bytes);
  o.end();
  o.key("model").object().member("kind", m.model_kind).member("path", m.model_path);
  o.member("fingerprint", hex32(m.model_fingerprint)).end();
  o.member("example_bytes", m.example_bytes);
  if (detail::shards::valid_utf8(m.separator)) o.member("separator", m.separator);
  o.member("separator_hex", detail::hex_bytes(m.separator)).member("keep_documents", m.keep_documents);
  o.member("shard_examples", m.shard_examples).member("token_format", m.token_format);
  o.member("token_dtype", m.token_width() == 2 ? "uint16" : "uint32").member("text_field", m.text_field);
  if (m.window_bytes) o.member("window_bytes", true);  // absent: false (older manifests have none)
  o.key("index_columns").array();
  for (const char* c : detail::shards::index_columns) o.value(c);
  o.end().key("documents_columns").array();
  for (const char* c : detail::shards::documents_columns) o.value(c);
  o.end().key("inputs").array(true);
  std::uint64_t input_bytes = 0, documents = 0;
  for (const shard_input& in : m.inputs) {
    o.object().member("path", in.path).member("type", in.type).member("size", in.size);
    o.member("crc32", hex32(in.crc32)).member("first_document", in.first_document);
    o.member("documents", in.documents).end();
    input_bytes += in.size;
    documents += in.documents;
  }
  o.end().key("shards").array(true);
  std::uint64_t examples = 0, bytes = 0, tokens = 0;
  for (const shard_record& r : m.shards) {
    detail::shards::write_record(r, o);
    examples += r.examples;
    bytes += r.bytes;
    tokens += r.tokens;
  }
  o.end().key("totals").object().member("inputs", m.inputs.size()).member("input_bytes", input_bytes);
  o.member("documents", documents).member("shards", m.shards.size()).member("examples", examples);
  o.member("bytes", bytes).member("tokens", tokens).end();
  return o.end().str() + "\n";
}

/// Parses manifest.json; `source` names it in errors. Throws errc::bad_magic
/// (not a shard manifest), unsupported_version (a newer layout or token
/// stream format) or corrupt_stream (a missing or inconsistent field).
inline shard_manifest parse_shard_manifest(std::string_view json, const std::string& source) {
  using detail::json_value;
  using kind = json_value::kind;
  const json_value root = detail::json_reader(json, source, errc::corrupt_stream).parse();
  const detail::shards::object_reader o(root, source);
  if (root.find("format") == nullptr || root.find("format")->text != "eqinfo-shards")
    throw error(errc::bad_magic, source + ": not an eqinfo shard manifest (no \"format\": \"eqinfo-shards\")");
  if (o.number("shard_format") != shard_format_version)
    throw error(errc::unsupported_version, source + ": shard format " + std::to_string(o.number("shard_format")) +
                                               "; this build reads " + std::to_string(shard_format_version));
  shard_manifest m;
  m.eqinfo_version = o.text("eqinfo_version");
  m.stream_format = o.small("stream_format");

  const detail::shards::object_reader s(o.field("settings", kind::object), source + ": \"settings\"");
  const std::string method_text = s.text("method");
  settings& c = m.config;
  const auto parsed_method = method_from_string(method_text);
  if (!parsed_method) s.fail("has an unknown method \"" + method_text + "\"");
  c.kind = *parsed_method;
  c.token_bits = s.small("token_bits");
  if (c.kind == method::bytes) {  // the tokenizer's normalised bytes settings
    c.precision_bits = 16;
    c.window_bits = 16;
    c.rule = window_rule::greedy_exact;
  } else {
    c.precision_bits = s.small("precision_bits");
  }
  if (c.kind == method::equal_info_ac) {
    c.window_bits = s.small("window_bits");
    const std::string rule = s.text("rule");
    const auto parsed = rule_from_string(rule);
    if (!parsed) s.fail("has an unknown rule \"" + rule + "\"");
    c.rule = *parsed;
    // Stream format 1 (eqinfo 0.2) had no segments.
    c.segment_bytes = m.stream_format >= 2 ? s.number("segment_bytes") : 0;
  }
  try {
    c.validate();
  } catch (const error& e) {
    throw error(errc::corrupt_stream, source + ": invalid settings: " + e.what());
  }

  const detail::shards::object_reader model(o.field("model", kind::object), source + ": \"model\"");
  m.model_kind = model.text("kind");
  m.model_path = model.text("path");
  m.model_fingerprint = model.crc("fingerprint");
  m.example_bytes = o.number("example_bytes");
  if (m.example_bytes == 0) o.fail("has \"example_bytes\": 0");
  const std::string hex = o.text("separator_hex");
  if (hex.size() % 2 != 0) o.fail("has an odd-length \"separator_hex\"");
  const auto separator = detail::parse_hex_bytes(hex, true);
  if (!separator) o.fail("has a \"separator_hex\" that is not lowercase hex");
  m.separator.assign(separator->begin(), separator->end());
  m.keep_documents = o.flag("keep_documents");
  m.shard_examples = o.number("shard_examples");
  if (m.shard_examples == 0) o.fail("has \"shard_examples\": 0");
  m.token_format = o.text("token_format");
  if (m.token_format != "npy" && m.token_format != "raw")
    o.fail("has an unknown token_format \"" + m.token_format + "\"");
  m.text_field = o.text("text_field");
  if (root.find("window_bytes") != nullptr) m.window_bytes = o.flag("window_bytes");
  if (m.window_bytes && c.kind != method::equal_info_ac)
    o.fail("has \"window_bytes\": true, which only equal_info_ac shards have");

  const json_value& inputs = o.field("inputs", kind::array);
  std::uint64_t next_document = 0, input_bytes = 0;
  for (std::size_t i = 0; i < inputs.items.size(); ++i) {
    const detail::shards::object_reader r(inputs.items[i], source + ": input " + std::to_string(i));
    shard_input in;
    in.path = r.text("path");
    in.type = r.text("type");
    if (in.type != "text" && in.type != "jsonl") r.fail("has an unknown type \"" + in.type + "\"");
    in.size = r.number("size");
    in.crc32 = r.crc("crc32");
    in.first_document = r.number("first_document");
    in.documents = r.number("documents");
    if (in.first_document != next_document) r.fail("does not start at document " + std::to_string(next_document));
    next_document += in.documents;
    input_bytes += in.size;
    m.inputs.push_back(std::move(in));
  }
  const json_value& shard_list = o.field("shards", kind::array);
  std::uint64_t examples = 0, bytes = 0, tokens = 0;
  for (std::size_t k = 0; k < shard_list.items.size(); ++k) {
    m.shards.push_back(detail::shards::parse_record(shard_list.items[k], source + ": shard " + std::to_string(k)));
    const shard_record& r = m.shards.back();
    if (r.windows_file.empty() == m.window_bytes)
      o.fail("shard " + std::to_string(k) + (m.window_bytes ? " lacks" : " has") +
             " a windows_file; the manifest's \"window_bytes\" is " + (m.window_bytes ? "true" : "false"));
    if (r.examples == 0 || r.examples > m.shard_examples ||
        (r.examples < m.shard_examples && k + 1 < shard_list.items.size()))
      o.fail("shard " + std::to_string(k) + " holds " + std::to_string(r.examples) +
             " examples; every shard but the last holds shard_examples = " + std::to_string(m.shard_examples));
    examples += r.examples;
    bytes += r.bytes;
    tokens += r.tokens;
  }
  const detail::shards::object_reader t(o.field("totals", kind::object), source + ": \"totals\"");
  const std::pair<const char*, std::uint64_t> totals[] = {
      {"inputs", m.inputs.size()}, {"input_bytes", input_bytes}, {"documents", next_document},
      {"shards", m.shards.size()}, {"examples", examples},       {"bytes", bytes},
      {"tokens", tokens}};
  for (const auto& [key, value] : totals)
    if (t.number(key) != value)
      t.fail("says " + std::string(key) + " = " + std::to_string(t.number(key)) + ", the lists add up to " +
             std::to_string(value));
  return m;
}

/// Reads DIR/manifest.json.
inline shard_manifest load_shard_manifest(const std::filesystem::path& dir) {
  const std::string path = (dir / "manifest.json").string();
  const auto bytes = detail::read_file_bytes(path);
  return parse_shard_manifest(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

/// Reads shard `k` of `m` from `dir`, checking each file's size and CRC-32
/// against the manifest (errc::checksum_mismatch naming the file), the token
/// range, and that the index and document tables agree with the tokens and
/// with each other (errc::corrupt_stream).
inline shard load_shard(const std::filesystem::path& dir, const shard_manifest& m, std::size_t k) {
  if (k >= m.shards.size())
    throw error(errc::invalid_argument,
                "load_shard: shard " + std::to_string(k) + " of " + std::to_string(m.shards.size()));
  const shard_record& r = m.shards[k];
  auto read_checked = [&](const std::string& path, std::uint64_t size, std::uint32_t crc) {
    const auto bytes = detail::read_file_bytes(path);
    if (bytes.size() != size)
      throw error(errc::checksum_mismatch, path + ": " + std::to_string(bytes.size()) + " bytes, the manifest says " +
                                               std::to_string(size) + " (the file was modified or damaged)");
    const std::uint32_t actual = detail::crc32(bytes.data(), bytes.size());
    if (actual != crc)
      throw error(errc::checksum_mismatch, path + ": CRC-32 " + detail::hex32(actual) + ", the manifest says " +
                                               detail::hex32(crc) + " (the file was modified or damaged)");
    return bytes;
  };
  const std::string tokens_path = (dir / r.tokens_file).string(), index_path = (dir / r.index_file).string(),
                    documents_path = (dir / r.documents_file).string();
  shard out;
  out.tokens =
      detail::shards::parse_tokens(read_checked(tokens_path, r.tokens_file_size, r.tokens_crc32), m, tokens_path);
  for (const auto& row :
       detail::shards::parse_int64_table<6>(read_checked(index_path, r.index_file_size, r.index_crc32), index_path))
    out.examples.push_back({row[0], row[1], row[2], row[3], row[4], row[5]});
  for (const auto& row : detail::shards::parse_int64_table<3>(
           read_checked(documents_path, r.documents_file_size, r.documents_crc32), documents_path))
    out.documents.push_back({row[0], row[1], row[2]});
  const std::string windows_path = m.window_bytes ? (dir / r.windows_file).string() : std::string();
  if (m.window_bytes) {
    out.window_bytes = detail::shards::parse_window_bytes(
        read_checked(windows_path, r.windows_file_size, r.windows_crc32), windows_path);
    out.tokens_per_window = m.config.tokens_per_window();
  }

  auto bad = [&](const std::string& why) { throw error(errc::corrupt_stream, index_path + ": " + why); };
  if (out.examples.size() != r.examples || out.tokens.size() != r.tokens || out.documents.size() != r.documents)
    bad("holds " + std::to_string(out.examples.size()) + " examples, " + std::to_string(out.tokens.size()) +
        " tokens and " + std::to_string(out.documents.size()) + " documents; the manifest says " +
        std::to_string(r.examples) + ", " + std::to_string(r.tokens) + " and " + std::to_string(r.documents));
  std::uint64_t token = 0, bytes = 0;
  for (std::size_t i = 0; i < out.examples.size(); ++i) {
    const shard_example& e = out.examples[i];
    if (e.token_offset != token || e.byte_count == 0 || e.byte_count > m.example_bytes ||
        (i > 0 && e.stream_offset != out.examples[i - 1].stream_offset + out.examples[i - 1].byte_count))
      bad("example " + std::to_string(i) + " is not contiguous with the one before it, or empty or too long");
    if (m.window_bytes) {
      const std::uint64_t per = out.tokens_per_window;
      std::uint64_t sum = 0;
      if (e.token_count % per == 0 && (e.token_offset + e.token_count) / per <= out.window_bytes.size())
        for (const std::uint32_t c : out.window_bytes_of(i)) sum += c;
      if (e.token_count % per != 0 || sum != e.byte_count)
        throw error(errc::corrupt_stream, windows_path + ": the windows of example " + std::to_string(i) + " hold " +
                                              std::to_string(sum) + " bytes; the example has " +
                                              std::to_string(e.byte_count));
    }
    token += e.token_count;
    bytes += e.byte_count;
  }
  if (m.window_bytes && out.window_bytes.size() * out.tokens_per_window != out.tokens.size())
    throw error(errc::corrupt_stream, windows_path + ": " + std::to_string(out.window_bytes.size()) + " windows for " +
                                          std::to_string(out.tokens.size()) + " tokens");
  if (token != out.tokens.size() || bytes != r.bytes)
    bad("the examples hold " + std::to_string(token) + " tokens and " + std::to_string(bytes) +
        " bytes; the shard has " + std::to_string(out.tokens.size()) + " and the manifest says " +
        std::to_string(r.bytes) + " bytes");
  return out;
}

}  // namespace v1
}  // namespace eqinfo
