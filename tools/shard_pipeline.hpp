// SPDX-License-Identifier: MIT
#pragma once
// The corpus -> token shards pipeline behind `eqinfo shard` and `eqinfo
// verify` (docs/format.md, "Token shards"): input files and directories ->
// documents -> examples of at most example_bytes -> one shard of
// shard_examples examples at a time, encoded in parallel, written atomically
// with a done-record per shard so that a killed run resumes to the same
// bytes. Part of the tool (and of bench/parallel_bench.cpp), not of the
// installed library: readers need only <eqinfo/shards.hpp>. POSIX (fsync).

#include <eqinfo/parallel.hpp>
#include <eqinfo/shards.hpp>
#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
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

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Inputs

inline bool is_jsonl(const fs::path& p) {
  std::string ext = p.extension().string();
  for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return ext == ".jsonl";
}

/// The files behind the INPUT arguments, in order: a file as is, a directory
/// as every regular file below it whose path has no hidden component,
/// sorted by relative path (bytewise) so that the order does not depend on
/// the file system. `exclude` (the output directory) is skipped.
inline std::vector<shard_input> list_inputs(const std::vector<std::string>& args, const fs::path& exclude) {
  std::vector<shard_input> out;
  auto add = [&](const std::string& path, std::uint64_t size) {
    shard_input in;
    in.path = path;
    in.type = is_jsonl(path) ? "jsonl" : "text";
    in.size = size;
    out.push_back(std::move(in));
  };
  for (const std::string& arg : args) {
    std::error_code ec;
    const fs::file_status st = fs::status(arg, ec);
    if (ec || !fs::exists(st))
      throw error(errc::io_error, arg + ": cannot open for reading: " + (ec ? ec.message() : "no such file"));
    if (fs::is_regular_file(st)) {
      add(arg, fs::file_size(arg));
      continue;
    }
    if (!fs::is_directory(st)) throw error(errc::io_error, arg + ": not a regular file or directory");
    std::vector<std::pair<std::string, std::uint64_t>> found;  // relative path, size
    fs::recursive_directory_iterator it(arg, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const fs::directory_entry& e = *it;
      const std::string name = e.path().filename().string();
      std::error_code ignored;
      const bool dir = e.is_directory(ignored);
      if (!name.empty() && name[0] == '.') {
        if (dir) it.disable_recursion_pending();
        continue;
      }
      if (dir) {
        if (!exclude.empty() && fs::equivalent(e.path(), exclude, ignored)) it.disable_recursion_pending();
        continue;
      }
      if (!e.is_regular_file(ignored)) continue;
      found.emplace_back(e.path().lexically_relative(arg).generic_string(), e.file_size());
    }
    if (ec) throw error(errc::io_error, arg + ": cannot list the directory: " + ec.message());
    std::sort(found.begin(), found.end());
    for (const auto& [relative, size] : found) add((fs::path(arg) / relative).string(), size);
  }
  return out;
}

