// SPDX-License-Identifier: MIT
// What the eqinfo tool's commands share: usage errors, the parsed command
// line (read against the option table, cli_options.hpp), files, progress,
// and settings and models from the options.

#pragma once

#include "cli_options.hpp"

#include <eqinfo/any_tokenizer.hpp>
#include <eqinfo/parallel.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/transformer.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace eqinfo::cli {

using bytes_t = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------
// Errors

/// A mistake in the command line: exit code 2.
struct usage_error {
  std::string command;  // "" for the top level
  std::string message;
};

[[noreturn]] inline void usage(const std::string& command, const std::string& message) {
  throw usage_error{command, message};
}

inline void note(const std::string& message) { std::fprintf(stderr, "eqinfo: note: %s\n", message.c_str()); }

// ---------------------------------------------------------------------------
// The parsed command line

inline std::uint64_t parse_number(const std::string& command, const std::string& option, const std::string& text,
                                  std::uint64_t min, std::uint64_t max) {
  std::uint64_t v = 0;
  bool ok = !text.empty() && text.size() <= 19;
  for (char c : text) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!ok || v < min || v > max)
    usage(command, "option '" + option + "' needs a whole number in [" + std::to_string(min) + ", " +
                       std::to_string(max) + "], not '" + text + "'");
  return v;
}

/// A command's options and arguments, as parse_args (eqinfo.cpp) read them.
struct parsed_args {
  std::string command;                                     // its name, for usage errors
  unsigned bit = 0;                                        // its command_bit
  std::map<std::string, std::string, std::less<>> values;  // long name -> value ("" for flags); the last one
  std::map<std::string, std::vector<std::string>, std::less<>> lists;  // long name -> every value, in order
  std::vector<std::string> positional;

  bool has(std::string_view name) const { return values.find(name) != values.end(); }
  std::optional<std::string> get(std::string_view name) const {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  /// The whole-number option `name`, checked against its range in the option
  /// table; its table default if not given; nullopt if neither.
  std::optional<std::uint64_t> number(std::string_view name) const {
    const option_def* o = find_option(name, bit);
    std::optional<std::string> text = get(name);
    if (!text && o && !o->fallback.empty()) text = std::string(o->fallback);
    if (!text) return std::nullopt;
    return parse_number(command, "--" + std::string(name), *text, o ? o->min : 0, o ? o->max : 0);
  }
};

// ---------------------------------------------------------------------------
// Files

inline bool is_stdio(const std::string& path) { return path.empty() || path == "-"; }
inline std::string display_name(const std::string& path) { return is_stdio(path) ? "<stdin>" : path; }

inline bytes_t read_input(const std::string& path) {
  bytes_t data;
  if (is_stdio(path)) {
    std::cin.tie(nullptr);
    std::array<char, 1 << 16> buffer;
    while (std::cin.read(buffer.data(), buffer.size()) || std::cin.gcount() > 0)
      data.insert(data.end(), buffer.data(), buffer.data() + std::cin.gcount());
    if (std::cin.bad()) throw eqinfo::error(eqinfo::errc::io_error, "<stdin>: read failed");
    return data;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw eqinfo::error(eqinfo::errc::io_error, path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw eqinfo::error(eqinfo::errc::io_error, path + ": cannot open for reading: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size > 0) data.reserve(static_cast<std::size_t>(size));
  std::array<char, 1 << 16> buffer;
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0)
    data.insert(data.end(), buffer.data(), buffer.data() + in.gcount());
  if (in.bad()) throw eqinfo::error(eqinfo::errc::io_error, path + ": read failed");
  return data;
}

inline void write_output(const std::string& path, std::span<const std::uint8_t> data) {
  if (is_stdio(path)) {
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), stdout) != data.size())
      throw eqinfo::error(eqinfo::errc::io_error, std::string("<stdout>: write failed: ") + std::strerror(errno));
    if (std::fflush(stdout) != 0)
      throw eqinfo::error(eqinfo::errc::io_error, std::string("<stdout>: write failed: ") + std::strerror(errno));
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw eqinfo::error(eqinfo::errc::io_error, path + ": cannot open for writing: " + std::strerror(errno));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) throw eqinfo::error(eqinfo::errc::io_error, path + ": write failed");
}

inline std::span<const std::uint8_t> as_bytes(std::span<const unsigned char> s) { return {s.data(), s.size()}; }

