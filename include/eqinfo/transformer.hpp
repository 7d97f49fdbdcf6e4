// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1: the bundled byte-level Transformer, as an eqinfo::byte_model.
///
/// READ ME FIRST
/// -------------
/// * Architecture and file format: docs/m1.md. Numerical contract:
///   docs/determinism.md. In short, every float M1 computes is the result of
///   a fixed sequence of IEEE single-precision +, *, /, sqrt and integer
///   conversions, identical for any batch size, thread count, evaluation
///   order (whole window or one byte at a time), ISA and compiler:
///   - every dot product is summed in index order, one multiply then one
///     add per term (never an FMA: contraction is switched off below, and
///     the CMake target adds -ffp-contract=off);
///   - SIMD only ever runs across *independent* outputs, never inside one sum;
///   - exp is our own polynomial (detail::m1::exp_nonpositive), not libm;
///   - threads split independent sequences, never one computation.
/// * The model file is safetensors with metadata (config, CRC-32 of the
///   tensor data, self-test token vectors that load_m1 re-encodes).
/// * Context: reset() at every equal-info window; for plain AC, blocks of
///   `context` bytes from the start of the example (docs/m1.md).

#include <eqinfo/coder.hpp>
#include <eqinfo/detail/crc32.hpp>
#include <eqinfo/detail/json.hpp>
#include <eqinfo/detail/le_io.hpp>
#include <eqinfo/error.hpp>
#include <eqinfo/model.hpp>
#include <eqinfo/tokenizer.hpp>

#include <algorithm>
#include <bit>
#include <cfenv>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define EQINFO_HAVE_MXCSR 1
#endif

#if FLT_EVAL_METHOD != 0
#error "eqinfo's M1 needs float arithmetic evaluated in float (FLT_EVAL_METHOD == 0, e.g. SSE, not x87)"
#endif
static_assert(std::endian::native == std::endian::little, "eqinfo's M1 file reader assumes a little-endian host");
static_assert(std::numeric_limits<float>::is_iec559, "eqinfo's M1 needs IEEE 754 single precision");

// No FMA contraction inside M1, whatever the including translation unit asks
// for: GCC's default in GNU mode is -ffp-contract=fast, which would fuse a*b+c
// on FMA hardware and change the bits. (Clang honours the per-function pragma
// unless the user forces -ffp-contract=fast; the self-test in every model file
// then fails loudly with errc::self_test_failed.)
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

/// Shape of an M1. Defaults: the paper's "3m".
struct transformer_config {
  unsigned layers = 3;
  unsigned d_model = 256;
  unsigned heads = 4;
  unsigned head_dim = 64;
  unsigned d_ff = 1024;
  unsigned context = 1024;  ///< positions attended over, BOS included
  unsigned relative_buckets = 32;
  unsigned relative_max_distance = 128;
  float norm_epsilon = 1e-6f;

  friend bool operator==(const transformer_config&, const transformer_config&) = default;

  unsigned attention_width() const noexcept { return heads * head_dim; }

  /// Parameters outside the embedding and the output head.
  std::uint64_t non_embedding_parameters() const noexcept {
    const std::uint64_t d = d_model, a = attention_width();
    return layers * (2 * d + 4 * d * a + std::uint64_t{heads} * relative_buckets + 2 * d * d_ff) + d;
  }

  /// Throws `code` (invalid_settings, or bad_model_file when read from a file).
  void validate(const std::string& source = "transformer_config", errc code = errc::invalid_settings) const {
    auto check = [&](bool ok, const char* what) {
      if (!ok) throw error(code, source + ": " + what);
    };
    check(layers >= 1 && layers <= 256, "layers must be in [1, 256]");
    check(d_model >= 1 && d_model <= 16384, "d_model must be in [1, 16384]");
    check(heads >= 1 && heads <= 256, "heads must be in [1, 256]");
    check(head_dim >= 1 && head_dim <= 1024, "head_dim must be in [1, 1024]");
    check(d_ff >= 1 && d_ff <= 65536, "d_ff must be in [1, 65536]");
    check(context >= 2 && context <= 65536, "context must be in [2, 65536]");
    check(relative_buckets >= 1 && relative_buckets <= 4096, "relative_buckets must be in [1, 4096]");
    check(relative_max_distance > relative_buckets / 2,
          "relative_max_distance must exceed relative_buckets / 2 (T5's bucket formula divides by its log ratio)");
    check(std::isfinite(norm_epsilon) && norm_epsilon > 0, "norm_epsilon must be positive and finite");
  }

  /// Compact JSON in the field order of docs/m1.md (what the model file stores).
  std::string to_json() const {
    char eps[32];
    const auto r = std::to_chars(eps, eps + sizeof eps, norm_epsilon);
    return "{\"layers\":" + std::to_string(layers) + ",\"d_model\":" + std::to_string(d_model) +
           ",\"heads\":" + std::to_string(heads) + ",\"head_dim\":" + std::to_string(head_dim) +
           ",\"d_ff\":" + std::to_string(d_ff) + ",\"context\":" + std::to_string(context) +
           ",\"relative_buckets\":" + std::to_string(relative_buckets) +
           ",\"relative_max_distance\":" + std::to_string(relative_max_distance) +
           ",\"norm_epsilon\":" + std::string(eps, r.ptr) + "}";
  }

