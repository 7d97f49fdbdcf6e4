// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The element-wise building blocks of M1's integer numerics
/// (docs/m1-integer.md): quant8, quant8u, norm_quant, exp_nonpositive.
///
/// Every float operation here is element-wise and written in the order the
/// spec evaluates it; there is no float reduction (maxima are exact in any
/// order, sums are integer). So vectorising these loops (the compiler does)
/// changes nothing, and PyTorch reproduces them with tensor ops.
///
/// Contraction is off for this header whatever the translation unit asks
/// for: under -ffp-contract=fast GCC would fuse `a * b + c` (one rounding
/// instead of two) where FMA hardware exists.

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#if FLT_EVAL_METHOD != 0
#error "eqinfo's M1 needs float arithmetic evaluated in float (FLT_EVAL_METHOD == 0, e.g. SSE, not x87)"
#endif
static_assert(std::numeric_limits<float>::is_iec559, "eqinfo's M1 needs IEEE 754 single precision");

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

/// Rows whose largest magnitude is below this quantise to zero (so 127 / m
/// is always finite).
inline constexpr float tiny = 0x1p-64f;

/// rint(x), round half to even, for |x| < 2^22: adding and subtracting
/// 1.5 * 2^23 leaves x rounded to an integer in the default rounding mode
/// (checked by check_fp_environment). Exact, and it vectorises on SSE2.
inline float round_even(float x) noexcept {
  EQINFO_NO_CONTRACT
  const float magic = 12582912.0f;  // 1.5 * 2^23
  const float y = x + magic;
  return y - magic;
}

/// The largest |v_i|, or a negative value if some v_i is NaN or infinite.
/// On the bit patterns: for |x| (sign bit cleared) the IEEE encoding orders
/// like the value, and NaN/inf are exactly the patterns >= 0x7f800000; an
/// integer max reduction vectorises where a float one (NaN rules) does not.
inline float abs_max(const float* v, std::size_t n) noexcept {
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = std::bit_cast<std::uint32_t>(v[i]) & 0x7fffffffu;
    m = a > m ? a : m;
  }
  return m >= 0x7f800000u ? -1.0f : std::bit_cast<float>(m);
}

/// quant8: q_i = clamp(rint(v_i * (127 / m)), -127, 127), returns s = m / 127
/// (0 and q = 0 for rows with a non-finite entry or m < tiny).
inline float quant8(const float* v, std::size_t n, std::int8_t* q) noexcept {
  EQINFO_NO_CONTRACT
  const float m = abs_max(v, n);
  if (!(m >= tiny)) {
    std::fill(q, q + n, std::int8_t{0});
    return 0.0f;
  }
  const float c = 127.0f / m;
  for (std::size_t i = 0; i < n; ++i) {
    const float r = round_even(v[i] * c);
    q[i] = static_cast<std::int8_t>(static_cast<int>(std::clamp(r, -127.0f, 127.0f)));
  }
  return m / 127.0f;
}

/// quant8u for v_i >= 0: 255 levels.
inline float quant8u(const float* v, std::size_t n, std::uint8_t* q) noexcept {
  EQINFO_NO_CONTRACT
  const float m = abs_max(v, n);
  if (!(m >= tiny)) {
    std::fill(q, q + n, std::uint8_t{0});
    return 0.0f;
  }
  const float c = 255.0f / m;
  for (std::size_t i = 0; i < n; ++i) {
    const float r = round_even(v[i] * c);
    q[i] = static_cast<std::uint8_t>(static_cast<int>(std::clamp(r, 0.0f, 255.0f)));
  }
  return m / 255.0f;
}

/// RMSNorm(h) * g, quantised: x = quant8(h * g), returns its scale times
/// 1 / sqrt(mean(h^2) + eps), the mean square from an exact integer sum of
/// an int16 quantisation of h. `v` is scratch of n floats.
inline float norm_quant(const float* h, const float* g, std::size_t n, float eps, std::int8_t* x, float* v) noexcept {
  EQINFO_NO_CONTRACT
  const float m = abs_max(h, n);
  if (!(m >= tiny)) {
    std::fill(x, x + n, std::int8_t{0});
    return 0.0f;
  }
  const float c16 = 32767.0f / m;
  std::int64_t ss = 0;  // <= 32767^2 * 16384 < 2^44
  for (std::size_t i = 0; i < n; ++i) {
    const auto u = static_cast<std::int32_t>(std::clamp(round_even(h[i] * c16), -32767.0f, 32767.0f));
    ss += std::int64_t{u * u};
  }
  const double a = static_cast<double>(m) / 32767.0;
  const double aa = a * a;
  const double mean = static_cast<double>(ss) / static_cast<double>(n);
  const double ms = aa * mean;
  const double root = std::sqrt(ms + static_cast<double>(eps));
  const auto inv = static_cast<float>(1.0 / root);
  for (std::size_t i = 0; i < n; ++i) v[i] = h[i] * g[i];
  const float s = quant8(v, n, x);
  return s * inv;
}

/// e^x for x <= 0 (softmax arguments after subtracting the maximum), from
/// IEEE +, *, int conversion and exponent bits only: the same bits on every
/// ISA, compiler and in PyTorch (libm's expf differs between libraries).
/// Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 + tiny, then a degree-6
/// Taylor polynomial in Horner form: relative error below 3e-7 (2.24e-7
/// measured). exp(0) = 1.
inline float exp_nonpositive(float x) noexcept {
  EQINFO_NO_CONTRACT
  if (!(x > -87.0f)) return 0.0f;            // also NaN and -inf; e^-87 ~ 1.6e-38, near FLT_MIN
  const float t = x * 1.44269502f;           // x / ln 2, <= 0
  const int n = static_cast<int>(t - 0.5f);  // truncation toward 0: ceil(t - 0.5), in [-126, 0]
  const float nf = static_cast<float>(n);
  const float r = (x - nf * 0.693359375f) + nf * 2.12194440e-4f;  // ln2 = 0.693359375 - 2.12194440e-4
  float p = 1.3888889e-3f;                                        // 1/720
  p = p * r + 8.3333333e-3f;                                      // 1/120
  p = p * r + 4.1666667e-2f;                                      // 1/24
  p = p * r + 1.6666667e-1f;                                      // 1/6
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * std::bit_cast<float>(static_cast<std::uint32_t>(n + 127) << 23);
}

}  // namespace m1
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo

#undef EQINFO_NO_CONTRACT
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
