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
  std::vector<std::int8_t> keys, values;         // [layers][context][A]
  std::vector<float> key_scales, value_scales;  // [layers][context][heads]
  std::size_t length = 0;                        // positions held

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
  std::vector<float> h, y, v, att, e, w, scales;
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
  std::vector<float> out_scale(rows);
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

/// Runs `inputs` (ids 0..256, 256 = BOS) as the next positions of the cache
/// and writes 256 logits for each of the last `want` of them into `logits`.
inline void forward(const transformer_weights& w, kv_cache& cache, std::span<const int> inputs, std::size_t want,
                    workspace& ws, float* logits) {
  EQINFO_NO_CONTRACT
  const transformer_config& c = w.config;
  const std::size_t rows = inputs.size(), d = c.d_model, a = c.attention_width(), ff = c.d_ff, heads = c.heads;
  const std::size_t first = cache.length;
  if (first + rows > c.context) throw error(errc::invalid_argument, "M1 context overflow");
  const float eps = c.norm_epsilon;
  ws.h.resize(rows * d);
  ws.y.resize(rows * std::max({a, d, ff, std::size_t{256}}));
  ws.att.resize(rows * a);
  ws.v.resize(std::max({a, d, ff}));
  ws.x.resize(rows * std::max({a, d, ff}));
  std::vector<float> sx(rows);
  for (std::size_t r = 0; r < rows; ++r)
    std::copy_n(w.embedding.data() + static_cast<std::size_t>(inputs[r]) * d, d, ws.h.data() + r * d);
  auto residual = [&](const int8_matrix& W) {  // h += linear(x, sx, W)
    linear(ws.x.data(), sx.data(), rows, W, ws.y.data(), ws.acc);
    for (std::size_t i = 0; i < rows * d; ++i) ws.h[i] = ws.h[i] + ws.y[i];
  };
  for (std::size_t l = 0; l < c.layers; ++l) {
    const auto& L = w.layers[l];
    std::int8_t* keys = cache.keys.data() + l * c.context * a;
    std::int8_t* values = cache.values.data() + l * c.context * a;
    float* key_scales = cache.key_scales.data() + l * c.context * heads;
    float* value_scales = cache.value_scales.data() + l * c.context * heads;
    for (std::size_t r = 0; r < rows; ++r)
      sx[r] = norm_quant(ws.h.data() + r * d, L.attn_norm.data(), d, eps, ws.x.data() + r * d, ws.v.data());
    // k and v: quantised per (position, head) into the cache.
    for (const auto& [W, cache_rows, cache_scales] : {std::tuple{&L.wk, keys, key_scales},
                                                       std::tuple{&L.wv, values, value_scales}}) {
      linear(ws.x.data(), sx.data(), rows, *W, ws.y.data(), ws.acc);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t h = 0; h < heads; ++h)
          cache_scales[(first + r) * heads + h] =
              quant8(ws.y.data() + r * a + h * c.head_dim, c.head_dim, cache_rows + (first + r) * a + h * c.head_dim);
    }
    linear(ws.x.data(), sx.data(), rows, L.wq, ws.y.data(), ws.acc);
    attention(w, L, ws.y.data(), keys, key_scales, values, value_scales, first, rows, ws.att.data(), ws);
    for (std::size_t r = 0; r < rows; ++r) sx[r] = quant8(ws.att.data() + r * a, a, ws.x.data() + r * a);
    residual(L.wo);
    for (std::size_t r = 0; r < rows; ++r)
      sx[r] = norm_quant(ws.h.data() + r * d, L.mlp_norm.data(), d, eps, ws.x.data() + r * d, ws.v.data());
    linear(ws.x.data(), sx.data(), rows, L.w1, ws.y.data(), ws.acc);
    for (std::size_t i = 0; i < rows * ff; ++i) ws.y[i] = ws.y[i] > 0.0f ? ws.y[i] : 0.0f;  // NaN -> 0
    for (std::size_t r = 0; r < rows; ++r) sx[r] = quant8(ws.y.data() + r * ff, ff, ws.x.data() + r * ff);
    residual(L.w2);
  }
  cache.length = first + rows;
  const std::size_t skip = rows - want;
  for (std::size_t r = 0; r < want; ++r)
    sx[r] = norm_quant(ws.h.data() + (skip + r) * d, w.final_norm.data(), d, eps, ws.x.data() + r * d, ws.v.data());
  linear(ws.x.data(), sx.data(), want, w.lm_head, logits, ws.acc);
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