  static transformer_config from_json(std::string_view text, const std::string& source) {
    const auto v = detail::json_reader(text, source + " config", errc::bad_model_file).parse();
    if (v.type != detail::json_value::kind::object)
      throw error(errc::bad_model_file, source + ": config is not a JSON object");
    transformer_config c;
    auto field = [&](const char* name) {
      const auto n = detail::json_uint(v.find(name), std::string("config.") + name, errc::bad_model_file, source);
      if (n > 1u << 24) throw error(errc::bad_model_file, source + ": config." + name + " is out of range");
      return static_cast<unsigned>(n);
    };
    c.layers = field("layers");
    c.d_model = field("d_model");
    c.heads = field("heads");
    c.head_dim = field("head_dim");
    c.d_ff = field("d_ff");
    c.context = field("context");
    c.relative_buckets = field("relative_buckets");
    c.relative_max_distance = field("relative_max_distance");
    const auto* eps = v.find("norm_epsilon");
    if (eps == nullptr || eps->type != detail::json_value::kind::number)
      throw error(errc::bad_model_file, source + ": config.norm_epsilon is missing");
    const auto r = std::from_chars(eps->text.data(), eps->text.data() + eps->text.size(), c.norm_epsilon);
    if (r.ec != std::errc() || r.ptr != eps->text.data() + eps->text.size())
      throw error(errc::bad_model_file, source + ": config.norm_epsilon = " + eps->text + " is not a number");
    for (const auto& [key, value] : v.members) {
      static constexpr std::string_view known[] = {
          "layers",      "d_model", "heads", "head_dim", "d_ff", "context", "relative_buckets", "relative_max_distance",
          "norm_epsilon"};
      if (std::find(std::begin(known), std::end(known), key) == std::end(known))
        throw error(errc::bad_model_file, source + ": unknown config field \"" + key + "\"");
    }
    c.validate(source, errc::bad_model_file);
    return c;
  }
};

/// T5's causal relative-position bucket of a distance n = t - j >= 0
/// (computed once, stored in the model file; never at inference time).
inline std::int32_t relative_position_bucket(unsigned n, unsigned buckets, unsigned max_distance) {
  const unsigned max_exact = buckets / 2;
  // (max_distance <= max_exact is rejected by transformer_config::validate;
  // without the guard the formula below would divide by log(1) = 0.)
  if (n < max_exact || max_exact == 0 || max_distance <= max_exact)
    return static_cast<std::int32_t>(std::min(n, buckets - 1));
  const double scaled = std::log(static_cast<double>(n) / max_exact) /
                        std::log(static_cast<double>(max_distance) / max_exact) * (buckets - max_exact);
  const double bucket = max_exact + std::floor(scaled);
  return static_cast<std::int32_t>(std::min<double>(bucket, buckets - 1));
}

/// M1's weights in the layout inference uses: matrices input-major
/// ([in][out], the transpose of PyTorch's nn.Linear weight).
struct transformer_weights {
  struct layer {
    std::vector<float> attn_norm;   // [d]
    std::vector<float> wq, wk, wv;  // [d][A]
    std::vector<float> wo;          // [A][d]
    std::vector<float> rel_bias;    // [heads][buckets]
    std::vector<float> mlp_norm;    // [d]
    std::vector<float> w1;          // [d][d_ff]
    std::vector<float> w2;          // [d_ff][d]
  };
  transformer_config config;
  std::vector<float> embedding;  // [257][d], row 256 = BOS
  std::vector<layer> layers;
  std::vector<float> final_norm;      // [d]
  std::vector<float> lm_head;         // [d][256]
  std::vector<std::int32_t> buckets;  // [context]: bucket of distance n

  /// Fixed pseudo-random weights (for tests and benchmarks): uniform in
  /// [-scale/sqrt(fan_in), scale/sqrt(fan_in)), norms near 1, from a seed.
  /// Pure integer generation, so the same on every machine.
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
    auto norm = [&](std::size_t n) {
      auto v = fill(n, 0.25f);
      for (auto& x : v) x = x + 1.0f;
      return v;
    };
    const std::size_t d = c.d_model, a = c.attention_width();
    transformer_weights w;
    w.config = c;
    w.embedding = fill(257 * d, scale);
    for (unsigned i = 0; i < c.layers; ++i) {
      layer l;
      l.attn_norm = norm(d);
      l.wq = fill(d * a, scale / std::sqrt(static_cast<float>(d)));
      l.wk = fill(d * a, scale / std::sqrt(static_cast<float>(d)));
      l.wv = fill(d * a, scale / std::sqrt(static_cast<float>(d)));
      l.wo = fill(a * d, scale / std::sqrt(static_cast<float>(a)));
      l.rel_bias = fill(std::size_t{c.heads} * c.relative_buckets, scale);
      l.mlp_norm = norm(d);
      l.w1 = fill(d * c.d_ff, scale / std::sqrt(static_cast<float>(d)));
      l.w2 = fill(std::size_t{c.d_ff} * d, scale / std::sqrt(static_cast<float>(c.d_ff)));
      w.layers.push_back(std::move(l));
    }
    w.final_norm = norm(d);
    w.lm_head = fill(d * 256, 4.0f * scale / std::sqrt(static_cast<float>(d)));
    w.buckets.resize(c.context);
    for (unsigned n = 0; n < c.context; ++n)
      w.buckets[n] = relative_position_bucket(n, c.relative_buckets, c.relative_max_distance);
    return w;
  }
};

