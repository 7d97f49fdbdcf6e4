// SPDX-License-Identifier: MIT
// The eqinfo tool's one command table and one option table. A command is its
// name, the summary 'eqinfo --help' lists, its help prose (cli_help.inc) and
// its handler; an option is its names ("-b, --window-bits"), whether it is a
// flag, a text or a whole number (with the range every use of it checks),
// the commands that take it, its help line and the default where the tool
// fixes one. The dispatcher (eqinfo.cpp) parses every command line against
// these tables and answers --help itself; the handlers (cli_*.cpp) read the
// parsed options (parsed_args::number checks the row's range).

#pragma once

#include <eqinfo/coder.hpp>
#include <eqinfo/settings.hpp>

#include <cstdint>
#include <limits>
#include <string_view>

namespace eqinfo::cli {

struct parsed_args;

#include "cli_help.inc"

/// The commands, one bit each (option_def::commands).
enum command_bit : unsigned {
  c_encode = 1u << 0,
  c_decode = 1u << 1,
  c_stats = 1u << 2,
  c_shard = 1u << 3,
  c_verify = 1u << 4,
  c_train_unigram = 1u << 5,
  c_m1_random = 1u << 6,
  c_m1_seal = 1u << 7,
  c_m1_quantize = 1u << 8,
  c_m1_dump = 1u << 9,
  c_all = (1u << 10) - 1,
  c_settings = c_encode | c_decode | c_stats | c_shard,  // the settings options
};

enum class arg { flag, text, number };

struct option_def {
  std::string_view names;      // as the help shows them: "--rule", "-b, --window-bits"
  std::string_view long_name;  // "rule", "window-bits"
  char short_name = 0;         // 'b'; 0: none
  arg kind = arg::flag;
  std::string_view metavar;        // the value's name in the help ("" for flags)
  unsigned commands = 0;           // command_bit: the commands that take it
  std::uint64_t min = 0, max = 0;  // arg::number: the range every use checks
  std::string_view help;           // its help line; '\n' continues it, indented; %RANGE%: min..max,
                                   // %DEFAULT%: fallback
  std::string_view fallback;       // the default when not given; empty: the handler's or the library's
};

constexpr option_def text_option(std::string_view names, std::string_view metavar, unsigned commands,
                                 std::string_view help) {
  option_def o;
  o.names = names;
  o.long_name = names.substr(names.find("--") + 2);
  o.short_name = names[1] != '-' ? names[1] : '\0';
  o.kind = metavar.empty() ? arg::flag : arg::text;
  o.metavar = metavar;
  o.commands = commands;
  o.help = help;
  return o;
}

constexpr option_def flag_option(std::string_view names, unsigned commands, std::string_view help) {
  return text_option(names, "", commands, help);
}

constexpr option_def number_option(std::string_view names, std::string_view metavar, unsigned commands,
                                   std::uint64_t min, std::uint64_t max, std::string_view help,
                                   std::string_view fallback = {}) {
  option_def o = text_option(names, metavar, commands, help);
  o.kind = arg::number;
  o.min = min;
  o.max = max;
  o.fallback = fallback;
  return o;
}

inline constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t max_threads = 4096;

/// Every option, in the order of the help texts. An option whose help line,
/// range or default differs between commands has a row for each; one name
/// has one row per command, and its rows agree on the short name and kind.
inline constexpr option_def options[] = {
    flag_option("--all", c_stats,
                "for each FILE, a table with one row per method:\n"
                "bytes; ac (uniform model); static-ac (if --model);\n"
                "equal-info with b = 16, 32, 64, 128 and N = 16, 8\n"
                "where valid (b a multiple of N and b >= P), using\n"
                "--model if given, else the uniform model (with an\n"
                "M1 --model, plain ac is measured with both)"),
    number_option("--threads", "N", c_stats, 0, max_threads,
                  "encode the files and methods on N threads (0: all\n"
                  "cores; default %DEFAULT%); the numbers do not change",
                  "1"),
    flag_option("--json", c_stats,
                "print one JSON object instead of the tables, for\n"
                "scripts: {\"results\": [{\"file\", \"method\", \"model\",\n"
                "\"settings\", \"bytes\", \"tokens\", \"bytes_per_token\",\n"
                "\"bits_per_byte\", \"windows\"}, ...], \"totals\": [...]}"),
    text_option("--format", "FORMAT", c_decode, "eqt, raw or npy (default: detect; raw must be given)"),
    number_option("--bytes", "COUNT", c_decode, 0, u64_max, "the number of bytes the tokens encode (raw, npy)"),
    flag_option("--bare", c_decode,
                "decode without a byte count, by the bare rule (for\n"
                "tokens sampled from a model): bytes as they are, ac\n"
                "to the bytes its bits determine, equal-info window\n"
                "by window"),
    number_option("--threads", "N", c_decode, 0, max_threads,
                  "decode equal-info windows on N threads (0: all\n"
                  "cores; default %DEFAULT%): the same bytes and errors, but\n"
                  "progress shows only the start and the end",
                  "1"),
    text_option("--method", "METHOD", c_settings,
                "how bytes become tokens (default: equal-info):\n"
                "bytes       one 8-bit token per byte (no model)\n"
                "ac          one arithmetic-code stream per input\n"
                "static-ac   ac with a unigram model (needs --model)\n"
                "equal-info  arithmetic code in windows of b bits"),
    number_option("-b, --window-bits", "BITS", c_settings, 1, eqinfo::max_window_bits,
                  "equal-info window size b, a multiple of N and >= P\n"
                  "(default: %DEF_B%)"),
    number_option("-N, --token-bits", "BITS", c_settings, 1, eqinfo::max_token_bits,
                  "bits per token N, %RANGE%; vocabulary 2^N (default:\n"
                  "%DEF_N%; bytes always uses 8)"),
    number_option("-P, --precision", "BITS", c_settings, eqinfo::min_precision_bits, eqinfo::max_precision_bits,
                  "model CDF precision P, %RANGE% (default: the --model\n"
                  "file's stored precision, else %DEF_P%; with --model, a\n"
                  "different -P requantises the model's byte counts)"),
    text_option("--rule", "RULE", c_settings,
                "equal-info window rule: delay or greedy-exact\n"
                "(default: %DEF_RULE%)"),
    number_option("--segment-bytes", "S", c_settings, 0, std::uint64_t{1} << 48,
                  "equal-info codes the input in independent segments\n"
                  "of S bytes, so one input uses every thread and lane;\n"
                  "0: one segment (default: %DEF_S%)"),
    text_option("--model", "FILE", c_settings,
                "model file: a unigram model from 'eqinfo\n"
                "train-unigram', or an M1 model (safetensors, from\n"
                "training/ or 'eqinfo m1-random'; its self-tests run\n"
                "at load); detected by content; 'uniform' is the\n"
                "built-in uniform model (default: $EQINFO_MODEL if\n"
                "set, else the bundled M1, models/m1)"),
    text_option("--format", "FORMAT", c_encode, "eqt, raw or npy (default: eqt)"),
    text_option("-o, --output", "OUT", c_encode,
                "output file (default '-': standard output; eqinfo\n"
                "will not write tokens to a terminal)"),
    flag_option("--verify", c_encode,
                "decode the result in memory and compare it with the\n"
                "input; prints \"verified: N bytes round-trip\" or\n"
                "fails with exit code 1 (and writes nothing)"),
    number_option("--threads", "N", c_encode, 0, max_threads,
                  "threads for equal-info encoding (its segments,\n"
                  "--segment-bytes) and --verify's decoding (0: all\n"
                  "cores; default %DEFAULT%); the tokens never depend on it",
                  "1"),
    text_option("-o, --output", "OUT", c_decode, "output file (default '-': standard output)"),
    flag_option("--progress", c_encode | c_decode,
                "show progress on stderr: bytes, percent, MB/s, ETA\n"
                "(automatic above 4 MiB)"),
    flag_option("--progress", c_stats, "print timing lines on stderr (automatic above 4 MiB)"),
    text_option("--out", "DIR", c_shard,
                "the output directory (required; new, empty, or an\n"
                "earlier run of the same command)"),
    number_option("--example-bytes", "BYTES", c_shard, 1, 1u << 30, "bytes per example (default: 10240, the paper's)"),
    number_option("--shard-examples", "N", c_shard, 1, 1u << 24, "examples per shard (default: 1024)"),
    text_option("--separator", "TEXT", c_shard,
                "bytes between joined documents, C escapes allowed:\n"
                "\\n \\t \\r \\\\ \\0 \\xHH (default: \"\\n\\n\")"),
    flag_option("--keep-documents", c_shard,
                "cut each document into examples on its own (no\n"
                "example spans two documents; no separator)"),
    text_option("--text-field", "NAME", c_shard, "the .jsonl field holding the document (default: text)"),
    text_option("--format", "FORMAT", c_shard, "npy or raw, for the token files (default: npy)"),
    flag_option("--window-offsets", c_shard,
                "also store every window's byte count (equal-info),\n"
                "to map M2's loss per token back to bytes"),
    number_option("--threads", "N", c_shard, 0, max_threads, "encode on N threads (0: all cores; default %DEFAULT%)",
                  "0"),
    flag_option("--progress", c_shard,
                "show progress on stderr: input MB, percent, MB/s,\n"
                "ETA (automatic above 4 MiB of input)"),
    text_option("--model", "FILE", c_verify,
                "the model the shards were made with (default: the\n"
                "path recorded in the manifest); its fingerprint\n"
                "must match the manifest's"),
    number_option("--threads", "N", c_verify, 0, max_threads, "decode on N threads (0: all cores; default %DEFAULT%)",
                  "0"),
    flag_option("--progress", c_verify, "show progress on stderr (automatic above 4 MiB)"),
    number_option("-P, --precision", "BITS", c_train_unigram, eqinfo::min_precision_bits, eqinfo::max_precision_bits,
                  "stored CDF precision P, %RANGE% (default: %DEFAULT%)", "16"),
    text_option("-o, --output", "OUT", c_train_unigram, "model file to write (required; '-' for stdout)"),
    number_option("--layers", "N", c_m1_random, 1, 256, "Transformer blocks (default: 3)"),
    number_option("--d-model", "N", c_m1_random, 1, 16384, "residual width (default: 256)"),
    number_option("--heads", "N", c_m1_random, 1, 256, "attention heads (default: 4)"),
    number_option("--head-dim", "N", c_m1_random, 1, 1024, "width per head (default: 64)"),
    number_option("--d-ff", "N", c_m1_random, 1, 65536, "MLP width (default: 1024)"),
    number_option("--context", "N", c_m1_random, 2, 65536, "positions attended over, BOS included (default: 1024)"),
    number_option("--seed", "N", c_m1_random, 0, u64_max, "weight seed (default: %DEFAULT%)", "1"),
    text_option("-o, --output", "OUT", c_m1_random, "model file to write (required)"),
    text_option("--input", "FILE", c_m1_seal, "also make vectors from FILE (first 4 KB; repeatable)"),
    text_option("-o, --output", "OUT", c_m1_seal, "model file to write (required; may equal MODEL)"),
    text_option("-o, --output", "OUT", c_m1_quantize, "the version 2 model file to write"),
    text_option("--input", "FILE", c_m1_quantize, "also seal the first 4 KiB of FILE (repeatable)"),
    number_option("-P, --precision", "P", c_m1_dump, 9, 16, "CDF precision in bits (default %DEF_P%)"),
    flag_option("-h, --help", c_all, "show this help"),
};

/// The row of option `name` for `command` (a command_bit), or nullptr.
constexpr const option_def* find_option(std::string_view name, unsigned command) {
  for (const auto& o : options)
    if (o.long_name == name && (o.commands & command) != 0) return &o;
  return nullptr;
}

// The handlers (cli_coding.cpp, cli_shard.cpp, cli_m1.cpp).
int run_encode(const parsed_args& a);
int run_decode(const parsed_args& a);
int run_stats(const parsed_args& a);
int run_shard(const parsed_args& a);
int run_verify(const parsed_args& a);
int run_train_unigram(const parsed_args& a);
int run_m1_random(const parsed_args& a);
int run_m1_seal(const parsed_args& a);
int run_m1_quantize(const parsed_args& a);
int run_m1_dump(const parsed_args& a);

struct command_def {
  std::string_view name;
  command_bit bit;
  std::string_view summary;  // a line of 'eqinfo --help'; '\n' continues it, indented
  const char* help;          // 'eqinfo help NAME' (cli_help.inc)
  int (*run)(const parsed_args&);
};

inline constexpr command_def commands[] = {
    {"encode", c_encode, "bytes -> tokens (.eqt token file, raw array or .npy)", encode_help, run_encode},
    {"decode", c_decode, "tokens -> bytes", decode_help, run_decode},
    {"shard", c_shard, "a corpus (files, .jsonl, directories) -> token shards for\ntraining, resumable", shard_help,
     run_shard},
    {"verify", c_verify, "check token shards against their sources", verify_help, run_verify},
    {"stats", c_stats, "tokens, bytes/token and bits/byte of files, one method or all", stats_help, run_stats},
    {"train-unigram", c_train_unigram, "count the bytes of files into a unigram model (for static-ac)", train_help,
     run_train_unigram},
    {"m1-random", c_m1_random, "write an M1 model file with random weights (tests, demos)", m1_random_help,
     run_m1_random},
    {"m1-seal", c_m1_seal, "rewrite an M1 model file with self-test vectors of this build", m1_seal_help, run_m1_seal},
    {"m1-quantize", c_m1_quantize, "convert a format version 1 (float) M1 file to version 2 (int8)", m1_quantize_help,
     run_m1_quantize},
    {"m1-dump", c_m1_dump, "M1's next-byte CDFs for a file, as uint32 [n, 257]", m1_dump_help, run_m1_dump},
};

}  // namespace eqinfo::cli
