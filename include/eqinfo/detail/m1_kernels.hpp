// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1's fast kernels: bit-identical to detail::m1::reference_kernels on every
/// ISA and compiler (tests/m1_kernels_test.cpp checks shapes, ISAs, models).
///
/// Included by <eqinfo/transformer.hpp> only, inside its fp-contract-off
/// region (never include it directly). How they stay bit-identical:
///  * every output element is still ONE ordered sum from 0.0f, one IEEE
///    multiply then one add per term, in the reference's index order and with
///    the reference's operand order (x * w, q * k, weight * v);
///  * SIMD lanes (and register blocks) only ever hold *different* outputs:
///    matmul lanes are output columns, exp lanes are independent arguments;
///    a sum is never split across lanes, and no horizontal add is used;
///  * no FMA (every function starts with EQINFO_NO_CONTRACT, GCC has
///    fp-contract=off for the whole header, and xsimd's operator* and
///    operator+ are separate mul/add instructions); no xsimd::exp;
///  * storing a partial sum and loading it again is exact, so sums may be
///    split over calls (attention's causal tails) without changing bits.
/// Vector width (SSE2 4, AVX2 8, AVX-512 16 floats, or 1 without xsimd) thus
/// only changes how many outputs run side by side, never a result.

#ifndef EQINFO_NO_CONTRACT
#error "include <eqinfo/transformer.hpp>, not <eqinfo/detail/m1_kernels.hpp>"
#endif

#if !defined(EQINFO_M1_NO_XSIMD) && defined(__has_include)
#if __has_include(<xsimd/xsimd.hpp>)
#include <xsimd/xsimd.hpp>
#define EQINFO_M1_XSIMD 1
#endif
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__clang__)
#define EQINFO_M1_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define EQINFO_M1_UNROLL _Pragma("GCC unroll 16")
#else
#define EQINFO_M1_UNROLL
#endif

// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y` (undefined) and
// trip -Wmaybe-uninitialized once inlined into a caller.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace m1 {

/// One-lane "vector": the portable fallback (and a test of the blocking logic
/// at width 1).
struct scalar_ops {
  using vec = float;
  static constexpr std::size_t width = 1;
  static constexpr int mr = 4, nv = 4;  // matmul register block: rows x vectors
  static vec load(const float* p) noexcept { return *p; }
  static void store(float* p, vec v) noexcept { *p = v; }
  static vec broadcast(float x) noexcept { return x; }
  static vec mul(vec a, vec b) noexcept {
    EQINFO_NO_CONTRACT
    return a * b;
  }
  static vec add(vec a, vec b) noexcept {
    EQINFO_NO_CONTRACT
    return a + b;
  }
  static vec sub(vec a, vec b) noexcept {
    EQINFO_NO_CONTRACT
    return a - b;
  }
  /// a > m ? a : m, lane-wise (the reference's running-maximum step).
  static vec max_step(vec a, vec m) noexcept { return a > m ? a : m; }
  static vec exp(vec x) noexcept { return exp_nonpositive(x); }
};