namespace detail {
namespace m1 {

/// e^x for x <= 0 (softmax arguments after subtracting the maximum), from
/// IEEE +, *, int conversion and exponent bits only: the same bits on every
/// ISA and compiler (libm's expf differs between libraries and versions).
/// Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 + tiny, then a degree-6
/// Taylor polynomial in Horner form: relative error below 2e-7.
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

/// Key/value cache of one sequence: per layer, (context, A) each.
struct kv_cache {
  std::vector<float> keys, values;  // [layers][context][A]
  std::size_t length = 0;           // positions held
};

/// The reference kernels: the definition of M1's numerics (docs/determinism.md).
/// Faster kernels must reproduce them bit for bit (tests/m1_kernels_test.cpp checks).
struct reference_kernels {
  /// y[t][o] = sum_c x[t][c] * w[c][o], summed in order c = 0, 1, ... from 0.0f.
  /// x: (rows, in), w: (in, out), y: (rows, out). PyTorch: y = x @ W.T.
  static void matmul(const float* x, const float* w, float* y, std::size_t rows, std::size_t in, std::size_t out) {
    EQINFO_NO_CONTRACT
    for (std::size_t t = 0; t < rows; ++t) {
      float* yr = y + t * out;
      std::fill(yr, yr + out, 0.0f);
      const float* xr = x + t * in;
      for (std::size_t c = 0; c < in; ++c) {
        const float xv = xr[c];
        const float* wr = w + c * out;
        for (std::size_t o = 0; o < out; ++o) {
          const float product = xv * wr[o];
          yr[o] = yr[o] + product;
        }
      }
    }
  }

  /// y = (x / sqrt(mean(x^2) + eps)) * g, per row; the sum of squares in order.
  static void rms_norm(const float* x, const float* g, float* y, std::size_t rows, std::size_t d, float eps) {
    EQINFO_NO_CONTRACT
    for (std::size_t t = 0; t < rows; ++t) {
      const float* xr = x + t * d;
      float ss = 0.0f;
      for (std::size_t i = 0; i < d; ++i) {
        const float sq = xr[i] * xr[i];
        ss = ss + sq;
      }
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
      for (std::size_t i = 0; i < d; ++i) y[t * d + i] = (xr[i] * inv) * g[i];
    }
  }

