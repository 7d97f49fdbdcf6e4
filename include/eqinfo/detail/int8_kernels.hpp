// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Exact int8 matrix products for M1 (docs/m1-integer.md), one implementation
/// per instruction set, chosen at run time in one binary.
///
/// READ ME FIRST
/// -------------
/// * Every path computes the same int32 sums. Integer addition is exact and
///   associative, so blocking, lane width, the order of the terms, the uint8
///   offset trick of vpdpbusd (wrapping int32 arithmetic) and AMX tiles cannot
///   change a result as long as the true sum fits in int32, which
///   transformer_config::validate guarantees for M1's shapes.
/// * `vpmaddubsw` (`_mm*_maddubs_epi16`) is never used: it saturates its int16
///   pair sums, which would silently break exactness.
/// * The default build has no -march flags: each SIMD function is compiled
///   for its own target with __attribute__((target(...))) and called only
///   when CPUID/XGETBV (and, for AMX, the kernel's permission) say it can run.
/// * EQINFO_ISA=scalar|sse2|avx2|avx512vnni|amx forces a path (tests,
///   benchmarks); active() reads it once.
///
/// Paths:
///   scalar      Eigen's integer matrix product (the Eigen-based reference);
///   sse2, avx2  pmaddwd on int16-widened values (exact: |a b| <= 255 * 127);
///   avx512vnni  vpdpbusd (uint8 x int8): a signed A is offset by +128 and
///               128 * (column sums of W) subtracted again;
///   amx         AMX-INT8 tiles, 32 x 32 blocks of C: tdpbssd for the packed
///               product and q.k, tdpbusd for p.v (B put in the tile layout
///               per call); products of fewer than 16 rows use the
///               avx512vnni code.
///
/// Performance notes (Sapphire Rapids, one core): the packed avx512vnni
/// kernel is a 4-row x 64-column register block (16 zmm accumulators). The
/// AMX kernel at K <= 256 is bound by writing the int32 C (each 32 x 32 block
/// stores 4 KiB for 4 * K / 64 tile products), not by the tile unit.

#include <eqinfo/error.hpp>

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EQINFO_INT8_X86 1
#include <cpuid.h>
#include <immintrin.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace int8 {

/// Instruction-set paths, slowest first.
enum class isa { scalar, sse2, avx2, avx512vnni, amx };

inline constexpr isa all_paths[] = {isa::scalar, isa::sse2, isa::avx2, isa::avx512vnni, isa::amx};

inline std::string_view name(isa i) noexcept {
  switch (i) {
    case isa::scalar: return "scalar";
    case isa::sse2: return "sse2";
    case isa::avx2: return "avx2";
    case isa::avx512vnni: return "avx512vnni";
    case isa::amx: return "amx";
  }
  return "?";
}

/// The path named `text`, if any.
inline std::optional<isa> parse_isa(std::string_view text) noexcept {
  for (isa i : all_paths)
    if (name(i) == text) return i;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// What this CPU and OS can run.

struct cpu_support {
  bool sse2 = false, avx2 = false, avx512vnni = false, amx = false;
  std::string amx_refusal;  ///< why AMX is off although the CPU has it
};

#ifdef EQINFO_INT8_X86
__attribute__((target("xsave"))) inline std::uint64_t xgetbv0() noexcept { return _xgetbv(0); }
#endif

inline const cpu_support& cpu() {
  static const cpu_support s = [] {
    cpu_support c;
#ifdef EQINFO_INT8_X86
    unsigned a = 0, b = 0, cx = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &cx, &d)) return c;
    c.sse2 = (d >> 26) & 1;
    const bool osxsave = (cx >> 27) & 1;
    if (!osxsave || __get_cpuid_max(0, nullptr) < 7) return c;
    const std::uint64_t xcr0 = xgetbv0();
    const bool os_ymm = (xcr0 & 0x6) == 0x6;
    const bool os_zmm = (xcr0 & 0xe6) == 0xe6;          // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    const bool os_tiles = (xcr0 & 0x60000) == 0x60000;  // XTILECFG, XTILEDATA
    __cpuid_count(7, 0, a, b, cx, d);
    const bool avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
               avx512vl = (b >> 31) & 1;
    const bool vnni = (cx >> 11) & 1;
    const bool amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1;
    c.avx2 = avx2 && os_ymm;
    // DQ too: M1's AVX-512 element-wise code (m1_forward.hpp) converts 64-bit integers.
    c.avx512vnni = avx512f && avx512dq && avx512bw && avx512vl && vnni && os_zmm;
    if (c.avx512vnni && amx_tile && amx_int8) {
      if (!os_tiles) {
        c.amx_refusal = "the OS does not enable the tile state (XCR0)";
      } else {
#if defined(__linux__)
        // Linux hands out the 8 KiB tile state only on request.
        constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
        if (syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0)
          c.amx = true;
        else
          c.amx_refusal = "the kernel refused arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)";
#else
        c.amx_refusal = "AMX permission is only requested on Linux";
#endif
      }
    } else if (!(amx_tile && amx_int8)) {
      c.amx_refusal = "the CPU has no AMX-INT8";
    }
#endif
    return c;
  }();
  return s;
}

/// Whether this CPU (and OS) can run a path.
inline bool supported(isa i) {
  const auto& c = cpu();
  switch (i) {
    case isa::scalar: return true;
    case isa::sse2: return c.sse2;
    case isa::avx2: return c.avx2;
    case isa::avx512vnni: return c.avx512vnni;
    case isa::amx: return c.amx;
  }
  return false;
}

