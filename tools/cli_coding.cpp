// SPDX-License-Identifier: MIT
// The eqinfo tool's coding commands: encode, decode and stats (options and
// help: cli_options.hpp, cli_help.inc).

#include "cli_common.hpp"

#include <eqinfo/detail/json.hpp>
#include <eqinfo/parallel.hpp>
#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace eqinfo::cli {
namespace {

// ---------------------------------------------------------------------------
// encode

/// Settings as command-line options (what decoding raw/npy tokens needs).
std::string settings_options(const eqinfo::settings& s, bool unigram) {
  std::string out = "--method " + method_name(s, unigram);
  if (s.kind == eqinfo::method::bytes) return out;
  if (s.kind == eqinfo::method::equal_info_ac) out += " -b " + std::to_string(s.window_bits);
  out += " -N " + std::to_string(s.token_bits) + " -P " + std::to_string(s.precision_bits);
  if (s.kind == eqinfo::method::equal_info_ac)
    out += " --rule " + rule_name(s.rule) + " --segment-bytes " + std::to_string(s.segment_bytes);
  return out;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=+,:@%") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

enum class token_format { eqt, raw, npy };

token_format parse_format(const std::string& command, const std::string& f) {
  if (f == "eqt") return token_format::eqt;
  if (f == "raw") return token_format::raw;
  if (f == "npy") return token_format::npy;
  usage(command, "unknown format '" + f + "' (use eqt, raw or npy)");
}

std::string dtype_name(unsigned token_bits) {
  const unsigned width = eqinfo::token_storage_bytes(token_bits);
  return width == 1 ? "uint8" : width == 2 ? "uint16 little-endian" : "uint32 little-endian";
}

/// Index of the first difference, or nullopt if equal.
std::optional<std::size_t> first_difference(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return i;
  if (a.size() != b.size()) return n;
  return std::nullopt;
}
/// threads (parallel.hpp: the same bytes and errors) unless threads == 1.
template <class Tokenizer>
bytes_t decode_tokens(Tokenizer& tok, std::span<const eqinfo::token_t> tokens, std::optional<std::uint64_t> byte_count,
                      unsigned threads) {
  if (threads != 1 && tok.config().kind == eqinfo::method::equal_info_ac)
    return eqinfo::decode_windows_parallel(tok, tokens, byte_count, threads);
  return byte_count ? tok.decode(tokens, *byte_count) : tok.decode_bare(tokens);
}

}  // namespace

int run_encode(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (a.positional.size() > 1) usage(cmd, "one input file at most (got " + std::to_string(a.positional.size()) + ")");
  const std::string in_path = a.positional.empty() ? "-" : a.positional[0];
  const std::string out_path = a.get("output").value_or("-");
  const token_format format = parse_format(cmd, a.get("format").value_or("eqt"));
  const unsigned threads = parse_threads(a);
  if (is_stdio(out_path) && isatty(STDOUT_FILENO))
    usage(cmd, "refusing to write binary tokens to a terminal; use -o FILE or a pipe");

  const model_option model = load_model(a);
  const chosen c = settings_from_args(cmd, a, model);
  const eqinfo::settings& s = c.config;
  model_notes(s, model, a);
  const bytes_t input = read_input(in_path);

  std::vector<unsigned char> output;
  std::size_t token_count = 0;
  with_tokenizer(s, model, [&](auto& tok, std::string_view model_name) {
    progress_report progress(a.has("progress"), "encoding", "encoded", display_name(in_path), input.size());
    eqinfo::encoded e = progress.watch(tok, [&] {
      const std::span<const std::uint8_t> bytes(input);
      return threads != 1 ? eqinfo::encode_parallel(tok, bytes, threads) : tok.encode(bytes);
    });
    token_count = e.tokens.size();
    progress.finish(std::to_string(token_count) + " tokens");
    switch (format) {
      case token_format::eqt: output = eqinfo::serialize_token_file(eqinfo::make_token_file(tok, std::move(e))); break;
      case token_format::raw: output = eqinfo::serialize_tokens_raw(e.tokens, s.token_bits); break;
      case token_format::npy: output = eqinfo::serialize_tokens_npy(e.tokens, s.token_bits); break;
    }
    if (!a.has("verify")) return;
    bytes_t decoded;
    try {
      switch (format) {
        case token_format::eqt: {
          const eqinfo::token_file f = eqinfo::parse_token_file(output, "<verify>");
          eqinfo::check_token_file(tok, f);
          decoded = decode_tokens(tok, f.tokens, f.byte_count, threads);
          break;
        }
        case token_format::raw:
          decoded =
              decode_tokens(tok, eqinfo::parse_tokens_raw(output, s.token_bits, "<verify>"), input.size(), threads);
          break;
        case token_format::npy:
          decoded =
              decode_tokens(tok, eqinfo::parse_tokens_npy(output, s.token_bits, "<verify>"), input.size(), threads);
          break;
      }
    } catch (const eqinfo::error& err) {
      throw eqinfo::error(err.code(),
                          std::string("verification failed (") + describe(s, model_name) + "): " + err.what());
    }
    if (auto at = first_difference(decoded, input))
      throw eqinfo::error(eqinfo::errc::corrupt_stream, "verification failed (" + describe(s, model_name) +
                                                            "): decoded " + std::to_string(decoded.size()) +
                                                            " bytes differ from the " + std::to_string(input.size()) +
                                                            " input bytes at byte " + std::to_string(*at));
    std::fprintf(stderr, "verified: %zu bytes round-trip\n", input.size());
  });

  write_output(out_path, as_bytes(output));
  if (format != token_format::eqt) {
    std::string decode_cmd = "eqinfo decode --format " + std::string(format == token_format::raw ? "raw" : "npy") +
                             " " + settings_options(s, c.static_ac);
    if (s.kind != eqinfo::method::bytes) decode_cmd += " --model " + shell_quote(model.path);
    decode_cmd += " --bytes " + std::to_string(input.size()) + " " +
                  (is_stdio(out_path) ? std::string("TOKENS") : shell_quote(out_path));
    std::fprintf(stderr, "eqinfo: wrote %zu tokens (%s) for %zu bytes; the file holds no settings.\n", token_count,
                 dtype_name(s.token_bits).c_str(), input.size());
    std::fprintf(stderr, "eqinfo: to decode: %s\n", decode_cmd.c_str());
  }
  return 0;
}

// ---------------------------------------------------------------------------
// decode

int run_decode(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (a.positional.size() > 1) usage(cmd, "one input file at most (got " + std::to_string(a.positional.size()) + ")");
  const std::string in_path = a.positional.empty() ? "-" : a.positional[0];
  const std::string name = display_name(in_path);
  const std::string out_path = a.get("output").value_or("-");
  if (is_stdio(in_path) && isatty(STDIN_FILENO)) usage(cmd, "no input: give a token file or pipe tokens in");
  const bool bare = a.has("bare");
  const unsigned threads = parse_threads(a);
  const std::optional<std::uint64_t> byte_count = a.number("bytes");
  if (bare && byte_count) usage(cmd, "--bytes and --bare exclude each other");
  std::optional<token_format> format;
  if (auto f = a.get("format")) format = parse_format(cmd, *f);

  const model_option model = load_model(a);
  const bytes_t data = read_input(in_path);
  if (!format) {
    if (data.size() >= 8 && std::memcmp(data.data(), "EQINFOTK", 8) == 0)
      format = token_format::eqt;
    else if (data.size() >= 6 && std::memcmp(data.data(), "\x93NUMPY", 6) == 0)
      format = token_format::npy;
    else if (data.size() < 8)
      throw eqinfo::error(eqinfo::errc::truncated_tokens,
                          name + ": truncated: " + std::to_string(data.size()) +
                              " bytes is too short for an .eqt file (give --format raw for raw tokens)");
    else
      usage(cmd, name + " is neither an .eqt nor an .npy file; for raw tokens give --format raw and the settings");
  }

  bytes_t output;
  if (*format == token_format::eqt) {
    if (byte_count) usage(cmd, "--bytes is only for --format raw or npy (an .eqt file records its byte count)");
    const eqinfo::token_file file = eqinfo::parse_token_file(data, name);
    // The file's settings, overridden by any given explicitly (which
    // check_token_file then compares with the file's).
    const eqinfo::settings s = settings_from_args(cmd, a, model, file.config).config;
    if (s.kind != eqinfo::method::bytes && !model.given() &&
        file.model_fingerprint != eqinfo::uniform_model(s.precision_bits).fingerprint())
      throw eqinfo::error(eqinfo::errc::settings_mismatch,
                          name + ": the tokens were made with the model with fingerprint " +
                              eqinfo::detail::hex32(file.model_fingerprint) +
                              ", not the uniform model; give that model with --model FILE");
    with_tokenizer(s, model, [&](auto& tok, std::string_view) {
      eqinfo::check_token_file(tok, file);
      progress_report progress(a.has("progress"), "decoding", "decoded", name, file.byte_count);
      output = progress.watch(tok, [&] {
        return decode_tokens(tok, file.tokens, bare ? std::nullopt : std::optional(file.byte_count), threads);
      });
      progress.finish(std::to_string(output.size()) + " bytes");
    });
  } else {
    if (!bare && !byte_count)
      usage(cmd, "raw and npy tokens need --bytes COUNT (printed by 'eqinfo encode') or --bare");
    const chosen c = settings_from_args(cmd, a, model);
    const eqinfo::settings& s = c.config;
    model_notes(s, model, a);
    const auto tokens = *format == token_format::raw ? eqinfo::parse_tokens_raw(data, s.token_bits, name)
                                                     : eqinfo::parse_tokens_npy(data, s.token_bits, name);
    with_tokenizer(s, model, [&](auto& tok, std::string_view) {
      progress_report progress(a.has("progress"), "decoding", "decoded", name, bare ? data.size() : *byte_count);
      output = progress.watch(tok, [&] { return decode_tokens(tok, tokens, byte_count, threads); });
      progress.finish(std::to_string(output.size()) + " bytes");
    });
  }
  write_output(out_path, output);
  return 0;
}

// ---------------------------------------------------------------------------
// stats

namespace {

struct measurement {
  std::string label;  // method and settings
  std::string model;
  eqinfo::settings config;
  std::uint64_t bytes = 0;
  std::uint64_t tokens = 0;
};

/// Encodes `input` (unless `tokens` is already known) and describes the result.
measurement measure(const eqinfo::settings& s, bool static_ac, const model_option& model, const bytes_t& input,
                    std::optional<std::uint64_t> tokens = std::nullopt) {
  measurement m;
  m.config = s;
  m.bytes = input.size();
  with_tokenizer(s, model, [&](auto& tok, std::string_view model_name) {
    m.model = model_name;
    m.tokens = tokens ? *tokens : tok.encode(std::span<const std::uint8_t>(input)).tokens.size();
  });
  m.label = method_name(s, static_ac && model.unigram);
  if (s.kind == eqinfo::method::equal_info_ac)
    m.label += " b=" + std::to_string(s.window_bits) + " N=" + std::to_string(s.token_bits);
  else if (s.kind == eqinfo::method::ac)
    m.label += " N=" + std::to_string(s.token_bits);
  else
    m.label += " N=8";
  return m;
}

/// One row of numbers: tokens, bytes/token, bits/byte, windows, bytes/window.
std::vector<std::string> numbers(const measurement& m) {
  const double b = static_cast<double>(m.bytes), t = static_cast<double>(m.tokens);
  std::vector<std::string> row = {std::to_string(m.bytes), std::to_string(m.tokens), m.tokens ? fixed(b / t, 3) : "-",
                                  m.bytes ? fixed(t * m.config.token_bits / b, 3) : "-"};
  if (m.config.kind == eqinfo::method::equal_info_ac) {
    const std::uint64_t windows = m.tokens / m.config.tokens_per_window();
    row.push_back(std::to_string(windows));
    row.push_back(windows ? fixed(b / static_cast<double>(windows), 2) : "-");
  } else {
    row.push_back("-");
    row.push_back("-");
  }
  return row;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::size_t pad = width[i] - r[i].size();
      if (i == 0)
        line += r[i] + std::string(pad, ' ');  // names left-aligned
      else
        line += "  " + std::string(pad, ' ') + r[i];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace

int run_stats(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (a.positional.empty()) usage(cmd, "no input files");
  const unsigned threads = parse_threads(a);
  const model_option model = load_model(a);
  const chosen c = settings_from_args(cmd, a, model);
  const bool all = a.has("all");
  if (all && (a.has("method") || a.has("window-bits") || a.has("token-bits")))
    usage(cmd, "--all chooses the methods, -b and -N itself; give only -P, --rule or --model with it");
  if (!all) model_notes(c.config, model, a);

  // The configurations to measure.
  std::vector<std::pair<eqinfo::settings, bool>> configs;  // settings, static-ac
  if (!all) {
    configs.emplace_back(c.config, c.static_ac);
  } else {
    const unsigned p = c.config.precision_bits;
    eqinfo::settings s;
    s.kind = eqinfo::method::bytes;
    s.token_bits = 8;
    configs.emplace_back(s, false);
    s = eqinfo::settings{};
    s.kind = eqinfo::method::ac;
    s.precision_bits = p;
    configs.emplace_back(s, false);                    // with the uniform model, see below
    if (model.given()) configs.emplace_back(s, true);  // static-ac, or ac with M1
    for (unsigned b : {16u, 32u, 64u, 128u})
      for (unsigned n : {16u, 8u}) {
        eqinfo::settings e;
        e.kind = eqinfo::method::equal_info_ac;
        e.window_bits = b;
        e.token_bits = n;
        e.precision_bits = p;
        e.rule = c.config.rule;
        if (b % n == 0 && b >= p) configs.emplace_back(e, false);
      }
  }
  const model_option no_model;
  // In --all, plain 'ac' is the uniform-model baseline; static-ac (or ac with
  // M1) and equal-info use --model when given.
  auto model_for = [&](std::size_t i) -> const model_option& {
    const auto& [s, static_ac] = configs[i];
    return all && s.kind == eqinfo::method::ac && !static_ac ? no_model : model;
  };

  // --threads: every (file, configuration) encoding at once, in parallel
  // (all files in memory); otherwise file by file.
  std::vector<bytes_t> inputs;
  std::vector<std::uint64_t> token_counts;  // [file * configs.size() + config]
  if (threads != 1) {
    for (const std::string& path : a.positional) inputs.push_back(read_input(path));
    // The library's loop: the first error in (file, configuration) order, whatever the threads.
    token_counts = eqinfo::detail::parallel::for_each_item<std::uint64_t>(
        inputs.size() * configs.size(), threads, [&](std::size_t k) {
          const std::size_t i = k % configs.size();
          std::uint64_t count = 0;
          with_tokenizer(configs[i].first, model_for(i), [&](auto& tok, std::string_view) {
            count = tok.encode(std::span<const std::uint8_t>(inputs[k / configs.size()])).tokens.size();
          });
          return count;
        });
  }

  std::vector<std::vector<std::string>> rows;
  std::vector<measurement> totals(configs.size());
  if (!all) {
    if (!a.has("json"))
      std::printf("# %s\n",
                  describe(c.config, c.config.kind == eqinfo::method::bytes ? "none" : model_kind(model)).c_str());
    rows.push_back({"file", "bytes", "tokens", "bytes/token", "bits/byte", "windows", "bytes/window"});
  }
  const bool json = a.has("json");
  std::vector<std::pair<std::string, measurement>> json_results;  // --json: (file, figures) in order
  // One measurement as a JSON object (the library's writer: escaping and separators in one place).
  const auto json_item = [](eqinfo::detail::json_writer& o, const std::string& file, const measurement& m) {
    const eqinfo::settings& s = m.config;
    o.object();
    if (!file.empty()) o.member("file", file);
    o.member("method", m.label).member("model", m.model);
    o.key("settings").object().member("method", eqinfo::to_string(s.kind)).member("token_bits", s.token_bits);
    if (s.kind != eqinfo::method::bytes) o.member("precision_bits", s.precision_bits);
    if (s.kind == eqinfo::method::equal_info_ac)
      o.member("window_bits", s.window_bits)
          .member("rule", eqinfo::to_string(s.rule))
          .member("segment_bytes", s.segment_bytes);
    o.end();
    const double b = static_cast<double>(m.bytes), t = static_cast<double>(m.tokens);
    o.member("bytes", m.bytes).member("tokens", m.tokens);
    o.key("bytes_per_token").raw(m.tokens ? std::to_string(b / t) : "null");
    o.key("bits_per_byte").raw(m.bytes ? std::to_string(t * s.token_bits / b) : "null");
    if (s.kind == eqinfo::method::equal_info_ac)
      o.member("windows", m.tokens / s.tokens_per_window());
    else
      o.key("windows").raw("null");
    o.end();
  };
  for (std::size_t f = 0; f < a.positional.size(); ++f) {
    const std::string& path = a.positional[f];
    const bytes_t input = threads != 1 ? std::move(inputs[f]) : read_input(path);
    const std::string name = display_name(path);
    progress_report progress(a.has("progress"), "measuring", "measured", name, input.size());
    if (all) {
      rows.clear();
      rows.push_back({"method", "model", "bytes", "tokens", "bytes/token", "bits/byte", "windows", "bytes/window"});
    }
    for (std::size_t i = 0; i < configs.size(); ++i) {
      const auto& [s, static_ac] = configs[i];
      const measurement m = measure(s, static_ac, model_for(i), input,
                                    threads != 1 ? std::optional(token_counts[f * configs.size() + i]) : std::nullopt);
      totals[i].label = m.label;
      totals[i].model = m.model;
      totals[i].config = s;
      totals[i].bytes += m.bytes;
      totals[i].tokens += m.tokens;
      if (json) json_results.emplace_back(name, m);
      std::vector<std::string> row = numbers(m);
      if (all) {
        row.insert(row.begin(), {m.label, m.model});
      } else {
        row.insert(row.begin(), name);
      }
      rows.push_back(std::move(row));
    }
    progress.finish(std::to_string(configs.size()) + " encodings");
    if (json) continue;
    if (all) {
      std::printf("# %s: %zu bytes, P=%u, rule=%s\n", name.c_str(), input.size(), c.config.precision_bits,
                  rule_name(c.config.rule).c_str());
      print_table(rows);
      std::printf("\n");
    }
  }
  if (json) {
    eqinfo::detail::json_writer o;
    o.object(true).key("results").array(true);
    for (const auto& [file, m] : json_results) json_item(o, file, m);
    o.end().key("totals").array(true);
    for (const auto& m : totals) json_item(o, "", m);
    o.end().end();
    std::printf("%s\n", o.str().c_str());
    return 0;
  }
  if (all && a.positional.size() > 1) {
    rows.clear();
    rows.push_back({"method", "model", "bytes", "tokens", "bytes/token", "bits/byte", "windows", "bytes/window"});
    for (const auto& m : totals) {
      std::vector<std::string> row = numbers(m);
      row.insert(row.begin(), {m.label, m.model});
      rows.push_back(std::move(row));
    }
    std::printf("# total over %zu files\n", a.positional.size());
    print_table(rows);
  }
  if (!all) {
    if (a.positional.size() > 1) {
      std::vector<std::string> row = numbers(totals[0]);
      row.insert(row.begin(), "total");
      rows.push_back(std::move(row));
    }
    print_table(rows);
  }
  return 0;
}

}  // namespace eqinfo::cli