  /// Causal attention of `rows` new positions starting at `first`, against the
  /// cache (which already holds their keys and values).
  /// q: (rows, A) -> out: (rows, A). For each head: scores in key order j,
  /// max, e_j = exp(s_j - max), sum in order j, then out = sum_j (e_j / sum) v_j
  /// in order j.
  static void attention(const transformer_config& c, const float* q, const float* keys, const float* values,
                        const float* rel_bias, const std::int32_t* buckets, std::size_t first, std::size_t rows,
                        float* out, std::vector<float>& scores) {
    EQINFO_NO_CONTRACT
    const std::size_t a = c.attention_width(), hd = c.head_dim;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    scores.resize(first + rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t t = first + r;
      for (std::size_t h = 0; h < c.heads; ++h) {
        const float* qh = q + r * a + h * hd;
        const float* bias = rel_bias + h * c.relative_buckets;
        float max = -INFINITY;
        for (std::size_t j = 0; j <= t; ++j) {
          const float* kj = keys + j * a + h * hd;
          float s = 0.0f;
          for (std::size_t i = 0; i < hd; ++i) {
            const float product = qh[i] * kj[i];
            s = s + product;
          }
          s = s * scale + bias[buckets[t - j]];
          scores[j] = s;
          max = s > max ? s : max;
        }
        float sum = 0.0f;
        for (std::size_t j = 0; j <= t; ++j) {
          scores[j] = exp_nonpositive(scores[j] - max);
          sum = sum + scores[j];
        }
        const float inv = 1.0f / sum;
        float* oh = out + r * a + h * hd;
        std::fill(oh, oh + hd, 0.0f);
        for (std::size_t j = 0; j <= t; ++j) {
          const float weight = scores[j] * inv;
          const float* vj = values + j * a + h * hd;
          for (std::size_t i = 0; i < hd; ++i) {
            const float product = weight * vj[i];
            oh[i] = oh[i] + product;
          }
        }
      }
    }
  }
};

}  // namespace m1
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo

// Inside the fp-contract-off region (it includes xsimd when available).
#include <eqinfo/detail/m1_kernels.hpp>

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace m1 {

/// The kernels M1 runs with (detail/m1_kernels.hpp: bit-identical to
/// reference_kernels, SIMD across independent outputs only).
using kernels = fast_kernels;

/// Scratch buffers for a forward pass over `rows` positions.
struct workspace {
  std::vector<float> h, a, q, k, v, att, o, f, scores, logits;
};

/// Runs `inputs` (ids 0..256, 256 = BOS) as the next positions of the cache
/// and writes 256 logits for each of the last `want` of them into `logits`.
template <class Kernels = kernels>
void forward(const transformer_weights& w, kv_cache& cache, std::span<const int> inputs, std::size_t want,
             workspace& ws, float* logits) {
  EQINFO_NO_CONTRACT
  const transformer_config& c = w.config;
  const std::size_t rows = inputs.size(), d = c.d_model, a = c.attention_width(), ff = c.d_ff;
  const std::size_t first = cache.length;
  if (first + rows > c.context) throw error(errc::invalid_argument, "M1 context overflow");
  ws.h.resize(rows * d);
  ws.a.resize(rows * d);
  ws.q.resize(rows * a);
  ws.att.resize(rows * a);
  ws.o.resize(rows * d);
  ws.f.resize(rows * ff);
  for (std::size_t r = 0; r < rows; ++r)
    std::copy_n(w.embedding.data() + static_cast<std::size_t>(inputs[r]) * d, d, ws.h.data() + r * d);
  const std::size_t layer_stride = std::size_t{c.context} * a;
  for (std::size_t l = 0; l < c.layers; ++l) {
    const auto& L = w.layers[l];
    float* keys = cache.keys.data() + l * layer_stride;
    float* values = cache.values.data() + l * layer_stride;
    Kernels::rms_norm(ws.h.data(), L.attn_norm.data(), ws.a.data(), rows, d, c.norm_epsilon);
    Kernels::matmul(ws.a.data(), L.wq.data(), ws.q.data(), rows, d, a);
    Kernels::matmul(ws.a.data(), L.wk.data(), keys + first * a, rows, d, a);
    Kernels::matmul(ws.a.data(), L.wv.data(), values + first * a, rows, d, a);
    Kernels::attention(c, ws.q.data(), keys, values, L.rel_bias.data(), w.buckets.data(), first, rows, ws.att.data(),
                       ws.scores);
    Kernels::matmul(ws.att.data(), L.wo.data(), ws.o.data(), rows, a, d);
    for (std::size_t i = 0; i < rows * d; ++i) ws.h[i] = ws.h[i] + ws.o[i];
    Kernels::rms_norm(ws.h.data(), L.mlp_norm.data(), ws.a.data(), rows, d, c.norm_epsilon);
    Kernels::matmul(ws.a.data(), L.w1.data(), ws.f.data(), rows, d, ff);
    for (auto& x : ws.f) x = x > 0.0f ? x : 0.0f;
    Kernels::matmul(ws.f.data(), L.w2.data(), ws.o.data(), rows, ff, d);
    for (std::size_t i = 0; i < rows * d; ++i) ws.h[i] = ws.h[i] + ws.o[i];
  }
  cache.length = first + rows;
  const std::size_t skip = rows - want;
  Kernels::rms_norm(ws.h.data() + skip * d, w.final_norm.data(), ws.a.data(), want, d, c.norm_epsilon);
  Kernels::matmul(ws.a.data(), w.lm_head.data(), logits, want, d, 256);
}

/// CDF of a row of logits: p_s = exp(l_s - max), quantised bit-exactly.
inline void logits_to_cdf(const float* logits, unsigned precision, cdf_table& cdf, float* probabilities) {
  EQINFO_NO_CONTRACT
  float max = logits[0];
  for (int s = 1; s < 256; ++s) max = logits[s] > max ? logits[s] : max;
  exp_shifted(logits, max, probabilities, 256);  // exp_nonpositive(logits[s] - max), lane-wise
  quantize_cdf(std::span<const float, 256>(probabilities, 256), precision, cdf);
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

/// M1 as a byte_model: feed it to eqinfo::tokenizer. Copies share the
/// (read-only) weights; each copy has its own cache, so use one per thread.
class m1_model {
 public:
  static constexpr bool cdf_is_valid_by_construction = true;

  m1_model(std::shared_ptr<const transformer_weights> weights, unsigned precision_bits, std::uint32_t fingerprint = 0)
      : w_(std::move(weights)), precision_(precision_bits), fingerprint_(fingerprint) {
    if (!w_) throw error(errc::invalid_argument, "m1_model needs weights");
    detail::check_precision(precision_bits);
    const auto& c = w_->config;
    cache_.keys.resize(std::size_t{c.layers} * c.context * c.attention_width());
    cache_.values.resize(cache_.keys.size());
    reset();
  }

  unsigned precision_bits() const noexcept { return precision_; }
  std::uint32_t fingerprint() const noexcept { return fingerprint_; }
  const transformer_weights& weights() const noexcept { return *w_; }

  void reset() {
    detail::m1::check_fp_environment();
    cache_.length = 0;
    pending_.assign(1, 256);
    block_bytes_ = 0;
  }

  const cdf_table& predict() {
    if (!pending_.empty()) {
      logits_.resize(256);
      detail::m1::forward(*w_, cache_, pending_, 1, ws_, logits_.data());
      pending_.clear();
      probabilities_.resize(256);
      detail::m1::logits_to_cdf(logits_.data(), precision_, cdf_, probabilities_.data());
    }
    return cdf_;
  }

  void update(std::uint8_t byte) {
    if (++block_bytes_ == w_->config.context) {  // block full: the next byte starts a new one
      cache_.length = 0;
      pending_.assign(1, 256);
      block_bytes_ = 0;
      return;
    }
    pending_.push_back(byte);
  }

  /// out[i] = CDF of bytes[i] given the context and bytes[0, i), all positions
  /// of a block in one batched forward pass (the encoder's path).
  void predict_run(std::span<const std::uint8_t> bytes, std::span<cdf_table> out) {
    const std::size_t context = w_->config.context;
    std::size_t i = 0;
    if (!bytes.empty() && pending_.empty()) {  // predict() already ran for bytes[0]
      out[0] = cdf_;
      update(bytes[0]);
      i = 1;
    }
    while (i < bytes.size()) {
      const std::size_t m = std::min(bytes.size() - i, context - block_bytes_);
      // Rows: the pending inputs, then bytes[i, i + m - 1); the last m rows predict bytes[i, i + m).
      inputs_.assign(pending_.begin(), pending_.end());
      for (std::size_t k = i; k + 1 < i + m; ++k) inputs_.push_back(bytes[k]);
      logits_.resize(m * 256);
      detail::m1::forward(*w_, cache_, inputs_, m, ws_, logits_.data());
      probabilities_.resize(256);
      for (std::size_t k = 0; k < m; ++k)
        detail::m1::logits_to_cdf(logits_.data() + k * 256, precision_, out[i + k], probabilities_.data());
      block_bytes_ += m;
      if (block_bytes_ == context) {
        cache_.length = 0;
        pending_.assign(1, 256);
        block_bytes_ = 0;
      } else {
        pending_.assign(1, bytes[i + m - 1]);
      }
      i += m;
    }
  }

  /// The unquantised probabilities behind the last predict() (tests, studies).
  std::span<const float> last_probabilities() const noexcept { return probabilities_; }

 private:
  std::shared_ptr<const transformer_weights> w_;
  detail::m1::kv_cache cache_;
  detail::m1::workspace ws_;
  std::vector<int> pending_;  // inputs not yet run: BOS or the bytes since the last predict
  std::vector<int> inputs_;
  std::vector<float> logits_, probabilities_;
  std::size_t block_bytes_ = 0;
  cdf_table cdf_{};
  unsigned precision_;
  std::uint32_t fingerprint_;
};

static_assert(batched_byte_model<m1_model>);

/// One self-test vector of a model file: these bytes, with these settings,
/// must give exactly these tokens.
struct m1_self_test {
  settings config;
  std::vector<std::uint8_t> input;
  std::vector<token_t> tokens;
};

/// A loaded model file.
struct m1_file {
  std::shared_ptr<const transformer_weights> weights;
  std::string config_json;
  std::uint32_t tensor_crc32 = 0;
  std::uint32_t fingerprint = 0;  ///< CRC-32 of config_json followed by the 8 hex digits of tensor_crc32
  std::vector<m1_self_test> self_tests;

  /// A model for the tokenizer at precision P.
  m1_model model(unsigned precision_bits) const { return m1_model(weights, precision_bits, fingerprint); }
};

namespace detail {
namespace m1 {

struct tensor_spec {
  std::string name;
  bool int32;
  std::vector<std::size_t> shape;
};

inline std::vector<tensor_spec> tensor_specs(const transformer_config& c) {
  const std::size_t d = c.d_model, a = c.attention_width();
  std::vector<tensor_spec> s;
  s.push_back({"embedding", false, {257, d}});
  for (unsigned i = 0; i < c.layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    s.push_back({p + "attn_norm", false, {d}});
    s.push_back({p + "q", false, {a, d}});
    s.push_back({p + "k", false, {a, d}});
    s.push_back({p + "v", false, {a, d}});
    s.push_back({p + "o", false, {d, a}});
    s.push_back({p + "rel_bias", false, {c.heads, c.relative_buckets}});
    s.push_back({p + "mlp_norm", false, {d}});
    s.push_back({p + "w1", false, {c.d_ff, d}});
    s.push_back({p + "w2", false, {d, c.d_ff}});
  }
  s.push_back({"final_norm", false, {d}});
  s.push_back({"lm_head", false, {256, d}});
  s.push_back({"relative_buckets", true, {c.context}});
  return s;
}

inline std::string hex8(std::uint32_t v) { return detail::hex32(v).substr(2); }

inline std::uint32_t fingerprint_of(const std::string& config_json, std::uint32_t tensor_crc) {
  const std::string id = config_json + hex8(tensor_crc);
  return detail::crc32(reinterpret_cast<const unsigned char*>(id.data()), id.size());
}

/// [rows][cols] <-> [cols][rows].
inline std::vector<float> transpose(std::span<const float> m, std::size_t rows, std::size_t cols) {
  std::vector<float> t(m.size());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) t[c * rows + r] = m[r * cols + c];
  return t;
}

}  // namespace m1
}  // namespace detail

inline std::string to_json(const m1_self_test& t) {
  static const char hex[] = "0123456789abcdef";
  std::string input;
  for (std::uint8_t b : t.input) {
    input.push_back(hex[b >> 4]);
    input.push_back(hex[b & 15]);
  }
  std::string tokens;
  for (std::size_t i = 0; i < t.tokens.size(); ++i) {
    if (i) tokens += ',';
    tokens += std::to_string(t.tokens[i]);
  }
  return "{\"settings\":{\"method\":\"" + std::string(to_string(t.config.kind)) +
         "\",\"window_bits\":" + std::to_string(t.config.window_bits) +
         ",\"token_bits\":" + std::to_string(t.config.token_bits) +
         ",\"precision_bits\":" + std::to_string(t.config.precision_bits) + ",\"rule\":\"" +
         std::string(to_string(t.config.rule)) + "\"},\"input_hex\":\"" + input +
         "\",\"byte_count\":" + std::to_string(t.input.size()) + ",\"tokens\":[" + tokens + "]}";
}

/// Encodes `inputs` under each of `configs` with these weights: the self-test
/// vectors to store in a model file.
inline std::vector<m1_self_test> make_m1_self_tests(std::shared_ptr<const transformer_weights> weights,
                                                    const std::vector<std::vector<std::uint8_t>>& inputs,
                                                    const std::vector<settings>& configs) {
  std::vector<m1_self_test> out;
  for (const auto& s : configs) {
    tokenizer tok(m1_model(weights, s.precision_bits), s);
    for (const auto& in : inputs) out.push_back({s, in, tok.encode(in).tokens});
  }
  return out;
}

/// The safetensors bytes of a model file (docs/m1.md).
inline std::vector<unsigned char> serialize_m1(const transformer_weights& w,
                                               const std::vector<m1_self_test>& self_tests = {}) {
  using detail::m1::transpose;
  const auto& c = w.config;
  c.validate();
  const std::size_t d = c.d_model, a = c.attention_width();
  std::vector<std::vector<float>> data;  // in tensor_specs order, PyTorch layout
  data.push_back(w.embedding);
  for (const auto& l : w.layers) {
    data.push_back(l.attn_norm);
    data.push_back(transpose(l.wq, d, a));
    data.push_back(transpose(l.wk, d, a));
    data.push_back(transpose(l.wv, d, a));
    data.push_back(transpose(l.wo, a, d));
    data.push_back(l.rel_bias);
    data.push_back(l.mlp_norm);
    data.push_back(transpose(l.w1, d, c.d_ff));
    data.push_back(transpose(l.w2, c.d_ff, d));
  }
  data.push_back(w.final_norm);
  data.push_back(transpose(w.lm_head, d, 256));
  std::vector<unsigned char> body;
  const auto specs = detail::m1::tensor_specs(c);
  std::string header = "{";
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::size_t begin = body.size();
    if (specs[i].int32) {
      for (std::int32_t v : w.buckets) detail::put_le(body, static_cast<std::uint32_t>(v), 4);
    } else {
      for (float v : data[i]) detail::put_le(body, std::bit_cast<std::uint32_t>(v), 4);
    }
    std::string shape;
    for (std::size_t k = 0; k < specs[i].shape.size(); ++k) {
      if (k) shape += ',';
      shape += std::to_string(specs[i].shape[k]);
    }
    header += "\"" + specs[i].name + "\":{\"dtype\":\"" + (specs[i].int32 ? "I32" : "F32") + "\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(body.size()) + "]},";
  }
  const std::uint32_t crc = detail::crc32(body.data(), body.size());
  std::string tests = "[";
  for (std::size_t i = 0; i < self_tests.size(); ++i) {
    if (i) tests += ',';
    tests += to_json(self_tests[i]);
  }
  tests += "]";
  header += "\"__metadata__\":{\"format\":\"eqinfo-m1\",\"format_version\":\"1\",\"config\":\"" +
            detail::json_escape(c.to_json()) + "\",\"tensor_crc32\":\"" + detail::m1::hex8(crc) + "\"";
  if (!self_tests.empty()) header += ",\"self_test\":\"" + detail::json_escape(tests) + "\"";
  header += "}}";
  while (header.size() % 8 != 0) header.push_back(' ');
  std::vector<unsigned char> out;
  detail::put_le(out, header.size(), 8);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

