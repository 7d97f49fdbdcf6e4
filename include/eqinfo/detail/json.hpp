// SPDX-License-Identifier: MIT
#pragma once
// A small strict JSON reader (RFC 8259) for safetensors headers, eqinfo
// metadata and .jsonl corpora: objects, arrays, strings, numbers (kept as
// their text), true/false/null, and nothing else. Every error throws the
// caller's errc with a message naming the problem, the byte offset and the
// line and column:
//
//   m.json: invalid JSON at offset 17 (line 2, column 5): leading zero in a number
//
// Refused: numbers outside -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// (`007`, `1.`, `.5`, `1.2.3`, `+1`, `0x10`, `NaN`), trailing commas, raw
// control characters (below 0x20) in strings, escapes other than the nine of
// RFC 8259, \u escapes without exactly four hex digits, a repeated key in one
// object (readers disagree on which one wins: Python keeps the last, find()
// would return the first), anything but whitespace (space, tab, LF, CR) after
// the value, and containers nested more than `max_depth` deep (the reader
// recurses; this bounds its stack).
//
// Kept, as docs/format.md says for .jsonl corpora: raw bytes in strings as
// they are (valid UTF-8 or not), an escaped surrogate pair as one 4-byte
// character, and a lone escaped surrogate as its 3-byte form (WTF-8, what
// Python's json.loads + "surrogatepass" gives), so no text Python's json
// module writes is refused.

#include <eqinfo/detail/hex.hpp>
#include <eqinfo/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {

struct json_member;

struct json_value {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool boolean = false;
  std::string text;  // number literal or string contents
  std::vector<json_value> items;
  std::vector<json_member> members;  // in file order; keys are unique

  const json_value* find(std::string_view key) const;
};

struct json_member {
  std::string key;
  json_value value;
};

inline const json_value* json_value::find(std::string_view key) const {
  for (const auto& m : members)
    if (m.key == key) return &m.value;
  return nullptr;
}

class json_reader {
 public:
  /// Containers (arrays, objects) may nest this deep; one more is refused.
  static constexpr int max_depth = 64;

  json_reader(std::string_view text, std::string source, errc code)
      : text_(text), source_(std::move(source)), code_(code) {}