// ---------------------------------------------------------------------------
// Progress. encode and decode attach a progress_report to the tokenizer
// (tokenizer::set_progress, which never changes the tokens) and show a live
// line: bytes done/total, percent, MB/s and ETA -- redrawn with '\r' at most
// every 0.5 s when stderr is a terminal, otherwise one line per 10 %. stats
// reports start and finish only. Automatic above 4 MiB, or with --progress.

constexpr std::uint64_t progress_threshold = 4u << 20;

class progress_report {
 public:
  progress_report(bool enabled, std::string verb, std::string past, std::string name, std::uint64_t total)
      : enabled_(enabled || total > progress_threshold),
        tty_(isatty(STDERR_FILENO) != 0),
        verb_(std::move(verb)),
        past_(std::move(past)),
        name_(std::move(name)),
        total_(total),
        start_(std::chrono::steady_clock::now()),
        last_draw_(start_) {
    if (enabled_)
      std::fprintf(stderr, "eqinfo: %s %s (%s) ...\n", verb_.c_str(), name_.c_str(), megabytes(total_).c_str());
  }
  ~progress_report() {
    if (drawn_ > 0) std::fputc('\n', stderr);  // failed midway: keep the live line, end it
  }
  progress_report(const progress_report&) = delete;
  progress_report& operator=(const progress_report&) = delete;

  bool enabled() const noexcept { return enabled_; }

  /// Runs f() with live progress from `tok` (detached again afterwards, even
  /// if f throws); returns what f returns.
  template <class Tokenizer, class F>
  auto watch(Tokenizer& tok, F&& f) {
    if (!enabled_) return f();
    // About 200 callbacks per input (each costs a clock read), 1 MiB apart
    // when the total is not known (bare decoding).
    const std::uint64_t every = total_ == 0 ? (1u << 20) : std::max<std::uint64_t>(64u << 10, total_ / 200);
    tok.set_progress([this](std::uint64_t done, std::uint64_t total) { update(done, total); }, every);
    struct detach {
      Tokenizer& tok;
      ~detach() { tok.set_progress(nullptr); }
    } guard{tok};
    return f();
  }

  /// Called by the tokenizer with the bytes done so far (total 0: unknown).
  void update(std::uint64_t done, std::uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done == total) return;  // the final call: finish() reports it
    if (tty_) {
      if (now - last_draw_ < std::chrono::milliseconds(500)) return;
      last_draw_ = now;
      const std::string line = status(done, total, now);
      std::fprintf(stderr, "\r%s%*s", line.c_str(), static_cast<int>(drawn_ > line.size() ? drawn_ - line.size() : 0),
                   "");
      drawn_ = line.size();
    } else {
      if (total != 0) {
        const std::uint64_t percent = done * 100 / total;
        if (percent < next_percent_) return;
        next_percent_ = percent / 10 * 10 + 10;
      } else {
        if (now - last_draw_ < std::chrono::seconds(10)) return;
        last_draw_ = now;
      }
      std::fprintf(stderr, "%s\n", status(done, total, now).c_str());
    }
    std::fflush(stderr);
  }

  void finish(const std::string& result) {
    if (!enabled_) return;
    if (drawn_ > 0) std::fprintf(stderr, "\r%*s\r", static_cast<int>(drawn_), "");  // clear the live line
    drawn_ = 0;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(total_) / 1e6 / seconds : 0.0;
    std::fprintf(stderr, "eqinfo: %s %s: %s/%s, %s in %.2f s (%.2f MB/s)\n", past_.c_str(), name_.c_str(),
                 megabytes(total_).c_str(), megabytes(total_).c_str(), result.c_str(), seconds, rate);
  }

 private:
  static std::string megabytes(std::uint64_t n) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.2f MB", static_cast<double>(n) / 1e6);
    return buffer;
  }
  /// "eqinfo: encoding big.txt: 1.05/5.24 MB (20 %), 41.3 MB/s, ETA 0.1 s"
  std::string status(std::uint64_t done, std::uint64_t total, std::chrono::steady_clock::time_point now) const {
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    char buffer[256];
    if (total == 0) {
      std::snprintf(buffer, sizeof buffer, "eqinfo: %s %s: %.2f MB, %.2f MB/s", verb_.c_str(), name_.c_str(),
                    static_cast<double>(done) / 1e6, rate / 1e6);
    } else {
      const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
      std::snprintf(buffer, sizeof buffer, "eqinfo: %s %s: %.2f/%.2f MB (%.0f %%), %.2f MB/s, ETA %.1f s",
                    verb_.c_str(), name_.c_str(), static_cast<double>(done) / 1e6, static_cast<double>(total) / 1e6,
                    std::floor(static_cast<double>(done) * 100.0 / static_cast<double>(total)), rate / 1e6, eta);
    }
    return buffer;
  }

  bool enabled_;
  bool tty_;
  std::string verb_, past_, name_;
  std::uint64_t total_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::size_t drawn_ = 0;            // length of the live line on a terminal (0: none)
  std::uint64_t next_percent_ = 10;  // not a terminal: the next 10 % step to report
};