/// Sequential buffered reads of one file, with the CRC-32 of everything read.
class file_reader {
 public:
  explicit file_reader(std::string path) : path_(std::move(path)), in_(path_, std::ios::binary), buffer_(1 << 20) {
    if (!in_) throw error(errc::io_error, path_ + ": cannot open for reading: " + std::strerror(errno));
  }
  /// Up to n bytes (fewer only at the end of the file).
  std::size_t read(std::uint8_t* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n && (pos_ < end_ || fill())) {
      const std::size_t k = std::min(n - got, end_ - pos_);
      std::memcpy(out + got, buffer_.data() + pos_, k);
      pos_ += k;
      got += k;
    }
    consumed_ += got;
    return got;
  }
  /// The next line without its '\n'; false at the end of the file.
  bool read_line(std::string& line) {
    line.clear();
    bool any = false;
    while (pos_ < end_ || fill()) {
      any = true;
      const char* begin = buffer_.data() + pos_;
      if (const void* nl = std::memchr(begin, '\n', end_ - pos_)) {
        const auto k = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
        line.append(begin, k);
        pos_ += k + 1;
        consumed_ += k + 1;
        return true;
      }
      line.append(begin, end_ - pos_);
      consumed_ += end_ - pos_;
      pos_ = end_;
    }
    return any;
  }
  bool at_end() { return pos_ == end_ && !fill(); }
  std::uint32_t crc() const noexcept { return crc_; }
  std::uint64_t loaded() const noexcept { return loaded_; }
  /// Bytes handed out so far (the progress measure; loaded() runs ahead by the buffer).
  std::uint64_t consumed() const noexcept { return consumed_; }

 private:
  bool fill() {
    if (eof_) return false;
    in_.read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    const auto n = static_cast<std::size_t>(in_.gcount());
    if (in_.bad()) throw error(errc::io_error, path_ + ": read failed");
    if (n == 0) {
      eof_ = true;
      return false;
    }
    crc_ = detail::crc32(reinterpret_cast<const unsigned char*>(buffer_.data()), n, crc_);
    loaded_ += n;
    pos_ = 0;
    end_ = n;
    return true;
  }

  std::string path_;
  std::ifstream in_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint32_t crc_ = 0;
  std::uint64_t loaded_ = 0, consumed_ = 0;
};

/// One example: its bytes, its index row (token fields unset) and the
/// documents it holds bytes (or a following separator) of.
struct example {
  std::vector<std::uint8_t> bytes;
  shard_example index;
  std::vector<shard_document> documents;
};

/// The examples of a corpus, in order, reading one file at a time: memory is
/// one example plus one jsonl document, whatever the corpus size. Fills in
/// each input's CRC-32 and document counts as it finishes the file.
class example_reader {
 public:
  example_reader(std::vector<shard_input> inputs, const shard_manifest& options)
      : inputs_(std::move(inputs)),
        separator_(options.separator),
        field_(options.text_field),
        keep_(options.keep_documents),
        example_bytes_(options.example_bytes) {}

