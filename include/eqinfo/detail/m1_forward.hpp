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

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(__clang__)
#define EQINFO_NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define EQINFO_NO_CONTRACT
#endif

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace m1 {

/// Key/value cache of one sequence, per layer: int8 rows [context][A] and
/// one scale per (position, head).
struct kv_cache {
  std::vector<std::int8_t> keys, values;        // [layers][context][A]
  std::vector<float> key_scales, value_scales;  // [layers][context][heads]
  std::size_t length = 0;                       // positions held

  void allocate(const transformer_config& c) {
    keys.resize(std::size_t{c.layers} * c.context * c.attention_width());
    values.resize(keys.size());
    key_scales.resize(std::size_t{c.layers} * c.context * c.heads);
    value_scales.resize(key_scales.size());
    length = 0;
  }
};

/// Scratch buffers of a forward pass.
struct workspace {
  std::vector<float> h, y, v, att, e, w, scales, row_scales, out_scales;
  std::vector<std::int8_t> x, q8;
  std::vector<std::uint8_t> p8;
  std::vector<std::int32_t> acc;
};

/// y[r][n] = float(sum_k x[r][k] W[n][k]) * (sx[r] * scale[n]).
inline void linear(const std::int8_t* x, const float* sx, std::size_t rows, const int8_matrix& W, float* y,
                   std::vector<std::int32_t>& acc) {
  EQINFO_NO_CONTRACT
  const std::size_t n_out = W.rows();
  acc.resize(rows * n_out);
  int8::gemm_s8s8_packed(x, W.cols(), rows, W.packed, acc.data(), n_out);
  const float* sw = W.scale.data();
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int32_t* a = acc.data() + r * n_out;
    float* yr = y + r * n_out;
    const float s = sx[r];
    for (std::size_t n = 0; n < n_out; ++n) {
      const float scale = s * sw[n];
      yr[n] = static_cast<float>(a[n]) * scale;
    }
  }
}

/// Causal attention of `rows` new positions starting at `first` (their keys
/// and values are already in the layer's cache); q: (rows, A) float ->
/// out: (rows, A) float.
inline void attention(const transformer_weights& w, const transformer_weights::layer& L, const float* q,
                      const std::int8_t* keys, const float* key_scales, const std::int8_t* values,
                      const float* value_scales, std::size_t first, std::size_t rows, float* out, workspace& ws) {
  EQINFO_NO_CONTRACT
  const transformer_config& c = w.config;
  const std::size_t a = c.attention_width(), hd = c.head_dim, heads = c.heads, n = first + rows;
  const auto att_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  ws.q8.resize(rows * a);
  ws.scales.resize(rows * heads);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t h = 0; h < heads; ++h)
      ws.scales[r * heads + h] = quant8(q + r * a + h * hd, hd, ws.q8.data() + r * a + h * hd);
  ws.acc.resize(std::max(rows * n, rows * hd));
  ws.p8.resize(rows * n);
  ws.e.resize(n);
  ws.w.resize(n);
  std::vector<float>& out_scale = ws.out_scales;
  out_scale.resize(rows);
  for (std::size_t h = 0; h < heads; ++h) {
    // dot[r][j] = q8[r] . k8[j] for every cached position (the causal part is used).
    int8::gemm_s8s8_nt(w.path, ws.q8.data() + h * hd, a, keys + h * hd, a, ws.acc.data(), n, rows, n, hd);
    const float* bias = L.rel_bias.data() + h * c.relative_buckets;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t t = first + r;
      const std::int32_t* dot = ws.acc.data() + r * n;
      const float qs = ws.scales[r * heads + h];
      float* s = ws.e.data();
      bool finite = true;
      float max = -FLT_MAX;
      for (std::size_t j = 0; j <= t; ++j) {
        const float ks = qs * key_scales[j * heads + h];
        const float scaled = static_cast<float>(dot[j]) * ks;
        const float sc = scaled * att_scale;
        s[j] = sc + bias[w.buckets[t - j]];
        finite = finite && std::fabs(s[j]) <= FLT_MAX;
        max = s[j] > max ? s[j] : max;
      }
      std::uint8_t* p = ws.p8.data() + r * n;
      std::fill(p, p + n, std::uint8_t{0});
      if (!finite) {
        out_scale[r] = 0.0f;
        continue;
      }
      std::int64_t z = 0;  // <= 2^24 * 65536
      for (std::size_t j = 0; j <= t; ++j) {
        const float e = exp_nonpositive(s[j] - max);
        z += static_cast<std::int64_t>(e * 16777216.0f);
        ws.w[j] = e * value_scales[j * heads + h];
      }
      const float ps = quant8u(ws.w.data(), t + 1, p);
      out_scale[r] = static_cast<float>(static_cast<double>(ps) * 16777216.0 / static_cast<double>(z));
    }
    // acc[r][i] = sum_j p8[r][j] v8[j][i] (p8 is zero past each row's own position).
    int8::gemm_u8s8_nn(w.path, ws.p8.data(), n, values + h * hd, a, ws.acc.data(), hd, rows, hd, n);
    for (std::size_t r = 0; r < rows; ++r) {
      float* o = out + r * a + h * hd;
      const std::int32_t* acc = ws.acc.data() + r * hd;
      for (std::size_t i = 0; i < hd; ++i) o[i] = static_cast<float>(acc[i]) * out_scale[r];
    }
  }
}

