// SPDX-License-Identifier: MIT
#pragma once
// The corpus -> token shards pipeline behind `eqinfo shard` and `eqinfo
// verify` (docs/format.md, "Token shards"), and behind eqinfo.dask. A run is
// four steps, each callable on its own so that a cluster can run the third
// one per shard on any machine:
//   prepare_shard_dir  checks DIR and records the job (.eqinfo-shard/job.json)
//   plan_shards        reads and cuts the whole corpus once, without a model:
//                      per shard a reader_cursor, its size and source CRC,
//                      and the inputs' CRCs; bad input stops the run here,
//                      before any shard is written
//   write_one_shard    shard k from its cursor: encoded, written atomically,
//                      then its done-record (keeps a finished shard)
//   finish_shards      manifest.json, last
// write_shards runs them in order (the CLI), so the CLI and eqinfo.dask write
// the same bytes and resume each other's runs. Part of the tool (and of
// bench/parallel_bench.cpp and the Python bindings), not of the installed
// library: readers need only <eqinfo/shards.hpp>. POSIX (fsync).

#include "shard_inputs.hpp"

#include <eqinfo/parallel.hpp>
#include <eqinfo/shards.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/version.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tbb/enumerable_thread_specific.h>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

namespace eqinfo::tool {

// ---------------------------------------------------------------------------
// Files that are complete or absent: written to NAME.tmp, fsync'd, renamed.

inline void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw error(errc::io_error, dir.string() + ": cannot open the directory: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw error(errc::io_error, dir.string() + ": fsync failed: " + std::strerror(errno));
}

/// Writes `data` to `path` so that after a crash `path` is either absent (or
/// its old contents) or complete; the directory entry itself is made durable
/// by the caller's sync_directory.
/// `tmp_suffix` names the temporary file: distinct per writer where two
/// writers may make the same file at once (a Dask task and its retry).
inline void write_atomically(const fs::path& path, std::span<const unsigned char> data,
                             const std::string& tmp_suffix = ".tmp") {
  const std::string tmp = path.string() + tmp_suffix;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw error(errc::io_error, tmp + ": cannot open for writing: " + std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      throw error(errc::io_error, tmp + ": write failed: " + std::strerror(e));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    throw error(errc::io_error, tmp + ": fsync failed: " + std::strerror(e));
  }
  if (::close(fd) != 0) throw error(errc::io_error, tmp + ": close failed: " + std::strerror(errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw error(errc::io_error, path.string() + ": rename failed: " + std::strerror(errno));
}

/// ".<pid>.<random>.<n>.tmp": a temporary name no other process uses, also
/// on another machine sharing the directory.
inline std::string unique_tmp_suffix() {
  static const std::uint64_t salt = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  static std::atomic<std::uint64_t> counter{0};
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, ".%ld.%016llx.%llu.tmp", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(salt), static_cast<unsigned long long>(counter.fetch_add(1)));
  return buffer;
}

inline std::span<const unsigned char> as_span(const std::string& s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

inline std::optional<std::vector<unsigned char>> read_if_exists(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  return detail::read_file_bytes(path.string());
}

// ---------------------------------------------------------------------------
// The job: what must be equal for a directory to be resumed.

inline std::string c_escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\\')
      out += "\\\\";
    else if (u < 0x20 || u >= 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", u);
      out += buffer;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// (name, value) of everything that decides a directory's bytes.
inline std::vector<std::pair<std::string, std::string>> job_fields(const shard_manifest& m) {
  const settings& s = m.config;
  std::vector<std::pair<std::string, std::string>> f = {
      {"eqinfo version", m.eqinfo_version},
      {"token stream format", std::to_string(m.stream_format)},
      {"method", std::string(to_string(s.kind))},
      {"token bits (-N)", std::to_string(s.token_bits)},
  };
  if (s.kind != method::bytes) {
    f.emplace_back("precision (-P)", std::to_string(s.precision_bits));
    f.emplace_back("model", m.model_kind + " with fingerprint " + detail::hex32(m.model_fingerprint));
  }
  if (s.kind == method::equal_info_ac) {
    f.emplace_back("window bits (-b)", std::to_string(s.window_bits));
    f.emplace_back("window rule", std::string(to_string(s.rule)));
  }
  f.emplace_back("--example-bytes", std::to_string(m.example_bytes));
  f.emplace_back("--keep-documents", m.keep_documents ? "on" : "off");
  if (!m.keep_documents) f.emplace_back("--separator", "\"" + c_escaped(m.separator) + "\"");
  f.emplace_back("--shard-examples", std::to_string(m.shard_examples));
  f.emplace_back("--format", m.token_format);
  f.emplace_back("--text-field", m.text_field);
  f.emplace_back("--window-offsets", m.window_bytes ? "on" : "off");
  f.emplace_back("number of input files", std::to_string(m.inputs.size()));
  for (std::size_t i = 0; i < m.inputs.size(); ++i) {
    f.emplace_back("input file " + std::to_string(i), m.inputs[i].path);
    f.emplace_back("size of " + m.inputs[i].path, std::to_string(m.inputs[i].size));
  }
  return f;
}

/// Throws errc::settings_mismatch naming the first difference.
inline void check_same_job(const shard_manifest& theirs, const shard_manifest& ours, const std::string& where) {
  const auto a = job_fields(theirs), b = job_fields(ours);
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i])
      throw error(errc::settings_mismatch,
                  where + " holds a shard run with " + a[i].first + " " + a[i].second + ", but this command has " +
                      b[i].first + " " + b[i].second +
                      "; rerun with the same inputs and options to resume, or use another --out DIR");
}

// ---------------------------------------------------------------------------
// shard

struct shard_hooks {
  /// (input bytes done, input bytes in all) from any thread, one call at a time.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  std::function<void(const std::string&)> note;
};

struct shard_summary {
  bool already_complete = false;
  std::size_t shards = 0, resumed = 0;  // resumed: shards found finished by an earlier run
  std::uint64_t examples = 0, bytes = 0, tokens = 0;
};

inline std::string shard_stem(std::size_t k) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "shard-%06zu", k);
  return buffer;
}

