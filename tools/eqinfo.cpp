// SPDX-License-Identifier: MIT
// eqinfo: the command-line tool. Bytes <-> neurally compressed tokens
// (arithmetic coding + equal-info windows), corpora -> token shards and their
// verification, compression statistics and unigram-model training, and M1
// model-file utilities. Run `eqinfo --help`.
//
// This file is the dispatcher: it parses every command line against the
// command and option tables (cli_options.hpp), answers --help and then runs
// the command's handler (cli_coding.cpp, cli_shard.cpp, cli_m1.cpp).
//
// Exit codes: 0 success, 1 an eqinfo::error or I/O failure (message
// "eqinfo: <what()>"), 2 a usage error (one-line hint plus
// "see 'eqinfo COMMAND --help'").

#include "cli_common.hpp"

#include <eqinfo/transformer.hpp>
#include <eqinfo/version.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eqinfo::cli {
namespace {

/// `names` padded to `column` (at least two spaces), then `text`, whose
/// '\n's continue it on lines indented to `column`.
std::string help_line(std::string names, std::size_t column, std::string_view text) {
  names.resize(std::max(names.size() + 2, column), ' ');
  for (const char ch : text) {
    if (ch == '\n')
      names += "\n" + std::string(column, ' ');
    else
      names.push_back(ch);
  }
  return names + "\n";
}

/// 'eqinfo --help': the prose of cli_help.inc around the command table's lines.
std::string main_help() {
  std::string text = main_help_head;
  for (const command_def& c : commands) text += help_line("  " + std::string(c.name), 18, c.summary);
  return text + main_help_tail;
}

/// Replaces every key of `fields` in `text` with its value.
void fill_in(std::string& text, std::span<const std::pair<std::string_view, std::string>> fields) {
  for (const auto& [key, value] : fields)
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
}

/// The option lines of `command`'s help, from the option table: names and
/// value in a column of 24, then the help line with its range and default.
std::string option_lines(const command_def& command) {
  std::string text;
  for (const option_def& o : options) {
    if ((o.commands & command.bit) == 0) continue;
    std::string help(o.help);
    const std::pair<std::string_view, std::string> fields[] = {
        {"%RANGE%", std::to_string(o.min) + ".." + std::to_string(o.max)}, {"%DEFAULT%", std::string(o.fallback)}};
    fill_in(help, fields);
    text += help_line("  " + std::string(o.names) + (o.metavar.empty() ? "" : " ") + std::string(o.metavar), 26, help);
  }
  return text;
}

/// 'eqinfo help COMMAND', 'eqinfo COMMAND --help': its prose with its option
/// lines and the library's defaults filled in.
std::string help_text(const command_def& command) {
  std::string text = command.help;
  const eqinfo::settings defaults;
  const std::pair<std::string_view, std::string> fields[] = {
      {"%OPTIONS%", option_lines(command)},
      {"%DEF_B%", std::to_string(defaults.window_bits)},
      {"%DEF_S%", std::to_string(defaults.segment_bytes)},
      {"%DEF_N%", std::to_string(defaults.token_bits)},
      {"%DEF_P%", std::to_string(defaults.precision_bits)},
      {"%DEF_RULE%", std::string(eqinfo::user_name(defaults.rule))},
  };
  fill_in(text, fields);
  return text;
}

void print_version() {
  std::printf("eqinfo %d.%d.%d (token stream format %d, M1 model format %u)\n", EQINFO_VERSION_MAJOR,
              EQINFO_VERSION_MINOR, EQINFO_VERSION_PATCH, EQINFO_STREAM_FORMAT, eqinfo::m1_format_version);
  const auto path = eqinfo::detail::int8::active();
  std::printf("int8 kernel path: %s (best on this CPU: %s; EQINFO_ISA forces one)\n",
              std::string(eqinfo::detail::int8::name(path)).c_str(),
              std::string(eqinfo::detail::int8::name(eqinfo::detail::int8::best())).c_str());
}

/// The row of an option by long or short name, whatever the command (the
/// rows of one name agree on both names and on taking a value).
const option_def* any_option(std::string_view long_name, char short_name) {
  for (const auto& o : options)
    if ((!long_name.empty() && o.long_name == long_name) || (short_name != 0 && o.short_name == short_name)) return &o;
  return nullptr;
}

/// Parses `args` for `command`, accepting only the options the option table
/// gives it. Forms: --name VALUE, --name=VALUE, -x VALUE, -xVALUE, flags;
/// '--' ends the options; '-' is a positional argument (stdin/stdout).
parsed_args parse_args(const command_def& command, std::span<const std::string> args) {
  parsed_args out;
  out.command = std::string(command.name);
  out.bit = command.bit;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      for (++i; i < args.size(); ++i) out.positional.push_back(args[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      out.positional.push_back(arg);
      continue;
    }
    const option_def* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = arg;
    if (arg[1] == '-') {
      std::string name = arg.substr(2);
      if (const auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
        shown = "--" + name;
      }
      spec = any_option(name, 0);
    } else {
      shown = arg.substr(0, 2);
      spec = any_option({}, arg[1]);
      if (spec && arg.size() > 2) {
        if (spec->kind == arg::flag) usage(out.command, "unknown option '" + arg + "'");
        inline_value = arg.substr(2);
      }
    }
    if (!spec || !find_option(spec->long_name, command.bit)) usage(out.command, "unknown option '" + shown + "'");
    std::string value;
    if (spec->kind != arg::flag) {
      if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= args.size()) usage(out.command, "option '" + shown + "' needs a value");
        value = args[++i];
      }
    } else if (inline_value) {
      usage(out.command, "option '" + shown + "' takes no value");
    }
    out.values[std::string(spec->long_name)] = value;
    out.lists[std::string(spec->long_name)].push_back(value);
  }
  return out;
}

const command_def* find_command(std::string_view name) {
  for (const command_def& c : commands)
    if (c.name == name) return &c;
  return nullptr;
}

int run(std::span<const std::string> args) {
  if (args.empty()) usage("", "no command given");
  const std::string& name = args[0];
  const auto rest = args.subspan(1);
  if (name == "--help" || name == "-h" || (name == "help" && rest.empty())) {
    std::fputs(main_help().c_str(), stdout);
    return 0;
  }
  if (name == "--version" || name == "version") {
    print_version();
    return 0;
  }
  if (name == "help") {
    const command_def* topic = find_command(rest[0]);
    if (!topic) usage("", "no help for unknown command '" + rest[0] + "'");
    std::fputs(help_text(*topic).c_str(), stdout);
    return 0;
  }
  if (const command_def* command = find_command(name)) {
    const parsed_args a = parse_args(*command, rest);
    if (a.has("help")) {
      std::fputs(help_text(*command).c_str(), stdout);
      return 0;
    }
    return command->run(a);
  }
  if (!name.empty() && name[0] == '-') usage("", "unknown option '" + name + "'");
  usage("", "unknown command '" + name + "'");
}

}  // namespace
}  // namespace eqinfo::cli

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return eqinfo::cli::run(args);
  } catch (const eqinfo::cli::usage_error& e) {
    std::fprintf(stderr, "eqinfo: %s\n", e.message.c_str());
    if (e.command.empty())
      std::fprintf(stderr, "see 'eqinfo --help'\n");
    else
      std::fprintf(stderr, "see 'eqinfo %s --help'\n", e.command.c_str());
    return 2;
  } catch (const eqinfo::error& e) {
    std::fprintf(stderr, "eqinfo: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "eqinfo: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eqinfo: %s\n", e.what());
    return 1;
  }
}
