// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// std::vector with its elements at a 64-byte (cache line) boundary.
///
/// The int8 kernels' operands and the forward pass's rows live in these.
/// With std::allocator's 16-byte alignment every 64-byte tile row and
/// AVX-512 vector of a buffer straddled two cache lines, or not, depending
/// on where malloc happened to put it: eqinfo shard ran 1.10x slower after
/// changes that touched no hot loop, only the heap's layout (each AMX weight
/// tile row then reads two lines from L2).

#include <cstddef>
#include <new>
#include <vector>

namespace eqinfo {
inline namespace v1 {
namespace detail {

inline constexpr std::size_t cache_line_bytes = 64;

/// A std::allocator that places every allocation at a cache-line boundary.
template <class T>
struct cache_line_allocator {
  using value_type = T;

  cache_line_allocator() noexcept = default;
  template <class U>
  cache_line_allocator(const cache_line_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{cache_line_bytes}));
  }
  // Unsized: clang before 17 declares the sized operator delete only with -fsized-deallocation.
  void deallocate(T* p, std::size_t) noexcept { ::operator delete (p, std::align_val_t{cache_line_bytes}); }

  template <class U>
  bool operator==(const cache_line_allocator<U>&) const noexcept {
    return true;
  }
};

/// std::vector<T> whose data() is a multiple of 64 bytes.
template <class T>
using aligned_vector = std::vector<T, cache_line_allocator<T>>;

}  // namespace detail
}  // namespace v1
}  // namespace eqinfo
