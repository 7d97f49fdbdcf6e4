// SPDX-License-Identifier: MIT
#pragma once
// A small strict JSON reader for safetensors headers and eqinfo metadata:
// objects, arrays, strings (with \uXXXX escapes), numbers (kept as text),
// true/false/null. Bounded depth; every error names the offset.

#include <eqinfo/error.hpp>

#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
  std::vector<json_member> members;  // in file order

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
  json_reader(std::string_view text, std::string source, errc code)
      : text_(text), source_(std::move(source)), code_(code) {}

  json_value parse() {
    json_value v = value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw error(code_, source_ + ": invalid JSON at offset " + std::to_string(pos_) + ": " + why);
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool take(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!take(c)) fail(std::string("expected '") + c + "'");
  }
  json_value value(int depth) {
    if (depth > 64) fail("nested too deeply");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end");
    json_value v;
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      v.type = json_value::kind::object;
      if (take('}')) return v;
      do {
        skip_space();
        std::string key = string_literal();
        expect(':');
        v.members.push_back({std::move(key), value(depth + 1)});
      } while (take(','));
      expect('}');
    } else if (c == '[') {
      ++pos_;
      v.type = json_value::kind::array;
      if (take(']')) return v;
      do v.items.push_back(value(depth + 1));
      while (take(','));
      expect(']');
    } else if (c == '"') {
      v.type = json_value::kind::string;
      v.text = string_literal();
    } else if (text_.substr(pos_, 4) == "true") {
      pos_ += 4;
      v.type = json_value::kind::boolean;
      v.boolean = true;
    } else if (text_.substr(pos_, 5) == "false") {
      pos_ += 5;
      v.type = json_value::kind::boolean;
    } else if (text_.substr(pos_, 4) == "null") {
      pos_ += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const std::size_t start = pos_;
      while (pos_ < text_.size() && (std::string_view("+-.eE0123456789").find(text_[pos_]) != std::string_view::npos))
        ++pos_;
      v.type = json_value::kind::number;
      v.text = std::string(text_.substr(start, pos_ - start));
    } else {
      fail("unexpected character");
    }
    return v;
  }
  std::string string_literal() {
    if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string");
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t code = hex4();
          // A high surrogate followed by an escaped low one is one code point
          // (json.dumps writes every non-BMP character so); a lone surrogate
          // is kept as its 3-byte form (WTF-8), so no input is refused.
          if (code >= 0xD800 && code < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            const std::size_t at = pos_;
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low >= 0xDC00 && low < 0xE000)
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            else
              pos_ = at;
          }
          append_utf8(out, code);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  std::uint32_t hex4() {
    if (pos_ + 4 > text_.size()) fail("short \\u escape");
    unsigned code = 0;
    const auto r = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
    if (r.ptr != text_.data() + pos_ + 4) fail("bad \\u escape");
    pos_ += 4;
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
  std::uint64_t out = 0;
  if (v == nullptr || v->type != json_value::kind::number)
    throw error(code, source + ": " + what + " is missing or not a number");
  const auto r = std::from_chars(v->text.data(), v->text.data() + v->text.size(), out);
  if (r.ec != std::errc() || r.ptr != v->text.data() + v->text.size())
    throw error(code, source + ": " + what + " = " + v->text + " is not a non-negative integer");
  return out;
}

inline std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static const char hex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(hex[(c >> 4) & 0xF]);
      out.push_back(hex[c & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