  /// The next example into `ex`; false (and `ex` empty) after the last.
  bool next(example& ex) {
    ex.bytes.clear();
    ex.documents.clear();
    ex.index = {};
    bool started = false;
    auto begin = [&](std::uint64_t document, std::uint64_t offset) {
      if (started) return;
      started = true;
      ex.index.stream_offset = stream_;
      ex.index.document = document;
      ex.index.document_offset = offset;
    };
    auto touch = [&](const doc& d) {
      if (ex.documents.empty() || ex.documents.back().document != d.index)
        ex.documents.push_back({d.index, d.start, d.length});
    };
    while (ex.bytes.size() < example_bytes_) {
      const std::size_t want = static_cast<std::size_t>(example_bytes_ - ex.bytes.size());
      if (phase_ == phase::need_document) {
        if (!open_document()) break;
      } else if (phase_ == phase::separator) {
        // The separator between two documents belongs to the first of them.
        if (separator_pos_ == separator_.size()) {
          phase_ = phase::content;
          continue;
        }
        begin(previous_.index, previous_.length + separator_pos_);
        touch(previous_);
        const std::size_t n = std::min(want, separator_.size() - separator_pos_);
        ex.bytes.insert(ex.bytes.end(), separator_.begin() + static_cast<std::ptrdiff_t>(separator_pos_),
                        separator_.begin() + static_cast<std::ptrdiff_t>(separator_pos_ + n));
        separator_pos_ += n;
        stream_ += n;
      } else {
        if (current_.pos == current_.length) {
          phase_ = phase::need_document;
          if (keep_ && !ex.bytes.empty()) break;  // an example never crosses a document
          continue;
        }
        begin(current_.index, current_.pos);
        touch(current_);
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(want, current_.length - current_.pos));
        const std::size_t at = ex.bytes.size();
        ex.bytes.resize(at + n);
        if (inputs_[file_].type == "jsonl") {
          std::memcpy(ex.bytes.data() + at, text_.data() + current_.pos, n);
        } else if (reader_->read(ex.bytes.data() + at, n) != n) {
          throw error(errc::io_error, inputs_[file_].path + ": the file ended at " + std::to_string(reader_->loaded()) +
                                          " bytes, but it had " + std::to_string(inputs_[file_].size) +
                                          " when listed: it changed while being read");
        }
        current_.pos += n;
        stream_ += n;
      }
    }
    ex.index.byte_count = ex.bytes.size();
    return !ex.bytes.empty();
  }

  /// Input file bytes read so far (the progress measure).
  std::uint64_t bytes_read() const noexcept { return finished_bytes_ + (reader_ ? reader_->consumed() : 0); }
  /// The inputs; CRC-32 and document counts are final once next() returned false.
  const std::vector<shard_input>& inputs() const noexcept { return inputs_; }
  /// The input holding global document `d`.
  const shard_input* input_of(std::uint64_t d) const {
    for (const auto& in : inputs_)
      if (d >= in.first_document && d - in.first_document < in.documents) return &in;
    return nullptr;
  }

 private:
  enum class phase { need_document, separator, content };
  struct doc {
    std::uint64_t index = 0, start = 0, length = 0, pos = 0;
  };

  bool open_document() {
    for (;;) {
      if (!reader_) {
        if (file_ == inputs_.size()) return false;
        reader_.emplace(inputs_[file_].path);
        inputs_[file_].first_document = documents_;
        inputs_[file_].documents = 0;
        text_document_done_ = false;
        line_ = 0;
      }
      shard_input& in = inputs_[file_];
      if (in.type == "text" ? !std::exchange(text_document_done_, true) : read_jsonl_document(in)) {
        start_document(in.type == "text" ? in.size : text_.size());
        ++in.documents;
        return true;
      }
      finish_file();
    }
  }

  void start_document(std::uint64_t length) {
    previous_ = current_;
    const bool separated = !keep_ && documents_ > 0;
    current_ = doc{documents_++, stream_ + (separated ? separator_.size() : 0), length, 0};
    phase_ = separated ? phase::separator : phase::content;
    separator_pos_ = 0;
  }

  bool read_jsonl_document(const shard_input& in) {
    std::string line;
    while (reader_->read_line(line)) {
      ++line_;
      if (line_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // a UTF-8 byte order mark
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;    // blank lines hold no document
      const std::string where = in.path + ":" + std::to_string(line_);
      detail::json_value v = detail::json_reader(line, where, errc::invalid_argument).parse();
      if (v.type != detail::json_value::kind::object)
        throw error(errc::invalid_argument, where + ": the line is not a JSON object");
      for (auto& m : v.members)
        if (m.key == field_) {
          if (m.value.type != detail::json_value::kind::string)
            throw error(errc::invalid_argument, where + ": the field \"" + field_ + "\" is not a string");
          text_ = std::move(m.value.text);
          return true;
        }
      throw error(errc::invalid_argument,
                  where + ": the object has no field \"" + field_ + "\" (choose the field with --text-field)");
    }
    return false;
  }

  void finish_file() {
    shard_input& in = inputs_[file_];
    if (!reader_->at_end() || reader_->loaded() != in.size)
      throw error(errc::io_error, in.path + ": " + std::to_string(in.size) +
                                      " bytes when listed, but not when read: it changed while being read");
    in.crc32 = reader_->crc();
    finished_bytes_ += reader_->loaded();
    reader_.reset();
    ++file_;
  }

  std::vector<shard_input> inputs_;
  std::string separator_, field_;
  bool keep_;
  std::uint64_t example_bytes_;

  std::size_t file_ = 0;
  std::optional<file_reader> reader_;
  bool text_document_done_ = false;
  std::uint64_t line_ = 0;
  std::string text_;  // the current jsonl document
  std::uint64_t documents_ = 0, stream_ = 0, finished_bytes_ = 0;
  doc current_, previous_;
  phase phase_ = phase::need_document;
  std::size_t separator_pos_ = 0;
};

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
inline void write_atomically(const fs::path& path, std::span<const unsigned char> data) {
  const std::string tmp = path.string() + ".tmp";
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
  const std::tuple<const std::string&, std::uint64_t, std::uint32_t> files[] = {
      {r.tokens_file, r.tokens_file_size, r.tokens_crc32},
      {r.index_file, r.index_file_size, r.index_crc32},
      {r.documents_file, r.documents_file_size, r.documents_crc32}};
  for (const auto& [name, size, crc] : files) {
    const auto bytes = read_if_exists(dir / name);
    if (!bytes) return name + " is missing";
    if (bytes->size() != size || detail::crc32(bytes->data(), bytes->size()) != crc)
      return name + " differs from its record (size or CRC-32)";
  }
  return std::nullopt;
}

