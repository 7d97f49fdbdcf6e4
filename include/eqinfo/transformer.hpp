// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// M1: the bundled byte-level Transformer, as an eqinfo::byte_model.
///
/// READ ME FIRST
/// -------------
/// * Architecture and file format: docs/m1.md. Numerics: docs/m1-integer.md;
///   why they are bit-identical everywhere: docs/determinism.md. In short,
///   every matrix product is int8 x int8 summed in int32, which is exact in
///   any order, so the kernel path (scalar/Eigen, SSE2, AVX2, AVX-512 VNNI,
///   AMX; chosen at run time, EQINFO_ISA forces one), the batch, the blocking
///   and the thread split cannot change a bit. What remains in float is
///   element-wise (one IEEE operation per output, contraction off), and every
///   other reduction is an integer sum or a max.
/// * The model file is safetensors, format version 2: int8 matrices with a
///   float scale per row, the config, a CRC-32 of the tensor data and
///   self-test token vectors that load_m1 re-encodes.
/// * Context: reset() at every equal-info window; for plain AC, blocks of
///   `context` bytes from the start of the example (docs/m1.md).
///
/// The parts: m1_config.hpp (shape), m1_weights.hpp (int8 weights as Eigen
/// types), detail/m1_numerics.hpp and detail/m1_forward.hpp (the numerics),
/// detail/int8_kernels.hpp (the exact products and the run-time dispatch),
/// m1_model.hpp (the byte_model), m1_file.hpp (the model file).

#include <eqinfo/m1_config.hpp>
#include <eqinfo/m1_file.hpp>
#include <eqinfo/m1_model.hpp>
#include <eqinfo/m1_weights.hpp>
