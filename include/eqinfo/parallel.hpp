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
#include <optional>
#include <span>
#include <string>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace parallel {

/// Runs f() in a task arena of `threads` threads (0: the calling thread's
/// arena, i.e. TBB's default concurrency).
/// More threads than cores: TBB's process-wide worker limit (the core count)
/// is raised to `threads` while the call runs (tbb::global_control), so the
/// arena really gets them.
template <class F>
void run_in_arena(unsigned threads, F&& f) {
  if (threads == 0) {
    f();
    return;
  }
  const int n = static_cast<int>(std::min<unsigned>(threads, 1u << 12));
  std::optional<tbb::global_control> limit;
  if (n > tbb::info::default_concurrency())
    limit.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(n));
  tbb::task_arena arena(n);
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

}  // namespace parallel
}  // namespace detail

/// Encodes each example on its own, in parallel: out[i] is exactly
/// `tokenizer(prototype).encode(examples[i])`, for any `threads`.
/// threads == 0: TBB's default (all cores, or the enclosing arena's limit);
/// otherwise a tbb::task_arena of that many threads (more than the cores is
/// allowed: see detail::parallel::run_in_arena).
template <class Model>
std::vector<encoded> encode_many(const tokenizer<Model>& prototype,
                                 std::span<const std::span<const std::uint8_t>> examples, unsigned threads = 0) {
  tbb::enumerable_thread_specific<tokenizer<Model>> local([&] { return detail::parallel::worker_copy(prototype); });
  return detail::parallel::for_each_item<encoded>(
      examples.size(), threads, local, [&](tokenizer<Model>& tok, std::size_t i) { return tok.encode(examples[i]); });
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
/// decodes on its own; the last one, which needs the byte count, after the
/// others; then the check that the encoder cuts the bytes the same way, also
/// window by window in parallel). The result, and any error, is exactly what
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
  // The checks of tokenizer::decode and decode_equal_info, in their order.
  if (tokens.size() % s.tokens_per_window() != 0)
    throw error(errc::truncated_tokens, std::to_string(tokens.size()) + " tokens is not a whole number of " +
                                            std::to_string(s.tokens_per_window()) + "-token windows");
  const bit_vector bits = unpack_tokens(tokens, s.token_bits);
  detail::check_model_precision(prototype.model().precision_bits(), s);
  const std::size_t b = s.window_bits;
  const std::size_t windows = detail::window_count(bits, s);
  if (byte_count && (windows == 0) != (*byte_count == 0))
    throw error(errc::corrupt_stream,
                std::to_string(windows) + " windows cannot hold " + std::to_string(*byte_count) + " bytes");
  const auto where = [&](std::size_t i) { return detail::window_name(i, s); };

  // Every window but the final one (with a byte count), by the rule, in
  // chunks of consecutive windows. A chunk stops at its first window the
  // serial decoder would stop at (an error, or unmatched when exact).
  struct chunk_result {
    std::vector<std::uint8_t> bytes;
    std::vector<std::size_t> ends;  // ends[k]: end of window k's bytes in `bytes`
    std::vector<bool> matched;
    std::exception_ptr error;  // thrown by window ends.size() (the one after the last decoded)
  };
  const std::size_t ruled = byte_count && windows > 0 ? windows - 1 : windows;
  const std::size_t per_chunk = detail::parallel::grain_for(ruled, threads);
  const std::size_t chunks = (ruled + per_chunk - 1) / per_chunk;
  std::vector<chunk_result> results(chunks);
  tbb::enumerable_thread_specific<Model> models([&] { return Model(prototype.model()); });
  detail::parallel::run_in_arena(threads, [&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks, 1), [&](const tbb::blocked_range<std::size_t>& range) {
      Model& model = models.local();
      bit_vector window;
      for (std::size_t c = range.begin(); c != range.end(); ++c) {
        chunk_result& r = results[c];
        const std::size_t first = c * per_chunk, last = std::min(ruled, first + per_chunk);
        try {
          for (std::size_t i = first; i < last; ++i) {
            window.clear();
            window.append_range(bits, i * b, (i + 1) * b);
            const auto decoded = detail::decode_window(model, window, s, r.bytes);
            r.ends.push_back(r.bytes.size());
            r.matched.push_back(decoded.matched);
            if (byte_count && !decoded.matched) break;
          }
        } catch (...) {
          r.error = std::current_exception();
        }
      }
    });
  });

  // In order: the serial decoder's checks, then the final window.
  std::vector<std::uint8_t> out;
  std::size_t total = 0;
  for (const auto& r : results) total += r.bytes.size();
  if (byte_count) total = static_cast<std::size_t>(std::min<std::uint64_t>(total, *byte_count));
  out.reserve(total);
  std::size_t i = 0;
  for (const auto& r : results) {
    std::size_t begin = 0;
    for (std::size_t k = 0; k < r.ends.size(); ++k, ++i) {
      out.insert(out.end(), r.bytes.begin() + static_cast<std::ptrdiff_t>(begin),
                 r.bytes.begin() + static_cast<std::ptrdiff_t>(r.ends[k]));
      begin = r.ends[k];
      if (byte_count) {
        if (!r.matched[k])
          throw error(errc::corrupt_stream, where(i) + ": no prefix of the decoded bytes has this window as its code");
        if (out.size() >= *byte_count)
          throw error(errc::corrupt_stream,
                      where(i) + ": the windows hold more than " + std::to_string(*byte_count) + " bytes");
      }
    }
    if (r.error) std::rethrow_exception(r.error);
  }
  if (!byte_count || windows == 0) return out;

  const std::size_t final_index = windows - 1;
  bit_vector window;
  window.append_range(bits, final_index * b, windows * b);
  Model model(prototype.model());
  detail::decode_final_window(model, window, *byte_count, out, s, final_index);

  // The encoder's own cuts (detail::check_canonical_cuts), window by window
  // in parallel; the first window that differs, in order, is reported.
  std::vector<std::size_t> starts = {0};
  for (const auto& r : results) {
    std::size_t begin = 0;  // r.ends are offsets into the chunk's bytes
    for (std::size_t end : r.ends) {
      starts.push_back(starts.back() + (end - begin));
      begin = end;
    }
  }
  starts.push_back(out.size());
  const std::size_t check_chunks = (windows + per_chunk - 1) / per_chunk;
  std::vector<std::exception_ptr> check_errors(check_chunks);
  detail::parallel::run_in_arena(threads, [&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, check_chunks, 1),
                      [&](const tbb::blocked_range<std::size_t>& range) {
                        Model& local = models.local();
                        for (std::size_t c = range.begin(); c != range.end(); ++c) {
                          try {
                            detail::check_canonical_cuts(local, std::span<const std::uint8_t>(out),
                                                         std::span<const std::size_t>(starts), bits, s, c * per_chunk,
                                                         (c + 1) * per_chunk);
                          } catch (...) {
                            check_errors[c] = std::current_exception();
                          }
                        }
                      });
  });
  for (const auto& e : check_errors)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace v1
}  // namespace eqinfo