/// Runs `job` (settings, model, options and listed inputs filled in) into
/// `dir`, resuming an interrupted run of the same job; on return `job` is
/// the manifest written. The output never depends on `threads`.
template <class Model>
shard_summary write_shards(const tokenizer<Model>& prototype, shard_manifest& job, const fs::path& dir,
                           unsigned threads, const shard_hooks& hooks = {}) {
  job.shards.clear();
  const fs::path state = dir / state_directory;
  const fs::path manifest_path = dir / "manifest.json";
  const std::string shown = dir.string();
  auto note = [&](const std::string& s) {
    if (hooks.note) hooks.note(s);
  };
  shard_summary summary;

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
    job = done;
    summary.already_complete = true;
    summary.shards = summary.resumed = done.shards.size();
    for (const auto& r : done.shards) {
      summary.examples += r.examples;
      summary.bytes += r.bytes;
      summary.tokens += r.tokens;
    }
    return summary;
  }
  const fs::path job_path = state / "job.json";
  bool fresh = true;
  if (fs::exists(job_path, ec)) {
    const auto text = detail::read_file_bytes(job_path.string());
    const shard_manifest started = parse_shard_manifest(
        std::string_view(reinterpret_cast<const char*>(text.data()), text.size()), job_path.string());
    try {
      check_same_job(started, job, shown);
      fresh = false;
      note("resuming the interrupted run in " + shown);
    } catch (const error&) {
      // Nothing finished is lost by starting over (a run that failed on a
      // bad input, say); finished shards are never thrown away.
      for (const auto& e : fs::directory_iterator(state))
        if (e.path().filename().string().starts_with("shard-")) throw;
      note(shown + " holds an interrupted run of another job that finished no shard; starting over");
      fs::remove_all(state);
      remove_matching(dir, [](const std::string& name) { return name.starts_with("shard-"); });
    }
  }
  if (fresh) {
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
  }

  std::uint64_t total_input = 0;
  for (const auto& in : job.inputs) total_input += in.size;
  example_reader reader(job.inputs, job);
  std::vector<example> batch(static_cast<std::size_t>(std::min<std::uint64_t>(job.shard_examples, 1u << 16)));
  for (std::size_t k = 0;; ++k) {
    std::size_t n = 0;
    for (; n < job.shard_examples; ++n) {
      if (n == batch.size()) batch.resize(std::min<std::size_t>(2 * n, static_cast<std::size_t>(job.shard_examples)));
      if (!reader.next(batch[n])) break;
    }
    if (n == 0) break;
    const std::uint64_t input_after = reader.bytes_read();
    std::uint32_t source_crc = 0;
    std::uint64_t shard_bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      source_crc = detail::crc32(batch[i].bytes.data(), batch[i].bytes.size(), source_crc);
      shard_bytes += batch[i].bytes.size();
    }
    const std::string stem = shard_stem(k);
    shard_record r;
    r.tokens_file = stem + (job.token_format == "raw" ? ".bin" : ".npy");
    r.index_file = stem + ".idx.npy";
    r.documents_file = stem + ".docs.npy";
    const fs::path done_path = state / (stem + ".json");

    // A shard an earlier run finished: keep it if its files still match.
    if (const auto text = read_if_exists(done_path)) {
      std::optional<shard_record> earlier;
      try {
        earlier = detail::shards::parse_record(
            detail::json_reader(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()),
                                done_path.string(), errc::corrupt_stream)
                .parse(),
            done_path.string());
      } catch (const error& e) {
        note(stem + ": redoing it: its done-record is unreadable (" + e.what() + ")");
      }
      if (earlier) {
        if (earlier->examples != n || earlier->bytes != shard_bytes || earlier->source_crc32 != source_crc)
          throw error(errc::settings_mismatch, shown + ": the inputs changed since the interrupted run (" + stem +
                                                   " was made from other bytes); delete the directory to start over");
        if (auto problem = check_files(dir, *earlier)) {
          note(stem + ": redoing it: " + *problem);
        } else {
          job.shards.push_back(*earlier);
          ++summary.resumed;
          if (hooks.progress) hooks.progress(input_after, total_input);
          continue;
        }
      }
    }

    std::vector<std::span<const std::uint8_t>> spans(n);
    for (std::size_t i = 0; i < n; ++i) spans[i] = batch[i].bytes;
    // encode_many: the shard's examples in lockstep lanes on the threads
    // (same tokens, same first error, for any thread and lane count). On an
    // error the examples are encoded again one by one to name the example.
    std::vector<encoded> out;
    try {
      out = encode_many(prototype, std::span<const std::span<const std::uint8_t>>(spans), threads);
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
    if (hooks.progress) hooks.progress(input_after, total_input);

    std::vector<token_t> tokens;
    std::vector<shard_example> index(n);
    std::vector<shard_document> documents;
    for (std::size_t i = 0; i < n; ++i) {
      index[i] = batch[i].index;
      index[i].token_offset = tokens.size();
      index[i].token_count = out[i].tokens.size();
      tokens.insert(tokens.end(), out[i].tokens.begin(), out[i].tokens.end());
      for (const shard_document& d : batch[i].documents)
        if (documents.empty() || documents.back().document != d.document) documents.push_back(d);
    }
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
    write_atomically(dir / r.tokens_file, token_bytes);
    write_atomically(dir / r.index_file, index_bytes);
    write_atomically(dir / r.documents_file, document_bytes);
    sync_directory(dir);
    // Only now is the shard finished: its done-record names files that exist.
    write_atomically(done_path, as_span(detail::shards::record_json(r) + "\n"));
    sync_directory(state);
    job.shards.push_back(r);
    if (hooks.progress) hooks.progress(input_after, total_input);
  }
  job.inputs = reader.inputs();

  // Leftovers of interrupted writes, and shards of a longer earlier listing.
  std::vector<std::string> keep = {"manifest.json", state_directory};
  for (const auto& r : job.shards) keep.insert(keep.end(), {r.tokens_file, r.index_file, r.documents_file});
  remove_matching(dir, [&](const std::string& name) {
    return (name.starts_with("shard-") || name == "manifest.json.tmp") &&
           std::find(keep.begin(), keep.end(), name) == keep.end();
  });
  write_atomically(manifest_path, as_span(to_json(job)));
  sync_directory(dir);
  fs::remove_all(state);
  sync_directory(dir);

  summary.shards = job.shards.size();
  for (const auto& r : job.shards) {
    summary.examples += r.examples;
    summary.bytes += r.bytes;
    summary.tokens += r.tokens;
  }
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
/// decoding of every example. Throws an eqinfo::error naming the first
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