constexpr const char* state_directory = ".eqinfo-shard";

/// Removes the entries of `dir` whose names `match` (listed first: removing
/// while iterating a directory is unspecified).
template <class Match>
void remove_matching(const fs::path& dir, Match&& match) {
  std::vector<fs::path> doomed;
  for (const auto& e : fs::directory_iterator(dir))
    if (match(e.path().filename().string())) doomed.push_back(e.path());
  for (const auto& p : doomed) fs::remove(p);
}

/// Whether shard record `r`'s files in `dir` have its sizes and CRCs.
inline std::optional<std::string> check_files(const fs::path& dir, const shard_record& r) {
  std::vector<std::tuple<const std::string&, std::uint64_t, std::uint32_t>> files = {
      {r.tokens_file, r.tokens_file_size, r.tokens_crc32},
      {r.index_file, r.index_file_size, r.index_crc32},
      {r.documents_file, r.documents_file_size, r.documents_crc32}};
  if (!r.windows_file.empty()) files.emplace_back(r.windows_file, r.windows_file_size, r.windows_crc32);
  for (const auto& [name, size, crc] : files) {
    const auto bytes = read_if_exists(dir / name);
    if (!bytes) return name + " is missing";
    if (bytes->size() != size || detail::crc32(bytes->data(), bytes->size()) != crc)
      return name + " differs from its record (size or CRC-32)";
  }
  return std::nullopt;
}