/// The fastest supported path.
inline isa best() {
  isa b = isa::scalar;
  for (isa i : all_paths)
    if (supported(i)) b = i;
  return b;
}

/// The path for an EQINFO_ISA value (null or empty: best()). Throws
/// errc::invalid_argument naming the value for an unknown or unsupported path.
inline isa resolve(const char* env_value) {
  if (env_value == nullptr || *env_value == '\0') return best();
  const std::string v(env_value);
  const auto i = parse_isa(v);
  if (!i)
    throw error(errc::invalid_argument,
                "EQINFO_ISA=" + v + ": unknown int8 kernel path (scalar, sse2, avx2, avx512vnni or amx)");
  if (!supported(*i)) {
    std::string why = "this CPU or OS cannot run it";
    if (*i == isa::amx && !cpu().amx_refusal.empty()) why = cpu().amx_refusal;
    throw error(errc::invalid_argument,
                "EQINFO_ISA=" + v + ": " + why + " (best here: " + std::string(name(best())) + ")");
  }
  return *i;
}

/// The path in use: EQINFO_ISA if set, else best(). Read once per process.
inline isa active() {
  static const isa a = resolve(std::getenv("EQINFO_ISA"));
  return a;
}

// ---------------------------------------------------------------------------
// Packed weights.

/// A weight matrix W (N, K), prepared once for a path: the plain rows, and
/// for avx512vnni/amx the VNNI layout [N/16][K/4][16][4] (N padded to 32, K
/// to 64 with zeros) plus 128 * (row sums) for the uint8 offset.
class packed_s8 {
 public:
  packed_s8() = default;
  packed_s8(isa path, const std::int8_t* W, std::size_t N, std::size_t K)
      : path_(path), n_(N), k_(K), w_(W, W + N * K) {
    if (path == isa::amx) (void)supported(isa::amx);  // requests the tile permission (Linux) before any product
    if (path == isa::avx512vnni || path == isa::amx) {
      n_pad_ = (N + 31) / 32 * 32;
      k_pad_ = (K + 63) / 64 * 64;
      vnni_.assign(n_pad_ * k_pad_, 0);
      offset_.assign(n_pad_, 0);
      for (std::size_t n = 0; n < N; ++n) {
        std::int32_t sum = 0;
        for (std::size_t k = 0; k < K; ++k) {
          const std::int8_t v = W[n * K + k];
          sum += v;
          vnni_[(n / 16) * (k_pad_ * 16) + (k / 4) * 64 + (n % 16) * 4 + k % 4] = v;
        }
        offset_[n] = 128 * sum;
      }
    }
  }
  isa path() const noexcept { return path_; }
  std::size_t rows() const noexcept { return n_; }
  std::size_t cols() const noexcept { return k_; }
  const std::int8_t* data() const noexcept { return w_.data(); }
  const std::int8_t* vnni() const noexcept { return vnni_.data(); }
  const std::int32_t* offset() const noexcept { return offset_.data(); }
  std::size_t padded_rows() const noexcept { return n_pad_; }
  std::size_t padded_cols() const noexcept { return k_pad_; }

 private:
  isa path_ = isa::scalar;
  std::size_t n_ = 0, k_ = 0, n_pad_ = 0, k_pad_ = 0;
  std::vector<std::int8_t> w_;
  std::vector<std::int8_t> vnni_;
  std::vector<std::int32_t> offset_;
};

// ---------------------------------------------------------------------------
// scalar: Eigen's integer product.

namespace eigen {
template <class T>
using rows_map =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
using out_map =
    Eigen::Map<Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
inline Eigen::Index ix(std::size_t v) { return static_cast<Eigen::Index>(v); }

/// C = A.B^T (b_transposed: B is (N, K)) or A.B (B is (K, N)) through
/// Eigen's integer product: exact in any blocking order.
template <bool b_transposed, class TA>
inline void product(const TA* A, std::size_t lda, const std::int8_t* B, std::size_t ldb, std::int32_t* C,
                    std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  if (M == 0 || N == 0) return;
  out_map c(C, ix(M), ix(N), Eigen::OuterStride<>(ix(ldc)));
  if (K == 0) {
    c.setZero();
    return;
  }
  const rows_map<TA> a(A, ix(M), ix(K), Eigen::OuterStride<>(ix(lda)));
  if constexpr (b_transposed) {
    const rows_map<std::int8_t> b(B, ix(N), ix(K), Eigen::OuterStride<>(ix(ldb)));
    c.noalias() = a.template cast<std::int32_t>() * b.cast<std::int32_t>().transpose();
  } else {
    const rows_map<std::int8_t> b(B, ix(K), ix(N), Eigen::OuterStride<>(ix(ldb)));
    c.noalias() = a.template cast<std::int32_t>() * b.cast<std::int32_t>();
  }
}

inline void s8s8_nt(const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb, std::int32_t* C,
                    std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  product<true>(A, lda, B, ldb, C, ldc, M, N, K);
}

inline void u8s8_nn(const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb, std::int32_t* C,
                    std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  product<false>(A, lda, B, ldb, C, ldc, M, N, K);
}
}  // namespace eigen

#ifdef EQINFO_INT8_X86
// GCC 12's AVX-512 intrinsics start from `__m512i __Y = __Y` (undefined) and
// trip -Wmaybe-uninitialized once inlined into a caller (e.g. in
// _mm512_reduce_add_epi32).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// ---------------------------------------------------------------------------
// sse2 / avx2: pmaddwd on int16-widened values. Dot products along K for A.B^T
// (4 rows of B per A row), pairs of B rows interleaved for A.B.