  json_value parse() {
    skip_space();
    json_value v = value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { fail_at(pos_, why); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& why) const {
    const std::string_view before = text_.substr(0, at);
    const std::size_t line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
    const std::size_t line_start = before.rfind('\n');
    const std::size_t column = at - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
    throw error(code_, source_ + ": invalid JSON at offset " + std::to_string(at) + " (line " + std::to_string(line) +
                           ", column " + std::to_string(column) + "): " + why);
  }
  bool at_end() const noexcept { return pos_ >= text_.size(); }
  char peek() const noexcept { return at_end() ? '\0' : text_[pos_]; }
  static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
  /// The byte at the current position, for messages ("'x'" or "byte 0x01").
  std::string shown() const {
    if (at_end()) return "end of input";
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    std::string s = "byte 0x";
    append_hex(s, c, 2);
    return s;
  }
  void skip_space() noexcept {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  // Called at a non-space byte; returns after the value.
  json_value value(int depth) {
    if (at_end()) fail("unexpected end of input, expected a value");
    const char c = text_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    json_value v;
    if (c == '"') {
      v.type = json_value::kind::string;
      v.text = string_literal();
    } else if (c == '-' || is_digit(c)) {
      v.type = json_value::kind::number;
      v.text = number();
    } else if (literal("true")) {
      v.type = json_value::kind::boolean;
      v.boolean = true;
    } else if (literal("false")) {
      v.type = json_value::kind::boolean;
    } else if (!literal("null")) {
      fail("unexpected " + shown() + ", expected a value");
    }
    return v;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  /// Past the opening bracket: true (and past `close`) for an empty container.
  bool open_container(int depth, char close) {
    if (depth >= max_depth) fail("nested deeper than " + std::to_string(max_depth) + " arrays and objects");
    ++pos_;
    skip_space();
    if (peek() != close) return false;
    ++pos_;
    return true;
  }
  json_value array(int depth) {
    json_value v;
    v.type = json_value::kind::array;
    if (open_container(depth, ']')) return v;
    do v.items.push_back(value(depth + 1));
    while (!closed(']', "an array"));
    return v;
  }
  /// After an element: true (and past it) at the container's `close`, else
  /// past the ',' before the next element (and no trailing comma).
  bool closed(char close, const char* container) {
    skip_space();
    if (peek() == close) {
      ++pos_;
      return true;
    }
    if (peek() != ',')
      fail("unexpected " + shown() + " in " + container + ", expected ',' or '" + std::string(1, close) + "'");
    ++pos_;
    skip_space();
    if (peek() == close) fail("trailing comma before '" + std::string(1, close) + "'");
    return false;
  }
  json_value object(int depth) {
    json_value v;
    v.type = json_value::kind::object;
    if (open_container(depth, '}')) return v;
    std::vector<std::size_t> key_offsets;
    while (true) {
      if (peek() != '"') fail("unexpected " + shown() + " in an object, expected a string key");
      key_offsets.push_back(pos_);
      std::string key = string_literal();
      skip_space();
      if (peek() != ':') fail("unexpected " + shown() + " after an object key, expected ':'");
      ++pos_;
      skip_space();
      v.members.push_back({std::move(key), value(depth + 1)});
      if (closed('}', "an object")) break;
    }
    check_unique_keys(v.members, key_offsets);
    return v;
  }
  void check_unique_keys(const std::vector<json_member>& members, const std::vector<std::size_t>& offsets) const {
    if (members.size() < 2) return;
    std::vector<std::size_t> order(members.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return members[a].key < members[b].key; });
    std::size_t repeat = members.size();  // the earliest second occurrence, in file order
    for (std::size_t i = 1; i < order.size(); ++i)
      if (members[order[i]].key == members[order[i - 1]].key) repeat = std::min(repeat, order[i]);
    if (repeat < members.size()) fail_at(offsets[repeat], "repeated key \"" + members[repeat].key + "\" in an object");
  }

  // RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::string number() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (is_digit(peek())) fail("leading zero in a number");
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++pos_;
    } else {
      fail("unexpected " + shown() + " in a number, expected a digit after '-'");
    }
    if (peek() == '.') {
      ++pos_;
      if (!is_digit(peek())) fail("unexpected " + shown() + " in a number, expected a digit after '.'");
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) fail("unexpected " + shown() + " in a number, expected a digit in the exponent");
      while (is_digit(peek())) ++pos_;
    }
    // "1.2.3", "1e5e5", "0x1", "1-2": the number ends, but not where the
    // value does; name the number, not the text after it.
    const char next = peek();
    if (next == '.' || next == 'e' || next == 'E' || next == '+' || next == '-' || next == 'x' || next == 'X')
      fail("unexpected " + shown() + " after the number " + std::string(text_.substr(start, pos_ - start)));
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string string_literal() {
    ++pos_;  // the opening quote
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("raw control character (" + shown() + ") in a string");
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      const std::size_t escape = pos_++;
      if (at_end()) fail("unterminated string");
      switch (text_[pos_++]) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t code = hex4(escape);
          // A high surrogate followed by an escaped low one is one code point
          // (json.dumps writes every non-BMP character so); a lone surrogate
          // is kept as its 3-byte form (WTF-8), see the top of this file.
          if (code >= 0xD800 && code < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            const std::size_t at = pos_;
            pos_ += 2;
            const std::uint32_t low = hex4(at);
            if (low >= 0xDC00 && low < 0xE000)
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            else
              pos_ = at;  // read again as an escape of its own
          }
          append_utf8(out, code);
          break;
        }
        default: fail_at(escape, "invalid escape \\" + std::string(1, text_[pos_ - 1]) + " in a string");
      }
    }
  }

  // The four hex digits of the \u escape that starts at `escape`.
  std::uint32_t hex4(std::size_t escape) {
    std::uint32_t code = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = peek();
      const int d = hex_value(c);
      if (d < 0) fail_at(escape, "\\u escape without four hex digits");
      code = (code << 4) | static_cast<std::uint32_t>(d);
    }
    return code;
  }
  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string source_;
  errc code_;
};