/// Fills in what a job holds beyond its options (example_bytes,
/// shard_examples, separator, text_field, keep_documents, token_format, set
/// by the caller): this build's version and stream format, the settings, the
/// model (kind and path as given; none for the bytes method) and the listed
/// inputs. The fingerprint is the caller's: it needs the loaded model. The one
/// definition of a job for `eqinfo shard` and eqinfo.dask.
inline void complete_shard_job(shard_manifest& job, const settings& config, const std::string& model_kind,
                               const std::string& model_path, const std::vector<std::string>& inputs,
                               const fs::path& out) {
  if (job.token_format != "npy" && job.token_format != "raw")
    throw error(errc::invalid_argument, "unknown format '" + job.token_format + "' (use npy or raw)");
  if (job.example_bytes == 0 || job.shard_examples == 0)
    throw error(errc::invalid_argument, "example bytes and examples per shard must be at least 1");
  if (inputs.empty()) throw error(errc::invalid_argument, "no inputs: give files, .jsonl files or directories");
  if (job.window_bytes && config.kind != method::equal_info_ac)
    throw error(errc::invalid_argument,
                "window offsets need method equal-info: only an equal-info window's tokens stand for a span of "
                "bytes (docs/format.md §5a)");
  job.eqinfo_version = std::to_string(EQINFO_VERSION_MAJOR) + "." + std::to_string(EQINFO_VERSION_MINOR) + "." +
                       std::to_string(EQINFO_VERSION_PATCH);
  job.stream_format = EQINFO_STREAM_FORMAT;
  job.config = config;
  job.model_kind = config.kind == method::bytes ? "none" : model_kind;
  job.model_path = config.kind == method::bytes ? "" : model_path;
  std::error_code ec;
  const fs::path exclude = fs::exists(out, ec) ? fs::canonical(out) : fs::path();
  job.inputs = list_inputs(inputs, exclude);
}

/// Makes `dir` ready for a run of `job`: returns the finished manifest if
/// the job is done already (after checking every file), else records the
/// job in .eqinfo-shard/job.json, or checks that the one there is `job`
/// (resuming it) or that of an unfinished run that finished no shard
/// (starting over).
inline std::optional<shard_manifest> prepare_shard_dir(const shard_manifest& job, const fs::path& dir,
                                                       const std::function<void(const std::string&)>& note = {}) {
  const fs::path state = dir / state_directory;
  const fs::path manifest_path = dir / "manifest.json";
  const std::string shown = dir.string();
  std::error_code ec;
  if (fs::exists(manifest_path, ec)) {
    const auto text = detail::read_file_bytes(manifest_path.string());
    const shard_manifest done = parse_shard_manifest(
        std::string_view(reinterpret_cast<const char*>(text.data()), text.size()), manifest_path.string());
    check_same_job(done, job, shown);
    for (const shard_record& r : done.shards)
      if (auto problem = check_files(dir, r))
        throw error(errc::checksum_mismatch,
                    shown + " is finished (manifest.json), but " + *problem +
                        ": the directory was changed afterwards; 'eqinfo verify' checks it, and deleting it "
                        "and rerunning makes it again");
    fs::remove_all(state, ec);  // killed after the manifest was written
    return done;
  }
  const fs::path job_path = state / "job.json";
  if (fs::exists(job_path, ec)) {
    const auto text = detail::read_file_bytes(job_path.string());
    const shard_manifest started = parse_shard_manifest(
        std::string_view(reinterpret_cast<const char*>(text.data()), text.size()), job_path.string());
    try {
      check_same_job(started, job, shown);
      if (note) note("resuming the interrupted run in " + shown);
      return std::nullopt;
    } catch (const error&) {
      // Nothing finished is lost by starting over (a run that failed on a
      // bad input, say); finished shards are never thrown away.
      for (const auto& e : fs::directory_iterator(state))
        if (e.path().filename().string().starts_with("shard-")) throw;
      if (note) note(shown + " holds an interrupted run of another job that finished no shard; starting over");
      fs::remove_all(state);
      remove_matching(dir, [](const std::string& name) { return name.starts_with("shard-"); });
    }
  }
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw error(errc::io_error, shown + ": exists and is not a directory");
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename() != state_directory)
        throw error(errc::invalid_argument, shown + " is not empty and holds no shard run (no manifest.json or " +
                                                state_directory + "/job.json); give a new or empty --out DIR");
  }
  fs::remove_all(state);
  fs::create_directories(state);
  write_atomically(job_path, as_span(to_json(job)));
  sync_directory(state);
  sync_directory(dir);
  return std::nullopt;
}

