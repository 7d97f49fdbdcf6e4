// SPDX-License-Identifier: MIT
// The strict JSON reader (eqinfo/detail/json.hpp): what RFC 8259 allows is
// read, everything else is refused with a message naming the problem, the
// byte offset, the line and the column; json_uint; json_write round trips.
#include <catch2/catch.hpp>

#include <eqinfo/detail/json.hpp>
#include <eqinfo/m1_config.hpp>

#include <cstdint>
#include <string>
#include <string_view>

using eqinfo::errc;
using eqinfo::detail::json_reader;
using eqinfo::detail::json_value;

namespace {

json_value parse(std::string_view text) { return json_reader(text, "t.json", errc::corrupt_stream).parse(); }

/// The message of the error parsing `text` throws ("" if it parses).
std::string refusal(std::string_view text) {
  try {
    parse(text);
  } catch (const eqinfo::error& e) {
    CHECK(e.code() == errc::corrupt_stream);
    return e.what();
  }
  return "";
}

struct refused {
  std::string_view text;
  std::size_t offset, line, column;
  std::string_view why;
};

}  // namespace

TEST_CASE("JSON: every value kind, number form and escape RFC 8259 allows is read", "[json]") {
  const json_value v =
      parse(" {\"a\": [true, false, null, {}, [], \"\"],\r\n\t\"n\": -0.5e+3, \"s\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\"} ");
  REQUIRE(v.type == json_value::kind::object);
  REQUIRE(v.members.size() == 3);
  const json_value& a = *v.find("a");
  REQUIRE(a.items.size() == 6);
  CHECK(a.items[0].type == json_value::kind::boolean);
  CHECK(a.items[0].boolean);
  CHECK_FALSE(a.items[1].boolean);
  CHECK(a.items[2].type == json_value::kind::null);
  CHECK(a.items[3].type == json_value::kind::object);
  CHECK(a.items[4].type == json_value::kind::array);
  CHECK(a.items[5].type == json_value::kind::string);
  CHECK(v.find("n")->text == "-0.5e+3");
  CHECK(v.find("s")->text == "\"\\/\b\f\n\r\t");
  for (const char* n : {"0", "-0", "7", "10", "-12", "0.5", "1.25", "1e5", "1E5", "1e+5", "1e-05", "-0.0e0",
                        "123456789012345678901234567890"}) {
    const json_value x = parse(n);
    CHECK(x.type == json_value::kind::number);
    CHECK(x.text == n);
  }
  CHECK(parse("\"\x7f\xff\xfe raw bytes\"").text == "\x7f\xff\xfe raw bytes");  // kept as they are
  CHECK(parse("\"\\u00E9\\u00e9\"").text == "\xc3\xa9\xc3\xa9");                // either hex case
}

TEST_CASE("JSON: each kind of malformed text is refused, naming the problem, offset, line and column", "[json]") {
  const refused cases[] = {
      // numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
      {"007", 1, 1, 2, "leading zero in a number"},
      {"-01", 2, 1, 3, "leading zero in a number"},
      {"[00]", 2, 1, 3, "leading zero in a number"},
      {"1.2.3", 3, 1, 4, "unexpected '.' after the number 1.2"},
      {"1e5e5", 3, 1, 4, "unexpected 'e' after the number 1e5"},
      {"0x10", 1, 1, 2, "unexpected 'x' after the number 0"},
      {"[1-2]", 2, 1, 3, "unexpected '-' after the number 1"},
      {"1.", 2, 1, 3, "unexpected end of input in a number, expected a digit after '.'"},
      {"1.e5", 2, 1, 3, "unexpected 'e' in a number, expected a digit after '.'"},
      {".5", 0, 1, 1, "unexpected '.', expected a value"},
      {"-", 1, 1, 2, "unexpected end of input in a number, expected a digit after '-'"},
      {"-a", 1, 1, 2, "unexpected 'a' in a number, expected a digit after '-'"},
      {"+1", 0, 1, 1, "unexpected '+', expected a value"},
      {"1e", 2, 1, 3, "unexpected end of input in a number, expected a digit in the exponent"},
      {"1E+", 3, 1, 4, "unexpected end of input in a number, expected a digit in the exponent"},
      {"NaN", 0, 1, 1, "unexpected 'N', expected a value"},
      {"-Infinity", 1, 1, 2, "unexpected 'I' in a number, expected a digit after '-'"},
      // trailing commas, missing separators
      {"[1,]", 3, 1, 4, "trailing comma before ']'"},
      {"[1, \n ]", 6, 2, 2, "trailing comma before ']'"},
      {"{\"a\": 1,}", 8, 1, 9, "trailing comma before '}'"},
      {"[,1]", 1, 1, 2, "unexpected ',', expected a value"},
      {"[1 2]", 3, 1, 4, "unexpected '2' in an array, expected ',' or ']'"},
      {"{\"a\" 1}", 5, 1, 6, "unexpected '1' after an object key, expected ':'"},
      {"{\"a\": 1 \"b\": 2}", 8, 1, 9, "unexpected '\"' in an object, expected ',' or '}'"},
      {"{a: 1}", 1, 1, 2, "unexpected 'a' in an object, expected a string key"},
      {"[1", 2, 1, 3, "unexpected end of input in an array, expected ',' or ']'"},
      // strings
      {"\"a\tb\"", 2, 1, 3, "raw control character (byte 0x09) in a string"},
      {"\"line\nbreak\"", 5, 1, 6, "raw control character (byte 0x0a) in a string"},
      {"[\"\\x\"]", 2, 1, 3, "invalid escape \\x in a string"},
      {"\"\\'\"", 1, 1, 2, "invalid escape \\' in a string"},
      {"\"\\u12\"", 1, 1, 2, "\\u escape without four hex digits"},
      {"\"\\u12G4\"", 1, 1, 2, "\\u escape without four hex digits"},
      {"\"\\u+123\"", 1, 1, 2, "\\u escape without four hex digits"},
      {"\"\\ud83d\\u12\"", 7, 1, 8, "\\u escape without four hex digits"},
      {"\"abc", 4, 1, 5, "unterminated string"},
      {"\"abc\\", 5, 1, 6, "unterminated string"},
      // repeated keys (also when only the escapes differ)
      {"{\"a\": 1, \"a\": 2}", 9, 1, 10, "repeated key \"a\" in an object"},
      {"{\"b\": 0, \"\\u0061\": 1, \"c\": 2, \"a\": 2}", 30, 1, 31, "repeated key \"a\" in an object"},
      // what follows the value; literals; empty input
      {"{} x", 3, 1, 4, "unexpected text after the JSON value"},
      {"{}\n\n  x", 6, 3, 3, "unexpected text after the JSON value"},
      {"1 2", 2, 1, 3, "unexpected text after the JSON value"},
      {"truex", 4, 1, 5, "unexpected text after the JSON value"},
      {"tru", 0, 1, 1, "unexpected 't', expected a value"},
      {"nul", 0, 1, 1, "unexpected 'n', expected a value"},
      {"", 0, 1, 1, "unexpected end of input, expected a value"},
      {" \n ", 3, 2, 2, "unexpected end of input, expected a value"},
      {"\xef\xbb\xbf{}", 0, 1, 1, "unexpected byte 0xef, expected a value"},  // a byte order mark
      {"\f1", 0, 1, 1, "unexpected byte 0x0c, expected a value"},             // not JSON whitespace
  };
  for (const refused& c : cases) {
    INFO(c.text);
    const std::string what = refusal(c.text);
    CHECK(what == "[eqinfo.stream.corrupt_stream] t.json: invalid JSON at offset " + std::to_string(c.offset) +
                      " (line " + std::to_string(c.line) + ", column " + std::to_string(c.column) +
                      "): " + std::string(c.why));
  }
}