#ifdef EQINFO_M1_XSIMD
/// xsimd::batch<float> of the compile-time default architecture.
struct xsimd_ops {
  using vec = xsimd::batch<float>;
  using ivec = xsimd::batch<std::int32_t>;
  static constexpr std::size_t width = vec::size;
  // Register block: accumulators + one vector per column block + broadcast +
  // product must fit the register file (32 registers with AVX-512, else 16).
#if defined(__AVX512F__)
  static constexpr int mr = 6, nv = 4;
#else
  static constexpr int mr = 4, nv = 2;
#endif
  static vec load(const float* p) noexcept { return vec::load_unaligned(p); }
  static void store(float* p, const vec& v) noexcept { v.store_unaligned(p); }
  static vec broadcast(float x) noexcept { return vec(x); }
  static vec mul(const vec& a, const vec& b) noexcept {
    EQINFO_NO_CONTRACT
    return a * b;
  }
  static vec add(const vec& a, const vec& b) noexcept {
    EQINFO_NO_CONTRACT
    return a + b;
  }
  static vec sub(const vec& a, const vec& b) noexcept {
    EQINFO_NO_CONTRACT
    return a - b;
  }
  static vec max_step(const vec& a, const vec& m) noexcept { return xsimd::select(a > m, a, m); }
  /// exp_nonpositive lane by lane: the scalar function's operations in its
  /// order (cvttps = static_cast<int>'s truncation, exponent bits as an integer).
  static vec exp(const vec& x) noexcept {
    EQINFO_NO_CONTRACT
    const auto live = x > vec(-87.0f);  // false for NaN, -inf, <= -87: 0
    const vec t = x * vec(1.44269502f);
    const ivec n = xsimd::to_int(t - vec(0.5f));
    const vec nf = xsimd::to_float(n);
    const vec r = (x - nf * vec(0.693359375f)) + nf * vec(2.12194440e-4f);
    vec p(1.3888889e-3f);
    p = p * r + vec(8.3333333e-3f);
    p = p * r + vec(4.1666667e-2f);
    p = p * r + vec(1.6666667e-1f);
    p = p * r + vec(0.5f);
    p = p * r + vec(1.0f);
    p = p * r + vec(1.0f);
    const vec two_n = xsimd::bitwise_cast<vec>((n + ivec(127)) << 23);
    return xsimd::select(live, p * two_n, vec(0.0f));
  }
};
using native_ops = xsimd_ops;
#else
using native_ops = scalar_ops;
#endif

/// y[i] = exp_nonpositive(x[i] - m), i < n (softmax and logits_to_cdf).
template <class O = native_ops>
inline void exp_shifted(const float* x, float m, float* y, std::size_t n) noexcept {
  EQINFO_NO_CONTRACT
  constexpr std::size_t W = O::width;
  const typename O::vec mv = O::broadcast(m);
  const std::size_t full = n - n % W;
  for (std::size_t i = 0; i < full; i += W) O::store(y + i, O::exp(O::sub(O::load(x + i), mv)));
  for (std::size_t i = full; i < n; ++i) y[i] = exp_nonpositive(x[i] - m);
}

/// The matmul engine. y[r][o] = (accumulate ? y[r][o] : 0.0f) + sum over
/// c in [c0, c1) of x[r][c] * w[c][o], in order c, for r < rows, o < cols;
/// row strides ldx, ldw, ldy.
template <class O>
struct gemm {
  using vec = typename O::vec;
  static constexpr std::size_t W = O::width;
  static constexpr int MR = O::mr, NV = O::nv;

  struct args {
    const float* x;
    std::size_t ldx;
    const float* w;
    std::size_t ldw;
    float* y;
    std::size_t ldy;
    std::size_t c0, c1;
    bool accumulate;
  };

  /// R rows x V vectors of outputs in registers.
  template <int R, int V>
  static void block(const args& g, std::size_t r0, std::size_t o) noexcept {
    EQINFO_NO_CONTRACT
    const float* x = g.x + r0 * g.ldx;
    float* y = g.y + r0 * g.ldy + o;
    vec acc[R][V];
    EQINFO_M1_UNROLL
    for (int r = 0; r < R; ++r) {
      EQINFO_M1_UNROLL
      for (int v = 0; v < V; ++v)
        acc[r][v] = g.accumulate ? O::load(y + static_cast<std::size_t>(r) * g.ldy + static_cast<std::size_t>(v) * W)
                                 : O::broadcast(0.0f);
    }
    for (std::size_t c = g.c0; c < g.c1; ++c) {
      const float* wc = g.w + c * g.ldw + o;
      vec wv[V];
      EQINFO_M1_UNROLL
      for (int v = 0; v < V; ++v) wv[v] = O::load(wc + static_cast<std::size_t>(v) * W);
      EQINFO_M1_UNROLL
      for (int r = 0; r < R; ++r) {
        const vec xb = O::broadcast(x[static_cast<std::size_t>(r) * g.ldx + c]);
        EQINFO_M1_UNROLL
        for (int v = 0; v < V; ++v) acc[r][v] = O::add(acc[r][v], O::mul(xb, wv[v]));
      }
    }
    EQINFO_M1_UNROLL
    for (int r = 0; r < R; ++r) {
      EQINFO_M1_UNROLL
      for (int v = 0; v < V; ++v)
        O::store(y + static_cast<std::size_t>(r) * g.ldy + static_cast<std::size_t>(v) * W, acc[r][v]);
    }
  }