/// One shard of a plan: where its examples start, and what they are.
struct planned_shard {
  reader_cursor cursor;
  std::uint64_t examples = 0, bytes = 0;
  std::uint32_t source_crc32 = 0;
  std::uint64_t input_after = 0;  // input bytes read at its end (progress)
};

struct shard_plan {
  std::vector<planned_shard> shards;
  std::vector<shard_input> inputs;  // with CRC-32s and document counts
  std::uint64_t input_bytes = 0;
};

/// Reads and cuts the whole corpus (no model: cheap next to encoding), one
/// example in memory at a time. Any bad input throws here, naming the file
/// (and line), before a shard is written.
inline shard_plan plan_shards(const shard_manifest& job, const fs::path& base = {}) {
  shard_plan plan;
  for (const auto& in : job.inputs) plan.input_bytes += in.size;
  example_reader reader(job.inputs, job, base);
  example ex;
  for (;;) {
    planned_shard p;
    p.cursor = reader.cursor();
    while (p.examples < job.shard_examples && reader.next(ex)) {
      ++p.examples;
      p.bytes += ex.bytes.size();
      p.source_crc32 = detail::crc32(ex.bytes.data(), ex.bytes.size(), p.source_crc32);
    }
    if (p.examples == 0) break;
    p.input_after = reader.bytes_read();
    plan.shards.push_back(p);
  }
  plan.inputs = reader.inputs();
  return plan;
}

/// The file names of shard k.
inline shard_record shard_files(const shard_manifest& job, std::size_t k) {
  const std::string stem = shard_stem(k);
  shard_record r;
  r.tokens_file = stem + (job.token_format == "raw" ? ".bin" : ".npy");
  r.index_file = stem + ".idx.npy";
  r.documents_file = stem + ".docs.npy";
  if (job.window_bytes) r.windows_file = stem + ".windows.npy";
  return r;
}

/// The byte count of each window of an encoding with offsets (every
/// tokens_per_window-th span): what shard-NNNNNN.windows.npy stores.
inline std::vector<std::uint32_t> window_byte_counts(const encoded& e, unsigned tokens_per_window) {
  std::vector<std::uint32_t> out;
  for (std::size_t t = 0; t < e.offsets.size(); t += tokens_per_window)
    out.push_back(static_cast<std::uint32_t>(e.offsets[t].end - e.offsets[t].begin));
  return out;
}

/// The done-record of shard k if an earlier run (or another worker)
/// finished it and its files still match; throws if it was made from other
/// source bytes than `p` says.
inline std::optional<shard_record> finished_shard(const fs::path& dir, std::size_t k, const planned_shard& p,
                                                  const std::function<void(const std::string&)>& note) {
  const std::string stem = shard_stem(k);
  const fs::path done_path = dir / state_directory / (stem + ".json");
  const auto text = read_if_exists(done_path);
  if (!text) return std::nullopt;
  std::optional<shard_record> earlier;
  try {
    earlier = detail::shards::parse_record(
        detail::json_reader(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()),
                            done_path.string(), errc::corrupt_stream)
            .parse(),
        done_path.string());
  } catch (const error& e) {
    if (note) note(stem + ": redoing it: its done-record is unreadable (" + e.what() + ")");
    return std::nullopt;
  }
  if (earlier->examples != p.examples || earlier->bytes != p.bytes || earlier->source_crc32 != p.source_crc32)
    throw error(errc::settings_mismatch, dir.string() + ": the inputs changed since the interrupted run (" + stem +
                                             " was made from other bytes); delete the directory to start over");
  if (auto problem = check_files(dir, *earlier)) {
    if (note) note(stem + ": redoing it: " + *problem);
    return std::nullopt;
  }
  return earlier;
}

