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
///               per call). The packed product a panel at a time
///               (gemm_s8s8_packed_panels) runs 4 to 15 rows as one
///               zero-padded 16-row panel; below that, and for q.k and p.v
///               of fewer than 16 rows, the avx512vnni code runs.
///
/// Performance notes (Sapphire Rapids, one core): the packed avx512vnni
/// kernel is a 4-row x 64-column register block (16 zmm accumulators). The
/// AMX kernel at K <= 256 is bound by writing the int32 C (each 32 x 32 block
/// stores 4 KiB for 4 * K / 64 tile products), not by the tile unit.

#include <eqinfo/detail/aligned_vector.hpp>
#include <eqinfo/error.hpp>

#include <Eigen/Core>
#include <algorithm>
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
  aligned_vector<std::int8_t> w_;
  aligned_vector<std::int8_t> vnni_;
  aligned_vector<std::int32_t> offset_;
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
// _mm512_reduce_add_epi32), or at -O1 -Wuninitialized (_mm512_shuffle_i32x4).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
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

/// Writes columns [n, n + Width) of one row of C = A.B (row a of A, output row c).
using u8s8_block = void (*)(const std::uint8_t* a, const std::int8_t* B, std::size_t ldb, std::size_t K, std::size_t n,
                            std::int32_t* c);

/// C = A.B with A uint8 (M, K), B int8 (K, N): the row and column loops the
/// SSE2 and AVX2 kernels share around their `Block` of `Width` columns; the
/// columns past the last full block are column_dot's.
template <std::size_t Width, u8s8_block Block>
inline void u8s8_nn_blocks(const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                           std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  const std::size_t full = N / Width * Width;
  for (std::size_t m = 0; m < M; ++m) {
    const std::uint8_t* a = A + m * lda;
    std::int32_t* c = C + m * ldc;
    for (std::size_t n = 0; n < full; n += Width) Block(a, B, ldb, K, n, c);
    for (std::size_t n = full; n < N; ++n) c[n] = column_dot(a, B, ldb, K, n);
  }
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

/// Columns [n, n + 8) of one row of A.B, A uint8 and B int8: two k at a time
/// (rows k, k+1 of B interleaved, (a_k, a_k+1) broadcast).
EQINFO_SSE2 inline void u8s8_columns(const std::uint8_t* a, const std::int8_t* B, std::size_t ldb, std::size_t K,
                                     std::size_t n, std::int32_t* c) {
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

/// Columns [n, n + 16) of one row of A.B, as sse2::u8s8_columns.
EQINFO_AVX2 inline void u8s8_columns(const std::uint8_t* a, const std::int8_t* B, std::size_t ldb, std::size_t K,
                                     std::size_t n, std::int32_t* c) {
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
}  // namespace avx2

#include <eqinfo/detail/int8_avx512.inc>  // vnni, amx

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
    case isa::sse2: return u8s8_nn_blocks<8, sse2::u8s8_columns>(A, lda, B, ldb, C, ldc, M, N, K);
    case isa::avx2: return u8s8_nn_blocks<16, avx2::u8s8_columns>(A, lda, B, ldb, C, ldc, M, N, K);
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

/// Rows per panel of gemm_s8s8_packed_panels.
inline constexpr std::size_t panel_rows = 32;

/// The row stride of gemm_s8s8_packed_panels' panels for W.
inline std::size_t panel_stride(const packed_s8& W) noexcept { return std::max(W.rows(), W.padded_rows()); }

/// A.W^T for W packed for its path, handed over a panel of rows at a time:
/// on_panel(first_row, rows, c) gets rows [first_row, first_row + rows) of
/// the product in c (row stride panel_stride(W)), 1 <= rows <= panel_rows,
/// in order. On the AMX path each panel is computed just before its call,
/// so the caller's work on a row reads it while it is still in L1 or L2:
/// for M1's batches of about 100 rows, storing the whole (M, N) int32
/// product and reading it back cost more than the tile products themselves
/// (BM_rows in bench/int8_bench.cpp). on_panel must not change A's rows.
/// `panel` is scratch.
template <class OnPanel>
inline void gemm_s8s8_packed_panels(const std::int8_t* A, std::size_t lda, std::size_t M, const packed_s8& W,
                                    aligned_vector<std::int32_t>& panel, OnPanel&& on_panel) {
  const std::size_t stride = panel_stride(W);
#ifdef EQINFO_INT8_X86
  if (W.path() == isa::amx) {
    panel.resize(panel_rows * stride);
    return amx::packed_panels(A, lda, M, W, panel.data(), on_panel);
  }
#endif
  // The other paths' kernels gain nothing from panels (BM_rows in
  // bench/int8_bench.cpp: VNNI 0-9 % slower): the whole product, then its panels.
  panel.resize(M * stride);
  gemm_s8s8_packed(A, lda, M, W, panel.data(), stride);
  for (std::size_t m0 = 0; m0 < M; m0 += panel_rows)
    on_panel(m0, std::min(panel_rows, M - m0), static_cast<const std::int32_t*>(panel.data() + m0 * stride));
}

}  // namespace int8
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
