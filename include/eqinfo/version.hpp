// eqinfo: neurally compressed tokens with equal-info windows.
// SPDX-License-Identifier: MIT
#pragma once

// One version source: CMake parses these lines (see CMakeLists.txt).
#define EQINFO_VERSION_MAJOR 0
#define EQINFO_VERSION_MINOR 3
#define EQINFO_VERSION_PATCH 0

// Any change to the tokens produced for the same (bytes, model, settings)
// bumps EQINFO_STREAM_FORMAT and the major version (docs/format.md).
#define EQINFO_STREAM_FORMAT 2

#ifdef __FAST_MATH__
#error "eqinfo requires IEEE floating-point semantics; remove -ffast-math / -Ofast"
#endif

#if !defined(__cpp_concepts) || __cpp_concepts < 201907L
#error "eqinfo needs C++20 (concepts); compile with -std=c++20 or later"
#endif
