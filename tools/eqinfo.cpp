// SPDX-License-Identifier: MIT
// eqinfo: the command-line tool. Bytes <-> neurally compressed tokens
// (arithmetic coding + equal-info windows), corpora -> token shards and their
// verification, compression statistics and unigram-model training, and M1
// model-file utilities. Run `eqinfo --help`.
//
// Exit codes: 0 success, 1 an eqinfo::error or I/O failure (message
// "eqinfo: <what()>"), 2 a usage error (one-line hint plus
// "see 'eqinfo COMMAND --help'").

#include "shard_pipeline.hpp"

#include <eqinfo/parallel.hpp>
#include <eqinfo/shards.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/transformer.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

using bytes_t = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------
// Errors

/// A mistake in the command line: exit code 2.
struct usage_error {
  std::string command;  // "" for the top level
  std::string message;
};

[[noreturn]] void usage(const std::string& command, const std::string& message) { throw usage_error{command, message}; }

void note(const std::string& message) { std::fprintf(stderr, "eqinfo: note: %s\n", message.c_str()); }

// ---------------------------------------------------------------------------
// Help texts

constexpr const char* main_help =
    R"(eqinfo - neurally compressed tokens with equal-info windows

eqinfo turns bytes into tokens for training language models over compressed
text (Lester et al. 2024, "Training LLMs over Neurally Compressed Text",
arXiv 2404.03626). A byte model predicts each next byte, an arithmetic coder
turns those predictions into a bitstream, and the bitstream is cut into N-bit
tokens (a vocabulary of 2^N). With equal-info windows the coder and the model
restart every b bits, so each window of b/N tokens decodes on its own.
Decoding is exact: the same model and settings give back the original bytes.
Models: M1, the byte-level Transformer (a safetensors model file, docs/m1.md;
the bundled one, trained on English text, is the default), a static
byte-unigram model made with 'eqinfo train-unigram', and 'uniform' (built in;
8 bits/byte: compresses nothing, for testing).

usage: eqinfo COMMAND [OPTIONS] [FILE...]

commands:
  encode          bytes -> tokens (.eqt token file, raw array or .npy)
  decode          tokens -> bytes
  shard           a corpus (files, .jsonl, directories) -> token shards for
                  training, resumable
  verify          check token shards against their sources
  stats           tokens, bytes/token and bits/byte of files, one method or all
  train-unigram   count the bytes of files into a unigram model (for static-ac)
  m1-random       write an M1 model file with random weights (tests, demos)
  m1-seal         rewrite an M1 model file with self-test vectors of this build
  m1-quantize     convert a format version 1 (float) M1 file to version 2 (int8)
  m1-dump         M1's next-byte CDFs for a file, as uint32 [n, 257]
  help COMMAND    the options of COMMAND (same as 'eqinfo COMMAND --help')

options:
  -h, --help      show this help and exit
  --version       show the library version, token stream format, M1 model
                  format and the int8 kernel path in use, and exit

'-' as a file name means standard input or standard output.

