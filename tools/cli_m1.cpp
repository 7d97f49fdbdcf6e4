// SPDX-License-Identifier: MIT
// The eqinfo tool's M1 model-file commands: m1-random, m1-seal, m1-quantize
// and m1-dump.

#include "cli_common.hpp"

#include <eqinfo/transformer.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace eqinfo::cli {
namespace {

// Self-test vectors of a model: built-in texts and binary, plus the first
// 4 KiB of each --input file, under EqualInfoAC[b=16, N=16] and plain AC.
std::vector<eqinfo::m1_self_test> seal_tests(const parsed_args& a,
                                             std::shared_ptr<const eqinfo::transformer_weights> weights) {
  std::vector<std::vector<std::uint8_t>> inputs;
  for (const char* text : {"", "a", "Hello, world!", "The quick brown fox jumps over the lazy dog.\n",
                           "eqinfo: arithmetic coding with equal-info windows; M1 self-test 0123456789"})
    inputs.emplace_back(text, text + std::strlen(text));
  std::vector<std::uint8_t> binary;
  for (unsigned i = 0; i < 48; ++i) binary.push_back(static_cast<std::uint8_t>(i * 37 + 11));
  inputs.push_back(std::move(binary));
  if (auto files = a.lists.find("input"); files != a.lists.end())
    for (const std::string& f : files->second) {
      bytes_t bytes = read_input(f);
      if (bytes.size() > 4096) bytes.resize(4096);
      inputs.push_back(std::move(bytes));
    }
  eqinfo::settings equal_info;  // EqualInfoAC b=16 N=16 P=16, rule delay
  equal_info.kind = eqinfo::method::equal_info_ac;
  equal_info.window_bits = 16;
  equal_info.token_bits = 16;
  equal_info.precision_bits = 16;
  equal_info.rule = eqinfo::window_rule::delay;
  eqinfo::settings ac;
  ac.kind = eqinfo::method::ac;
  ac.token_bits = 16;
  ac.precision_bits = 16;
  return eqinfo::make_m1_self_tests(std::move(weights), inputs, {equal_info, ac});
}

int write_sealed(const parsed_args& a, std::shared_ptr<const eqinfo::transformer_weights> weights) {
  const auto tests = seal_tests(a, weights);
  const auto bytes = eqinfo::serialize_m1(*weights, tests);
  const std::string out = *a.get("output");
  write_output(out, as_bytes(bytes));
  const eqinfo::m1_file file = eqinfo::parse_m1(bytes, "<sealed>", false);
  std::size_t tokens = 0;
  for (const auto& t : tests) tokens += t.tokens.size();
  std::fprintf(stderr, "eqinfo: wrote %s: %zu self-test vectors (%zu tokens), fingerprint %s\n",
               is_stdio(out) ? "<stdout>" : out.c_str(), tests.size(), tokens,
               eqinfo::detail::hex32(file.fingerprint).c_str());
  return 0;
}

/// The bytes of the M1 model file at `path` (a usage error if it is not one).
bytes_t read_m1_bytes(const std::string& command, const std::string& path) {
  bytes_t data = read_input(path);
  if (!eqinfo::is_m1_file(data)) usage(command, display_name(path) + " is not an M1 model file (safetensors)");
  return data;
}

/// m1-seal and m1-quantize: MODEL -o OUT; the bytes of MODEL.
bytes_t model_to_rewrite(const parsed_args& a) {
  if (a.positional.size() != 1) usage(a.command, "give exactly one MODEL file");
  if (!a.has("output")) usage(a.command, "no output file: give -o OUT");
  return read_m1_bytes(a.command, a.positional[0]);
}

}  // namespace

int run_m1_random(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (!a.positional.empty()) usage(cmd, "unexpected argument '" + a.positional[0] + "'");
  if (!a.has("output")) usage(cmd, "no output file: give -o OUT");
  eqinfo::transformer_config c;
  const std::pair<const char*, unsigned*> fields[] = {{"layers", &c.layers}, {"d-model", &c.d_model},
                                                      {"heads", &c.heads},   {"head-dim", &c.head_dim},
                                                      {"d-ff", &c.d_ff},     {"context", &c.context}};
  for (const auto& [option, value] : fields)
    if (auto v = a.number(option)) *value = static_cast<unsigned>(*v);
  const std::uint64_t seed = *a.number("seed");
  const auto weights = eqinfo::transformer_weights::random(c, seed);
  const std::string out = *a.get("output");
  const auto bytes = eqinfo::serialize_m1(weights);
  write_output(out, as_bytes(bytes));
  const eqinfo::m1_file file = eqinfo::parse_m1(bytes, "<m1-random>", false);
  std::fprintf(stderr, "eqinfo: wrote %s: M1 %s, random weights (seed %llu), %zu bytes, fingerprint %s\n",
               is_stdio(out) ? "<stdout>" : out.c_str(), c.to_json().c_str(), static_cast<unsigned long long>(seed),
               bytes.size(), eqinfo::detail::hex32(file.fingerprint).c_str());
  note("the file has no self-test vectors; add them with 'eqinfo m1-seal'");
  return 0;
}

int run_m1_seal(const parsed_args& a) {
  const bytes_t data = model_to_rewrite(a);
  const std::string path = display_name(a.positional[0]);
  // Its old self-tests are being replaced: do not run them.
  const eqinfo::m1_file file = eqinfo::parse_m1(std::span<const unsigned char>(data.data(), data.size()), path, false);
  return write_sealed(a, file.weights);
}

int run_m1_quantize(const parsed_args& a) {
  const bytes_t data = model_to_rewrite(a);
  auto weights = std::make_shared<const eqinfo::transformer_weights>(eqinfo::quantize_m1_file(
      std::span<const unsigned char>(data.data(), data.size()), display_name(a.positional[0])));
  return write_sealed(a, std::move(weights));
}

int run_m1_dump(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (a.positional.size() != 3) usage(cmd, "give MODEL INPUT OUT");
  const auto precision = static_cast<unsigned>(a.number("precision").value_or(eqinfo::settings{}.precision_bits));
  const std::string& model_path = a.positional[0];
  const bytes_t data = read_m1_bytes(cmd, model_path);
  const eqinfo::m1_file file =
      eqinfo::parse_m1(std::span<const unsigned char>(data.data(), data.size()), display_name(model_path));
  const bytes_t input = read_input(a.positional[1]);
  eqinfo::m1_model model = file.model(precision);
  model.reset();
  std::vector<eqinfo::cdf_table> cdfs(input.size());
  model.predict_run(std::span<const std::uint8_t>(input.data(), input.size()), cdfs);
  std::vector<unsigned char> out;
  out.reserve(input.size() * 257 * 4);
  for (const auto& cdf : cdfs)
    for (std::uint32_t v : cdf) eqinfo::detail::put_le(out, v, 4);
  write_output(a.positional[2], as_bytes(out));
  return 0;
}

}  // namespace eqinfo::cli