/// Parses and validates a model file; with `run_self_test`, re-encodes its
/// self-test vectors. Throws errc::bad_model_file (truncated or inconsistent;
/// names the tensor), bad_magic, unsupported_version, checksum_mismatch or
/// self_test_failed. Checks every size against the file before allocating.
inline m1_file parse_m1(std::span<const unsigned char> data, const std::string& source, bool run_self_test = true) {
  using detail::json_value;
  detail::le_reader in(data, source, errc::bad_model_file);
  const std::uint64_t header_size = in.get(8, "safetensors header length");
  if (header_size > in.remaining())
    throw error(errc::bad_model_file, source + ": header length " + std::to_string(header_size) + " exceeds the " +
                                          std::to_string(in.remaining()) + " bytes that follow (truncated file?)");
  const auto header_bytes = in.take(static_cast<std::size_t>(header_size), "safetensors header");
  const std::string_view header_text(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size());
  const json_value header = detail::json_reader(header_text, source, errc::bad_model_file).parse();
  if (header.type != json_value::kind::object)
    throw error(errc::bad_model_file, source + ": safetensors header is not a JSON object");
  const json_value* meta = header.find("__metadata__");
  auto meta_string = [&](const char* key) -> const std::string* {
    if (meta == nullptr || meta->type != json_value::kind::object) return nullptr;
    const json_value* v = meta->find(key);
    return v != nullptr && v->type == json_value::kind::string ? &v->text : nullptr;
  };
  const std::string* format = meta_string("format");
  if (format == nullptr || *format != "eqinfo-m1")
    throw error(errc::bad_magic, source + ": not an eqinfo M1 file (metadata \"format\" is not \"eqinfo-m1\")");
  const std::string* version = meta_string("format_version");
  if (version == nullptr || *version != "1")
    throw error(errc::unsupported_version,
                source + ": M1 format version " + (version ? *version : "(none)") + ", this build reads version 1");
  const std::string* config_json = meta_string("config");
  const std::string* crc_text = meta_string("tensor_crc32");
  if (config_json == nullptr || crc_text == nullptr)
    throw error(errc::bad_model_file, source + ": metadata lacks \"config\" or \"tensor_crc32\"");
  const transformer_config c = transformer_config::from_json(*config_json, source);
  std::uint32_t stored_crc = 0;
  {
    const auto r = std::from_chars(crc_text->data(), crc_text->data() + crc_text->size(), stored_crc, 16);
    if (r.ec != std::errc() || r.ptr != crc_text->data() + crc_text->size() || crc_text->size() != 8)
      throw error(errc::bad_model_file, source + ": tensor_crc32 \"" + *crc_text + "\" is not 8 hex digits");
  }
  const std::span<const unsigned char> body = data.subspan(in.position());
  // Every tensor: present, right dtype and shape, inside the data, no overlap, no gap.
  const auto specs = detail::m1::tensor_specs(c);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& spec : specs) {
    const json_value* t = header.find(spec.name);
    if (t == nullptr || t->type != json_value::kind::object)
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" is missing");
    const json_value* dtype = t->find("dtype");
    const char* want = spec.int32 ? "I32" : "F32";
    if (dtype == nullptr || dtype->type != json_value::kind::string || dtype->text != want)
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" must have dtype " + want);
    const json_value* shape = t->find("shape");
    bool shape_ok =
        shape != nullptr && shape->type == json_value::kind::array && shape->items.size() == spec.shape.size();
    std::uint64_t count = 1;
    for (std::size_t k = 0; shape_ok && k < spec.shape.size(); ++k) {
      shape_ok =
          detail::json_uint(&shape->items[k], spec.name + ".shape", errc::bad_model_file, source) == spec.shape[k];
      count *= spec.shape[k];
    }
    if (!shape_ok) {
      std::string expected;
      for (std::size_t k = 0; k < spec.shape.size(); ++k) {
        if (k) expected += ", ";
        expected += std::to_string(spec.shape[k]);
      }
      throw error(errc::bad_model_file,
                  source + ": tensor \"" + spec.name + "\" must have shape [" + expected + "] for this config");
    }
    const json_value* offsets = t->find("data_offsets");
    if (offsets == nullptr || offsets->type != json_value::kind::array || offsets->items.size() != 2)
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" lacks data_offsets");
    const auto begin = detail::json_uint(&offsets->items[0], spec.name + ".data_offsets", errc::bad_model_file, source);
    const auto end = detail::json_uint(&offsets->items[1], spec.name + ".data_offsets", errc::bad_model_file, source);
    if (begin > end || end > body.size() || end - begin != count * 4)
      throw error(errc::bad_model_file, source + ": tensor \"" + spec.name + "\" data [" + std::to_string(begin) +
                                            ", " + std::to_string(end) + ") does not fit its shape inside the " +
                                            std::to_string(body.size()) + "-byte data section (truncated file?)");
    ranges.emplace_back(begin, end);
  }
  if (header.members.size() != specs.size() + 1)
    throw error(errc::bad_model_file, source + ": the file has tensors this config does not use");
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t covered = 0;
  for (const auto& [b, e] : ranges) {
    if (b != covered) throw error(errc::bad_model_file, source + ": tensor data overlaps or leaves gaps");
    covered = e;
  }
  if (covered != body.size())
    throw error(errc::bad_model_file,
                source + ": " + std::to_string(body.size() - covered) + " bytes after the last tensor");
  const std::uint32_t crc = detail::crc32(body.data(), body.size());
  if (crc != stored_crc)
    throw error(errc::checksum_mismatch, source + ": tensor data CRC-32 " + detail::m1::hex8(crc) + ", expected " +
                                             detail::m1::hex8(stored_crc));

  auto floats = [&](const std::string& name) {
    const json_value* offsets = header.find(name)->find("data_offsets");
    const auto begin = detail::json_uint(&offsets->items[0], name, errc::bad_model_file, source);
    const auto end = detail::json_uint(&offsets->items[1], name, errc::bad_model_file, source);
    std::vector<float> v(static_cast<std::size_t>((end - begin) / 4));
    std::memcpy(v.data(), body.data() + begin, v.size() * 4);
    return v;
  };
  using detail::m1::transpose;
  const std::size_t d = c.d_model, a = c.attention_width();
  auto w = std::make_shared<transformer_weights>();
  w->config = c;
  w->embedding = floats("embedding");
  for (unsigned i = 0; i < c.layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    transformer_weights::layer l;
    l.attn_norm = floats(p + "attn_norm");
    l.wq = transpose(floats(p + "q"), a, d);
    l.wk = transpose(floats(p + "k"), a, d);
    l.wv = transpose(floats(p + "v"), a, d);
    l.wo = transpose(floats(p + "o"), d, a);
    l.rel_bias = floats(p + "rel_bias");
    l.mlp_norm = floats(p + "mlp_norm");
    l.w1 = transpose(floats(p + "w1"), c.d_ff, d);
    l.w2 = transpose(floats(p + "w2"), d, c.d_ff);
    w->layers.push_back(std::move(l));
  }
  w->final_norm = floats("final_norm");
  w->lm_head = transpose(floats("lm_head"), 256, d);
  {
    const auto raw = floats("relative_buckets");
    w->buckets.resize(raw.size());
    std::memcpy(w->buckets.data(), raw.data(), raw.size() * 4);
    for (std::size_t n = 0; n < raw.size(); ++n)
      if (w->buckets[n] < 0 || static_cast<unsigned>(w->buckets[n]) >= c.relative_buckets)
        throw error(errc::bad_model_file, source + ": relative_buckets[" + std::to_string(n) +
                                              "] = " + std::to_string(w->buckets[n]) + " is not a bucket index");
  }

  m1_file file;
  file.weights = w;
  file.config_json = *config_json;
  file.tensor_crc32 = crc;
  file.fingerprint = detail::m1::fingerprint_of(*config_json, crc);
  if (const std::string* tests = meta_string("self_test")) {
    const json_value list = detail::json_reader(*tests, source + " self_test", errc::bad_model_file).parse();
    if (list.type != json_value::kind::array) throw error(errc::bad_model_file, source + ": self_test is not an array");
    for (const auto& item : list.items) {
      m1_self_test t;
      const json_value* s = item.find("settings");
      const json_value* hex = item.find("input_hex");
      const json_value* tokens = item.find("tokens");
      if (s == nullptr || hex == nullptr || tokens == nullptr || hex->type != json_value::kind::string ||
          tokens->type != json_value::kind::array || hex->text.size() % 2 != 0)
        throw error(errc::bad_model_file, source + ": malformed self_test entry");
      const json_value* method_name = s->find("method");
      const json_value* rule_name = s->find("rule");
      if (method_name == nullptr || rule_name == nullptr)
        throw error(errc::bad_model_file, source + ": self_test settings lack method or rule");
      if (method_name->text == "bytes")
        t.config.kind = method::bytes;
      else if (method_name->text == "ac")
        t.config.kind = method::ac;
      else if (method_name->text == "equal_info_ac")
        t.config.kind = method::equal_info_ac;
      else
        throw error(errc::bad_model_file, source + ": self_test method \"" + method_name->text + "\"");
      if (rule_name->text == "delay")
        t.config.rule = window_rule::delay;
      else if (rule_name->text == "greedy_exact")
        t.config.rule = window_rule::greedy_exact;
      else
        throw error(errc::bad_model_file, source + ": self_test rule \"" + rule_name->text + "\"");
      auto small = [&](const char* key) {
        const auto v = detail::json_uint(s->find(key), std::string("self_test ") + key, errc::bad_model_file, source);
        if (v > 1u << 20) throw error(errc::bad_model_file, source + ": self_test " + key + " out of range");
        return static_cast<unsigned>(v);
      };
      t.config.window_bits = small("window_bits");
      t.config.token_bits = small("token_bits");
      t.config.precision_bits = small("precision_bits");
      t.config.validate();
      for (std::size_t k = 0; k < hex->text.size(); k += 2) {
        unsigned byte = 0;
        const auto r = std::from_chars(hex->text.data() + k, hex->text.data() + k + 2, byte, 16);
        if (r.ptr != hex->text.data() + k + 2) throw error(errc::bad_model_file, source + ": bad self_test input_hex");
        t.input.push_back(static_cast<std::uint8_t>(byte));
      }
      for (const auto& tok : tokens->items)
        t.tokens.push_back(
            static_cast<token_t>(detail::json_uint(&tok, "self_test token", errc::bad_model_file, source)));
      file.self_tests.push_back(std::move(t));
    }
  }
  if (run_self_test) {
    for (std::size_t i = 0; i < file.self_tests.size(); ++i) {
      const auto& t = file.self_tests[i];
      tokenizer tok(file.model(t.config.precision_bits), t.config);
      const auto got = tok.encode(t.input).tokens;
      if (got != t.tokens) {
        std::size_t at = 0;
        while (at < got.size() && at < t.tokens.size() && got[at] == t.tokens[at]) ++at;
        throw error(errc::self_test_failed, source + ": self-test " + std::to_string(i) + " (" +
                                                std::to_string(t.input.size()) +
                                                " bytes) gives different tokens from token " + std::to_string(at) +
                                                ": this build's M1 numerics differ from the build that wrote the file");
      }
    }
  }
  return file;
}

inline m1_file load_m1(const std::string& path, bool run_self_test = true) {
  return parse_m1(detail::read_file_bytes(path), path, run_self_test);
}

inline void save_m1(const std::string& path, const transformer_weights& w,
                    const std::vector<m1_self_test>& tests = {}) {
  detail::write_file_bytes(path, serialize_m1(w, tests));
}

}  // namespace v1
}  // namespace eqinfo

#undef EQINFO_NO_CONTRACT
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
