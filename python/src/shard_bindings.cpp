// SPDX-License-Identifier: MIT
// eqinfo._eqinfo, part 2: the shard pipeline of `eqinfo shard`
// (tools/shard_pipeline.hpp) reached step by step, for eqinfo.dask
// (python/eqinfo/dask.py): the job, the plan, one shard, the manifest. The
// pipeline is the CLI's, so the bytes are the CLI's; this file only carries
// values across (the job as its job.json text, a plan entry as a tuple, a
// shard's done-record as its JSON) and loads the model a job names.

// clang-format off
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
// clang-format on

#include "shard_pipeline.hpp"

#include <eqinfo/any_tokenizer.hpp>
#include <eqinfo/m1_file.hpp>
#include <eqinfo/tokenizer.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace py = pybind11;

namespace {

namespace fs = std::filesystem;
using eqinfo::shard_manifest;

using eqinfo::any_tokenizer;

struct loaded {
  std::shared_ptr<const any_tokenizer> tok;
  std::string kind;  // "none", "uniform", "unigram" or "m1", as the CLI's model_kind
};

fs::path resolved(const std::string& path, const std::string& base) {
  return base.empty() || fs::path(path).is_absolute() ? fs::path(path) : fs::path(base) / path;
}

/// The tokenizer for settings `s` and the model `path` ("uniform" or a file,
/// unigram or M1 told apart by content, relative to `base`), built as the
/// CLI's with_tokenizer builds it. Kept per process: a worker runs many shards
/// of one job, and an M1 file is parsed (and self-tested) once.
loaded load_tokenizer(const eqinfo::settings& s, const std::string& path, const std::string& base) {
  static std::mutex mutex;
  static std::map<std::string, loaded> cache;
  const std::string key = path + '\n' + base + '\n' + std::to_string(static_cast<int>(s.kind)) + ' ' +
                          std::to_string(s.token_bits) + ' ' + std::to_string(s.precision_bits) + ' ' +
                          std::to_string(s.window_bits) + ' ' + std::to_string(static_cast<int>(s.rule)) + ' ' +
                          std::to_string(s.segment_bytes);
  const std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  std::optional<eqinfo::model_file> file;
  if (s.kind != eqinfo::method::bytes && !path.empty() && path != "uniform")
    file = eqinfo::parse_model_file(eqinfo::detail::read_file_bytes(resolved(path, base).string()), path);
  eqinfo::chosen_tokenizer chosen = eqinfo::make_tokenizer(s, file);
  const loaded out{std::make_shared<any_tokenizer>(std::move(chosen.tok)), std::string(chosen.model_kind)};
  cache.emplace(key, out);
  return out;
}

shard_manifest parse_job(const std::string& json) { return eqinfo::parse_shard_manifest(json, "<shard job>"); }

/// The job `eqinfo shard` would record for these settings (the resolved
/// values of an eqinfo.Tokenizer, whose defaults are the CLI's), model and
/// options: its job.json text.
std::string shard_job(const py::dict& config, const std::string& model, const std::string& format,
                      std::uint64_t example_bytes, std::uint64_t shard_examples, const py::bytes& separator,
                      const std::string& text_field, bool keep_documents, const std::vector<std::string>& inputs,
                      const std::string& out, bool window_offsets) {
  // The config holds resolved values, so resolving them again changes
  // nothing; static-ac is AC whose model file is a unigram one.
  const auto method = config["method"].cast<std::string>();
  const eqinfo::settings_request r{.method = method == "static-ac" ? "ac" : method,
                                   .window_bits = config["window_bits"].cast<unsigned>(),
                                   .token_bits = config["token_bits"].cast<unsigned>(),
                                   .precision_bits = config["precision"].cast<unsigned>(),
                                   .rule = config["rule"].cast<std::string>(),
                                   .segment_bytes = config["segment_bytes"].cast<std::uint64_t>()};
  const eqinfo::settings s = eqinfo::resolve_settings(r, nullptr, nullptr).config;
  shard_manifest job;
  job.token_format = format;
  job.example_bytes = example_bytes;
  job.shard_examples = shard_examples;
  job.separator = separator;
  job.text_field = text_field;
  job.keep_documents = keep_documents;
  job.window_bytes = window_offsets;
  py::gil_scoped_release nogil;
  const loaded l = load_tokenizer(s, model, {});
  // Inputs and `out` as given: this runs in the client's working directory,
  // and the manifest records the paths so, as the CLI's does.
  eqinfo::tool::complete_shard_job(job, s, l.kind, model, inputs, out);
  job.model_fingerprint = std::visit([](const auto& t) { return eqinfo::model_fingerprint(t.model()); }, *l.tok);
  return eqinfo::to_json(job);
}

/// prepare_shard_dir: True if `out` already holds the finished job.
bool shard_prepare(const std::string& job_json, const std::string& out) {
  const shard_manifest job = parse_job(job_json);
  py::gil_scoped_release nogil;
  return eqinfo::tool::prepare_shard_dir(job, out).has_value();
}

using plan_entry = std::tuple<std::string, std::uint64_t, std::uint64_t, std::uint32_t, std::uint64_t>;

eqinfo::tool::planned_shard from_entry(const plan_entry& e) {
  eqinfo::tool::planned_shard p;
  p.cursor = eqinfo::tool::reader_cursor::parse(std::get<0>(e));
  p.examples = std::get<1>(e);
  p.bytes = std::get<2>(e);
  p.source_crc32 = std::get<3>(e);
  p.input_after = std::get<4>(e);
  return p;
}

/// plan_shards: (entries (cursor, examples, bytes, source CRC, input bytes
/// after), the job with the inputs' CRCs and document counts as JSON).
std::pair<std::vector<plan_entry>, std::string> shard_plan(const std::string& job_json, const std::string& base) {
  shard_manifest job = parse_job(job_json);
  py::gil_scoped_release nogil;
  const eqinfo::tool::shard_plan plan = eqinfo::tool::plan_shards(job, base);
  std::vector<plan_entry> entries;
  for (const auto& p : plan.shards)
    entries.emplace_back(p.cursor.to_string(), p.examples, p.bytes, p.source_crc32, p.input_after);
  job.inputs = plan.inputs;
  return {entries, eqinfo::to_json(job)};
}

/// write_one_shard: (the done-record's JSON, whether it was finished before).
std::pair<std::string, bool> shard_one(const std::string& job_json, const std::string& out, const std::string& base,
                                       std::size_t k, const plan_entry& entry, unsigned threads) {
  const shard_manifest job = parse_job(job_json);
  const eqinfo::tool::planned_shard p = from_entry(entry);
  py::gil_scoped_release nogil;
  const loaded l = load_tokenizer(job.config, job.model_path, base);
  const std::uint32_t fingerprint =
      std::visit([](const auto& t) { return eqinfo::model_fingerprint(t.model()); }, *l.tok);
  if (job.config.kind != eqinfo::method::bytes && fingerprint != job.model_fingerprint)
    throw eqinfo::error(eqinfo::errc::settings_mismatch, job.model_path + " on this worker has fingerprint " +
                                                             eqinfo::detail::hex32(fingerprint) + ", the job's model " +
                                                             eqinfo::detail::hex32(job.model_fingerprint));
  bool resumed = false;
  const eqinfo::shard_record r = std::visit(
      [&](const auto& tok) { return eqinfo::tool::write_one_shard(tok, job, out, k, p, threads, base, {}, &resumed); },
      *l.tok);
  return {eqinfo::detail::shards::record_json(r), resumed};
}

/// finish_shards: manifest.json from the plan and the shards' done-records.
void shard_finish(const std::string& planned_job_json, const std::string& out, const std::vector<plan_entry>& entries,
                  const std::vector<std::string>& records) {
  shard_manifest job = parse_job(planned_job_json);
  eqinfo::tool::shard_plan plan;
  for (const auto& e : entries) plan.shards.push_back(from_entry(e));
  plan.inputs = job.inputs;
  std::vector<eqinfo::shard_record> parsed;
  for (const auto& text : records)
    parsed.push_back(eqinfo::detail::shards::parse_record(
        eqinfo::detail::json_reader(text, "<shard record>", eqinfo::errc::corrupt_stream).parse(), "<shard record>"));
  py::gil_scoped_release nogil;
  eqinfo::tool::finish_shards(job, out, plan, std::move(parsed));
}

}  // namespace

void register_shard_bindings(py::module_& m) {
  m.def("shard_job", &shard_job, py::arg("settings"), py::arg("model"), py::arg("format"), py::arg("example_bytes"),
        py::arg("shard_examples"), py::arg("separator"), py::arg("text_field"), py::arg("keep_documents"),
        py::arg("inputs"), py::arg("out"), py::arg("window_offsets") = false);
  m.def("shard_prepare", &shard_prepare, py::arg("job"), py::arg("out"));
  m.def("shard_plan", &shard_plan, py::arg("job"), py::arg("base"));
  m.def("shard_one", &shard_one, py::arg("job"), py::arg("out"), py::arg("base"), py::arg("k"), py::arg("entry"),
        py::arg("threads") = 1);
  m.def("shard_finish", &shard_finish, py::arg("planned_job"), py::arg("out"), py::arg("entries"), py::arg("records"));
}
