// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1's forward pass (docs/m1-integer.md): int8 x int8 -> int32 products on
/// the weights' kernel path, element-wise float steps, integer sums.
///
/// A position's result depends only on its own input and the cached keys and
/// values of the earlier positions of its sequence: the rows of one call are
/// never mixed, and every int32 sum is exact in any order, so the batch
/// size, the kernel path (scalar/Eigen, SSE2, AVX2, AVX-512 VNNI, AMX) and
/// the vector width cannot change a bit.

#include <eqinfo/detail/m1_numerics.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/m1_weights.hpp>
#include <eqinfo/model.hpp>

#include <cfenv>
#include <cstdint>
#include <span>
#include <tuple>
#include <vector>
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define EQINFO_HAVE_MXCSR 1
#endif

#include <eqinfo/detail/fp_strict_begin.inc>  // no FMA contraction until fp_strict_end.inc

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace m1 {

/// Key/value cache of one sequence, per layer: int8 rows [context][A] and
/// one scale per (position, head).
struct kv_cache {
  aligned_vector<std::int8_t> keys, values;        // [layers][context][A]
  aligned_vector<float> key_scales, value_scales;  // [layers][context][heads]
  std::size_t length = 0;                          // positions held

  void allocate(const transformer_config& c) {
    keys.resize(std::size_t{c.layers} * c.context * c.attention_width());
    values.resize(keys.size());
    key_scales.resize(std::size_t{c.layers} * c.context * c.heads);
    value_scales.resize(key_scales.size());
    length = 0;
  }
};

/// Scratch buffers of a forward pass (cache-line aligned: aligned_vector.hpp).
struct workspace {
  aligned_vector<float> h, y, v, att, e, w, scales, row_scales, out_scales;
  aligned_vector<std::int8_t> x, ff8, q8;  ///< ff8: the MLP's hidden rows, quantised
  aligned_vector<std::uint8_t> p8, row_finite;
  aligned_vector<std::int32_t> acc;
  std::vector<std::size_t> row_start;  ///< attention: where each row's scores start in e
  std::vector<float> norm_max;         ///< norm_quant_row's m and ss per row
  std::vector<std::int64_t> norm_ss;
  std::vector<kv_cache*> row_cache;       ///< each stacked row's sequence cache
  std::vector<std::size_t> row_position;  ///< and its position there
};

/// One sequence's part of a batched forward call: run `inputs` as the next
/// positions of `cache` and write 256 logits for each of the last `want` of
/// them to `logits`.
struct sequence_call {
  kv_cache* cache;
  std::span<const int> inputs;  ///< ids 0..256 (256 = BOS)
  std::size_t want;
  float* logits;
};

/// The element-wise code compiled once per instruction set: the baseline
/// (namespace m1), AVX2 (m1::avx2) and AVX-512 (m1::avx512), each from the
/// same m1_numerics.inc and m1_forward.inc. Every step is element-wise IEEE
/// arithmetic in a fixed order with contraction off, or an integer sum, so
/// the vector width cannot change a bit (the kernel tests compare every
/// path); only the speed differs. The set follows the weights' int8 path,
/// so EQINFO_ISA=sse2 also runs the baseline element-wise code.
#include <eqinfo/detail/m1_forward.inc>  // linear, attention, forward_rows, cdf_of_logits: the baseline

#if defined(EQINFO_INT8_X86) && (defined(__GNUC__) || defined(__clang__))
#define EQINFO_M1_PER_ISA 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
namespace avx2 {
// Numerics first: the forward pass's calls (quant8, norm_quant, ...) must
// find this copy, not the baseline one, which GCC need not inline.
#include <eqinfo/detail/m1_numerics.inc>
// (A separate block, so that include sorting keeps this order.)
#include <eqinfo/detail/m1_forward.inc>
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,avx512f,avx512dq,avx512bw,avx512vl"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512dq,avx512bw,avx512vl")
#endif
namespace avx512 {
#include <eqinfo/detail/m1_numerics.inc>
// (Numerics first, as for avx2.) EQINFO_M1_AVX512_COPY: the few places
// where this copy uses AVX-512 intrinsics (integer steps only).
#define EQINFO_M1_AVX512_COPY 1
#include <eqinfo/detail/m1_forward.inc>
#undef EQINFO_M1_AVX512_COPY
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/// Which compiled copy of the element-wise code runs with kernel path `path`.
enum class elementwise { baseline, avx2, avx512 };
inline elementwise elementwise_for(int8::isa path) noexcept {
#ifdef EQINFO_M1_PER_ISA
  if (path == int8::isa::avx512vnni || path == int8::isa::amx) return elementwise::avx512;
  if (path == int8::isa::avx2) return elementwise::avx2;
#else
  (void)path;
#endif
  return elementwise::baseline;
}

/// Runs several independent sequences in one pass: their rows are stacked
/// for the linear layers (one int8 product per weight matrix for the whole
/// batch) and attend only to their own cache. Rows never mix, so each
/// sequence gets exactly the bits it would get alone.
inline void forward_batch(const transformer_weights& w, std::span<const sequence_call> calls, workspace& ws) {
  switch (elementwise_for(w.path)) {
#ifdef EQINFO_M1_PER_ISA
    case elementwise::avx512: return avx512::forward_rows(w, calls, ws);
    case elementwise::avx2: return avx2::forward_rows(w, calls, ws);
#endif
    default: return forward_rows(w, calls, ws);
  }
}

/// Runs `inputs` (ids 0..256, 256 = BOS) as the next positions of the cache
/// and writes 256 logits for each of the last `want` of them into `logits`.
inline void forward(const transformer_weights& w, kv_cache& cache, std::span<const int> inputs, std::size_t want,
                    workspace& ws, float* logits) {
  const sequence_call call{&cache, inputs, want, logits};
  forward_batch(w, std::span(&call, 1), ws);
}

/// CDF of a row of logits (docs/m1-integer.md): w_s = trunc(exp(l_s - max)
/// * 2^24), then the integer quantiser. `probabilities` receives exp(l_s - max).
/// `path`: the weights' kernel path, which picks the compiled copy.
inline void logits_to_cdf(const float* logits, unsigned precision, cdf_table& cdf, float* probabilities,
                          int8::isa path = int8::isa::scalar) {
  switch (elementwise_for(path)) {
#ifdef EQINFO_M1_PER_ISA
    case elementwise::avx512: return avx512::cdf_of_logits(logits, precision, cdf, probabilities);
    case elementwise::avx2: return avx2::cdf_of_logits(logits, precision, cdf, probabilities);
#endif
    default: return cdf_of_logits(logits, precision, cdf, probabilities);
  }
}

/// quantize_cdf for weights <= 2^24 in the compiled copy of kernel path
/// `path` (what logits_to_cdf uses; tests compare it with quantize_cdf).
inline void quantize_weights(const std::uint32_t* weights, unsigned precision, cdf_table& cdf,
                             int8::isa path = int8::isa::scalar) {
  switch (elementwise_for(path)) {
#ifdef EQINFO_M1_PER_ISA
    case elementwise::avx512: return avx512::quantize_small_weights(weights, precision, cdf);
    case elementwise::avx2: return avx2::quantize_small_weights(weights, precision, cdf);
#endif
    default: return quantize_small_weights(weights, precision, cdf);
  }
}

/// Refuses to run under a floating-point environment that changes results.
inline void check_fp_environment() {
  if (std::fegetround() != FE_TONEAREST)
    throw error(errc::invalid_argument, "M1 needs the default rounding mode (round to nearest)");
#ifdef EQINFO_HAVE_MXCSR
  const unsigned csr = _mm_getcsr();
  if (csr & 0x8040u)  // FTZ (bit 15) or DAZ (bit 6)
    throw error(errc::invalid_argument,
                "M1 needs denormals (MXCSR flush-to-zero/denormals-are-zero is set; was a -ffast-math object "
                "linked in?)");
#endif
}

}  // namespace m1
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo

#undef EQINFO_M1_PER_ISA
#include <eqinfo/detail/fp_strict_end.inc>
