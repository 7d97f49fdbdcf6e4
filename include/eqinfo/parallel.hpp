// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Many examples, or the windows of one EqualInfoAC stream, on several
/// threads with oneTBB. Needs oneTBB (CMake: link eqinfo::parallel); the rest
/// of eqinfo is standard C++ only.
///
///   eqinfo::tokenizer tok(model, settings);          // the prototype
///   auto out = eqinfo::encode_many(tok, examples);   // == serial encoding
///   auto bytes = eqinfo::decode_windows_parallel(tok, e.tokens, e.byte_count, 4);
///
/// The output never depends on the thread count or on how TBB splits the
/// work: every example (and every equal-info window) is coded on its own by
/// a copy of the prototype's tokenizer (or model), exactly as the serial
/// code does, and the results are assembled in input order. Errors are
/// those of the serial loop too: if several examples (windows) fail, the
/// eqinfo::error of the first one in input order is rethrown, after all
/// workers have stopped. Progress callbacks set on the prototype are not
/// copied to the workers (they would run on several threads at once).

#include <eqinfo/bits.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/packing.hpp>
#include <eqinfo/settings.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/windows.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace parallel {

/// Runs f() in a task arena of `threads` threads (0: the calling thread's
/// arena, i.e. TBB's default concurrency). The library sets no process-wide
/// state: TBB caps every arena at its global worker limit (the core count by
/// default), so more threads than cores need the application to raise it
/// with a tbb::global_control of its own (the eqinfo tool does, for
/// --threads). The results never depend on the thread count.
template <class F>
void run_in_arena(unsigned threads, F&& f) {
  if (threads == 0) {
    f();
    return;
  }
  tbb::task_arena arena(static_cast<int>(std::min<unsigned>(threads, 1u << 12)));
  arena.execute(f);
}

/// Items per task: enough tasks for load balancing on many cores (about 16
/// per thread), but no task smaller than one item or larger than 256 items.
inline std::size_t grain_for(std::size_t items, unsigned threads) {
  const std::size_t concurrency =
      threads != 0 ? threads : static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
  return std::clamp<std::size_t>(items / (16 * concurrency), 1, 256);
}

/// A tokenizer copy for one worker: the prototype without its progress callback.
template <class Model>
tokenizer<Model> worker_copy(const tokenizer<Model>& prototype) {
  tokenizer<Model> t(prototype);
  if constexpr (requires { t.set_progress(nullptr); }) t.set_progress(nullptr);
  return t;
}

/// Results of `n` independent items, each computed by
/// `work(local_state, i)`, rethrowing the first failure in index order.
/// Items after a failed one are skipped (the serial loop would not reach them).
template <class Result, class State, class Work>
std::vector<Result> for_each_item(std::size_t n, unsigned threads, State& states, Work&& work) {
  std::vector<Result> out(n);
  std::vector<std::exception_ptr> errors(n);
  std::atomic<std::size_t> first_failure{n};
  run_in_arena(threads, [&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain_for(n, threads)),
                      [&](const tbb::blocked_range<std::size_t>& range) {
                        auto& local = states.local();
                        for (std::size_t i = range.begin(); i != range.end(); ++i) {
                          if (i > first_failure.load(std::memory_order_relaxed)) return;
                          try {
                            out[i] = work(local, i);
                          } catch (...) {
                            errors[i] = std::current_exception();
                            std::size_t seen = first_failure.load(std::memory_order_relaxed);
                            while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
                            }
                            return;
                          }
                        }
                      });
  });
  const std::size_t failed = first_failure.load();
  if (failed < n) std::rethrow_exception(errors[failed]);
  return out;
}

/// for_each_item without per-thread state: `work(i)`.
template <class Result, class Work>
std::vector<Result> for_each_item(std::size_t n, unsigned threads, Work&& work) {
  struct stateless {
    stateless& local() noexcept { return *this; }
  } none;
  return for_each_item<Result>(n, threads, none, [&](stateless&, std::size_t i) { return work(i); });
}

/// Engines for the workers: one per thread, made on first use.
template <class Model>
class engines {
 public:
  explicit engines(const tokenizer<Model>& prototype) : local_([&] { return std::make_unique<worker>(prototype); }) {}
  window_engine<Model>& local() { return local_.local()->engine; }