/// Makes shard k of `job` in `dir` (prepared by prepare_shard_dir) from its
/// plan entry: its three files, written atomically under names no other
/// writer uses, then its done-record. A shard already finished is kept
/// (`*resumed` set). Safe to run twice at once (a retried task): both write
/// the same bytes. Relative input paths are opened relative to `base`.
template <class Model>
shard_record write_one_shard(const tokenizer<Model>& prototype, const shard_manifest& job, const fs::path& dir,
                             std::size_t k, const planned_shard& p, unsigned threads, const fs::path& base = {},
                             const std::function<void(const std::string&)>& note = {}, bool* resumed = nullptr) {
  if (resumed) *resumed = false;
  if (auto earlier = finished_shard(dir, k, p, note)) {
    if (resumed) *resumed = true;
    return *earlier;
  }
  const std::string stem = shard_stem(k);
  example_reader reader(job.inputs, job, base, p.cursor);
  std::vector<example> batch(static_cast<std::size_t>(p.examples));
  std::uint32_t source_crc = 0;
  std::uint64_t shard_bytes = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!reader.next(batch[i]))
      throw error(errc::io_error, stem + ": the inputs end before its example " + std::to_string(i) +
                                      ": they changed while being read");
    source_crc = detail::crc32(batch[i].bytes.data(), batch[i].bytes.size(), source_crc);
    shard_bytes += batch[i].bytes.size();
  }
  if (shard_bytes != p.bytes || source_crc != p.source_crc32)
    throw error(errc::io_error, stem +
                                    ": its examples are not the bytes the plan read: the inputs changed while "
                                    "being read");
  const std::size_t n = batch.size();
  std::vector<std::span<const std::uint8_t>> spans(n);
  for (std::size_t i = 0; i < n; ++i) spans[i] = batch[i].bytes;
  // encode_many: the shard's examples in lockstep lanes on the threads
  // (same tokens, same first error, for any thread and lane count). On an
  // error the examples are encoded again one by one to name the example.
  std::vector<encoded> out;
  try {
    out = encode_many(prototype, std::span<const std::span<const std::uint8_t>>(spans), threads,
                      job.window_bytes ? want_offsets::yes : want_offsets::no);
  } catch (const error&) {
    tokenizer<Model> tok = detail::parallel::worker_copy(prototype);
    for (std::size_t i = 0; i < n; ++i) {
      try {
        (void)tok.encode(spans[i]);
      } catch (const error& err) {
        throw error(err.code(), stem + " example " + std::to_string(i) + ": " + err.what());
      }
    }
    throw;
  }

  std::vector<token_t> tokens;
  std::vector<shard_example> index(n);
  std::vector<shard_document> documents;
  std::vector<std::uint32_t> windows;  // with window_bytes
  for (std::size_t i = 0; i < n; ++i) {
    index[i] = batch[i].index;
    index[i].token_offset = tokens.size();
    index[i].token_count = out[i].tokens.size();
    tokens.insert(tokens.end(), out[i].tokens.begin(), out[i].tokens.end());
    if (job.window_bytes) {
      const auto counts = window_byte_counts(out[i], job.config.tokens_per_window());
      windows.insert(windows.end(), counts.begin(), counts.end());
    }
    for (const shard_document& d : batch[i].documents)
      if (documents.empty() || documents.back().document != d.document) documents.push_back(d);
  }
  shard_record r = shard_files(job, k);
  const auto token_bytes = detail::shards::serialize_tokens(tokens, job);
  const auto index_bytes = detail::shards::serialize_index(index);
  const auto document_bytes = detail::shards::serialize_documents(documents);
  r.tokens_file_size = token_bytes.size();
  r.tokens_crc32 = detail::crc32(token_bytes.data(), token_bytes.size());
  r.index_file_size = index_bytes.size();
  r.index_crc32 = detail::crc32(index_bytes.data(), index_bytes.size());
  r.documents_file_size = document_bytes.size();
  r.documents_crc32 = detail::crc32(document_bytes.data(), document_bytes.size());
  r.examples = n;
  r.bytes = shard_bytes;
  r.tokens = tokens.size();
  r.documents = documents.size();
  r.source_crc32 = source_crc;
  const std::string tmp = unique_tmp_suffix();
  write_atomically(dir / r.tokens_file, token_bytes, tmp);
  write_atomically(dir / r.index_file, index_bytes, tmp);
  write_atomically(dir / r.documents_file, document_bytes, tmp);
  if (job.window_bytes) {
    const auto window_bytes = detail::shards::serialize_window_bytes(windows);
    r.windows_file_size = window_bytes.size();
    r.windows_crc32 = detail::crc32(window_bytes.data(), window_bytes.size());
    write_atomically(dir / r.windows_file, window_bytes, tmp);
  }
  sync_directory(dir);
  // Only now is the shard finished: its done-record names files that exist.
  const fs::path state = dir / state_directory;
  write_atomically(state / (stem + ".json"), as_span(detail::shards::record_json(r) + "\n"), tmp);
  sync_directory(state);
  return r;
}

