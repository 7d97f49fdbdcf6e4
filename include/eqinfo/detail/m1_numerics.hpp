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

#include <eqinfo/detail/fp_strict_begin.inc>  // no FMA contraction until fp_strict_end.inc

namespace eqinfo {
inline namespace v1 {
namespace detail {
namespace m1 {

/// Rows whose largest magnitude is below this quantise to zero (so 127 / m
/// is always finite).
inline constexpr float tiny = 0x1p-64f;

#include <eqinfo/detail/m1_numerics.inc>  // round_even_int ... exp_nonpositive

}  // namespace m1
}  // namespace detail
}  // namespace v1
}  // namespace eqinfo

#include <eqinfo/detail/fp_strict_end.inc>
