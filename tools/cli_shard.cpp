// SPDX-License-Identifier: MIT
// The eqinfo tool's corpus commands: shard and verify (the pipeline itself:
// shard_pipeline.hpp) and train-unigram.

#include "cli_common.hpp"
#include "shard_pipeline.hpp"

#include <eqinfo/shards.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace eqinfo::cli {
namespace {

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

/// Progress hooks for the pipeline, reported through `progress`.
eqinfo::tool::shard_hooks hooks_for(progress_report& progress) {
  eqinfo::tool::shard_hooks hooks;
  if (progress.enabled())
    hooks.progress = [&progress](std::uint64_t done, std::uint64_t total) { progress.update(done, total); };
  hooks.note = [](const std::string& s) { note(s); };
  return hooks;
}

}  // namespace

int run_shard(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (!a.has("out") || a.get("out")->empty()) usage(cmd, "no output directory: give --out DIR");
  if (a.positional.empty()) usage(cmd, "no inputs: give files, .jsonl files or directories");
  for (const std::string& p : a.positional)
    if (is_stdio(p))
      usage(cmd, "standard input cannot be sharded (resuming and 'eqinfo verify' re-read the sources); give files");
  const std::string out = *a.get("out");
  const unsigned threads = parse_threads(a);

  eqinfo::shard_manifest job;
  job.token_format = a.get("format").value_or("npy");
  if (job.token_format != "npy" && job.token_format != "raw")
    usage(cmd, "unknown format '" + job.token_format + "' (use npy or raw)");
  if (auto v = a.number("example-bytes")) job.example_bytes = *v;
  if (auto v = a.number("shard-examples")) job.shard_examples = *v;
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
  with_tokenizer(s, model, [&](auto& tok, std::string_view) {
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

int run_verify(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (a.positional.size() != 1) usage(cmd, "give exactly one shard directory");
  const std::string dir = a.positional[0];
  const unsigned threads = parse_threads(a);
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
  with_tokenizer(m.config, model, [&](auto& tok, std::string_view) {
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

int run_train_unigram(const parsed_args& a) {
  const std::string& cmd = a.command;
  if (a.positional.empty()) usage(cmd, "no input files");
  if (!a.has("output")) usage(cmd, "no output file: give -o OUT");
  const auto p = static_cast<unsigned>(*a.number("precision"));
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

}  // namespace eqinfo::cli