/// Publishes a run: `records` (shard k's done-record at k) and the plan's
/// inputs into manifest.json, written last, after removing leftovers of
/// interrupted writes and shards of a longer earlier listing; then removes
/// the state directory. On return `job` is the manifest written.
inline void finish_shards(shard_manifest& job, const fs::path& dir, const shard_plan& plan,
                          std::vector<shard_record> records) {
  if (records.size() != plan.shards.size())
    throw error(errc::invalid_argument, dir.string() + ": " + std::to_string(records.size()) +
                                            " shard records for a plan of " + std::to_string(plan.shards.size()));
  for (std::size_t k = 0; k < records.size(); ++k)
    if (records[k].tokens_file != shard_files(job, k).tokens_file || records[k].examples != plan.shards[k].examples ||
        records[k].source_crc32 != plan.shards[k].source_crc32)
      throw error(errc::invalid_argument,
                  dir.string() + ": the record of shard " + std::to_string(k) + " is not the planned shard's");
  job.shards = std::move(records);
  job.inputs = plan.inputs;
  std::vector<std::string> keep = {"manifest.json", state_directory};
  for (const auto& r : job.shards) keep.insert(keep.end(), {r.tokens_file, r.index_file, r.documents_file});
  for (const auto& r : job.shards)
    if (!r.windows_file.empty()) keep.push_back(r.windows_file);
  remove_matching(dir, [&](const std::string& name) {
    return (name.starts_with("shard-") || name == "manifest.json.tmp") &&
           std::find(keep.begin(), keep.end(), name) == keep.end();
  });
  write_atomically(dir / "manifest.json", as_span(to_json(job)));
  sync_directory(dir);
  fs::remove_all(dir / state_directory);
  sync_directory(dir);
}

/// Runs `job` (settings, model, options and listed inputs filled in) into
/// `dir`, resuming an interrupted run of the same job; on return `job` is
/// the manifest written. The output never depends on `threads`.
template <class Model>
shard_summary write_shards(const tokenizer<Model>& prototype, shard_manifest& job, const fs::path& dir,
                           unsigned threads, const shard_hooks& hooks = {}) {
  job.shards.clear();
  shard_summary summary;
  auto count = [&](const shard_manifest& m) {
    summary.shards = m.shards.size();
    for (const auto& r : m.shards) {
      summary.examples += r.examples;
      summary.bytes += r.bytes;
      summary.tokens += r.tokens;
    }
  };
  if (auto done = prepare_shard_dir(job, dir, hooks.note)) {
    job = *done;
    summary.already_complete = true;
    count(job);
    summary.resumed = summary.shards;
    return summary;
  }
  const shard_plan plan = plan_shards(job);
  std::vector<shard_record> records;
  for (std::size_t k = 0; k < plan.shards.size(); ++k) {
    bool resumed = false;
    records.push_back(write_one_shard(prototype, job, dir, k, plan.shards[k], threads, {}, hooks.note, &resumed));
    summary.resumed += resumed;
    if (hooks.progress) hooks.progress(plan.shards[k].input_after, plan.input_bytes);
  }
  finish_shards(job, dir, plan, std::move(records));
  count(job);
  return summary;
}