/// One sequence's part of a batched forward call: run `inputs` as the next
/// positions of `cache` and write 256 logits for each of the last `want` of
/// them to `logits`.
struct sequence_call {
  kv_cache* cache;
  std::span<const int> inputs;  ///< ids 0..256 (256 = BOS)
  std::size_t want;
  float* logits;
};

/// Runs several independent sequences in one pass: their rows are stacked
/// for the linear layers (one int8 product per weight matrix for the whole
/// batch) and attend only to their own cache. Rows never mix, so each
/// sequence gets exactly the bits it would get alone.
inline void forward_batch(const transformer_weights& w, std::span<const sequence_call> calls, workspace& ws) {
  EQINFO_NO_CONTRACT
  const transformer_config& c = w.config;
  const std::size_t d = c.d_model, a = c.attention_width(), ff = c.d_ff, heads = c.heads, hd = c.head_dim;
  std::size_t rows = 0, want_rows = 0;
  for (const auto& call : calls) {
    if (call.cache->length + call.inputs.size() > c.context) throw error(errc::invalid_argument, "M1 context overflow");
    if (call.want > call.inputs.size()) throw error(errc::invalid_argument, "M1: more logits wanted than inputs");
    rows += call.inputs.size();
    want_rows += call.want;
  }
  const float eps = c.norm_epsilon;
  ws.h.resize(rows * d);
  ws.y.resize(rows * std::max({a, d, ff, std::size_t{256}}));
  ws.att.resize(rows * a);
  ws.v.resize(std::max({a, d, ff}));
  ws.x.resize(rows * std::max({a, d, ff}));
  std::vector<float>& sx = ws.row_scales;
  sx.resize(rows);
  {
    std::size_t r = 0;
    for (const auto& call : calls)
      for (int id : call.inputs)
        std::copy_n(w.embedding.data() + static_cast<std::size_t>(id) * d, d, ws.h.data() + (r++) * d);
  }
  auto residual = [&](const int8_matrix& W) {  // h += linear(x, sx, W): one IEEE add per element
    linear(ws.x.data(), sx.data(), rows, W, ws.y.data(), ws.acc);
    const auto n = static_cast<Eigen::Index>(rows * d);
    Eigen::Map<Eigen::ArrayXf>(ws.h.data(), n) += Eigen::Map<const Eigen::ArrayXf>(ws.y.data(), n);
  };
  for (std::size_t l = 0; l < c.layers; ++l) {
    const auto& L = w.layers[l];
    const std::size_t kv_offset = l * c.context * a, scale_offset = l * c.context * heads;
    for (std::size_t r = 0; r < rows; ++r)
      sx[r] = norm_quant(ws.h.data() + r * d, L.attn_norm.data(), d, eps, ws.x.data() + r * d, ws.v.data());
    // k and v: quantised per (position, head) into each sequence's cache.
    for (const bool is_key : {true, false}) {
      linear(ws.x.data(), sx.data(), rows, is_key ? L.wk : L.wv, ws.y.data(), ws.acc);
      std::size_t r = 0;
      for (const auto& call : calls) {
        kv_cache& kv = *call.cache;
        std::int8_t* cache_rows = (is_key ? kv.keys.data() : kv.values.data()) + kv_offset;
        float* cache_scales = (is_key ? kv.key_scales.data() : kv.value_scales.data()) + scale_offset;
        for (std::size_t i = 0; i < call.inputs.size(); ++i, ++r) {
          const std::size_t t = kv.length + i;
          for (std::size_t h = 0; h < heads; ++h)
            cache_scales[t * heads + h] = quant8(ws.y.data() + r * a + h * hd, hd, cache_rows + t * a + h * hd);
        }
      }
    }
    linear(ws.x.data(), sx.data(), rows, L.wq, ws.y.data(), ws.acc);
    {
      std::size_t r = 0;
      for (const auto& call : calls) {
        kv_cache& kv = *call.cache;
        attention(w, L, ws.y.data() + r * a, kv.keys.data() + kv_offset, kv.key_scales.data() + scale_offset,
                  kv.values.data() + kv_offset, kv.value_scales.data() + scale_offset, kv.length, call.inputs.size(),
                  ws.att.data() + r * a, ws);
        r += call.inputs.size();
      }
    }
    for (std::size_t r = 0; r < rows; ++r) sx[r] = quant8(ws.att.data() + r * a, a, ws.x.data() + r * a);
    residual(L.wo);
    for (std::size_t r = 0; r < rows; ++r)
      sx[r] = norm_quant(ws.h.data() + r * d, L.mlp_norm.data(), d, eps, ws.x.data() + r * d, ws.v.data());
    linear(ws.x.data(), sx.data(), rows, L.w1, ws.y.data(), ws.acc);
    for (std::size_t i = 0; i < rows * ff; ++i) ws.y[i] = ws.y[i] > 0.0f ? ws.y[i] : 0.0f;  // NaN -> 0
    for (std::size_t r = 0; r < rows; ++r) sx[r] = quant8(ws.y.data() + r * ff, ff, ws.x.data() + r * ff);
    residual(L.w2);
  }
  // Final norm and lm_head over the wanted rows of every sequence, stacked.
  {
    std::size_t r = 0, k = 0;
    for (const auto& call : calls) {
      call.cache->length += call.inputs.size();
      for (std::size_t i = call.inputs.size() - call.want; i < call.inputs.size(); ++i, ++k)
        sx[k] = norm_quant(ws.h.data() + (r + i) * d, w.final_norm.data(), d, eps, ws.x.data() + k * d, ws.v.data());
      r += call.inputs.size();
    }
  }
  linear(ws.x.data(), sx.data(), want_rows, w.lm_head, ws.y.data(), ws.acc);
  std::size_t k = 0;
  for (const auto& call : calls) {
    std::copy_n(ws.y.data() + k * 256, call.want * 256, call.logits);
    k += call.want;
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
inline void logits_to_cdf(const float* logits, unsigned precision, cdf_table& cdf, float* probabilities) {
  EQINFO_NO_CONTRACT
  std::array<std::uint64_t, 256> weights;
  bool finite = true;
  float max = -FLT_MAX;
  for (int s = 0; s < 256; ++s) {
    finite = finite && std::fabs(logits[s]) <= FLT_MAX;
    max = logits[s] > max ? logits[s] : max;
  }
  for (int s = 0; s < 256; ++s) {
    probabilities[s] = finite ? exp_nonpositive(logits[s] - max) : 1.0f;
    weights[static_cast<std::size_t>(s)] = static_cast<std::uint64_t>(probabilities[s] * 16777216.0f);
  }
  quantize_cdf(std::span<const std::uint64_t, 256>(weights), precision, cdf);
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

#undef EQINFO_NO_CONTRACT
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
