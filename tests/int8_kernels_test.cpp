// SPDX-License-Identifier: MIT
// The int8 kernel paths (detail/int8_kernels.hpp) against a naive triple loop,
// bit for bit: every path this CPU runs, random and extreme shapes, strides
// and values (the int32 sums must be exact on every path). Paths the CPU or
// OS cannot run are named in a warning.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <eqinfo/detail/int8_kernels.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace int8 = eqinfo::detail::int8;

namespace {

std::vector<int8::isa> paths_here() {
  const auto paths = eqinfo_test::int8_paths_here();
  if (!paths.skipped.empty()) WARN("int8 kernel paths this CPU/OS cannot run, skipped:" << paths.skipped);
  return paths.supported;
}

struct problem {
  std::size_t M, N, K, lda, ldb, ldb_nn, ldc;
  std::vector<std::int8_t> A, B, B_nn, W;
  std::vector<std::uint8_t> U;
  std::vector<std::int32_t> want_nt, want_nn;
};

/// mode 0: random values; 1: A = +127, B = +-127, U = 255; 2: A = -127, B = -127.
problem make(std::size_t M, std::size_t N, std::size_t K, int mode, std::mt19937& rng) {
  problem p{M, N, K, K + rng() % 5, K + rng() % 5, N + rng() % 3, N + rng() % 3, {}, {}, {}, {}, {}, {}, {}};
  auto value = [&](int fixed) {
    return static_cast<std::int8_t>(mode == 0 ? static_cast<int>(rng() % 255) - 127 : fixed);
  };
  p.A.resize(M * p.lda);
  for (auto& x : p.A) x = value(mode == 1 ? 127 : -127);
  p.B.resize(N * p.ldb);
  for (auto& x : p.B) x = value(mode == 1 ? (rng() % 2 ? 127 : -127) : -127);
  p.B_nn.resize(K * p.ldb_nn);
  for (auto& x : p.B_nn) x = value(mode == 1 ? 127 : -127);
  p.U.resize(M * p.lda);
  for (auto& x : p.U) x = static_cast<std::uint8_t>(mode == 0 ? rng() % 256 : 255);
  p.W.resize(N * K);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t k = 0; k < K; ++k) p.W[n * K + k] = p.B[n * p.ldb + k];
  p.want_nt.assign(M * p.ldc, 0);
  p.want_nn.assign(M * p.ldc, 0);
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) {
      std::int64_t s = 0, t = 0;
      for (std::size_t k = 0; k < K; ++k) {
        s += std::int64_t{p.A[m * p.lda + k]} * p.B[n * p.ldb + k];
        t += std::int64_t{p.U[m * p.lda + k]} * p.B_nn[k * p.ldb_nn + n];
      }
      p.want_nt[m * p.ldc + n] = static_cast<std::int32_t>(s);
      p.want_nn[m * p.ldc + n] = static_cast<std::int32_t>(t);
    }
  return p;
}

/// Compares the valid part of C (M x N of an M x ldc array).
bool same(const problem& p, const std::vector<std::int32_t>& got, const std::vector<std::int32_t>& want) {
  for (std::size_t m = 0; m < p.M; ++m)
    for (std::size_t n = 0; n < p.N; ++n)
      if (got[m * p.ldc + n] != want[m * p.ldc + n]) return false;
  return true;
}

