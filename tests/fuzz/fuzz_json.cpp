// SPDX-License-Identifier: MIT
// Fuzz target: the strict JSON reader (eqinfo/detail/json.hpp) on arbitrary
// text.
//
// Asserts:
// - json_reader accepts exactly the texts a second, independent recogniser
//   below accepts (RFC 8259 with the reader's documented choices: at most
//   json_reader::max_depth nested containers, no repeated keys, lone
//   escaped surrogates and raw non-UTF-8 bytes kept);
// - a refusal throws eqinfo::error with the caller's code and a message
//   "<fuzz>: invalid JSON at offset N (line L, column C): ..." whose N is
//   inside the text and whose line and column match N;
// - an accepted value written by json_write parses back to a value that
//   json_write writes identically (parse -> write -> parse round trip);
// - json_uint reads a number exactly when its text is all digits and below
//   2^64, and then gives back that text.
#include "fuzz_common.hpp"

#include <eqinfo/detail/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using eqinfo::detail::json_reader;
using eqinfo::detail::json_value;

/// A second recogniser, written from RFC 8259's grammar as a plain scanner:
/// whether `s` is one JSON text that json_reader must accept.
class recogniser {
 public:
  explicit recogniser(std::string_view s) : s_(s) {}
  bool text() {
    ws();
    if (!value(1)) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  bool more() const { return i_ < s_.size(); }
  char at() const { return more() ? s_[i_] : '\0'; }
  void ws() {
    while (more() && std::string_view(" \t\n\r").find(s_[i_]) != std::string_view::npos) ++i_;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  bool digits() {  // [0-9]+
    const std::size_t from = i_;
    while (digit(at())) ++i_;
    return i_ > from;
  }
  bool number() {
    if (at() == '-') ++i_;
    if (at() == '0')
      ++i_;
    else if (at() < '1' || at() > '9' || !digits())
      return false;
    if (at() == '.' && (++i_, !digits())) return false;
    if (at() == 'e' || at() == 'E') {
      ++i_;
      if (at() == '+' || at() == '-') ++i_;
      if (!digits()) return false;
    }
    return true;
  }
  // The string at i_ (a quote), decoded to code units: bytes as 0..255,
  // \u escapes as 0x10000 + unit, so that keys compare as json_reader's
  // decoded bytes do (a pair and its UTF-8 bytes are the same key).
  bool string(std::u32string& units) {
    if (at() != '"') return false;
    ++i_;
    while (true) {
      if (!more()) return false;
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        units.push_back(c);
        continue;
      }
      if (!more()) return false;
      const char e = s_[i_++];
      const std::string_view simple = "\"\\/bfnrt", decoded = "\"\\/\b\f\n\r\t";
      if (const auto k = simple.find(e); k != std::string_view::npos) {
        units.push_back(static_cast<unsigned char>(decoded[k]));
        continue;
      }
      if (e != 'u' || i_ + 4 > s_.size()) return false;
      std::uint32_t u = 0;
      for (int k = 0; k < 4; ++k) {
        const char h = s_[i_++];
        const std::string_view hex = "0123456789abcdef", upper = "0123456789ABCDEF";
        std::size_t d = hex.find(h);
        if (d == std::string_view::npos) d = upper.find(h);
        if (d == std::string_view::npos) return false;
        u = u * 16 + static_cast<std::uint32_t>(d);
      }
      units.push_back(0x10000 + u);
    }
  }
  bool value(int depth) {
    ws();
    const char c = at();
    if (c == '{' || c == '[') {
      if (depth > json_reader::max_depth) return false;
      ++i_;
      ws();
      const char close = c == '{' ? '}' : ']';
      if (at() == close) return ++i_, true;
      std::vector<std::u32string> keys;
      while (true) {
        ws();
        if (c == '{') {
          std::u32string key;
          if (!string(key)) return false;
          keys.push_back(key);
          ws();
          if (at() != ':') return false;
          ++i_;
        }
        if (!value(depth + 1)) return false;
        ws();
        if (at() == close) break;
        if (at() != ',') return false;
        ++i_;
      }
      ++i_;
      // Keys equal as json_reader decodes them: compare their UTF-8.
      std::vector<std::string> bytes;
      for (const auto& k : keys) bytes.push_back(utf8(k));
      for (std::size_t a = 0; a < bytes.size(); ++a)
        for (std::size_t b = a + 1; b < bytes.size(); ++b)
          if (bytes[a] == bytes[b]) return false;
      return true;
    }
    if (c == '"') {
      std::u32string ignored;
      return string(ignored);
    }
    if (c == '-' || digit(c)) return number() && !(digit(at()));
    return word("true") || word("false") || word("null");
  }
  // Units to bytes: \u surrogate pairs joined, lone ones as 3 bytes.
  static std::string utf8(const std::u32string& units) {
    std::string out;
    for (std::size_t k = 0; k < units.size(); ++k) {
      std::uint32_t u = units[k];
      if (u < 0x10000) {
        out.push_back(static_cast<char>(u));
        continue;
      }
      u -= 0x10000;
      if (u >= 0xD800 && u < 0xDC00 && k + 1 < units.size() && units[k + 1] >= 0x10000 + 0xDC00 &&
          units[k + 1] < 0x10000 + 0xE000)
        u = 0x10000 + ((u - 0xD800) << 10) + (units[++k] - 0x10000 - 0xDC00);
      if (u < 0x80) {
        out.push_back(static_cast<char>(u));
      } else if (u < 0x800) {
        out += {static_cast<char>(0xC0 | (u >> 6)), static_cast<char>(0x80 | (u & 0x3F))};
      } else if (u < 0x10000) {
        out += {static_cast<char>(0xE0 | (u >> 12)), static_cast<char>(0x80 | ((u >> 6) & 0x3F)),
                static_cast<char>(0x80 | (u & 0x3F))};
      } else {
        out += {static_cast<char>(0xF0 | (u >> 18)), static_cast<char>(0x80 | ((u >> 12) & 0x3F)),
                static_cast<char>(0x80 | ((u >> 6) & 0x3F)), static_cast<char>(0x80 | (u & 0x3F))};
      }
    }
    return out;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

void check_numbers(const json_value& v) {
  if (v.type == json_value::kind::number) {
    bool plain = v.text.size() <= 20;
    for (char c : v.text) plain = plain && c >= '0' && c <= '9';
    if (plain && v.text.size() == 20) plain = v.text <= "18446744073709551615";
    try {
      const std::uint64_t n = eqinfo::detail::json_uint(&v, "n", eqinfo::errc::corrupt_stream, "<fuzz>");
      EQINFO_FUZZ_CHECK(plain && std::to_string(n) == v.text);
    } catch (const eqinfo::error& e) {
      EQINFO_FUZZ_CHECK(!plain && e.code() == eqinfo::errc::corrupt_stream);
    }
  }
  for (const auto& item : v.items) check_numbers(item);
  for (const auto& m : v.members) check_numbers(m.value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = recogniser(text).text();
  json_value v;
  try {
    v = json_reader(text, "<fuzz>", eqinfo::errc::bad_model_file).parse();
  } catch (const eqinfo::error& e) {
    EQINFO_FUZZ_CHECK(!valid);
    EQINFO_FUZZ_CHECK(e.code() == eqinfo::errc::bad_model_file);
    const std::string what = e.what();
    const std::string_view prefix = "<fuzz>: invalid JSON at offset ";
    const std::size_t at = what.find(prefix);
    EQINFO_FUZZ_CHECK(at != std::string::npos);
    std::size_t offset = 0, line = 0, column = 0;
    EQINFO_FUZZ_CHECK(
        std::sscanf(what.c_str() + at + prefix.size(), "%zu (line %zu, column %zu): ", &offset, &line, &column) == 3);
    EQINFO_FUZZ_CHECK(offset <= size);
    const std::string_view before = text.substr(0, offset);
    std::size_t lines = 1;
    for (char c : before) lines += c == '\n';
    const std::size_t line_start = before.rfind('\n');
    EQINFO_FUZZ_CHECK(line == lines);
    EQINFO_FUZZ_CHECK(column == offset - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1);
    return 0;
  }
  EQINFO_FUZZ_CHECK(valid);
  check_numbers(v);
  const std::string written = eqinfo::detail::json_write(v);
  const json_value again = json_reader(written, "<written>", eqinfo::errc::bad_model_file).parse();
  EQINFO_FUZZ_CHECK(eqinfo::detail::json_write(again) == written);
  return 0;
}