#define EQINFO_SSE2 __attribute__((target("sse2")))
#define EQINFO_AVX2 __attribute__((target("avx2")))

/// sum over k in [from, K) of a[k] * b[k]: the columns after a vector loop.
inline std::int32_t dot_tail(const std::int8_t* a, const std::int8_t* b, std::size_t from, std::size_t K) {
  std::int32_t s = 0;
  for (std::size_t k = from; k < K; ++k) s += std::int32_t{a[k]} * b[k];
  return s;
}

/// sum over k of a[k] * B[k][n]: one column of A.B after a vector loop.
inline std::int32_t column_dot(const std::uint8_t* a, const std::int8_t* B, std::size_t ldb, std::size_t K,
                               std::size_t n) {
  std::int32_t s = 0;
  for (std::size_t k = 0; k < K; ++k) s += std::int32_t{a[k]} * B[k * ldb + n];
  return s;
}

namespace sse2 {
EQINFO_SSE2 inline __m128i widen_lo(__m128i v) { return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8); }
EQINFO_SSE2 inline __m128i widen_hi(__m128i v) { return _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8); }
EQINFO_SSE2 inline std::int32_t hsum(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
  return _mm_cvtsi128_si32(v);
}
/// One dot product of K int8 values.
EQINFO_SSE2 inline std::int32_t dot(const std::int8_t* a, const std::int8_t* b, std::size_t K) {
  const std::size_t K16 = K / 16 * 16;
  __m128i acc = _mm_setzero_si128();
  for (std::size_t k = 0; k < K16; k += 16) {
    const __m128i av = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k));
    const __m128i bv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k));
    acc = _mm_add_epi32(acc, _mm_madd_epi16(widen_lo(av), widen_lo(bv)));
    acc = _mm_add_epi32(acc, _mm_madd_epi16(widen_hi(av), widen_hi(bv)));
  }
  return hsum(acc) + dot_tail(a, b, K16, K);
}

EQINFO_SSE2 inline void s8s8_nt(const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                                std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  const std::size_t K16 = K / 16 * 16;
  for (std::size_t m = 0; m < M; ++m) {
    const std::int8_t* a = A + m * lda;
    std::size_t n = 0;
    for (; n + 4 <= N; n += 4) {
      __m128i acc[4] = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
      for (std::size_t k = 0; k < K16; k += 16) {
        const __m128i av = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k));
        const __m128i alo = widen_lo(av), ahi = widen_hi(av);
        for (int j = 0; j < 4; ++j) {
          const __m128i bv =
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(B + (n + static_cast<std::size_t>(j)) * ldb + k));
          acc[j] = _mm_add_epi32(acc[j], _mm_madd_epi16(alo, widen_lo(bv)));
          acc[j] = _mm_add_epi32(acc[j], _mm_madd_epi16(ahi, widen_hi(bv)));
        }
      }
      for (int j = 0; j < 4; ++j) {
        const std::int8_t* b = B + (n + static_cast<std::size_t>(j)) * ldb;
        C[m * ldc + n + static_cast<std::size_t>(j)] = hsum(acc[j]) + dot_tail(a, b, K16, K);
      }
    }
    for (; n < N; ++n) C[m * ldc + n] = dot(a, B + n * ldb, K);
  }
}

/// C = A.B with A uint8 (M, K), B int8 (K, N): 8 columns per vector, two k
/// at a time (rows k, k+1 of B interleaved, (a_k, a_k+1) broadcast).
EQINFO_SSE2 inline void u8s8_nn(const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                                std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  const std::size_t N8 = N / 8 * 8;
  for (std::size_t m = 0; m < M; ++m) {
    const std::uint8_t* a = A + m * lda;
    std::int32_t* c = C + m * ldc;
    for (std::size_t n = 0; n < N8; n += 8) {
      __m128i lo = _mm_setzero_si128(), hi = _mm_setzero_si128();
      std::size_t k = 0;
      for (; k + 2 <= K; k += 2) {
        if ((a[k] | a[k + 1]) == 0) continue;  // attention rows end in zeros
        const __m128i b0 = widen_lo(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(B + k * ldb + n)));
        const __m128i b1 = widen_lo(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(B + (k + 1) * ldb + n)));
        const __m128i pair = _mm_set1_epi32(static_cast<int>(std::uint32_t{a[k]} | (std::uint32_t{a[k + 1]} << 16)));
        lo = _mm_add_epi32(lo, _mm_madd_epi16(_mm_unpacklo_epi16(b0, b1), pair));
        hi = _mm_add_epi32(hi, _mm_madd_epi16(_mm_unpackhi_epi16(b0, b1), pair));
      }
      if (k < K && a[k] != 0) {
        const __m128i b0 = widen_lo(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(B + k * ldb + n)));
        const __m128i pair = _mm_set1_epi32(static_cast<int>(a[k]));
        lo = _mm_add_epi32(lo, _mm_madd_epi16(_mm_unpacklo_epi16(b0, _mm_setzero_si128()), pair));
        hi = _mm_add_epi32(hi, _mm_madd_epi16(_mm_unpackhi_epi16(b0, _mm_setzero_si128()), pair));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(c + n), lo);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(c + n + 4), hi);
    }
    for (std::size_t n = N8; n < N; ++n) c[n] = column_dot(a, B, ldb, K, n);
  }
}
}  // namespace sse2