void check_all_paths(const problem& p) {
  for (auto path : paths_here()) {
    INFO("path " << int8::name(path) << ", M " << p.M << " N " << p.N << " K " << p.K);
    std::vector<std::int32_t> c(p.M * p.ldc, -1);
    int8::gemm_s8s8_nt(path, p.A.data(), p.lda, p.B.data(), p.ldb, c.data(), p.ldc, p.M, p.N, p.K);
    CHECK(same(p, c, p.want_nt));
    std::fill(c.begin(), c.end(), -1);
    int8::gemm_u8s8_nn(path, p.U.data(), p.lda, p.B_nn.data(), p.ldb_nn, c.data(), p.ldc, p.M, p.N, p.K);
    CHECK(same(p, c, p.want_nn));
    std::fill(c.begin(), c.end(), -1);
    const int8::packed_s8 packed(path, p.W.data(), p.N, p.K);
    REQUIRE(packed.path() == path);
    int8::gemm_s8s8_packed(p.A.data(), p.lda, p.M, packed, c.data(), p.ldc);
    CHECK(same(p, c, p.want_nt));
    // The same product a panel at a time: every row once, in order.
    std::fill(c.begin(), c.end(), -1);
    eqinfo::detail::aligned_vector<std::int32_t> scratch;
    std::size_t next_row = 0;
    bool in_order = true;
    const std::size_t stride = int8::panel_stride(packed);
    int8::gemm_s8s8_packed_panels(
        p.A.data(), p.lda, p.M, packed, scratch, [&](std::size_t first, std::size_t rows, const std::int32_t* panel) {
          in_order = in_order && first == next_row && rows >= 1 && rows <= int8::panel_rows;
          for (std::size_t r = 0; r < rows && first + r < p.M; ++r)
            std::copy_n(panel + r * stride, p.N, c.begin() + static_cast<std::ptrdiff_t>((first + r) * p.ldc));
          next_row = first + rows;
        });
    CHECK(in_order);
    CHECK(next_row == p.M);
    CHECK(same(p, c, p.want_nt));
  }
}

}  // namespace

TEST_CASE("every int8 path computes the exact products, random shapes", "[int8]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const int mode = i % 3;
    check_all_paths(make(rng() % 70 + 1, rng() % 70 + 1, rng() % 150 + 1, mode, rng));
  }
  // Every tail of the tile (32 rows, 32 columns, 64 k) and vector blocks; 3 and 4 rows: either side of
  // where the AMX panels take over from the VNNI kernel.
  for (std::size_t M : std::initializer_list<std::size_t>{3, 4, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65})
    for (std::size_t K : std::initializer_list<std::size_t>{1, 3, 4, 63, 64, 65, 128, 130})
      check_all_paths(make(M, rng() % 80 + 1, K, static_cast<int>(M % 3), rng));
}

TEST_CASE("every int8 path computes the exact products, M1's shapes", "[int8]") {
  std::mt19937 rng(8);
  for (const auto& [M, N, K] : std::vector<std::array<std::size_t, 3>>{{1, 128, 128},
                                                                       {16, 512, 128},
                                                                       {64, 128, 512},
                                                                       {33, 256, 128},
                                                                       {100, 1024, 64},
                                                                       {300, 64, 1024},
                                                                       {300, 1024, 64},
                                                                       {1024, 512, 128},
                                                                       {64, 1024, 256},
                                                                       {40, 256, 1024},
                                                                       {98, 512, 128},  // 98 lanes: a 2-row tail
                                                                       {34, 128, 512}}) {
    check_all_paths(make(M, N, K, 0, rng));
    check_all_paths(make(M, N, K, 1, rng));
  }
}

TEST_CASE("every int8 path computes the exact products, attention's few-row shapes", "[int8]") {
  // One lane's next position (M = 1, 2) against a short cache: the AVX-512
  // paths take direct dot products there instead of the VNNI layout.
  std::mt19937 rng(11);
  for (std::size_t M : std::initializer_list<std::size_t>{1, 2, 3})
    for (std::size_t N : std::initializer_list<std::size_t>{1, 5, 15, 16, 17, 64, 100, 128})
      for (std::size_t K : std::initializer_list<std::size_t>{1, 7, 32, 64, 65, 130})
        check_all_paths(make(M, N, K, static_cast<int>((M + N + K) % 3), rng));
}

TEST_CASE("int8 sums stay exact at the largest K the config allows", "[int8]") {
  // 127 * 127 * 65536 < 2^31 and 255 * 127 * 65536 < 2^31: no path may
  // saturate or lose a bit (a vpmaddubsw-based kernel would).
  std::mt19937 rng(9);
  check_all_paths(make(3, 17, 65536, 1, rng));
  check_all_paths(make(2, 5, 65536, 2, rng));
  check_all_paths(make(32, 33, 65536, 1, rng));  // tiles (amx) and full vector blocks
  check_all_paths(make(17, 16, 65536 - 7, 2, rng));
}

TEST_CASE("empty products", "[int8]") {
  std::mt19937 rng(10);
  check_all_paths(make(4, 3, 0, 0, rng));
}