 private:
  struct worker {
    explicit worker(const tokenizer<Model>& prototype)
        : model(prototype.model()), engine(model, prototype.config(), prototype.lanes()) {}
    Model model;
    window_engine<Model> engine;
  };
  tbb::enumerable_thread_specific<std::unique_ptr<worker>> local_;
};

/// Blocks of consecutive jobs for the threads: no block holds more than a
/// thread's share, and there are up to four blocks per thread to balance. A block holds at least
/// `lanes` jobs where there are enough, and is cut so that no block is left
/// with a few: streams of similar length run in waves of `lanes`, and a
/// short last block (200 jobs at 64 lanes were 64, 64, 64 and 8) runs its
/// whole length with few rows a step. Blocks of up to 2 x lanes jobs run as
/// one wave (window_engine::encode_width).
inline std::size_t jobs_per_block(std::size_t jobs, std::size_t lanes, unsigned threads) {
  const std::size_t concurrency =
      threads != 0 ? threads : static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
  const std::size_t per_thread = (jobs + concurrency - 1) / concurrency;
  if (per_thread <= 2 * lanes) return std::max<std::size_t>(1, per_thread);
  // Here jobs > 2 * lanes * concurrency, so jobs / lanes >= 2 * concurrency.
  std::size_t blocks = std::clamp<std::size_t>(jobs / lanes, concurrency, 4 * concurrency);
  blocks = std::max(blocks, (jobs + 8 * lanes - 1) / (8 * lanes));  // at most 8 x lanes jobs a block
  return (jobs + blocks - 1) / blocks;
}

/// Encodes `jobs` on the threads, block by block; the first failing block's
/// error (in order) is rethrown.
template <class Model>
void encode_jobs(const tokenizer<Model>& prototype, std::span<encode_job> jobs, unsigned threads) {
  if (jobs.empty()) return;
  engines<Model> local(prototype);
  const std::size_t per = std::max<std::size_t>(1, jobs_per_block(jobs.size(), prototype.lanes(), threads));
  const std::size_t blocks = (jobs.size() + per - 1) / per;
  (void)for_each_item<char>(blocks, threads, local, [&](window_engine<Model>& engine, std::size_t block) {
    engine.encode(jobs.subspan(block * per, std::min(per, jobs.size() - block * per)));
    return char{};
  });
}

}  // namespace parallel
}  // namespace detail

/// Encodes each example on its own, in parallel: out[i] is exactly
/// `tokenizer(prototype).encode(examples[i])`, for any `threads` and lanes.
/// threads == 0: TBB's default (all cores, or the enclosing arena's limit);
/// otherwise a tbb::task_arena of that many threads (more than the cores is
/// allowed: see detail::parallel::run_in_arena).
///
/// EqualInfoAC: every segment of every example is one job; each thread
/// advances up to prototype.lanes() jobs in lockstep (one batched model call
/// per step when the model has a lane_set, as M1 does).
///
/// want_offsets::yes: each result's offsets too, as encode_with_offsets gives them.
template <class Model>
std::vector<encoded> encode_many(const tokenizer<Model>& prototype,
                                 std::span<const std::span<const std::uint8_t>> examples, unsigned threads = 0,
                                 want_offsets offsets = want_offsets::no) {
  const settings& s = prototype.config();
  if (s.kind != method::equal_info_ac) {
    tbb::enumerable_thread_specific<tokenizer<Model>> local([&] { return detail::parallel::worker_copy(prototype); });
    return detail::parallel::for_each_item<encoded>(
        examples.size(), threads, local,
        [&](tokenizer<Model>& tok, std::size_t i) { return tok.encode(examples[i], offsets); });
  }
  std::vector<detail::encode_job> jobs;
  std::vector<std::size_t> first_job(examples.size() + 1, 0);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    auto segments = detail::segment_jobs(examples[i], s, offsets == want_offsets::yes);
    first_job[i] = jobs.size();
    for (auto& job : segments) jobs.push_back(std::move(job));
  }
  first_job[examples.size()] = jobs.size();
  detail::parallel::encode_jobs(prototype, jobs, threads);
  std::vector<encoded> out(examples.size());
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const auto mine = std::span(jobs).subspan(first_job[i], first_job[i + 1] - first_job[i]);
    out[i].byte_count = examples[i].size();
    out[i].tokens = pack_tokens(detail::concatenate(mine), s.token_bits);
    if (offsets == want_offsets::yes) detail::append_window_offsets(mine, s, out[i].offsets);
  }
  return out;
}