namespace avx2 {
EQINFO_AVX2 inline std::int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
EQINFO_AVX2 inline __m256i load16(const std::int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
/// One dot product of K int8 values.
EQINFO_AVX2 inline std::int32_t dot(const std::int8_t* a, const std::int8_t* b, std::size_t K) {
  const std::size_t K16 = K / 16 * 16;
  __m256i acc = _mm256_setzero_si256();
  for (std::size_t k = 0; k < K16; k += 16)
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(load16(a + k), load16(b + k)));
  return hsum(acc) + dot_tail(a, b, K16, K);
}

EQINFO_AVX2 inline void s8s8_nt(const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                                std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  const std::size_t K16 = K / 16 * 16;
  std::size_t m = 0;
  // 2 rows of A x 4 rows of B per block: 8 accumulators.
  for (; m + 2 <= M; m += 2) {
    const std::int8_t* a0 = A + m * lda;
    const std::int8_t* a1 = a0 + lda;
    std::size_t n = 0;
    for (; n + 4 <= N; n += 4) {
      __m256i acc[2][4];
      for (auto& r : acc)
        for (auto& x : r) x = _mm256_setzero_si256();
      for (std::size_t k = 0; k < K16; k += 16) {
        const __m256i x0 = load16(a0 + k), x1 = load16(a1 + k);
        for (int j = 0; j < 4; ++j) {
          const __m256i bv = load16(B + (n + static_cast<std::size_t>(j)) * ldb + k);
          acc[0][j] = _mm256_add_epi32(acc[0][j], _mm256_madd_epi16(x0, bv));
          acc[1][j] = _mm256_add_epi32(acc[1][j], _mm256_madd_epi16(x1, bv));
        }
      }
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j) {
          const std::int8_t* a = i == 0 ? a0 : a1;
          const std::int8_t* b = B + (n + static_cast<std::size_t>(j)) * ldb;
          C[(m + static_cast<std::size_t>(i)) * ldc + n + static_cast<std::size_t>(j)] =
              hsum(acc[i][j]) + dot_tail(a, b, K16, K);
        }
    }
    for (; n < N; ++n)
      for (std::size_t i = 0; i < 2; ++i) C[(m + i) * ldc + n] = dot(A + (m + i) * lda, B + n * ldb, K);
  }
  for (; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) C[m * ldc + n] = dot(A + m * lda, B + n * ldb, K);
}

EQINFO_AVX2 inline void u8s8_nn(const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                                std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  const std::size_t N16 = N / 16 * 16;
  for (std::size_t m = 0; m < M; ++m) {
    const std::uint8_t* a = A + m * lda;
    std::int32_t* c = C + m * ldc;
    for (std::size_t n = 0; n < N16; n += 16) {
      __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
      for (std::size_t k = 0; k < K; k += 2) {
        const std::uint32_t a1 = k + 1 < K ? a[k + 1] : 0u;
        if ((a[k] | a1) == 0) continue;  // attention rows end in zeros
        const __m256i b0 = load16(B + k * ldb + n);
        const __m256i b1 = k + 1 < K ? load16(B + (k + 1) * ldb + n) : _mm256_setzero_si256();
        const __m256i pair = _mm256_set1_epi32(static_cast<int>(std::uint32_t{a[k]} | (a1 << 16)));
        // unpack works per 128-bit lane: lo holds columns 0-3 and 8-11, hi 4-7 and 12-15.
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(b0, b1), pair));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(b0, b1), pair));
      }
      const __m256i first = _mm256_permute2x128_si256(lo, hi, 0x20);   // columns 0-7
      const __m256i second = _mm256_permute2x128_si256(lo, hi, 0x31);  // columns 8-15
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + n), first);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + n + 8), second);
    }
    for (std::size_t n = N16; n < N; ++n) c[n] = column_dot(a, B, ldb, K, n);
  }
}
}  // namespace avx2

// ---------------------------------------------------------------------------
// avx512vnni: vpdpbusd on the VNNI layout [N/16][K/4][16][4].

#define EQINFO_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

namespace vnni {
/// 4 bytes of A at k (zero past K), as one int32 lane pattern; `flip` adds
/// 128 to each byte (int8 -> uint8).
EQINFO_VNNI inline __m512i quad(const std::uint8_t* a, std::size_t k, std::size_t K, bool flip) {
  std::uint32_t v = 0;
  if (k + 4 <= K)
    std::memcpy(&v, a + k, 4);
  else if (k < K)
    std::memcpy(&v, a + k, K - k);
  if (flip) v ^= 0x80808080u;
  return _mm512_set1_epi32(static_cast<int>(v));
}

/// The register block of kernel(): MR rows of C x NB 16-column blocks, over
/// full quads of k; the last, partial quad (K % 4 != 0) is read byte-wise.
template <bool Flip, int MR, int NB>
EQINFO_VNNI inline void micro(const std::uint8_t* A, std::size_t lda, const std::int8_t* w, std::size_t block_stride,
                              const std::int32_t* offset, std::int32_t* C, std::size_t ldc, std::size_t n0,
                              std::size_t N, std::size_t K) {
  const std::size_t full = K / 4;
  __m512i acc[MR][NB];
  _Pragma("GCC unroll 4") for (int i = 0; i < MR; ++i) _Pragma("GCC unroll 4") for (int j = 0; j < NB; ++j) acc[i][j] =
      _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi32(static_cast<int>(0x80808080u));
  for (std::size_t q = 0; q < full; ++q) {
    __m512i wv[NB];
    _Pragma("GCC unroll 4") for (int j = 0; j < NB; ++j) wv[j] =
        _mm512_loadu_si512(w + static_cast<std::size_t>(j) * block_stride + q * 64);
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; ++i) {
      std::int32_t v;
      std::memcpy(&v, A + static_cast<std::size_t>(i) * lda + q * 4, 4);
      __m512i av = _mm512_set1_epi32(v);
      if (Flip) av = _mm512_xor_si512(av, flip);
      _Pragma("GCC unroll 4") for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, wv[j]);
    }
  }
  if (full * 4 < K) {
    __m512i wv[NB];
    _Pragma("GCC unroll 4") for (int j = 0; j < NB; ++j) wv[j] =
        _mm512_loadu_si512(w + static_cast<std::size_t>(j) * block_stride + full * 64);
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; ++i) {
      const __m512i av = quad(A + static_cast<std::size_t>(i) * lda, full * 4, K, Flip);
      _Pragma("GCC unroll 4") for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, wv[j]);
    }
  }
  _Pragma("GCC unroll 4") for (int j = 0; j < NB; ++j) {
    const std::size_t n = n0 + static_cast<std::size_t>(j) * 16;
    const __m512i off = Flip ? _mm512_loadu_si512(offset + n) : _mm512_setzero_si512();
    const __mmask16 mask = n + 16 <= N ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (N - n)) - 1);
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; ++i)
        _mm512_mask_storeu_epi32(C + static_cast<std::size_t>(i) * ldc + n, mask, _mm512_sub_epi32(acc[i][j], off));
  }
}

