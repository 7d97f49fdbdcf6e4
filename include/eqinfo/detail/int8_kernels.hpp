// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Exact int8 matrix products for M1 (docs/m1-integer.md), one implementation
/// per instruction set, chosen at run time.
///
/// Every path computes the same int32 sums: integer addition is exact and
/// associative, so blocking, lane width, the uint8 offset trick of vpdpbusd
/// (wrapping int32 arithmetic) and AMX tiles cannot change a result as long as
/// the true sum fits in int32 (transformer_config::validate bounds the shapes).
///
/// STATUS: API and portable path only; the SIMD paths and the detection are
/// filled in by the kernel work (see tests/int8_kernels_test.cpp).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace int8 {

/// Instruction-set paths, slowest first.
enum class isa { scalar, sse2, avx2, avx512vnni, amx };

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

/// The path in use: the best this CPU (and OS) supports, or EQINFO_ISA.
inline isa active() { return isa::scalar; }

/// C[m][n] = sum_k A[m][k] * B[n][k].  A: int8 (M, K), row stride lda;
/// B: int8 (N, K), row stride ldb; C: int32 (M, N), row stride ldc.
/// (Linear layers with B = weight [out][in]; q.k with B = key cache rows.)
inline void gemm_s8s8_nt(isa, const std::int8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                         std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) {
      std::int32_t s = 0;
      for (std::size_t k = 0; k < K; ++k) s += std::int32_t{A[m * lda + k]} * B[n * ldb + k];
      C[m * ldc + n] = s;
    }
}

/// C[m][n] = sum_k A[m][k] * B[k][n].  A: uint8 (M, K), lda; B: int8 (K, N),
/// ldb; C: int32 (M, N), ldc. (Attention's p.v with B = value cache rows.)
inline void gemm_u8s8_nn(isa, const std::uint8_t* A, std::size_t lda, const std::int8_t* B, std::size_t ldb,
                         std::int32_t* C, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) {
      std::int32_t s = 0;
      for (std::size_t k = 0; k < K; ++k) s += std::int32_t{A[m * lda + k]} * B[k * ldb + n];
      C[m * ldc + n] = s;
    }
}

/// A weight matrix W (N, K) prepared once for one path's fastest product.
class packed_s8 {
 public:
  packed_s8() = default;
  packed_s8(isa path, const std::int8_t* W, std::size_t N, std::size_t K)
      : path_(path), n_(N), k_(K), w_(W, W + N * K) {}
  isa path() const noexcept { return path_; }
  std::size_t rows() const noexcept { return n_; }
  std::size_t cols() const noexcept { return k_; }
  const std::int8_t* data() const noexcept { return w_.data(); }

 private:
  isa path_ = isa::scalar;
  std::size_t n_ = 0, k_ = 0;
  std::vector<std::int8_t> w_;
};

/// C[m][n] = sum_k A[m][k] * W[n][k] for a packed W (its path).
inline void gemm_s8s8_packed(const std::int8_t* A, std::size_t lda, std::size_t M, const packed_s8& W,
                             std::int32_t* C, std::size_t ldc) {
  gemm_s8s8_nt(W.path(), A, lda, W.data(), W.cols(), C, ldc, M, W.rows(), W.cols());
}

}  // namespace int8
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
