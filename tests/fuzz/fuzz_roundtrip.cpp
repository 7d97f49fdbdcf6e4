// SPDX-License-Identifier: MIT
// Fuzz target: every input round-trips through every row of the settings
// table (eqinfo_fuzz::configs()).
//
// Asserts, for each row and the whole input x:
//   * decode(encode(x)) == x, and the byte count is |x|;
//   * the tokens are in range and (equal-info) whole windows;
//   * bare decoding agrees with x as docs/format.md section 6 says: for AC,
//     x is a prefix of the bare bytes; for equal-info, all windows but the
//     last decode bare to exactly a proper prefix p of x, and the bare bytes
//     of all windows start with p plus at least one more byte of x (the
//     whole result is a prefix of x under the delay rule).
#include "fuzz_common.hpp"

#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

/// Length of the common prefix of a and b.
std::size_t common_prefix(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  const auto n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 2048) return 0;  // longer inputs only repeat what shorter ones test, slower
  const std::span<const std::uint8_t> x(data, size);
  for (const eqinfo_fuzz::config& c : eqinfo_fuzz::configs()) {
    eqinfo_fuzz::with_tokenizer(c, [&](auto& tok) {
      const eqinfo::settings& s = c.settings;
      const eqinfo::encoded e = tok.encode(x);
      EQINFO_FUZZ_CHECK(e.byte_count == size);
      EQINFO_FUZZ_CHECK(e.tokens.empty() == (size == 0));
      for (eqinfo::token_t t : e.tokens) EQINFO_FUZZ_CHECK(t < (std::uint64_t{1} << s.token_bits));
      const std::vector<std::uint8_t> back = tok.decode(e.tokens, e.byte_count);
      EQINFO_FUZZ_CHECK(back.size() == size && std::equal(back.begin(), back.end(), x.begin()));

      const std::vector<std::uint8_t> bare = tok.decode_bare(e.tokens);
      switch (s.kind) {
        case eqinfo::method::bytes: EQINFO_FUZZ_CHECK(bare == back); break;
        case eqinfo::method::ac: EQINFO_FUZZ_CHECK(common_prefix(bare, x) == size); break;
        case eqinfo::method::equal_info_ac: {
          const std::size_t per = s.tokens_per_window();
          EQINFO_FUZZ_CHECK(e.tokens.size() % per == 0);
          if (e.tokens.empty()) break;
          const auto head = std::span<const eqinfo::token_t>(e.tokens).first(e.tokens.size() - per);
          const std::vector<std::uint8_t> p = tok.decode_bare(head);
          EQINFO_FUZZ_CHECK(p.size() < size && common_prefix(p, x) == p.size());
          EQINFO_FUZZ_CHECK(bare.size() > p.size() && common_prefix(bare, x) > p.size());
          if (s.rule == eqinfo::window_rule::delay) EQINFO_FUZZ_CHECK(common_prefix(bare, x) == bare.size());
          break;
        }
      }
    });
  }
  return 0;
}