template <bool Flip, int MR>
EQINFO_VNNI inline void micro_n(std::size_t nb, const std::uint8_t* A, std::size_t lda, const std::int8_t* w,
                                std::size_t block_stride, const std::int32_t* offset, std::int32_t* C, std::size_t ldc,
                                std::size_t n0, std::size_t N, std::size_t K) {
  switch (nb) {
    case 4: return micro<Flip, MR, 4>(A, lda, w, block_stride, offset, C, ldc, n0, N, K);
    case 3: return micro<Flip, MR, 3>(A, lda, w, block_stride, offset, C, ldc, n0, N, K);
    case 2: return micro<Flip, MR, 2>(A, lda, w, block_stride, offset, C, ldc, n0, N, K);
    default: return micro<Flip, MR, 1>(A, lda, w, block_stride, offset, C, ldc, n0, N, K);
  }
}

/// C[m][n] = sum_k a'[m][k] W[n][k] - offset[n] for n < N, over a VNNI layout
/// with k_pad / 4 quads per 16-column block. a' = a + 128 when `Flip`
/// (offset[n] = 128 * sum_k W[n][k]; unused otherwise). Blocks of 4 rows x 64
/// columns (16 accumulators); a panel of 64 columns of W stays in cache while
/// all rows pass.
template <bool Flip>
EQINFO_VNNI void kernel(const std::uint8_t* A, std::size_t lda, std::size_t M, const std::int8_t* vnni,
                        std::size_t k_pad, const std::int32_t* offset, std::int32_t* C, std::size_t ldc, std::size_t N,
                        std::size_t K) {
  const std::size_t blocks = (N + 15) / 16;
  const std::size_t block_stride = k_pad * 16;
  constexpr std::size_t MR = 4, NB = 4;
  for (std::size_t b0 = 0; b0 < blocks; b0 += NB) {
    const std::size_t nb = blocks - b0 < NB ? blocks - b0 : NB;
    const std::int8_t* w = vnni + b0 * block_stride;
    const std::size_t n0 = b0 * 16;
    std::size_t m = 0;
    for (; m + MR <= M; m += MR)
      micro_n<Flip, 4>(nb, A + m * lda, lda, w, block_stride, offset, C + m * ldc, ldc, n0, N, K);
    switch (M - m) {
      case 3: micro_n<Flip, 3>(nb, A + m * lda, lda, w, block_stride, offset, C + m * ldc, ldc, n0, N, K); break;
      case 2: micro_n<Flip, 2>(nb, A + m * lda, lda, w, block_stride, offset, C + m * ldc, ldc, n0, N, K); break;
      case 1: micro_n<Flip, 1>(nb, A + m * lda, lda, w, block_stride, offset, C + m * ldc, ldc, n0, N, K); break;
      default: break;
    }
  }
}

EQINFO_VNNI inline void packed(const std::int8_t* A, std::size_t lda, std::size_t M, const packed_s8& W,
                               std::int32_t* C, std::size_t ldc) {
  kernel<true>(reinterpret_cast<const std::uint8_t*>(A), lda, M, W.vnni(), W.padded_cols(), W.offset(), C, ldc,
               W.rows(), W.cols());
}

/// A.B^T as dot products along K (the fallback for huge ldb): signed A
/// offset by 128 and corrected by B's row sums.
EQINFO_VNNI inline void dot_nt(const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                               std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  const std::size_t K64 = K / 64 * 64;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i ones = _mm512_set1_epi8(1);
  for (std::size_t n = 0; n < N; ++n) {
    const std::int8_t* b = B + n * ldb;
    // sum of b over the vectorised part (the part offset by 128), via vpdpbusd(1, b).
    __m512i bs = _mm512_setzero_si512();
    for (std::size_t k = 0; k < K64; k += 64) bs = _mm512_dpbusd_epi32(bs, ones, _mm512_loadu_si512(b + k));
    const std::int32_t head_sum = _mm512_reduce_add_epi32(bs);
    for (std::size_t m = 0; m < M; ++m) {
      const std::int8_t* a = A + m * lda;
      __m512i acc = _mm512_setzero_si512();
      for (std::size_t k = 0; k < K64; k += 64)
        acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(a + k), flip), _mm512_loadu_si512(b + k));
      std::int32_t s = _mm512_reduce_add_epi32(acc) - 128 * head_sum;
      for (std::size_t k = K64; k < K; ++k) s += std::int32_t{a[k]} * b[k];
      C[m * ldc + n] = s;
    }
  }
}