// ---------------------------------------------------------------------------
// Settings and models

inline std::string method_name(const eqinfo::settings& s, bool unigram) {
  return std::string(eqinfo::user_name(s.kind, unigram));
}

inline std::string rule_name(eqinfo::window_rule r) { return std::string(eqinfo::user_name(r)); }

inline std::string describe(const eqinfo::settings& s, std::string_view model) {
  std::string out = method_name(s, false);
  if (s.kind == eqinfo::method::bytes) return out + " N=8";
  if (s.kind == eqinfo::method::equal_info_ac) out += " b=" + std::to_string(s.window_bits);
  out += " N=" + std::to_string(s.token_bits) + " P=" + std::to_string(s.precision_bits);
  if (s.kind == eqinfo::method::equal_info_ac)
    out += " rule=" + rule_name(s.rule) + " S=" + std::to_string(s.segment_bytes);
  return out + " model=" + std::string(model);
}

struct model_option {
  std::optional<eqinfo::unigram_model> unigram;  // as stored in the file
  std::optional<eqinfo::m1_file> m1;             // an M1 model file (safetensors)
  std::string path;

  bool given() const { return unigram || m1; }
};

/// Where the bundled M1 (models/m1/m1.safetensors) may be: installed next to
/// the binary (PREFIX/share/eqinfo), then the source tree this binary was
/// built from.
inline std::vector<std::string> bundled_m1_candidates() {
  std::vector<std::string> paths;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) paths.push_back((exe.parent_path().parent_path() / "share" / "eqinfo" / "m1.safetensors").string());
#ifdef EQINFO_SOURCE_M1
  paths.push_back(EQINFO_SOURCE_M1);
#endif
  return paths;
}

/// The model used when --model is not given: $EQINFO_MODEL if set, else the
/// bundled M1.
inline std::string default_model_path() {
  if (const char* env = std::getenv("EQINFO_MODEL"); env && *env) return env;
  const std::vector<std::string> candidates = bundled_m1_candidates();
  for (const std::string& p : candidates)
    if (std::error_code ec; std::filesystem::is_regular_file(p, ec)) return p;
  std::string looked;
  for (const std::string& p : candidates) looked += (looked.empty() ? "" : ", ") + p;
  throw eqinfo::error(eqinfo::errc::io_error,
                      "no --model given and the bundled M1 is not where this build looks for it (" +
                          (looked.empty() ? std::string("nowhere") : looked) +
                          "); give --model FILE, --model uniform, or set EQINFO_MODEL");
}

/// --model FILE: a unigram model (magic "EQINFOUG") or an M1 model file
/// (safetensors), told apart by content; 'uniform' is the built-in uniform
/// model. Without --model: default_model_path(), except for the bytes method,
/// which uses no model.
inline model_option load_model(const parsed_args& a) {
  model_option m;
  std::string path;
  if (auto given = a.get("model"))
    path = *given;
  else if (a.get("method").value_or("") != "bytes")
    path = default_model_path();
  if (path.empty() || path == "uniform") {
    m.path = "uniform";
    return m;
  }
  m.path = path;
  const std::string name = display_name(path);
  const bytes_t data = read_input(path);
  auto file = eqinfo::parse_model_file(data, name);
  if (auto* m1 = std::get_if<eqinfo::m1_file>(&file))
    m.m1 = std::move(*m1);
  else
    m.unigram = std::move(std::get<eqinfo::unigram_model>(file));
  return m;
}

inline std::string model_kind(const model_option& m) { return m.m1 ? "m1" : m.unigram ? "unigram" : "uniform"; }

/// Settings from the options, with the library's defaults (eqinfo::settings{})
/// for those not given; P defaults to the --model file's precision.
struct chosen {
  eqinfo::settings config;
  bool static_ac = false;
};