  /// R rows x 1 output column, scalar (columns past the last full vector).
  template <int R>
  static void column(const args& g, std::size_t r0, std::size_t o) noexcept {
    EQINFO_NO_CONTRACT
    const float* x = g.x + r0 * g.ldx;
    float* y = g.y + r0 * g.ldy + o;
    float acc[R];
    for (int r = 0; r < R; ++r) acc[r] = g.accumulate ? y[static_cast<std::size_t>(r) * g.ldy] : 0.0f;
    for (std::size_t c = g.c0; c < g.c1; ++c) {
      const float wv = g.w[c * g.ldw + o];
      for (int r = 0; r < R; ++r) {
        const float product = x[static_cast<std::size_t>(r) * g.ldx + c] * wv;
        acc[r] = acc[r] + product;
      }
    }
    for (int r = 0; r < R; ++r) y[static_cast<std::size_t>(r) * g.ldy] = acc[r];
  }

  /// Rows [r0, r0 + R) x every column. One or two rows (incremental
  /// decoding) take twice the vectors: more independent sums in flight.
  template <int R>
  static void rows_block(const args& g, std::size_t r0, std::size_t cols) noexcept {
    constexpr int V = R <= 2 ? 2 * NV : NV;
    std::size_t o = 0;
    for (; o + V * W <= cols; o += V * W) block<R, V>(g, r0, o);
    for (; o + NV * W <= cols; o += NV * W) block<R, NV>(g, r0, o);
    for (; o + W <= cols; o += W) block<R, 1>(g, r0, o);
    for (; o < cols; ++o) column<R>(g, r0, o);
  }

  template <int R>
  static void remainder(const args& g, std::size_t r0, std::size_t left, std::size_t cols) noexcept {
    if constexpr (R >= 1) {
      if (left == R) return rows_block<R>(g, r0, cols);
      remainder<R - 1>(g, r0, left, cols);
    }
  }

  static void run(const args& g, std::size_t rows, std::size_t cols) noexcept {
    std::size_t r = 0;
    for (; r + MR <= rows; r += MR) rows_block<MR>(g, r, cols);
    if (r < rows) remainder<MR - 1>(g, r, rows - r, cols);
  }
};

/// Fast kernels over the vector operations O (native_ops by default).
template <class O>
struct simd_kernels {
  using vec = typename O::vec;
  static constexpr std::size_t W = O::width;
  static constexpr std::size_t row_block = 32;  // attention query rows per S block
  static constexpr std::size_t k_block = 256;   // matmul: terms per pass (W panel stays in L1/L2)

  static void matmul(const float* x, const float* w, float* y, std::size_t rows, std::size_t in, std::size_t out) {
    EQINFO_NO_CONTRACT
    if (in == 0) {
      std::fill(y, y + rows * out, 0.0f);
      return;
    }
    // Passes over k_block terms each: a partial sum stored to y and loaded
    // again continues exactly (same bits as one pass).
    for (std::size_t c0 = 0; c0 < in; c0 += k_block)
      gemm<O>::run({x, in, w, out, y, out, c0, std::min(in, c0 + k_block), c0 != 0}, rows, out);
  }

  static void rms_norm(const float* x, const float* g, float* y, std::size_t rows, std::size_t d, float eps) {
    EQINFO_NO_CONTRACT
    std::size_t t = 0;
    for (; t + 4 <= rows; t += 4) norm_rows<4>(x, g, y, t, d, eps);
    for (; t < rows; ++t) norm_rows<1>(x, g, y, t, d, eps);
  }