// ---------------------------------------------------------------------------
// verify

struct verify_summary {
  std::size_t shards = 0, inputs = 0;
  std::uint64_t examples = 0, bytes = 0, tokens = 0, input_bytes = 0;
};

/// Re-reads the sources `m` lists, and checks every shard in `dir` against
/// them: file sizes and CRCs, index and document tables, and the exact
/// decoding of every example (with window byte counts, also its encoding
/// again: the counts must be the encoder's). Throws an eqinfo::error naming the first
/// mismatching shard and example.
template <class Model>
verify_summary verify_shards(const tokenizer<Model>& prototype, const shard_manifest& m, const fs::path& dir,
                             unsigned threads, const shard_hooks& hooks = {}) {
  if (prototype.config() != m.config)
    throw error(errc::settings_mismatch, "verify: the tokenizer's settings differ from the manifest's");
  if (m.config.kind != method::bytes && model_fingerprint(prototype.model()) != m.model_fingerprint)
    throw error(errc::settings_mismatch, "the shards were made with the model with fingerprint " +
                                             detail::hex32(m.model_fingerprint) + ", not " +
                                             detail::hex32(model_fingerprint(prototype.model())));
  verify_summary summary;
  std::vector<shard_input> listed;
  for (const shard_input& in : m.inputs) {
    std::error_code ec;
    if (!fs::is_regular_file(in.path, ec))
      throw error(errc::io_error, in.path +
                                      ": cannot open the source for reading (paths are relative to the "
                                      "directory 'eqinfo shard' ran in)");
    const std::uint64_t size = fs::file_size(in.path);
    if (size != in.size)
      throw error(errc::corrupt_stream, in.path + ": " + std::to_string(size) + " bytes, the manifest says " +
                                            std::to_string(in.size) + ": the source changed after sharding");
    shard_input copy = in;
    copy.crc32 = 0;
    listed.push_back(copy);
    summary.input_bytes += size;
  }
  example_reader reader(listed, m);
  std::mutex progress_mutex;
  std::vector<example> batch;
  for (std::size_t k = 0; k < m.shards.size(); ++k) {
    const shard_record& r = m.shards[k];
    const std::string name = "shard " + std::to_string(k) + " (" + r.tokens_file + ")";
    const std::uint64_t input_before = reader.bytes_read();
    batch.resize(static_cast<std::size_t>(r.examples));
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (!reader.next(batch[i]))
        throw error(errc::corrupt_stream, name + " example " + std::to_string(i) +
                                              ": the sources end before it (they changed after sharding)");
    const std::uint64_t input_after = reader.bytes_read();
    const shard s = load_shard(dir, m, k);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      shard_example expected = batch[i].index;
      expected.token_offset = s.examples[i].token_offset;
      expected.token_count = s.examples[i].token_count;
      if (s.examples[i] != expected)
        throw error(
            errc::corrupt_stream,
            name + " example " + std::to_string(i) + ": the index row says offset " +
                std::to_string(s.examples[i].stream_offset) + ", document " + std::to_string(s.examples[i].document) +
                " at " + std::to_string(s.examples[i].document_offset) + ", " +
                std::to_string(s.examples[i].byte_count) + " bytes; the sources give " +
                std::to_string(expected.stream_offset) + ", document " + std::to_string(expected.document) + " at " +
                std::to_string(expected.document_offset) + ", " + std::to_string(expected.byte_count) + " bytes");
    }
    std::vector<shard_document> documents;
    for (const auto& ex : batch)
      for (const shard_document& d : ex.documents)
        if (documents.empty() || documents.back().document != d.document) documents.push_back(d);
    if (documents != s.documents)
      throw error(errc::corrupt_stream,
                  name + ": the document table (" + r.documents_file + ") differs from the documents of the sources");

    std::atomic<std::uint64_t> checked{0};
    const std::uint64_t shard_bytes = std::max<std::uint64_t>(r.bytes, 1);
    tbb::enumerable_thread_specific<tokenizer<Model>> local([&] { return detail::parallel::worker_copy(prototype); });
    detail::parallel::for_each_item<char>(batch.size(), threads, local, [&](tokenizer<Model>& tok, std::size_t i) {
      const example& ex = batch[i];
      const shard_input* in = reader.input_of(ex.index.document);
      const std::string where = name + " example " + std::to_string(i) + " (document " +
                                std::to_string(ex.index.document) + (in ? " in " + in->path : std::string()) +
                                ", from byte " + std::to_string(ex.index.document_offset) + ")";
      std::vector<std::uint8_t> decoded;
      try {
        decoded = tok.decode(s.tokens_of(i), s.examples[i].byte_count);
      } catch (const error& e) {
        throw error(e.code(), where + ": " + e.what());
      }
      const auto diff = std::mismatch(decoded.begin(), decoded.end(), ex.bytes.begin(), ex.bytes.end());
      if (diff.first != decoded.end() || diff.second != ex.bytes.end())
        throw error(errc::corrupt_stream, where + ": the decoded bytes differ from the source at byte " +
                                              std::to_string(diff.first - decoded.begin()) + " of the example");
      if (m.window_bytes) {  // the stored window byte counts are the encoder's cuts
        const encoded again = tok.encode_with_offsets(ex.bytes);
        const auto counts = window_byte_counts(again, m.config.tokens_per_window());
        const auto stored = s.window_bytes_of(i);
        if (!std::equal(counts.begin(), counts.end(), stored.begin(), stored.end()))
          throw error(errc::corrupt_stream, where + ": the window byte counts (" + r.windows_file +
                                                ") are not the encoder's windows of the example");
      }
      checked.fetch_add(ex.bytes.size());
      if (hooks.progress) {
        const std::unique_lock lock(progress_mutex, std::try_to_lock);
        if (lock.owns_lock())
          hooks.progress(input_before + (input_after - input_before) * checked.load() / shard_bytes,
                         summary.input_bytes);
      }
      return char{};
    });
    std::uint32_t source_crc = 0;
    for (const auto& ex : batch) source_crc = detail::crc32(ex.bytes.data(), ex.bytes.size(), source_crc);
    if (source_crc != r.source_crc32)
      throw error(errc::corrupt_stream, name + ": the source CRC-32 of its examples is " + detail::hex32(source_crc) +
                                            ", the manifest says " + detail::hex32(r.source_crc32));
    summary.examples += r.examples;
    summary.bytes += r.bytes;
    summary.tokens += r.tokens;
    if (hooks.progress) hooks.progress(input_after, summary.input_bytes);
  }
  example extra;
  if (reader.next(extra))
    throw error(errc::corrupt_stream, "the sources hold more than the manifest's " + std::to_string(summary.examples) +
                                          " examples (they changed after sharding)");
  for (std::size_t i = 0; i < m.inputs.size(); ++i) {
    const shard_input &a = m.inputs[i], &b = reader.inputs()[i];
    if (a.crc32 != b.crc32 || a.documents != b.documents)
      throw error(errc::corrupt_stream, a.path + ": CRC-32 " + detail::hex32(b.crc32) + " and " +
                                            std::to_string(b.documents) + " documents; the manifest says " +
                                            detail::hex32(a.crc32) + " and " + std::to_string(a.documents) +
                                            " (the source changed after sharding)");
  }
  summary.shards = m.shards.size();
  summary.inputs = m.inputs.size();
  return summary;
}

}  // namespace eqinfo::tool