/// B (N, K) int8 rows, row stride ldb, into the VNNI layout
/// [n_pad/16][k_pad/4][16][4] (zeros in the padding; k_pad >= K a multiple
/// of 4, n_pad >= N of 16): one gather of 16 rows x 4 bytes per 64 bytes.
/// With `offset` (n_pad entries), also 128 * (row sums). Needs 15 * ldb < 2^31.
EQINFO_VNNI inline void rows_to_vnni(const std::int8_t* B, std::size_t ldb, std::size_t N, std::size_t K,
                                     std::int8_t* out, std::size_t k_pad, std::size_t n_pad, std::int32_t* offset) {
  const std::size_t block = k_pad * 16, full = K / 4;
  const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(static_cast<int>(ldb)));
  const __m512i ones = _mm512_set1_epi8(1);
  for (std::size_t n = 0; n < n_pad; n += 16) {
    std::int8_t* o = out + (n / 16) * block;
    const std::size_t rows = n >= N ? 0 : (N - n < 16 ? N - n : 16);
    const auto mask = static_cast<__mmask16>((1u << rows) - 1);
    const std::int8_t* b = B + (rows ? n * ldb : 0);
    __m512i sums = _mm512_setzero_si512();
    for (std::size_t q = 0; q < full; ++q) {
      const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, index, b + q * 4, 1);
      _mm512_storeu_si512(o + q * 64, v);
      sums = _mm512_dpbusd_epi32(sums, ones, v);
    }
    std::size_t q = full;
    if (full * 4 < K) {  // the partial quad, byte by byte
      alignas(64) std::int8_t t[64] = {};
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t k = full * 4; k < K; ++k) t[r * 4 + k - full * 4] = b[r * ldb + k];
      const __m512i v = _mm512_load_si512(t);
      _mm512_storeu_si512(o + q * 64, v);
      sums = _mm512_dpbusd_epi32(sums, ones, v);
      ++q;
    }
    std::memset(o + q * 64, 0, block - q * 64);
    if (offset) _mm512_storeu_si512(offset + n, _mm512_slli_epi32(sums, 7));
  }
}

/// Whether rows_to_vnni can index B's rows with int32 gathers.
inline bool gather_fits(std::size_t ldb) { return ldb <= 0x7fffffff / 16; }

/// A.B^T with B rows unpacked (attention's q.k): B is put in the VNNI layout
/// (with its row sums) and the signed A offset by 128, then the packed kernel.
EQINFO_VNNI inline void s8s8_nt(const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                                std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  if (M == 0 || N == 0) return;
  if (!gather_fits(ldb)) return dot_nt(A, lda, B, ldb, C, ldc, M, N, K);
  thread_local std::vector<std::int8_t> layout;
  thread_local std::vector<std::int32_t> offset;
  const std::size_t n_pad = (N + 15) / 16 * 16, k_pad = (K + 3) / 4 * 4;
  layout.resize(n_pad * k_pad + 64);
  offset.resize(n_pad);
  rows_to_vnni(B, ldb, N, K, layout.data(), k_pad, n_pad, offset.data());
  kernel<true>(reinterpret_cast<const std::uint8_t*>(A), lda, M, layout.data(), k_pad, offset.data(), C, ldc, N, K);
}

/// B (K, N) int8, row stride ldb, into the VNNI layout [n_pad/16][k_pad/4][16][4]
/// (zeros in the padding; k_pad >= K a multiple of 4, n_pad >= N of 16):
/// 4 rows x 16 columns at a time with byte/word interleaves.
EQINFO_VNNI inline void to_vnni(const std::int8_t* B, std::size_t ldb, std::size_t K, std::size_t N, std::int8_t* out,
                                std::size_t k_pad, std::size_t n_pad) {
  const std::size_t block = k_pad * 16, N16 = N / 16 * 16, K4 = K / 4 * 4;
  for (std::size_t n = 0; n < N16; n += 16) {
    std::int8_t* o = out + (n / 16) * block;
    for (std::size_t k = 0; k < K4; k += 4) {
      const std::int8_t* b = B + k * ldb + n;
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
      const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + ldb));
      const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 * ldb));
      const __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 3 * ldb));
      const __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
      const __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
      __m128i* d = reinterpret_cast<__m128i*>(o + k * 16);
      _mm_storeu_si128(d, _mm_unpacklo_epi16(t0, t2));
      _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(t0, t2));
      _mm_storeu_si128(d + 2, _mm_unpacklo_epi16(t1, t3));
      _mm_storeu_si128(d + 3, _mm_unpackhi_epi16(t1, t3));
    }
    std::memset(o + K4 * 16, 0, (k_pad - K4) * 16);
    for (std::size_t k = K4; k < K; ++k)
      for (std::size_t j = 0; j < 16; ++j) o[(k / 4) * 64 + j * 4 + k % 4] = B[k * ldb + n + j];
  }
  for (std::size_t n = N16; n < n_pad; n += 16) {  // the partial block and padding blocks
    std::int8_t* o = out + (n / 16) * block;
    std::memset(o, 0, block);
    for (std::size_t j = 0; j < 16 && n + j < N; ++j)
      for (std::size_t k = 0; k < K; ++k) o[(k / 4) * 64 + j * 4 + k % 4] = B[k * ldb + n + j];
  }
}