/// The request the options make (eqinfo::settings_request: std::nullopt for
/// an option not given).
inline eqinfo::settings_request settings_request_of(const parsed_args& a) {
  eqinfo::settings_request r;
  r.method = a.get("method");
  auto small = [&](const char* name) -> std::optional<unsigned> {
    if (auto v = a.number(name)) return static_cast<unsigned>(*v);
    return std::nullopt;
  };
  r.window_bits = small("window-bits");
  r.token_bits = small("token-bits");
  r.precision_bits = small("precision");
  r.rule = a.get("rule");
  r.segment_bytes = a.number("segment-bytes");
  return r;
}

/// eqinfo::resolve_settings for the options, a usage error (exit 2) where it
/// refuses them. `base`: the settings of a token file being decoded, which
/// the options not given keep.
inline chosen settings_from_args(const std::string& command, const parsed_args& a, const model_option& model,
                                 const std::optional<eqinfo::settings>& base = std::nullopt) {
  const eqinfo::settings_request r = settings_request_of(a);
  // resolve_settings refuses this too; the CLI names its option.
  if (r.method == "static-ac" && model.m1)
    usage(command, "--method static-ac needs a unigram model; with an M1 model use --method ac");
  chosen c;
  try {
    // --all chooses its settings itself (run_stats), and checks each.
    const eqinfo::resolved_settings resolved = eqinfo::resolve_settings(
        r, model.m1 ? &*model.m1 : nullptr, model.unigram ? &*model.unigram : nullptr, base, !a.has("all"));
    c.config = resolved.config;
    c.static_ac = resolved.static_ac;
  } catch (const eqinfo::error& e) {
    if (e.code() != eqinfo::errc::invalid_settings) throw;
    usage(command, std::string("invalid settings: ") + e.what());
  }
  const eqinfo::settings& s = c.config;
  if (!base && !a.has("all")) {
    if (s.kind != eqinfo::method::equal_info_ac && (a.has("window-bits") || a.has("rule") || a.has("segment-bytes")))
      note("--window-bits, --rule and --segment-bytes apply only to --method equal-info; ignored");
    if (s.kind == eqinfo::method::bytes && (a.has("precision") || a.has("model")))
      note("--method bytes uses no model; --precision and --model are ignored");
  }
  return c;
}

/// Calls f(tokenizer&, model kind) with eqinfo::make_tokenizer's tokenizer
/// for `s` and the --model given.
template <class F>
void with_tokenizer(const eqinfo::settings& s, const model_option& model, F&& f) {
  eqinfo::chosen_tokenizer chosen =
      eqinfo::make_tokenizer(s, model.m1 ? &*model.m1 : nullptr, model.unigram ? &*model.unigram : nullptr);
  std::visit([&](auto& tok) { f(tok, chosen.model_kind); }, chosen.tok);
}

inline void model_notes(const eqinfo::settings& s, const model_option& model, const parsed_args& a) {
  if (s.kind == eqinfo::method::bytes) return;
  if (!model.given()) {
    if (!a.get("model")) note("EQINFO_MODEL=uniform: the uniform model compresses nothing (8 bits/byte)");
  } else if (model.unigram && a.has("precision") && model.unigram->precision_bits() != s.precision_bits) {
    note("requantising " + model.path + " from P=" + std::to_string(model.unigram->precision_bits()) +
         " to P=" + std::to_string(s.precision_bits));
  }
}

/// --threads N: 0 means all cores (TBB's default); the default is the option
/// table's (1, or 0 for shard and verify). More
/// threads than cores raise TBB's process-wide worker limit for the rest of
/// the run: that is the application's decision, so the tool makes it, not
/// the library (parallel.hpp).
inline unsigned parse_threads(const parsed_args& a) {
  const auto n = static_cast<unsigned>(a.number("threads").value_or(1));
  static std::optional<tbb::global_control> limit;
  if (n > static_cast<unsigned>(tbb::info::default_concurrency()))
    limit.emplace(tbb::global_control::max_allowed_parallelism, std::size_t{n});
  return n;
}

inline std::string fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

inline std::string count_with_commas(std::uint64_t n) {
  std::string s = std::to_string(n);
  for (std::size_t i = s.size(); i > 3; i -= 3) s.insert(i - 3, ",");
  return s;
}

}  // namespace eqinfo::cli