TEST_CASE("JSON: containers nest at most max_depth deep, deeper input cannot overflow the stack", "[json]") {
  constexpr auto d = static_cast<std::size_t>(json_reader::max_depth);
  CHECK_NOTHROW(parse(std::string(d, '[') + std::string(d, ']')));
  CHECK(refusal(std::string(d + 1, '[') + std::string(d + 1, ']')) ==
        "[eqinfo.stream.corrupt_stream] t.json: invalid JSON at offset " + std::to_string(d) + " (line 1, column " +
            std::to_string(d + 1) + "): nested deeper than 64 arrays and objects");
  std::string objects;
  for (std::size_t i = 0; i <= d; ++i) objects += "{\"k\":";
  CHECK(refusal(objects).find("nested deeper than 64 arrays and objects") != std::string::npos);
  CHECK(refusal(std::string(1000000, '[')).find("nested deeper") != std::string::npos);
}

TEST_CASE("JSON: json_uint reads exactly the integers below 2^64", "[json]") {
  auto uint_of = [](std::string_view text) {
    const json_value v = parse(text);
    return eqinfo::detail::json_uint(&v, "n", errc::bad_model_file, "t.json");
  };
  CHECK(uint_of("0") == 0);
  CHECK(uint_of("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"18446744073709551616", "99999999999999999999", "-1", "-0", "1.0", "1e3", "\"1\""}) {
    INFO(bad);
    try {
      uint_of(bad);
      FAIL("accepted");
    } catch (const eqinfo::error& e) {
      CHECK(e.code() == errc::bad_model_file);
    }
  }
  CHECK_THROWS_AS(eqinfo::detail::json_uint(nullptr, "n", errc::bad_model_file, "t.json"), eqinfo::error);
}

TEST_CASE("JSON: json_write gives text that reads back as the same value", "[json]") {
  const std::string text =
      "{\"k\\\"ey\": [1, -2.5e3, \"tab\\t nul\\u0000 \\ud83d\\ude00 lone \\udc80 raw \xff\", {\"x\": null}],"
      " \"b\": [true, false], \"e\": {}}";
  const json_value v = parse(text);
  const std::string written = eqinfo::detail::json_write(v);
  CHECK(written ==
        "{\"k\\\"ey\":[1,-2.5e3,\"tab\\u0009 nul\\u0000 \xf0\x9f\x98\x80 lone \xed\xb2\x80 raw \xff\",{\"x\":null}],"
        "\"b\":[true,false],\"e\":{}}");
  CHECK(eqinfo::detail::json_write(parse(written)) == written);
}

TEST_CASE("JSON: an M1 config written by to_json is read back by the strict reader", "[json]") {
  eqinfo::transformer_config c;
  c.norm_epsilon = 1e-6f;
  const eqinfo::transformer_config back = eqinfo::transformer_config::from_json(c.to_json(), "m.eqm");
  CHECK(back.to_json() == c.to_json());
  CHECK(back.norm_epsilon == c.norm_epsilon);
}