/// A.B with A uint8 and B (K, N) int8 rows (attention's p.v): B is put in
/// the VNNI layout first (N padded to 16, K to 4), then the packed kernel.
EQINFO_VNNI inline void u8s8_nn(const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                                std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  if (M == 0 || N == 0) return;
  thread_local std::vector<std::int8_t> layout;
  const std::size_t n_pad = (N + 15) / 16 * 16, k_pad = (K + 3) / 4 * 4;
  layout.resize(n_pad * k_pad + 64);  // + 64: never an empty vector's null data()
  to_vnni(B, ldb, K, N, layout.data(), k_pad, n_pad);
  kernel<false>(A, lda, M, layout.data(), k_pad, nullptr, C, ldc, N, K);
}
}  // namespace vnni

// ---------------------------------------------------------------------------
// amx: tdpbssd on 16 x 64-byte tiles, 2 x 2 accumulator tiles (32 rows x 32
// columns of C) per step. The VNNI layout of packed_s8 is already the B tile
// layout: 16 rows of (16 columns x 4 k) per 64 k.

#define EQINFO_AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace amx {
struct alignas(64) tile_config {
  std::uint8_t palette = 1, start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

/// Loads the tile configuration (8 tiles of 16 rows x 64 bytes). Done at the
/// start of every product, right before the tile instructions with no library
/// call in between: the configuration is per thread and is lost whenever the
/// tile state is reset to its initial state, which glibc's lazy-binding
/// trampoline (_dl_runtime_resolve_xsavec) can do on any first call through
/// the PLT.
EQINFO_AMX inline void configure() {
  tile_config cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  // GCC 12 does not see that ldtilecfg reads `cfg` and drops the stores above
  // as dead (observed: only the palette byte was written). A compiler barrier
  // that takes cfg's address keeps them.
  __asm__ volatile("" : : "r"(&cfg) : "memory");
  _tile_loadconfig(&cfg);
}

/// One 32 x 32 block of C: rows [0, 32) of A (a, row stride lda, k_pad bytes
/// readable per row), columns [0, 32) of W (VNNI blocks w0, w1; k_pad bytes
/// of k each). Rows >= rows and columns >= cols of the block are not stored.
/// Unsigned: A is uint8 (tdpbusd), else int8 (tdpbssd).
template <bool Unsigned>
EQINFO_AMX inline void block32(const void* a_, std::size_t lda, const std::int8_t* w0, const std::int8_t* w1,
                               std::size_t k_pad, std::int32_t* C, std::size_t ldc, std::size_t rows,
                               std::size_t cols) {
  const auto* a = static_cast<const std::uint8_t*>(a_);
  const long sa = static_cast<long>(lda);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (std::size_t k0 = 0; k0 < k_pad; k0 += 64) {
    _tile_loadd(4, a + k0, sa);
    _tile_loadd(6, w0 + k0 * 16, 64);
    _tile_loadd(7, w1 + k0 * 16, 64);
    _tile_loadd(5, a + 16 * lda + k0, sa);
    if constexpr (Unsigned) {
      _tile_dpbusd(0, 4, 6);
      _tile_dpbusd(1, 4, 7);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    } else {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  }
  if (rows >= 32 && cols >= 32) {  // the whole block: store the tiles in place
    const long stride = static_cast<long>(ldc * sizeof(std::int32_t));
    _tile_stored(0, C, stride);
    _tile_stored(1, C + 16, stride);
    _tile_stored(2, C + 16 * ldc, stride);
    _tile_stored(3, C + 16 * ldc + 16, stride);
    return;
  }
  alignas(64) std::int32_t out[4][16 * 16];
  _tile_stored(0, out[0], 64);
  _tile_stored(1, out[1], 64);
  _tile_stored(2, out[2], 64);
  _tile_stored(3, out[3], 64);
  for (std::size_t t = 0; t < 4; ++t) {
    const std::size_t mb = (t / 2) * 16, nb = (t % 2) * 16;
    for (std::size_t r = 0; r < 16 && mb + r < rows; ++r)
      for (std::size_t col = 0; col < 16 && nb + col < cols; ++col) C[(mb + r) * ldc + nb + col] = out[t][r * 16 + col];
  }
}

/// C (M x N) = A (M x K, bytes) . W^T for W in the VNNI layout with k_pad (a
/// multiple of 64) bytes of k per 16-column block and blocks for N rounded
/// up to 32 columns. M >= 1.
template <bool Unsigned>
EQINFO_AMX inline void product(const std::uint8_t* A, std::size_t lda, std::size_t M, std::size_t K,
                               const std::int8_t* w, std::size_t k_pad, std::size_t N, std::int32_t* C,
                               std::size_t ldc) {
  // Tiles read A in place when its rows hold whole 64-byte steps; otherwise
  // (K % 64 != 0), and for the last M % 32 rows, from a zero-padded copy
  // (exact: zero terms).
  const std::size_t m_direct = K == k_pad ? M / 32 * 32 : 0;
  const std::size_t m_pad = (M + 31) / 32 * 32;
  thread_local std::vector<std::uint8_t> a;
  if (m_direct < M) {
    a.assign((m_pad - m_direct) * k_pad, 0);
    for (std::size_t m = m_direct; m < M; ++m) std::memcpy(a.data() + (m - m_direct) * k_pad, A + m * lda, K);
  }
  const std::size_t block = k_pad * 16;  // bytes per 16-column block
  configure();
  for (std::size_t m0 = 0; m0 < M; m0 += 32) {  // the A panel (32 rows) stays in cache
    const bool direct = m0 < m_direct;
    const std::uint8_t* ap = direct ? A + m0 * lda : a.data() + (m0 - m_direct) * k_pad;
    const std::size_t la = direct ? lda : k_pad;
    for (std::size_t n0 = 0; n0 < N; n0 += 32) {
      const std::int8_t* w0 = w + (n0 / 16) * block;
      block32<Unsigned>(ap, la, w0, w0 + block, k_pad, C + m0 * ldc + n0, ldc, M - m0, N - n0);
    }
  }
  _tile_release();  // the thread holds no tile state between products
}

EQINFO_AMX inline void packed(const std::int8_t* A, std::size_t lda, std::size_t M, const packed_s8& W, std::int32_t* C,
                              std::size_t ldc) {
  if (M < 16) {  // a tile would be mostly padding
    vnni::packed(A, lda, M, W, C, ldc);
    return;
  }
  product<false>(reinterpret_cast<const std::uint8_t*>(A), lda, M, W.cols(), W.vnni(), W.padded_cols(), W.rows(), C,
                 ldc);
}

/// A.B with A uint8 (attention's p.v): B (K, N) put in the tile layout
/// (k padded to 64, N to 32), then tdpbusd.
/// A.B^T with B rows unpacked (attention's q.k): B in the tile layout, then
/// tdpbssd.
EQINFO_AMX inline void s8s8_nt(const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                               std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  if (M < 16 || N == 0 || K == 0 || !vnni::gather_fits(ldb)) {
    vnni::s8s8_nt(A, lda, B, ldb, C, ldc, M, N, K);
    return;
  }
  thread_local std::vector<std::int8_t> layout;
  const std::size_t n_pad = (N + 31) / 32 * 32, k_pad = (K + 63) / 64 * 64;
  layout.resize(n_pad * k_pad);
  vnni::rows_to_vnni(B, ldb, N, K, layout.data(), k_pad, n_pad, nullptr);
  product<false>(reinterpret_cast<const std::uint8_t*>(A), lda, M, K, layout.data(), k_pad, N, C, ldc);
}

EQINFO_AMX inline void u8s8_nn(const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                               std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  if (M < 16 || N == 0 || K == 0) {
    vnni::u8s8_nn(A, lda, B, ldb, C, ldc, M, N, K);
    return;
  }
  thread_local std::vector<std::int8_t> layout;
  const std::size_t n_pad = (N + 31) / 32 * 32, k_pad = (K + 63) / 64 * 64;
  layout.resize(n_pad * k_pad);
  vnni::to_vnni(B, ldb, K, N, layout.data(), k_pad, n_pad);
  product<true>(A, lda, M, K, layout.data(), k_pad, N, C, ldc);
}
}  // namespace amx

#undef EQINFO_SSE2
#undef EQINFO_AVX2
#undef EQINFO_VNNI
#undef EQINFO_AMX
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // EQINFO_INT8_X86

// ---------------------------------------------------------------------------
// The dispatching entry points.

/// C[m][n] = sum_k A[m][k] * B[n][k].  A: int8 (M, K), row stride lda;
/// B: int8 (N, K), row stride ldb; C: int32 (M, N), row stride ldc.
/// (Linear layers with B = weight [out][in]; q.k with B = key cache rows.)
inline void gemm_s8s8_nt(isa path, const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                         std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  switch (path) {
#ifdef EQINFO_INT8_X86
    case isa::sse2: return sse2::s8s8_nt(A, lda, B, ldb, C, ldc, M, N, K);
    case isa::avx2: return avx2::s8s8_nt(A, lda, B, ldb, C, ldc, M, N, K);
    case isa::avx512vnni: return vnni::s8s8_nt(A, lda, B, ldb, C, ldc, M, N, K);
    case isa::amx: return amx::s8s8_nt(A, lda, B, ldb, C, ldc, M, N, K);
#endif
    default: return eigen::s8s8_nt(A, lda, B, ldb, C, ldc, M, N, K);
  }
}

/// C[m][n] = sum_k A[m][k] * B[k][n].  A: uint8 (M, K), lda; B: int8 (K, N),
/// ldb; C: int32 (M, N), ldc. (Attention's p.v with B = value cache rows.)
inline void gemm_u8s8_nn(isa path, const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                         std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  switch (path) {
#ifdef EQINFO_INT8_X86
    case isa::sse2: return sse2::u8s8_nn(A, lda, B, ldb, C, ldc, M, N, K);
    case isa::avx2: return avx2::u8s8_nn(A, lda, B, ldb, C, ldc, M, N, K);
    case isa::avx512vnni: return vnni::u8s8_nn(A, lda, B, ldb, C, ldc, M, N, K);
    case isa::amx: return amx::u8s8_nn(A, lda, B, ldb, C, ldc, M, N, K);
#endif
    default: return eigen::u8s8_nn(A, lda, B, ldb, C, ldc, M, N, K);
  }
}

/// C[m][n] = sum_k A[m][k] * W[n][k] for W packed for its path.
inline void gemm_s8s8_packed(const std::int8_t* A, std::size_t lda, std::size_t M, const packed_s8& W, std::int32_t* C,
                             std::size_t ldc) {
  switch (W.path()) {
#ifdef EQINFO_INT8_X86
    case isa::avx512vnni: return vnni::packed(A, lda, M, W, C, ldc);
    case isa::amx: return amx::packed(A, lda, M, W, C, ldc);
#endif
    default: return gemm_s8s8_nt(W.path(), A, lda, W.data(), W.cols(), C, ldc, M, W.rows(), W.cols());
  }
}

}  // namespace int8
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