/// Unsigned integer from a JSON number, or throws `code` naming `what`.
inline std::uint64_t json_uint(const json_value* v, const std::string& what, errc code, const std::string& source) {
  if (v == nullptr || v->type != json_value::kind::number)
    throw error(code, source + ": " + what + " is missing or not a number");
  std::uint64_t out = 0;
  bool ok = !v->text.empty();
  for (std::size_t i = 0; ok && i < v->text.size(); ++i) {
    const char c = v->text[i];
    const auto d = static_cast<std::uint64_t>(c - '0');
    ok = c >= '0' && c <= '9' && out <= (UINT64_MAX - d) / 10;
    out = out * 10 + (ok ? d : 0);
  }
  if (!ok) throw error(code, source + ": " + what + " = " + v->text + " is not a non-negative integer below 2^64");
  return out;
}

/// `s` as the inside of a JSON string: '"', '\\' and control characters
/// escaped, every other byte as it is (the reader gives `s` back).
inline std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u00";
      append_hex(out, static_cast<unsigned char>(c), 2);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// Writes JSON text: escaping, separators and nesting in one place, for
/// every JSON eqinfo writes (model files, manifests, the CLI's --json).
///   compact: {"a":1,"b":[2,3]}     spaced: {"a": 1, "b": [2, 3]}
/// A container opened with `lines` puts each element on its own line,
/// indented two spaces per level (manifest.json). json_reader reads it all.
class json_writer {
 public:
  enum class style { compact, spaced };
  explicit json_writer(style s = style::spaced) : style_(s) {}

  json_writer& object(bool lines = false) { return open('{', lines); }
  json_writer& array(bool lines = false) { return open('[', lines); }
  /// Closes the innermost object or array.
  json_writer& end() {
    const frame f = stack_.back();
    stack_.pop_back();
    if (f.lines && f.count > 0) newline();
    out_ += f.closer;
    return *this;
  }
  json_writer& key(std::string_view k) {
    element();
    quoted(k);
    out_ += style_ == style::compact ? ":" : ": ";
    after_key_ = true;
    return *this;
  }
  json_writer& value(std::string_view text) {
    element();
    quoted(text);
    return *this;
  }
  json_writer& value(const char* text) { return value(std::string_view(text)); }
  json_writer& value(const std::string& text) { return value(std::string_view(text)); }
  json_writer& value(bool b) { return raw(b ? "true" : "false"); }
  template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) json_writer& value(T v) { return raw(std::to_string(v)); }
  /// Text that is JSON already (a number formatted by the caller, a nested document).
  json_writer& raw(std::string_view json) {
    element();
    out_ += json;
    return *this;
  }
  template <class T>
  json_writer& member(std::string_view k, const T& v) {
    return key(k).value(v);
  }
  /// The text so far (complete once every container is closed).
  const std::string& str() const noexcept { return out_; }

 private:
  struct frame {
    char closer;
    bool lines;
    std::size_t count = 0;
  };
  json_writer& open(char opener, bool lines) {
    element();
    out_ += opener;
    stack_.push_back({opener == '{' ? '}' : ']', lines});
    return *this;
  }
  void element() {  // the separator before a new element of the innermost container
    if (std::exchange(after_key_, false) || stack_.empty()) return;
    frame& f = stack_.back();
    if (f.count++ > 0) out_ += f.lines || style_ == style::compact ? "," : ", ";
    if (f.lines) newline();
  }
  void newline() {
    out_ += '\n';
    out_.append(2 * stack_.size(), ' ');
  }
  void quoted(std::string_view text) {
    out_ += '"';
    out_ += json_escape(text);
    out_ += '"';
  }

  style style_;
  std::string out_;
  std::vector<frame> stack_;
  bool after_key_ = false;
};

/// Compact JSON text of `v` (members in their order, numbers as read):
/// json_reader gives back an equal value.
inline void json_write(const json_value& v, json_writer& out) {
  switch (v.type) {
    case json_value::kind::null: out.raw("null"); return;
    case json_value::kind::boolean: out.value(v.boolean); return;
    case json_value::kind::number: out.raw(v.text); return;
    case json_value::kind::string: out.value(v.text); return;
    case json_value::kind::array:
      out.array();
      for (const json_value& item : v.items) json_write(item, out);
      out.end();
      return;
    case json_value::kind::object:
      out.object();
      for (const auto& m : v.members) {
        out.key(m.key);
        json_write(m.value, out);
      }
      out.end();
      return;
  }
}
inline std::string json_write(const json_value& v) {
  json_writer out(json_writer::style::compact);
  json_write(v, out);
  return out.str();
}

}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