  static void attention(const transformer_config& c, const float* q, const float* keys, const float* values,
                        const float* rel_bias, const std::int32_t* buckets, std::size_t first, std::size_t rows,
                        float* out, std::vector<float>& scratch) {
    EQINFO_NO_CONTRACT
    const std::size_t a = c.attention_width(), hd = c.head_dim, n = first + rows;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const bool blocked = rows >= 8;  // enough query rows to pay for transposing K
    const std::size_t rb = std::min(rows, row_block);
    // scratch: [bias by reversed distance: n][S: rb x n][K^T: hd x n if blocked]
    scratch.resize(n + rb * n + (blocked ? hd * n : 0));
    float* rev = scratch.data();
    float* s = rev + n;
    float* kt = s + rb * n;
    for (std::size_t h = 0; h < c.heads; ++h) {
      const float* bias = rel_bias + h * c.relative_buckets;
      // rev[m] = bias of distance n-1-m: row t, key j reads rev[n-1-t+j].
      for (std::size_t m = 0; m < n; ++m) rev[m] = bias[buckets[n - 1 - m]];
      const float* kh = keys + h * hd;
      const float* vh = values + h * hd;
      if (blocked)
        for (std::size_t j = 0; j < n; ++j)
          for (std::size_t i = 0; i < hd; ++i) kt[i * n + j] = kh[j * a + i];
      for (std::size_t r0 = 0; r0 < rows; r0 += rb) {
        const std::size_t nb = std::min(rb, rows - r0);
        const std::size_t len0 = first + r0 + 1;  // keys of the block's first row
        const float* qb = q + r0 * a + h * hd;
        // Raw scores q_t . k_j, each an ordered sum over i (q * k), for j < t + 1.
        if (blocked) {
          gemm<O>::run({qb, a, kt, n, s, n, 0, hd, false}, nb, len0 + nb - 1);
        } else {
          for (std::size_t rr = 0; rr < nb; ++rr) dots(qb + rr * a, kh, a, hd, len0 + rr, s + rr * n);
        }
        // Softmax row by row: s*scale + bias, max, exp(s - max).
        float inv[row_block];
        for (std::size_t rr = 0; rr < nb; ++rr) {
          const std::size_t len = len0 + rr;
          float* sr = s + rr * n;
          const float* br = rev + (n - len);
          const float max = scale_bias_max(sr, br, scale, len);
          exp_shifted<O>(sr, max, sr, len);
        }
        sums(s, n, nb, len0, inv);
        for (std::size_t rr = 0; rr < nb; ++rr) scale_row(s + rr * n, inv[rr], len0 + rr);
        // out = sum_j p_j v_j in order j: the keys every row has, then each
        // row's causal tail continues its own sums.
        float* ob = out + r0 * a + h * hd;
        gemm<O>::run({s, n, vh, a, ob, a, 0, len0, false}, nb, hd);
        for (std::size_t rr = 1; rr < nb; ++rr)
          gemm<O>::run({s + rr * n, n, vh, a, ob + rr * a, a, len0, len0 + rr, true}, 1, hd);
      }
    }
  }

 private:
  /// R rows at once: R independent ordered sums of squares side by side.
  template <int R>
  static void norm_rows(const float* x, const float* g, float* y, std::size_t t0, std::size_t d, float eps) {
    EQINFO_NO_CONTRACT
    const float* xr = x + t0 * d;
    float ss[R];
    for (int k = 0; k < R; ++k) ss[k] = 0.0f;
    for (std::size_t i = 0; i < d; ++i) {
      EQINFO_M1_UNROLL
      for (int k = 0; k < R; ++k) {
        const float v = xr[static_cast<std::size_t>(k) * d + i];
        const float sq = v * v;
        ss[k] = ss[k] + sq;
      }
    }
    for (int k = 0; k < R; ++k) {
      const float inv = 1.0f / std::sqrt(ss[k] / static_cast<float>(d) + eps);
      const float* xk = xr + static_cast<std::size_t>(k) * d;
      float* yk = y + (t0 + static_cast<std::size_t>(k)) * d;
      const vec iv = O::broadcast(inv);
      std::size_t i = 0;
      for (; i + W <= d; i += W) O::store(yk + i, O::mul(O::mul(O::load(xk + i), iv), O::load(g + i)));
      for (; i < d; ++i) yk[i] = (xk[i] * inv) * g[i];
    }
  }