examples:
  eqinfo train-unigram corpus/*.txt -o en.unigram
  eqinfo encode --model en.unigram -o book.eqt book.txt
  eqinfo decode --model en.unigram -o book.txt book.eqt
  eqinfo encode --model m1.safetensors -o book.eqt book.txt
  eqinfo shard --model en.unigram --out shards/ corpus/
  eqinfo verify shards/
)";

constexpr const char* settings_help =
    R"(  --method METHOD         how bytes become tokens (default: equal-info):
                          bytes       one 8-bit token per byte (no model)
                          ac          one arithmetic-code stream per input
                          static-ac   ac with a unigram model (needs --model)
                          equal-info  arithmetic code in windows of b bits
  -b, --window-bits BITS  equal-info window size b, a multiple of N and >= P
                          (default: %DEF_B%)
  -N, --token-bits BITS   bits per token N, 1..24; vocabulary 2^N (default:
                          %DEF_N%; bytes always uses 8)
  -P, --precision BITS    model CDF precision P, 8..24 (default: the --model
                          file's stored precision, else %DEF_P%; with --model, a
                          different -P requantises the model's byte counts)
  --rule RULE             equal-info window rule: delay or greedy-exact
                          (default: %DEF_RULE%)
  --segment-bytes S       equal-info codes the input in independent segments
                          of S bytes, so one input uses every thread and lane;
                          0: one segment (default: %DEF_S%)
  --model FILE            model file: a unigram model from 'eqinfo
                          train-unigram', or an M1 model (safetensors, from
                          training/ or 'eqinfo m1-random'; its self-tests run
                          at load); detected by content; 'uniform' is the
                          built-in uniform model (default: $EQINFO_MODEL if
                          set, else the bundled M1, models/m1)
)";

constexpr const char* encode_help =
    R"(usage: eqinfo encode [OPTIONS] [IN]

Encodes the bytes of IN (default '-': standard input) into tokens. The default
output is an .eqt token file, which records the settings, the model's
fingerprint, the byte count and a CRC-32, so 'eqinfo decode' needs nothing
else (except the --model file, if one was used). The raw and npy formats hold
only the tokens (uint8, uint16 or uint32 little-endian by N); eqinfo then
prints on stderr the byte count and the options needed to decode them.
The whole input is encoded as one example, in memory.

options:
)"
    "%SETTINGS%"
    R"(  --format FORMAT         eqt, raw or npy (default: eqt)
  -o, --output OUT        output file (default '-': standard output; eqinfo
                          will not write tokens to a terminal)
  --verify                decode the result in memory and compare it with the
                          input; prints "verified: N bytes round-trip" or
                          fails with exit code 1 (and writes nothing)
  --threads N             threads for equal-info encoding (its segments,
                          --segment-bytes) and --verify's decoding (0: all
                          cores; default 1); the tokens never depend on it
  --progress              show progress on stderr: bytes, percent, MB/s, ETA
                          (automatic above 4 MiB)
  -h, --help              show this help

examples:
  eqinfo encode -o text.eqt text.txt
  eqinfo encode --model en.unigram -b 32 -N 8 --verify -o text.eqt text.txt
  eqinfo encode --method static-ac --model en.unigram --format npy \
      -o text.npy text.txt
)";

constexpr const char* decode_help =
    R"(usage: eqinfo decode [OPTIONS] [IN]

Decodes tokens from IN (default '-': standard input) back into bytes. The
format is detected from the file's magic bytes (.eqt, .npy), or given with
--format. An .eqt file carries its own settings; settings options given
anyway must match them, and --model must be the model it was encoded with
(it may be left out only if the file was made with the uniform model or by
--method bytes). Raw and npy tokens carry nothing: give the same settings as
for encoding plus --bytes COUNT, or --bare.

options:
  --format FORMAT         eqt, raw or npy (default: detect; raw must be given)
  --bytes COUNT           the number of bytes the tokens encode (raw, npy)
  --bare                  decode without a byte count, by the bare rule (for
                          tokens sampled from a model): bytes as they are, ac
                          to the bytes its bits determine, equal-info window
                          by window
  --threads N             decode equal-info windows on N threads (0: all
                          cores; default 1): the same bytes and errors, but
                          progress shows only the start and the end
)"
    "%SETTINGS%"
    R"(  -o, --output OUT        output file (default '-': standard output)
  --progress              show progress on stderr: bytes, percent, MB/s, ETA
                          (automatic above 4 MiB)
  -h, --help              show this help

examples:
  eqinfo decode -o text.txt text.eqt
  eqinfo decode --model en.unigram -o text.txt text.eqt
  eqinfo decode --format raw -b 32 -N 8 --model en.unigram --bytes 5120 \
      -o text.txt text.raw
)";

constexpr const char* stats_help =
    R"(usage: eqinfo stats [OPTIONS] FILE...

Encodes each FILE (one example each, in memory; '-' is standard input) and
prints its size in bytes, tokens, bytes per token and bits per byte
(tokens * N / bytes; 8 means no compression). For equal-info it also prints
the number of windows and the mean bytes per window. With more than one
FILE a total row follows.

options:
  --all                   for each FILE, a table with one row per method:
                          bytes; ac (uniform model); static-ac (if --model);
                          equal-info with b = 16, 32, 64, 128 and N = 16, 8
                          where valid (b a multiple of N and b >= P), using
                          --model if given, else the uniform model (with an
                          M1 --model, plain ac is measured with both)
  --threads N             encode the files and methods on N threads (0: all
                          cores; default 1); the numbers do not change
  --json                  print one JSON object instead of the tables, for
                          scripts: {"results": [{"file", "method", "model",
                          "settings", "bytes", "tokens", "bytes_per_token",
                          "bits_per_byte", "windows"}, ...], "totals": [...]}
)"
    "%SETTINGS%"
    R"(  --progress              print timing lines on stderr (automatic above 4 MiB)
  -h, --help              show this help

examples:
  eqinfo stats --model en.unigram text.txt
  eqinfo stats --all --model en.unigram text.txt
  eqinfo stats --method ac --model en.unigram a.txt b.txt
  eqinfo stats --all --threads 0 --model m1.safetensors text.txt
)";

constexpr const char* train_help =
    R"(usage: eqinfo train-unigram [OPTIONS] FILE... -o OUT

Counts every byte of all FILEs ('-' is standard input) and saves the counts
as a unigram model file (magic "EQINFOUG", with the precision P it is
quantised at by default). With --method static-ac it gives the paper's
StaticAC; with equal-info, windows coded by a unigram model. Prints the
empirical entropy of the bytes and the rate of the quantised model on stderr.

options:
  -P, --precision BITS    stored CDF precision P, 8..24 (default: 16)
  -o, --output OUT        model file to write (required; '-' for stdout)
  -h, --help              show this help

examples:
  eqinfo train-unigram corpus/*.txt -o en.unigram
  eqinfo train-unigram -P 20 -o en20.unigram big.txt
)";

constexpr const char* m1_random_help =
    R"(usage: eqinfo m1-random [OPTIONS] -o OUT

Writes an M1 model file (safetensors, docs/m1.md) with fixed pseudo-random
weights from --seed (transformer_weights::random: the same file on every
machine). For tests and demos: it predicts nothing useful. The file has no
self-test vectors; add them with 'eqinfo m1-seal'. Defaults: the paper's "3m".

options:
  --layers N              Transformer blocks (default: 3)
  --d-model N             residual width (default: 256)
  --heads N               attention heads (default: 4)
  --head-dim N            width per head (default: 64)
  --d-ff N                MLP width (default: 1024)
  --context N             positions attended over, BOS included (default: 1024)
  --seed N                weight seed (default: 1)
  -o, --output OUT        model file to write (required)
  -h, --help              show this help

examples:
  eqinfo m1-random -o m1-3m-random.safetensors
  eqinfo m1-random --layers 1 --d-model 32 --heads 2 --head-dim 16 --d-ff 64 \
      --context 128 -o tiny.safetensors
)";

constexpr const char* m1_seal_help =
    R"(usage: eqinfo m1-seal MODEL -o OUT [--input FILE]...

Rewrites the M1 model file MODEL as OUT with self-test vectors made by this
build (same tensors, so the same fingerprint: token files stay valid). Every
load of OUT re-encodes the vectors and fails with "self_test_failed" if this
build's M1 numerics differ from the build that sealed it. MODEL's own
self-tests are not run (they are replaced). Vectors: settings equal-info
b=16 N=16 P=16 rule delay, and ac N=16 P=16, each on a few short fixed inputs
plus every --input FILE truncated to 4 KB (long inputs make every load
slower).

options:
  --input FILE            also make vectors from FILE (first 4 KB; repeatable)
  -o, --output OUT        model file to write (required; may equal MODEL)
  -h, --help              show this help

examples:
  eqinfo m1-seal m1.safetensors -o m1.sealed.safetensors --input sample.txt
)";

constexpr const char* m1_dump_help =
    R"(usage: eqinfo m1-dump MODEL INPUT OUT [--precision P]

Writes M1's next-byte CDFs for the bytes of INPUT as uint32 little-endian
[n, 257], n = size of INPUT: row i is the integer CDF (total 2^P) of byte i
given BOS and the bytes before it in its block (the plain-AC context rule of
docs/m1.md; for inputs shorter than the context, BOS + bytes[0:i]), exactly
what the coder uses. training.compare_with_eqinfo checks it against the
PyTorch reference, which must give the same integers (docs/m1-integer.md).

options:
  -P, --precision P       CDF precision in bits (default %DEF_P%)
  -h, --help              show this help

examples:
  eqinfo m1-dump m1.safetensors text.txt cdfs.u32
  python3 -m training.compare_with_eqinfo m1.safetensors text.txt \
      "build/release/tools/eqinfo m1-dump"      (from the repository root)
)";

constexpr const char* m1_quantize_help =
    R"(usage: eqinfo m1-quantize MODEL -o OUT [--input FILE]...

Converts an M1 model file of format version 1 (float32 matrices) to version 2,
which this build runs: every matrix is quantised to int8 row by row with one
float scale per row (docs/m1-integer.md), then sealed with self-test vectors
as 'eqinfo m1-seal' does (--input adds text to them). The tokens of the
converted model differ from the float model's: token files made with a
version 1 model cannot be decoded by this build.

options:
  -o, --output OUT        the version 2 model file to write
  --input FILE            also seal the first 4 KiB of FILE (repeatable)
  -h, --help              show this help

examples:
  eqinfo m1-quantize old-m1.safetensors -o m1.safetensors
)";

constexpr const char* shard_help =
    R"(usage: eqinfo shard [OPTIONS] --out DIR INPUT...

Turns a corpus into token shards for training (docs/format.md, "Token
shards"). INPUT is a file or a directory: a directory stands for every file
below it, sorted by relative path, hidden files and directories skipped.
A file ending in .jsonl holds one document per non-blank line (a JSON object;
the document is its --text-field string); any other file is one document of
raw bytes. The documents are joined with --separator into one stream, which
is cut into examples of --example-bytes (the last one shorter); with
--keep-documents every document is cut on its own instead. Each example is
encoded on its own (in parallel; the tokens do not depend on --threads), and
every --shard-examples examples make one shard in DIR:

  shard-000000.npy       the tokens of its examples, concatenated: uint16 for
                         N <= 16 (also bytes), else uint32 (--format raw:
                         shard-000000.bin, little-endian, no header)
  shard-000000.idx.npy   int64 [examples, 6]: stream_offset, document,
                         document_offset, byte_count, token_offset, token_count
  shard-000000.docs.npy  int64 [documents, 3]: document, stream_offset,
                         byte_count of each document the shard holds bytes of
  shard-000000.windows.npy  with --window-offsets: uint32, the byte count of
                         every window (the bytes each token stands for)
  manifest.json          settings, model fingerprint, inputs (sizes, CRC-32),
                         every shard's files with sizes and CRC-32; written last

Every file is written to a temporary name, fsync'd and renamed, and a record
of each finished shard is kept in DIR/.eqinfo-shard until the end. If the run
is interrupted, the same command resumes it, keeping the finished shards; the
result is byte-identical to an uninterrupted run. A DIR holding another run
(other settings, model or inputs) is refused. Memory holds one shard's
examples, whatever the corpus size.

options:
)"
    "%SETTINGS%"
    R"(  --out DIR               the output directory (required; new, empty, or an
                          earlier run of the same command)
  --example-bytes BYTES   bytes per example (default: 10240, the paper's)
  --shard-examples N      examples per shard (default: 1024)
  --separator TEXT        bytes between joined documents, C escapes allowed:
                          \n \t \r \\ \0 \xHH (default: "\n\n")
  --keep-documents        cut each document into examples on its own (no
                          example spans two documents; no separator)
  --text-field NAME       the .jsonl field holding the document (default: text)
  --format FORMAT         npy or raw, for the token files (default: npy)
  --window-offsets        also store every window's byte count (equal-info),
                          to map M2's loss per token back to bytes
  --threads N             encode on N threads (0: all cores; default 0)
  --progress              show progress on stderr: input MB, percent, MB/s,
                          ETA (automatic above 4 MiB of input)
  -h, --help              show this help

examples:
  eqinfo shard --model en.unigram --out shards/ corpus/
  eqinfo shard --model m1.safetensors -b 16 -N 16 --out shards/ train.jsonl
  eqinfo shard --method bytes --format raw --keep-documents --out raw/ books/
)";

constexpr const char* verify_help =
    R"(usage: eqinfo verify [OPTIONS] DIR

Checks the token shards in DIR (made by 'eqinfo shard') against their
sources: re-reads every input file named in DIR/manifest.json (relative
paths from the current directory, as when sharding), checks each shard
file's size and CRC-32, the index and document tables, and decodes every
example exactly, comparing it with its source bytes. Prints a summary and
exits 0 only if everything matches; otherwise exits 1 naming the first
mismatching shard and example.

options:
  --model FILE            the model the shards were made with (default: the
                          path recorded in the manifest); its fingerprint
                          must match the manifest's
  --threads N             decode on N threads (0: all cores; default 0)
  --progress              show progress on stderr (automatic above 4 MiB)
  -h, --help              show this help

examples:
  eqinfo verify shards/
  eqinfo verify --model en.unigram --threads 4 shards/
)";

std::string help_text(const std::string& command) {
  std::string text;
  if (command == "encode")
    text = encode_help;
  else if (command == "decode")
    text = decode_help;
  else if (command == "stats")
    text = stats_help;
  else if (command == "train-unigram")
    text = train_help;
  else if (command == "shard")
    text = shard_help;
  else if (command == "verify")
    return verify_help;
  else if (command == "m1-random")
    return m1_random_help;
  else if (command == "m1-seal")
    return m1_seal_help;
  else if (command == "m1-dump")
    text = m1_dump_help;
  else if (command == "m1-quantize")
    return m1_quantize_help;
  else
    return main_help;
  const eqinfo::settings defaults;
  const std::pair<std::string_view, std::string> fields[] = {
      {"%SETTINGS%", settings_help},
      {"%DEF_B%", std::to_string(defaults.window_bits)},
      {"%DEF_S%", std::to_string(defaults.segment_bytes)},
      {"%DEF_N%", std::to_string(defaults.token_bits)},
      {"%DEF_P%", std::to_string(defaults.precision_bits)},
      {"%DEF_RULE%", std::string(eqinfo::user_name(defaults.rule))},
  };
  for (const auto& [key, value] : fields)
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
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

// ---------------------------------------------------------------------------
// Command-line parsing

struct option_spec {
  std::string_view long_name;
  char short_name;  // 0: none
  bool takes_value;
};

constexpr option_spec all_options[] = {
    {"method", 0, true},         {"window-bits", 'b', true},
    {"token-bits", 'N', true},   {"precision", 'P', true},
    {"rule", 0, true},           {"segment-bytes", 0, true},
    {"model", 0, true},          {"format", 0, true},
    {"output", 'o', true},       {"bytes", 0, true},
    {"verify", 0, false},        {"bare", 0, false},
    {"all", 0, false},           {"progress", 0, false},
    {"help", 'h', false},        {"json", 0, false},
    {"threads", 0, true},        {"input", 0, true},
    {"layers", 0, true},         {"d-model", 0, true},
    {"heads", 0, true},          {"head-dim", 0, true},
    {"d-ff", 0, true},           {"context", 0, true},
    {"seed", 0, true},           {"out", 0, true},
    {"text-field", 0, true},     {"separator", 0, true},
    {"example-bytes", 0, true},  {"keep-documents", 0, false},
    {"shard-examples", 0, true}, {"window-offsets", 0, false},
};

struct parsed_args {
  std::map<std::string, std::string, std::less<>> values;  // long name -> value ("" for flags); the last one
  std::map<std::string, std::vector<std::string>, std::less<>> lists;  // long name -> every value, in order
  std::vector<std::string> positional;

  bool has(std::string_view name) const { return values.find(name) != values.end(); }
  std::optional<std::string> get(std::string_view name) const {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
};

/// Parses `args` for `command`, accepting only the options in `allowed`.
/// Forms: --name VALUE, --name=VALUE, -x VALUE, -xVALUE, flags; '--' ends
/// the options; '-' is a positional argument (stdin/stdout).
parsed_args parse_args(const std::string& command, std::span<const std::string> args,
                       std::initializer_list<std::string_view> allowed) {
  parsed_args out;
  auto is_allowed = [&](std::string_view name) {
    return std::find(allowed.begin(), allowed.end(), name) != allowed.end() || name == "help";
  };
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
    const option_spec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = arg;
    if (arg[1] == '-') {
      std::string name = arg.substr(2);
      if (const auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
        shown = "--" + name;
      }
      for (const auto& s : all_options)
        if (s.long_name == name) spec = &s;
    } else {
      shown = arg.substr(0, 2);
      for (const auto& s : all_options)
        if (s.short_name != 0 && s.short_name == arg[1]) spec = &s;
      if (spec && arg.size() > 2) {
        if (!spec->takes_value) usage(command, "unknown option '" + arg + "'");
        inline_value = arg.substr(2);
      }
    }
    if (!spec || !is_allowed(spec->long_name)) usage(command, "unknown option '" + shown + "'");
    std::string value;
    if (spec->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= args.size()) usage(command, "option '" + shown + "' needs a value");
        value = args[++i];
      }
    } else if (inline_value) {
      usage(command, "option '" + shown + "' takes no value");
    }
    out.values[std::string(spec->long_name)] = value;
    out.lists[std::string(spec->long_name)].push_back(value);
  }
  return out;
}

std::uint64_t parse_number(const std::string& command, const std::string& option, const std::string& text,
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

// ---------------------------------------------------------------------------
// Files

bool is_stdio(const std::string& path) { return path.empty() || path == "-"; }
std::string display_name(const std::string& path) { return is_stdio(path) ? "<stdin>" : path; }

bytes_t read_input(const std::string& path) {
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

void write_output(const std::string& path, std::span<const std::uint8_t> data) {
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

std::span<const std::uint8_t> as_bytes(std::span<const unsigned char> s) { return {s.data(), s.size()}; }

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

std::string method_name(const eqinfo::settings& s, bool unigram) {
  return std::string(eqinfo::user_name(s.kind, unigram));
}

std::string rule_name(eqinfo::window_rule r) { return std::string(eqinfo::user_name(r)); }

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

std::string describe(const eqinfo::settings& s, const std::string& model) {
  std::string out = method_name(s, false);
  if (s.kind == eqinfo::method::bytes) return out + " N=8";
  if (s.kind == eqinfo::method::equal_info_ac) out += " b=" + std::to_string(s.window_bits);
  out += " N=" + std::to_string(s.token_bits) + " P=" + std::to_string(s.precision_bits);
  if (s.kind == eqinfo::method::equal_info_ac)
    out += " rule=" + rule_name(s.rule) + " S=" + std::to_string(s.segment_bytes);
  return out + " model=" + model;
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
std::vector<std::string> bundled_m1_candidates() {
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
std::string default_model_path() {
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
model_option load_model(const parsed_args& a) {
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

std::string model_kind(const model_option& m) { return m.m1 ? "m1" : m.unigram ? "unigram" : "uniform"; }

/// Settings from the options, with the library's defaults (eqinfo::settings{})
/// for those not given; P defaults to the --model file's precision.
struct chosen {
  eqinfo::settings config;
  bool static_ac = false;
};

chosen settings_from_args(const std::string& command, const parsed_args& a, const model_option& model,
                          bool quiet_notes = false) {
  chosen c;
  eqinfo::settings& s = c.config;
  const std::string m = a.get("method").value_or("equal-info");
  const auto named = eqinfo::parse_method_name(m);
  if (!named) usage(command, "unknown method '" + m + "' (use bytes, ac, static-ac or equal-info)");
  s.kind = named->kind;
  c.static_ac = named->static_ac;
  if (c.static_ac) {
    if (model.m1) usage(command, "--method static-ac needs a unigram model; with an M1 model use --method ac");
    if (!model.unigram) usage(command, "--method static-ac needs a unigram model: --model FILE");
  }
  if (auto v = a.get("window-bits"))
    s.window_bits = static_cast<unsigned>(parse_number(command, "--window-bits", *v, 1, eqinfo::max_window_bits));
  if (auto v = a.get("token-bits"))
    s.token_bits = static_cast<unsigned>(parse_number(command, "--token-bits", *v, 1, eqinfo::max_token_bits));
  if (auto v = a.get("precision"))
    s.precision_bits = static_cast<unsigned>(
        parse_number(command, "--precision", *v, eqinfo::min_precision_bits, eqinfo::max_precision_bits));
  else if (model.unigram)
    s.precision_bits = model.unigram->precision_bits();
  if (auto v = a.get("segment-bytes"))
    s.segment_bytes = parse_number(command, "--segment-bytes", *v, 0, std::uint64_t{1} << 48);
  if (auto r = a.get("rule")) {
    const auto rule = eqinfo::parse_window_rule(*r);
    if (!rule) usage(command, "unknown window rule '" + *r + "' (use greedy-exact or delay)");
    s.rule = *rule;
  }
  if (s.kind != eqinfo::method::equal_info_ac) s.segment_bytes = 0;  // segments are equal-info's alone
  if (s.kind == eqinfo::method::bytes) {
    if (a.has("token-bits") && s.token_bits != 8) usage(command, "--method bytes always uses 8-bit tokens (-N 8)");
    s.token_bits = 8;
    s.precision_bits = 16;
    s.window_bits = 16;
    s.rule = eqinfo::window_rule::greedy_exact;
  }
  if (!quiet_notes && !a.has("all")) {
    if (s.kind != eqinfo::method::equal_info_ac && (a.has("window-bits") || a.has("rule") || a.has("segment-bytes")))
      note("--window-bits, --rule and --segment-bytes apply only to --method equal-info; ignored");
    if (s.kind == eqinfo::method::bytes && (a.has("precision") || a.has("model")))
      note("--method bytes uses no model; --precision and --model are ignored");
  }
  if (!a.has("all")) {
    try {
      s.validate();
    } catch (const eqinfo::error& e) {
      usage(command, std::string("invalid settings: ") + e.what());
    }
  }
  return c;
}

/// Calls f(tokenizer&, model name) with a tokenizer for `s`: M1 or the
/// unigram model (requantised to P) if one was given, else the uniform model.
template <class F>
void with_tokenizer(const eqinfo::settings& s, const model_option& model, F&& f) {
  if (model.m1 && s.kind != eqinfo::method::bytes) {
    eqinfo::tokenizer tok(model.m1->model(s.precision_bits), s);
    f(tok, "m1");
  } else if (model.unigram && s.kind != eqinfo::method::bytes) {
    eqinfo::tokenizer tok(model.unigram->with_precision(s.precision_bits), s);
    f(tok, "unigram");
  } else {
    eqinfo::tokenizer tok(eqinfo::uniform_model(s.kind == eqinfo::method::bytes ? 16 : s.precision_bits), s);
    f(tok, s.kind == eqinfo::method::bytes ? "none" : "uniform");
  }
}

void model_notes(const eqinfo::settings& s, const model_option& model, const parsed_args& a) {
  if (s.kind == eqinfo::method::bytes) return;
  if (!model.given()) {
    if (!a.get("model")) note("EQINFO_MODEL=uniform: the uniform model compresses nothing (8 bits/byte)");
  } else if (model.unigram && a.has("precision") && model.unigram->precision_bits() != s.precision_bits) {
    note("requantising " + model.path + " from P=" + std::to_string(model.unigram->precision_bits()) +
         " to P=" + std::to_string(s.precision_bits));
  }
}

// ---------------------------------------------------------------------------
// encode

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

/// --threads N: 0 means all cores (TBB's default), the default is 1. More
/// threads than cores raise TBB's process-wide worker limit for the rest of
/// the run: that is the application's decision, so the tool makes it, not
/// the library (parallel.hpp).
unsigned parse_threads(const std::string& command, const parsed_args& a) {
  if (auto v = a.get("threads")) {
    const auto n = static_cast<unsigned>(parse_number(command, "--threads", *v, 0, 4096));
    static std::optional<tbb::global_control> limit;
    if (n > static_cast<unsigned>(tbb::info::default_concurrency()))
      limit.emplace(tbb::global_control::max_allowed_parallelism, std::size_t{n});
    return n;
  }
  return 1;
}

/// Exact (byte_count) or bare decoding; equal-info windows on `threads`
/// threads (parallel.hpp: the same bytes and errors) unless threads == 1.
template <class Tokenizer>
bytes_t decode_tokens(Tokenizer& tok, std::span<const eqinfo::token_t> tokens, std::optional<std::uint64_t> byte_count,
                      unsigned threads) {
  if (threads != 1 && tok.config().kind == eqinfo::method::equal_info_ac)
    return eqinfo::decode_windows_parallel(tok, tokens, byte_count, threads);
  return byte_count ? tok.decode(tokens, *byte_count) : tok.decode_bare(tokens);
}

int cmd_encode(std::span<const std::string> args) {
  const std::string cmd = "encode";
  const parsed_args a = parse_args(cmd, args,
                                   {"method", "window-bits", "token-bits", "precision", "rule", "segment-bytes",
                                    "model", "format", "output", "verify", "progress", "threads"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.size() > 1) usage(cmd, "one input file at most (got " + std::to_string(a.positional.size()) + ")");
  const std::string in_path = a.positional.empty() ? "-" : a.positional[0];
  const std::string out_path = a.get("output").value_or("-");
  const token_format format = parse_format(cmd, a.get("format").value_or("eqt"));
  const unsigned threads = parse_threads(cmd, a);
  if (is_stdio(out_path) && isatty(STDOUT_FILENO))
    usage(cmd, "refusing to write binary tokens to a terminal; use -o FILE or a pipe");

  const model_option model = load_model(a);
  const chosen c = settings_from_args(cmd, a, model);
  const eqinfo::settings& s = c.config;
  model_notes(s, model, a);
  const bytes_t input = read_input(in_path);

  std::vector<unsigned char> output;
  std::size_t token_count = 0;
  with_tokenizer(s, model, [&](auto& tok, const char* model_name) {
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

int cmd_decode(std::span<const std::string> args) {
  const std::string cmd = "decode";
  const parsed_args a = parse_args(cmd, args,
                                   {"method", "window-bits", "token-bits", "precision", "rule", "segment-bytes",
                                    "model", "format", "output", "bytes", "bare", "progress", "threads"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.size() > 1) usage(cmd, "one input file at most (got " + std::to_string(a.positional.size()) + ")");
  const std::string in_path = a.positional.empty() ? "-" : a.positional[0];
  const std::string name = display_name(in_path);
  const std::string out_path = a.get("output").value_or("-");
  if (is_stdio(in_path) && isatty(STDIN_FILENO)) usage(cmd, "no input: give a token file or pipe tokens in");
  const bool bare = a.has("bare");
  const unsigned threads = parse_threads(cmd, a);
  std::optional<std::uint64_t> byte_count;
  if (auto v = a.get("bytes"))
    byte_count = parse_number(cmd, "--bytes", *v, 0, std::numeric_limits<std::uint64_t>::max());
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
    eqinfo::settings s = file.config;
    if (a.has("method") || a.has("window-bits") || a.has("token-bits") || a.has("precision") || a.has("rule") ||
        a.has("segment-bytes")) {
      parsed_args merged = a;
      if (!a.has("method"))
        merged.values["method"] = file.config.kind == eqinfo::method::bytes ? "bytes"
                                  : file.config.kind == eqinfo::method::ac  ? "ac"
                                                                            : "equal-info";
      if (!a.has("window-bits")) merged.values["window-bits"] = std::to_string(file.config.window_bits);
      if (!a.has("token-bits")) merged.values["token-bits"] = std::to_string(file.config.token_bits);
      if (!a.has("precision")) merged.values["precision"] = std::to_string(file.config.precision_bits);
      if (!a.has("rule")) merged.values["rule"] = rule_name(file.config.rule);
      if (!a.has("segment-bytes")) merged.values["segment-bytes"] = std::to_string(file.config.segment_bytes);
      if (merged.get("method") == "static-ac" && !model.unigram)
        usage(cmd, model.m1 ? "--method static-ac needs a unigram model; with an M1 model use --method ac"
                            : "--method static-ac needs a unigram model: --model FILE");
      s = settings_from_args(cmd, merged, model, true).config;
    }
    if (s.kind != eqinfo::method::bytes && !model.given() &&
        file.model_fingerprint != eqinfo::uniform_model(s.precision_bits).fingerprint())
      throw eqinfo::error(eqinfo::errc::settings_mismatch,
                          name + ": the tokens were made with the model with fingerprint " +
                              eqinfo::detail::hex32(file.model_fingerprint) +
                              ", not the uniform model; give that model with --model FILE");
    with_tokenizer(s, model, [&](auto& tok, const char*) {
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
    with_tokenizer(s, model, [&](auto& tok, const char*) {
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
  with_tokenizer(s, model, [&](auto& tok, const char* model_name) {
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

std::string fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
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

int cmd_stats(std::span<const std::string> args) {
  const std::string cmd = "stats";
  const parsed_args a = parse_args(cmd, args,
                                   {"method", "window-bits", "token-bits", "precision", "rule", "segment-bytes",
                                    "model", "all", "progress", "threads", "json"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.empty()) usage(cmd, "no input files");
  const unsigned threads = parse_threads(cmd, a);
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
          with_tokenizer(configs[i].first, model_for(i), [&](auto& tok, const char*) {
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
  std::string json_results;  // the --json "results" array's items
  const auto json_item = [](const std::string& file, const measurement& m) {
    const eqinfo::settings& s = m.config;
    std::string o = "{";
    if (!file.empty()) o += "\"file\": \"" + eqinfo::detail::json_escape(file) + "\", ";
    o += "\"method\": \"" + eqinfo::detail::json_escape(m.label) + "\", \"model\": \"" +
         eqinfo::detail::json_escape(m.model) + "\", \"settings\": {\"method\": \"" +
         std::string(eqinfo::to_string(s.kind)) + "\", \"token_bits\": " + std::to_string(s.token_bits);
    if (s.kind != eqinfo::method::bytes) o += ", \"precision_bits\": " + std::to_string(s.precision_bits);
    if (s.kind == eqinfo::method::equal_info_ac)
      o += ", \"window_bits\": " + std::to_string(s.window_bits) + ", \"rule\": \"" +
           std::string(eqinfo::to_string(s.rule)) + "\", \"segment_bytes\": " + std::to_string(s.segment_bytes);
    const double b = static_cast<double>(m.bytes), t = static_cast<double>(m.tokens);
    char numbers_text[160];
    std::snprintf(numbers_text, sizeof numbers_text,
                  "}, \"bytes\": %llu, \"tokens\": %llu, \"bytes_per_token\": %s, \"bits_per_byte\": %s",
                  static_cast<unsigned long long>(m.bytes), static_cast<unsigned long long>(m.tokens),
                  m.tokens ? std::to_string(b / t).c_str() : "null",
                  m.bytes ? std::to_string(t * s.token_bits / b).c_str() : "null");
    o += numbers_text;
    o += ", \"windows\": " + (s.kind == eqinfo::method::equal_info_ac ? std::to_string(m.tokens / s.tokens_per_window())
                                                                      : std::string("null"));
    return o + "}";
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
      if (json) json_results += (json_results.empty() ? "\n    " : ",\n    ") + json_item(name, m);
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
    std::string totals_text;
    for (const auto& m : totals) totals_text += (totals_text.empty() ? "\n    " : ",\n    ") + json_item("", m);
    std::printf("{\n  \"results\": [%s\n  ],\n  \"totals\": [%s\n  ]\n}\n", json_results.c_str(), totals_text.c_str());
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

// ---------------------------------------------------------------------------
// shard and verify (the pipeline itself: shard_pipeline.hpp)

/// --separator TEXT: C escapes \n \t \r \a \b \f \v \\ \" \' \0 (octal up to
/// three digits) and \xHH.
std::string unescape_c(const std::string& command, const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (++i == text.size()) usage(command, "--separator ends in a lone backslash");
    const char c = text[i];
    const std::string_view simple = "n\nt\tr\ra\ab\bf\fv\v\\\\\"\"''";
    if (const auto at = simple.find(c); at != std::string_view::npos && at % 2 == 0) {
      out.push_back(simple[at + 1]);
    } else if (c >= '0' && c <= '7') {
      unsigned v = 0;
      for (std::size_t k = 0; k < 3 && i < text.size() && text[i] >= '0' && text[i] <= '7'; ++k, ++i)
        v = v * 8 + static_cast<unsigned>(text[i] - '0');
      --i;
      if (v > 255) usage(command, "--separator: octal escape above \\377");
      out.push_back(static_cast<char>(v));
    } else if (c == 'x') {
      unsigned v = 0, digits = 0;
      for (; digits < 2 && i + 1 < text.size() && eqinfo::detail::hex_value(text[i + 1]) >= 0; ++digits)
        v = v * 16 + static_cast<unsigned>(eqinfo::detail::hex_value(text[++i]));
      if (digits == 0) usage(command, "--separator: \\x needs hex digits");
      out.push_back(static_cast<char>(v));
    } else {
      usage(command, std::string("--separator: unknown escape '\\") + c + "'");
    }
  }
  return out;
}

std::string count_with_commas(std::uint64_t n) {
  std::string s = std::to_string(n);
  for (std::size_t i = s.size(); i > 3; i -= 3) s.insert(i - 3, ",");
  return s;
}

/// Progress hooks for the pipeline, reported through `progress`.
eqinfo::tool::shard_hooks hooks_for(progress_report& progress) {
  eqinfo::tool::shard_hooks hooks;
  if (progress.enabled())
    hooks.progress = [&progress](std::uint64_t done, std::uint64_t total) { progress.update(done, total); };
  hooks.note = [](const std::string& s) { note(s); };
  return hooks;
}

int cmd_shard(std::span<const std::string> args) {
  const std::string cmd = "shard";
  const parsed_args a = parse_args(
      cmd, args,
      {"method", "window-bits", "token-bits", "precision", "rule", "segment-bytes", "model", "format", "out", "threads",
       "progress", "text-field", "separator", "example-bytes", "keep-documents", "shard-examples", "window-offsets"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (!a.has("out") || a.get("out")->empty()) usage(cmd, "no output directory: give --out DIR");
  if (a.positional.empty()) usage(cmd, "no inputs: give files, .jsonl files or directories");
  for (const std::string& p : a.positional)
    if (is_stdio(p))
      usage(cmd, "standard input cannot be sharded (resuming and 'eqinfo verify' re-read the sources); give files");
  const std::string out = *a.get("out");
  const unsigned threads = a.has("threads") ? parse_threads(cmd, a) : 0;

  eqinfo::shard_manifest job;
  job.token_format = a.get("format").value_or("npy");
  if (job.token_format != "npy" && job.token_format != "raw")
    usage(cmd, "unknown format '" + job.token_format + "' (use npy or raw)");
  if (auto v = a.get("example-bytes")) job.example_bytes = parse_number(cmd, "--example-bytes", *v, 1, 1u << 30);
  if (auto v = a.get("shard-examples")) job.shard_examples = parse_number(cmd, "--shard-examples", *v, 1, 1u << 24);
  if (auto v = a.get("separator")) job.separator = unescape_c(cmd, *v);
  if (auto v = a.get("text-field")) job.text_field = *v;
  job.keep_documents = a.has("keep-documents");
  job.window_bytes = a.has("window-offsets");
  if (job.keep_documents && a.has("separator")) note("--separator does not apply with --keep-documents; ignored");

  const model_option model = load_model(a);
  const chosen c = settings_from_args(cmd, a, model);
  const eqinfo::settings& s = c.config;
  model_notes(s, model, a);
  // The same job as eqinfo.dask's (python/src/shard_bindings.cpp).
  eqinfo::tool::complete_shard_job(job, s, model_kind(model), model.path, a.positional, out);
  std::uint64_t input_bytes = 0;
  for (const auto& in : job.inputs) input_bytes += in.size;

  eqinfo::tool::shard_summary summary;
  with_tokenizer(s, model, [&](auto& tok, const char*) {
    job.model_fingerprint = eqinfo::model_fingerprint(tok.model());
    progress_report progress(a.has("progress"), "sharding", "sharded",
                             std::to_string(job.inputs.size()) + " input file" + (job.inputs.size() == 1 ? "" : "s"),
                             input_bytes);
    summary = eqinfo::tool::write_shards(tok, job, out, threads, hooks_for(progress));
    progress.finish(std::to_string(summary.shards) + " shards");
  });
  if (summary.already_complete) {
    note(out + " is already complete (manifest.json); nothing to do");
  } else if (summary.resumed > 0) {
    note("kept " + std::to_string(summary.resumed) + " shard" + (summary.resumed == 1 ? "" : "s") +
         " an interrupted run had finished");
  }
  std::fprintf(
      stderr, "eqinfo: %s: %zu shard%s, %s examples, %s bytes -> %s tokens (%s, %s)%s\n", out.c_str(), summary.shards,
      summary.shards == 1 ? "" : "s", count_with_commas(summary.examples).c_str(),
      count_with_commas(summary.bytes).c_str(), count_with_commas(summary.tokens).c_str(),
      job.token_width() == 2 ? "uint16" : "uint32", describe(s, job.model_kind).c_str(),
      summary.tokens
          ? (", " + fixed(static_cast<double>(summary.bytes) / static_cast<double>(summary.tokens), 3) + " bytes/token")
                .c_str()
          : "");
  return 0;
}

int cmd_verify(std::span<const std::string> args) {
  const std::string cmd = "verify";
  const parsed_args a = parse_args(cmd, args, {"model", "threads", "progress"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.size() != 1) usage(cmd, "give exactly one shard directory");
  const std::string dir = a.positional[0];
  const unsigned threads = a.has("threads") ? parse_threads(cmd, a) : 0;
  const eqinfo::shard_manifest m = eqinfo::load_shard_manifest(dir);
  if (m.stream_format < 1 || m.stream_format > EQINFO_STREAM_FORMAT)
    throw eqinfo::error(eqinfo::errc::unsupported_version,
                        dir + "/manifest.json: token stream format " + std::to_string(m.stream_format) +
                            "; this build reads formats 1 to " + std::to_string(EQINFO_STREAM_FORMAT));
  parsed_args for_model;
  if (auto path = a.get("model")) {
    for_model.values["model"] = *path;
  } else if (m.config.kind != eqinfo::method::bytes && (m.model_kind == "unigram" || m.model_kind == "m1")) {
    if (m.model_path.empty())
      throw eqinfo::error(eqinfo::errc::settings_mismatch,
                          dir + "/manifest.json names no model file; give it with --model FILE");
    note("using the model the manifest names: " + m.model_path);
    for_model.values["model"] = m.model_path;
  } else {
    for_model.values["model"] = "uniform";  // the bytes method, or shards made with the uniform model
  }
  const model_option model = load_model(for_model);
  if (m.config.kind != eqinfo::method::bytes && m.model_kind == "unigram" && !model.unigram)
    throw eqinfo::error(eqinfo::errc::settings_mismatch,
                        "the shards were made with a unigram model; " + model_kind(model) + " given");
  eqinfo::tool::verify_summary summary;
  with_tokenizer(m.config, model, [&](auto& tok, const char*) {
    std::uint64_t input_bytes = 0;
    for (const auto& in : m.inputs) input_bytes += in.size;
    progress_report progress(a.has("progress"), "verifying", "verified", dir, input_bytes);
    summary = eqinfo::tool::verify_shards(tok, m, dir, threads, hooks_for(progress));
    progress.finish(std::to_string(summary.shards) + " shards");
  });
  std::printf(
      "verified %s: %zu shard%s, %s examples, %s bytes, %s tokens from %zu input file%s (%s bytes): every "
      "example decodes to its source bytes\n",
      dir.c_str(), summary.shards, summary.shards == 1 ? "" : "s", count_with_commas(summary.examples).c_str(),
      count_with_commas(summary.bytes).c_str(), count_with_commas(summary.tokens).c_str(), summary.inputs,
      summary.inputs == 1 ? "" : "s", count_with_commas(summary.input_bytes).c_str());
  return 0;
}

// ---------------------------------------------------------------------------
// train-unigram

int cmd_train_unigram(std::span<const std::string> args) {
  const std::string cmd = "train-unigram";
  const parsed_args a = parse_args(cmd, args, {"precision", "output"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.empty()) usage(cmd, "no input files");
  if (!a.has("output")) usage(cmd, "no output file: give -o OUT");
  const unsigned p = a.has("precision")
                         ? static_cast<unsigned>(parse_number(cmd, "--precision", *a.get("precision"),
                                                              eqinfo::min_precision_bits, eqinfo::max_precision_bits))
                         : 16u;
  std::array<std::uint64_t, 256> counts{};
  std::uint64_t total = 0;
  for (const std::string& path : a.positional) {
    const bytes_t data = read_input(path);
    for (std::uint8_t byte : data) ++counts[byte];
    total += data.size();
  }
  const eqinfo::unigram_model model(counts, p);
  const std::string out = *a.get("output");
  const auto serialized = model.serialize();
  write_output(out, as_bytes(serialized));

  double entropy = 0, rate = 0;
  const eqinfo::cdf_table& cdf = model.predict();
  for (std::size_t i = 0; i < 256; ++i) {
    if (counts[i] == 0) continue;
    const double share = static_cast<double>(counts[i]) / static_cast<double>(total);
    const double q = static_cast<double>(cdf[i + 1] - cdf[i]) / std::ldexp(1.0, static_cast<int>(p));
    entropy -= share * std::log2(share);
    rate -= share * std::log2(q);
  }
  std::fprintf(stderr,
               "eqinfo: counted %llu bytes in %zu file%s: entropy %.3f bits/byte, quantised model %.3f bits/byte "
               "at P=%u\n",
               static_cast<unsigned long long>(total), a.positional.size(), a.positional.size() == 1 ? "" : "s",
               entropy, rate, p);
  std::fprintf(stderr, "eqinfo: wrote %s (fingerprint %s)\n", is_stdio(out) ? "<stdout>" : out.c_str(),
               eqinfo::detail::hex32(model.fingerprint()).c_str());
  if (total == 0) note("no bytes counted: the model is uniform");
  return 0;
}

// ---------------------------------------------------------------------------
// M1 model files: m1-random, m1-seal, m1-dump

int cmd_m1_random(std::span<const std::string> args) {
  const std::string cmd = "m1-random";
  const parsed_args a =
      parse_args(cmd, args, {"layers", "d-model", "heads", "head-dim", "d-ff", "context", "seed", "output"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (!a.positional.empty()) usage(cmd, "unexpected argument '" + a.positional[0] + "'");
  if (!a.has("output")) usage(cmd, "no output file: give -o OUT");
  eqinfo::transformer_config c;
  auto field = [&](const char* option, unsigned& value, std::uint64_t min, std::uint64_t max) {
    if (auto v = a.get(option))
      value = static_cast<unsigned>(parse_number(cmd, std::string("--") + option, *v, min, max));
  };
  field("layers", c.layers, 1, 256);
  field("d-model", c.d_model, 1, 16384);
  field("heads", c.heads, 1, 256);
  field("head-dim", c.head_dim, 1, 1024);
  field("d-ff", c.d_ff, 1, 65536);
  field("context", c.context, 2, 65536);
  const std::uint64_t seed =
      a.has("seed") ? parse_number(cmd, "--seed", *a.get("seed"), 0, std::numeric_limits<std::uint64_t>::max()) : 1;
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

int cmd_m1_seal(std::span<const std::string> args) {
  const std::string cmd = "m1-seal";
  const parsed_args a = parse_args(cmd, args, {"input", "output"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.size() != 1) usage(cmd, "give exactly one MODEL file");
  if (!a.has("output")) usage(cmd, "no output file: give -o OUT");
  const std::string& path = a.positional[0];
  const bytes_t data = read_input(path);
  if (!eqinfo::is_m1_file(data)) usage(cmd, display_name(path) + " is not an M1 model file (safetensors)");
  // Its old self-tests are being replaced: do not run them.
  const eqinfo::m1_file file =
      eqinfo::parse_m1(std::span<const unsigned char>(data.data(), data.size()), display_name(path), false);
  return write_sealed(a, file.weights);
}

int cmd_m1_quantize(std::span<const std::string> args) {
  const std::string cmd = "m1-quantize";
  const parsed_args a = parse_args(cmd, args, {"input", "output"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.size() != 1) usage(cmd, "give exactly one MODEL file");
  if (!a.has("output")) usage(cmd, "no output file: give -o OUT");
  const std::string& path = a.positional[0];
  const bytes_t data = read_input(path);
  if (!eqinfo::is_m1_file(data)) usage(cmd, display_name(path) + " is not an M1 model file (safetensors)");
  auto weights = std::make_shared<const eqinfo::transformer_weights>(
      eqinfo::quantize_m1_file(std::span<const unsigned char>(data.data(), data.size()), display_name(path)));
  return write_sealed(a, std::move(weights));
}

int cmd_m1_dump(std::span<const std::string> args) {
  const std::string cmd = "m1-dump";
  const parsed_args a = parse_args(cmd, args, {"precision"});
  if (a.has("help")) {
    std::fputs(help_text(cmd).c_str(), stdout);
    return 0;
  }
  if (a.positional.size() != 3) usage(cmd, "give MODEL INPUT OUT");
  const unsigned precision = a.has("precision")
                                 ? static_cast<unsigned>(parse_number(cmd, "--precision", *a.get("precision"), 9, 16))
                                 : eqinfo::settings{}.precision_bits;
  const std::string& model_path = a.positional[0];
  const bytes_t data = read_input(model_path);
  if (!eqinfo::is_m1_file(data)) usage(cmd, display_name(model_path) + " is not an M1 model file (safetensors)");
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

// ---------------------------------------------------------------------------

int run(std::span<const std::string> args) {
  if (args.empty()) usage("", "no command given");
  const std::string& command = args[0];
  const auto rest = args.subspan(1);
  if (command == "--help" || command == "-h") {
    std::fputs(main_help, stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    print_version();
    return 0;
  }
  if (command == "help") {
    if (rest.empty()) {
      std::fputs(main_help, stdout);
      return 0;
    }
    const std::string& topic = rest[0];
    if (topic != "encode" && topic != "decode" && topic != "stats" && topic != "train-unigram" &&
        topic != "m1-random" && topic != "m1-seal" && topic != "m1-dump" && topic != "m1-quantize" &&
        topic != "shard" && topic != "verify")
      usage("", "no help for unknown command '" + topic + "'");
    std::fputs(help_text(topic).c_str(), stdout);
    return 0;
  }
  if (command == "encode") return cmd_encode(rest);
  if (command == "decode") return cmd_decode(rest);
  if (command == "stats") return cmd_stats(rest);
  if (command == "shard") return cmd_shard(rest);
  if (command == "verify") return cmd_verify(rest);
  if (command == "train-unigram") return cmd_train_unigram(rest);
  if (command == "m1-random") return cmd_m1_random(rest);
  if (command == "m1-seal") return cmd_m1_seal(rest);
  if (command == "m1-dump") return cmd_m1_dump(rest);
  if (command == "m1-quantize") return cmd_m1_quantize(rest);
  if (!command.empty() && command[0] == '-') usage("", "unknown option '" + command + "'");
  usage("", "unknown command '" + command + "'");
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return run(args);
  } catch (const usage_error& e) {
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