// Tile rows and AVX-512 vectors are 64 bytes: at a 16-byte boundary (what
// std::allocator gives) each one straddles two cache lines, which cost
// eqinfo shard 7 % (detail/aligned_vector.hpp).
TEST_CASE("packed weights and kernel buffers start at a cache line", "[int8]") {
  for (std::size_t n : {std::size_t{1}, std::size_t{3}, std::size_t{17}, std::size_t{1000}}) {
    eqinfo::detail::aligned_vector<std::int8_t> a(n);
    eqinfo::detail::aligned_vector<std::int32_t> b(n);
    std::vector<char> spoil(n * 3 + 5);  // not 64-byte sized: the next block may start anywhere
    eqinfo::detail::aligned_vector<float> c(n);
    CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(c.data()) % 64 == 0);
  }
  std::mt19937 rng(11);
  for (const auto path : paths_here()) {
    std::vector<std::int8_t> w(5 * 7);
    for (auto& v : w) v = static_cast<std::int8_t>(rng());
    const int8::packed_s8 packed(path, w.data(), 5, 7);
    INFO(int8::name(path));
    CHECK(reinterpret_cast<std::uintptr_t>(packed.data()) % 64 == 0);
    if (path == int8::isa::avx512vnni || path == int8::isa::amx)
      CHECK(reinterpret_cast<std::uintptr_t>(packed.vnni()) % 64 == 0);
  }
}

TEST_CASE("EQINFO_ISA names a path or is refused with its name", "[int8]") {
  REQUIRE(int8::parse_isa("avx2") == int8::isa::avx2);
  REQUIRE(!int8::parse_isa("sse9"));
  REQUIRE(int8::resolve(nullptr) == int8::best());
  REQUIRE(int8::resolve("") == int8::best());
  REQUIRE(int8::resolve("scalar") == int8::isa::scalar);
  try {
    int8::resolve("sse9");
    FAIL("an unknown path was accepted");
  } catch (const eqinfo::error& e) {
    REQUIRE(e.code() == eqinfo::errc::invalid_argument);
    REQUIRE_THAT(e.what(), Catch::Contains("EQINFO_ISA=sse9"));
  }
  for (auto p : int8::all_paths)
    if (!int8::supported(p))
      REQUIRE(eqinfo_test::code_of([&] { int8::resolve(std::string(int8::name(p)).c_str()); }) ==
              eqinfo::errc::invalid_argument);
}

#ifdef EQINFO_INT8_X86
TEST_CASE("the avx512vnni dot-product fallback (row strides too large for gathers)", "[int8]") {
  if (!int8::supported(int8::isa::avx512vnni)) return;
  std::mt19937 rng(11);
  for (int i = 0; i < 40; ++i) {
    const problem p = make(rng() % 20 + 1, rng() % 20 + 1, rng() % 200 + 1, i % 3, rng);
    std::vector<std::int32_t> c(p.M * p.ldc, -1);
    int8::vnni::dot_nt(p.A.data(), p.lda, p.B.data(), p.ldb, c.data(), p.ldc, p.M, p.N, p.K);
    CHECK(same(p, c, p.want_nt));
  }
}
#endif

TEST_CASE("active() follows EQINFO_ISA", "[int8]") {
  const char* env = std::getenv("EQINFO_ISA");
  std::optional<int8::isa> want;
  try {
    want = int8::resolve(env);
  } catch (const eqinfo::error& e) {
    REQUIRE(e.code() == eqinfo::errc::invalid_argument);
  }
  if (!want) {
    REQUIRE(eqinfo_test::code_of([] { (void)int8::active(); }) == eqinfo::errc::invalid_argument);
    return;
  }
  REQUIRE(int8::active() == *want);
  WARN("int8 kernel path in use: " << int8::name(int8::active()) << " (best here: " << int8::name(int8::best()) << ")");
  std::mt19937 rng(12);
  const problem p = make(40, 70, 200, 0, rng);
  std::vector<std::int32_t> c(p.M * p.ldc, -1);
  const int8::packed_s8 packed(int8::active(), p.W.data(), p.N, p.K);
  int8::gemm_s8s8_packed(p.A.data(), p.lda, p.M, packed, c.data(), p.ldc);
  CHECK(same(p, c, p.want_nt));
}