  /// s[j] = q . k_j for j < len (keys row stride a), eight keys side by side.
  static void dots(const float* qh, const float* kh, std::size_t a, std::size_t hd, std::size_t len, float* s) {
    EQINFO_NO_CONTRACT
    std::size_t j = 0;
    for (; j + 8 <= len; j += 8) {
      float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
      const float* k0 = kh + j * a;
      for (std::size_t i = 0; i < hd; ++i) {
        const float qi = qh[i];
        EQINFO_M1_UNROLL
        for (std::size_t k = 0; k < 8; ++k) {
          const float product = qi * k0[k * a + i];
          acc[k] = acc[k] + product;
        }
      }
      for (std::size_t k = 0; k < 8; ++k) s[j + k] = acc[k];
    }
    for (; j < len; ++j) {
      const float* kj = kh + j * a;
      float acc = 0.0f;
      for (std::size_t i = 0; i < hd; ++i) {
        const float product = qh[i] * kj[i];
        acc = acc + product;
      }
      s[j] = acc;
    }
  }

  /// s[j] = s[j] * scale + b[j]; returns the maximum as the reference's
  /// running `s > max ? s : max` finds it. Lanes keep partial maxima that are
  /// combined the same way: the same value, except that a tie between +0 and
  /// -0 may keep the other zero, which exp_nonpositive(s - max) cannot see
  /// (s - (+0) and s - (-0) differ only for s = -0, and e^(+-0) = 1 exactly).
  static float scale_bias_max(float* s, const float* b, float scale, std::size_t len) {
    EQINFO_NO_CONTRACT
    const vec sv = O::broadcast(scale);
    vec mv = O::broadcast(-INFINITY);
    std::size_t j = 0;
    for (; j + W <= len; j += W) {
      const vec x = O::add(O::mul(O::load(s + j), sv), O::load(b + j));
      O::store(s + j, x);
      mv = O::max_step(x, mv);
    }
    float lanes[W];
    O::store(lanes, mv);
    float max = -INFINITY;
    for (std::size_t l = 0; l < W; ++l) max = lanes[l] > max ? lanes[l] : max;
    for (; j < len; ++j) {
      const float product = s[j] * scale;
      s[j] = product + b[j];
      max = s[j] > max ? s[j] : max;
    }
    return max;
  }

  /// inv[rr] = 1 / (sum of row rr's e_j in order j), len0 + rr terms; four
  /// rows' sums side by side over the keys they share.
  static void sums(const float* s, std::size_t n, std::size_t nb, std::size_t len0, float* inv) {
    EQINFO_NO_CONTRACT
    std::size_t rr = 0;
    for (; rr + 4 <= nb; rr += 4) {
      const float* s0 = s + rr * n;
      float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      const std::size_t common = len0 + rr;
      for (std::size_t j = 0; j < common; ++j) {
        EQINFO_M1_UNROLL
        for (std::size_t k = 0; k < 4; ++k) acc[k] = acc[k] + s0[k * n + j];
      }
      for (std::size_t k = 0; k < 4; ++k) {
        for (std::size_t j = common; j < common + k; ++j) acc[k] = acc[k] + s0[k * n + j];
        inv[rr + k] = 1.0f / acc[k];
      }
    }
    for (; rr < nb; ++rr) {
      const float* sr = s + rr * n;
      float acc = 0.0f;
      for (std::size_t j = 0; j < len0 + rr; ++j) acc = acc + sr[j];
      inv[rr] = 1.0f / acc;
    }
  }

  static void scale_row(float* s, float inv, std::size_t len) {
    EQINFO_NO_CONTRACT
    const vec iv = O::broadcast(inv);
    std::size_t j = 0;
    for (; j + W <= len; j += W) O::store(s + j, O::mul(O::load(s + j), iv));
    for (; j < len; ++j) s[j] = s[j] * inv;
  }
};

/// The kernels M1 runs with: the widest vectors this translation unit is
/// compiled for (xsimd's default architecture), else one lane.
struct fast_kernels : simd_kernels<native_ops> {};

}  // namespace m1
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#undef EQINFO_M1_UNROLL
