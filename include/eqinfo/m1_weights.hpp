// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1's weights (model file format version 2): int8 matrices with one float
/// scale per output row, as Eigen types, packed once for the int8 kernel path
/// in use (detail/int8_kernels.hpp).

#include <eqinfo/detail/int8_kernels.hpp>
#include <eqinfo/detail/m1_numerics.hpp>
#include <eqinfo/m1_config.hpp>

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace m1 {
/// Same shape and the same values (Eigen's == asserts equal shapes).
template <class A, class B>
bool same(const A& a, const B& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && (a.size() == 0 || (a.array() == b.array()).all());
}
}  // namespace m1
}  // namespace detail

/// A weight matrix [out][in] (PyTorch's nn.Linear layout): row n of the real
/// matrix is scale[n] * q.row(n), with q in [-127, 127].
struct int8_matrix {
  using storage = Eigen::Matrix<std::int8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  storage q;
  Eigen::VectorXf scale;
  detail::int8::packed_s8 packed;  ///< q prepared for one kernel path (pack())

  std::size_t rows() const noexcept { return static_cast<std::size_t>(q.rows()); }
  std::size_t cols() const noexcept { return static_cast<std::size_t>(q.cols()); }

  /// Row-wise quant8 of a float matrix [out][in] (docs/m1-integer.md).
  static int8_matrix quantize(std::span<const float> w, std::size_t out, std::size_t in) {
    int8_matrix m;
    m.q.resize(static_cast<Eigen::Index>(out), static_cast<Eigen::Index>(in));
    m.scale.resize(static_cast<Eigen::Index>(out));
    for (std::size_t n = 0; n < out; ++n)
      m.scale[static_cast<Eigen::Index>(n)] = detail::m1::quant8(w.data() + n * in, in, m.q.data() + n * in);
    return m;
  }

  void pack(detail::int8::isa path) { packed = detail::int8::packed_s8(path, q.data(), rows(), cols()); }

  friend bool operator==(const int8_matrix& a, const int8_matrix& b) {
    return detail::m1::same(a.q, b.q) && detail::m1::same(a.scale, b.scale);
  }
};

/// M1's weights. Float tensors (embedding, norms, relative biases) are used
/// element-wise only; every matrix product is int8 x int8 -> int32.
struct transformer_weights {
  using float_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  struct layer {
    Eigen::VectorXf attn_norm;  // [d]
    int8_matrix wq, wk, wv;     // [A][d]
    int8_matrix wo;             // [d][A]
    float_matrix rel_bias;      // [heads][buckets]
    Eigen::VectorXf mlp_norm;   // [d]
    int8_matrix w1;             // [d_ff][d]
    int8_matrix w2;             // [d][d_ff]
  };
  transformer_config config;
  float_matrix embedding;  // [257][d], row 256 = BOS
  std::vector<layer> layers;
  Eigen::VectorXf final_norm;                          // [d]
  int8_matrix lm_head;                                 // [256][d]
  std::vector<std::int32_t> buckets;                   // [context]: bucket of distance n
  detail::int8::isa path = detail::int8::isa::scalar;  ///< the kernel path the matrices are packed for

  /// Same weights (the packing is not compared).
  friend bool operator==(const transformer_weights& a, const transformer_weights& b) {
    using detail::m1::same;
    if (!(a.config == b.config) || !same(a.embedding, b.embedding) || a.layers.size() != b.layers.size() ||
        !same(a.final_norm, b.final_norm) || !(a.lm_head == b.lm_head) || a.buckets != b.buckets)
      return false;
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
      const auto &x = a.layers[i], &y = b.layers[i];
      if (!same(x.attn_norm, y.attn_norm) || !(x.wq == y.wq) || !(x.wk == y.wk) || !(x.wv == y.wv) || !(x.wo == y.wo) ||
          !same(x.rel_bias, y.rel_bias) || !same(x.mlp_norm, y.mlp_norm) || !(x.w1 == y.w1) || !(x.w2 == y.w2))
        return false;
    }
    return true;
  }

  /// Packs every matrix for `p` (the forward pass then uses that path).
  void pack(detail::int8::isa p) {
    path = p;
    for (auto& l : layers)
      for (int8_matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2}) m->pack(p);
    lm_head.pack(p);
  }

  /// A copy packed for another kernel path (tests and benchmarks compare paths).
  transformer_weights for_path(detail::int8::isa p) const {
    transformer_weights w = *this;
    w.pack(p);
    return w;
  }

  /// Fixed pseudo-random weights (for tests and benchmarks): float matrices
  /// uniform in [-scale/sqrt(fan_in), scale/sqrt(fan_in)), quantised row-wise;
  /// norms near 1; from a seed by integer arithmetic, so the same on every
  /// machine. Packed for the active kernel path.
  static transformer_weights random(const transformer_config& c, std::uint64_t seed, float scale = 1.0f) {
    c.validate();
    std::uint64_t state = seed;
    auto next = [&] {
      std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    };
    auto fill = [&](std::size_t n, float amplitude) {
      std::vector<float> v(n);
      // (k - 2^23) * 2^-23 is exact in float: uniform in [-1, 1).
      for (auto& x : v)
        x = static_cast<float>(static_cast<std::int32_t>(next() >> 40) - (1 << 23)) * 0x1p-23f * amplitude;
      return v;
    };
    auto vec = [&](std::size_t n, float amplitude, float offset) {
      const auto v = fill(n, amplitude);
      Eigen::VectorXf out(static_cast<Eigen::Index>(n));
      for (std::size_t i = 0; i < n; ++i) out[static_cast<Eigen::Index>(i)] = v[i] + offset;
      return out;
    };
    auto mat = [&](std::size_t out, std::size_t in, float amplitude) {
      return int8_matrix::quantize(fill(out * in, amplitude), out, in);
    };
    auto fmat = [&](std::size_t rows, std::size_t cols, float amplitude) {
      const auto v = fill(rows * cols, amplitude);
      return float_matrix(
          Eigen::Map<const float_matrix>(v.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols)));
    };
    const std::size_t d = c.d_model, a = c.attention_width(), ff = c.d_ff;
    const float sd = scale / std::sqrt(static_cast<float>(d)), sa = scale / std::sqrt(static_cast<float>(a));
    transformer_weights w;
    w.config = c;
    w.embedding = fmat(257, d, scale);
    for (unsigned i = 0; i < c.layers; ++i) {
      layer l;
      l.attn_norm = vec(d, 0.25f, 1.0f);
      l.wq = mat(a, d, sd);
      l.wk = mat(a, d, sd);
      l.wv = mat(a, d, sd);
      l.wo = mat(d, a, sa);
      l.rel_bias = fmat(c.heads, c.relative_buckets, scale);
      l.mlp_norm = vec(d, 0.25f, 1.0f);
      l.w1 = mat(ff, d, sd);
      l.w2 = mat(d, ff, scale / std::sqrt(static_cast<float>(ff)));
      w.layers.push_back(std::move(l));
    }
    w.final_norm = vec(d, 0.25f, 1.0f);
    w.lm_head = mat(256, d, 4.0f * sd);
    w.buckets.resize(c.context);
    for (unsigned n = 0; n < c.context; ++n)
      w.buckets[n] = relative_position_bucket(n, c.relative_buckets, c.relative_max_distance);
    w.pack(detail::int8::active());
    return w;
  }
};

}  // namespace v1
}  // namespace eqinfo
