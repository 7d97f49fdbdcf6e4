// SPDX-License-Identifier: MIT
#pragma once
// The inputs of `eqinfo shard` (docs/format.md, "Token shards"): input files
// and directories -> documents -> examples of at most example_bytes, read
// sequentially, and a reader_cursor that restarts the reading at any example
// boundary. The cursor is what lets one shard be made on its own (a Dask task,
// tools/shard_pipeline.hpp) with the cutting defined once, here.

#include <eqinfo/shards.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
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
  /// Reads `open_as` (the path resolved against the working directory of
  /// the run), named `path` in messages, from byte `start` on. crc() covers
  /// only the bytes read, so it is the file's CRC-32 only from start 0.
  explicit file_reader(std::string path, const fs::path& open_as, std::uint64_t start = 0)
      : path_(std::move(path)), in_(open_as, std::ios::binary), buffer_(1 << 20) {
    if (!in_) throw error(errc::io_error, path_ + ": cannot open for reading: " + std::strerror(errno));
    if (start > 0) {
      in_.seekg(static_cast<std::streamoff>(start));
      if (!in_) throw error(errc::io_error, path_ + ": cannot seek to byte " + std::to_string(start));
      loaded_ = consumed_ = start;
    }
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

/// Where an example_reader stands between two examples: enough to go on
/// reading from there in another process (docs/format.md's cutting is a
/// function of the stream read so far, which these fields summarise).
struct reader_cursor {
  std::uint64_t file = 0;            // the input being read (or the next one)
  bool open = false;                 // whether `file` is open
  std::uint64_t offset = 0;          // byte to resume reading the file at
  std::uint64_t line = 0;            // jsonl: lines before `offset`
  bool reload = false;               // jsonl: the line at `offset` is the current document
  bool text_done = false;            // text: the file's one document was opened
  std::uint64_t first_document = 0;  // of `file`
  std::uint64_t file_documents = 0;  // of `file`, so far
  std::uint64_t documents = 0, stream = 0, finished_bytes = 0;
  std::uint64_t current[4] = {}, previous[4] = {};  // index, start, length, pos
  std::uint64_t phase = 0, separator_pos = 0;

  /// Whitespace-separated numbers: opaque to the callers that carry it.
  std::string to_string() const {
    std::ostringstream s;
    s << file << ' ' << open << ' ' << offset << ' ' << line << ' ' << reload << ' ' << text_done << ' '
      << first_document << ' ' << file_documents << ' ' << documents << ' ' << stream << ' ' << finished_bytes;
    for (auto v : current) s << ' ' << v;
    for (auto v : previous) s << ' ' << v;
    s << ' ' << phase << ' ' << separator_pos;
    return s.str();
  }
  static reader_cursor parse(const std::string& text) {
    reader_cursor c;
    std::istringstream s(text);
    s >> c.file >> c.open >> c.offset >> c.line >> c.reload >> c.text_done >> c.first_document >> c.file_documents >>
        c.documents >> c.stream >> c.finished_bytes;
    for (auto& v : c.current) s >> v;
    for (auto& v : c.previous) s >> v;
    s >> c.phase >> c.separator_pos;
    std::string rest;
    if (s.fail() || (s >> rest) || c.phase > 2)
      throw error(errc::invalid_argument, "not a shard reader cursor: \"" + text + "\"");
    return c;
  }
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
  /// Relative input paths are opened relative to `base` (empty: the
  /// working directory) and named as given.
  example_reader(std::vector<shard_input> inputs, const shard_manifest& options, fs::path base = {})
      : inputs_(std::move(inputs)),
        separator_(options.separator),
        field_(options.text_field),
        keep_(options.keep_documents),
        example_bytes_(options.example_bytes),
        base_(std::move(base)) {}

  /// Goes on from where the reader that gave `c` (by cursor()) stood. The
  /// inputs' CRC-32s it computes are then partial: take them from a reader
  /// that started at the beginning.
  example_reader(std::vector<shard_input> inputs, const shard_manifest& options, fs::path base, const reader_cursor& c)
      : example_reader(std::move(inputs), options, std::move(base)) {
    if (c.file > inputs_.size() || (c.open && c.file == inputs_.size()))
      throw error(errc::invalid_argument, "a shard reader cursor for input " + std::to_string(c.file) + " of " +
                                              std::to_string(inputs_.size()));
    file_ = static_cast<std::size_t>(c.file);
    documents_ = c.documents;
    stream_ = c.stream;
    finished_bytes_ = c.finished_bytes;
    current_ = {c.current[0], c.current[1], c.current[2], c.current[3]};
    previous_ = {c.previous[0], c.previous[1], c.previous[2], c.previous[3]};
    phase_ = static_cast<phase>(c.phase);
    separator_pos_ = static_cast<std::size_t>(c.separator_pos);
    if (!c.open) return;
    shard_input& in = inputs_[file_];
    in.first_document = c.first_document;
    in.documents = c.file_documents;
    text_document_done_ = c.text_done;
    line_ = c.line;
    reader_.emplace(in.path, resolved(in.path), c.offset);
    if (c.reload && !read_jsonl_document(in))
      throw error(errc::io_error,
                  in.path + ": line " + std::to_string(c.line + 1) + " is gone: it changed while being read");
  }

  /// Where the reader stands now (between two examples).
  reader_cursor cursor() const {
    reader_cursor c;
    c.file = file_;
    c.open = reader_.has_value();
    c.documents = documents_;
    c.stream = stream_;
    c.finished_bytes = finished_bytes_;
    const doc* d[2] = {&current_, &previous_};
    for (int i = 0; i < 2; ++i) {
      std::uint64_t* out = i == 0 ? c.current : c.previous;
      out[0] = d[i]->index, out[1] = d[i]->start, out[2] = d[i]->length, out[3] = d[i]->pos;
    }
    c.phase = static_cast<std::uint64_t>(phase_);
    c.separator_pos = separator_pos_;
    if (reader_) {
      const shard_input& in = inputs_[file_];
      c.first_document = in.first_document;
      c.file_documents = in.documents;
      c.text_done = text_document_done_;
      // A jsonl document being cut is read again from its line: the cursor
      // stays small whatever the document's size.
      c.reload = in.type == "jsonl" && phase_ != phase::need_document;
      c.offset = c.reload ? document_line_start_ : reader_->consumed();
      c.line = c.reload ? document_line_ - 1 : line_;
    }
    return c;
  }

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
        reader_.emplace(inputs_[file_].path, resolved(inputs_[file_].path));
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

  fs::path resolved(const std::string& path) const {
    return base_.empty() || fs::path(path).is_absolute() ? fs::path(path) : base_ / path;
  }

  bool read_jsonl_document(const shard_input& in) {
    std::string line;
    for (;;) {
      const std::uint64_t start = reader_->consumed();
      if (!reader_->read_line(line)) break;
      ++line_;
      document_line_start_ = start;
      document_line_ = line_;
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
  fs::path base_;

  std::size_t file_ = 0;
  std::optional<file_reader> reader_;
  bool text_document_done_ = false;
  std::uint64_t line_ = 0;
  std::uint64_t document_line_start_ = 0, document_line_ = 0;  // the current jsonl document's line
  std::string text_;                                           // the current jsonl document
  std::uint64_t documents_ = 0, stream_ = 0, finished_bytes_ = 0;
  doc current_, previous_;
  phase phase_ = phase::need_document;
  std::size_t separator_pos_ = 0;
};

}  // namespace eqinfo::tool