/// Encodes one input, its segments (settings::segment_bytes) on several
/// threads: exactly `tokenizer(prototype).encode(bytes, offsets)`.
template <class Model>
encoded encode_parallel(const tokenizer<Model>& prototype, std::span<const std::uint8_t> bytes, unsigned threads = 0,
                        want_offsets offsets = want_offsets::no) {
  const std::span<const std::uint8_t> one[] = {bytes};
  return std::move(encode_many(prototype, one, threads, offsets)[0]);
}

/// Decodes each encoded example on its own, in parallel: out[i] is exactly
/// `tokenizer(prototype).decode(examples[i].tokens, examples[i].byte_count)`.
template <class Model>
std::vector<std::vector<std::uint8_t>> decode_many(const tokenizer<Model>& prototype, std::span<const encoded> examples,
                                                   unsigned threads = 0) {
  tbb::enumerable_thread_specific<tokenizer<Model>> local([&] { return detail::parallel::worker_copy(prototype); });
  return detail::parallel::for_each_item<std::vector<std::uint8_t>>(
      examples.size(), threads, local,
      [&](tokenizer<Model>& tok, std::size_t i) { return tok.decode(examples[i].tokens, examples[i].byte_count); });
}

/// Decodes ONE token stream, its equal-info windows in parallel (each window
/// reads on its own: blocks of windows on the threads, each block's windows
/// in lockstep lanes; then, in order, the rule and the checks of the serial
/// decoder; the final window; and the encoder's re-cuts, again in parallel).
/// The result, and any error, is exactly what
/// `tokenizer(prototype).decode(tokens, *byte_count)` gives -- or, without a
/// byte count, `decode_bare(tokens)`. For methods other than EqualInfoAC
/// (one stream, nothing to split) it simply calls those.
template <class Model>
std::vector<std::uint8_t> decode_windows_parallel(const tokenizer<Model>& prototype, std::span<const token_t> tokens,
                                                  std::optional<std::uint64_t> byte_count, unsigned threads = 0) {
  const settings& s = prototype.config();
  if (s.kind != method::equal_info_ac) {
    tokenizer<Model> tok = detail::parallel::worker_copy(prototype);
    return byte_count ? tok.decode(tokens, *byte_count) : tok.decode_bare(tokens);
  }
  // The checks of tokenizer::decode and decode_windows, in their order.
  if (tokens.size() % s.tokens_per_window() != 0)
    throw error(errc::truncated_tokens, std::to_string(tokens.size()) + " tokens is not a whole number of " +
                                            std::to_string(s.tokens_per_window()) + "-token windows");
  const bit_vector bits = unpack_tokens(tokens, s.token_bits);
  detail::check_model_precision(prototype.model().precision_bits(), s);
  const std::size_t windows = detail::checked_window_count(bits, s, byte_count);
  const std::size_t ruled = detail::ruled_windows(windows, byte_count.has_value());
  detail::parallel::engines<Model> local(prototype);
  std::vector<int> next_first;
  if (byte_count) next_first = local.local().first_bytes(bits, windows);

  const std::size_t per = std::max<std::size_t>(1, detail::parallel::jobs_per_block(ruled, prototype.lanes(), threads));
  const std::size_t blocks = (ruled + per - 1) / per;
  std::vector<detail::window_reads> reads(blocks);
  (void)detail::parallel::for_each_item<char>(
      blocks, threads, local, [&](detail::window_engine<Model>& engine, std::size_t block) {
        engine.read(bits, block * per, std::min(ruled, (block + 1) * per), next_first, reads[block]);
        return char{};
      });
  detail::assembled a;
  detail::assemble(reads, s, byte_count, a);
  if (!byte_count) return std::move(a.bytes);
  return detail::finish_exact(
      a, bits, windows, *byte_count, local.local().model(), s,
      [&](std::span<detail::encode_job> jobs) { detail::parallel::encode_jobs(prototype, jobs, threads); });
}

}  // namespace v1
}  // namespace eqinfo
