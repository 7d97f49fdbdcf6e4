// SPDX-License-Identifier: MIT
// The Catch2 main for eqinfo_tests; the tests live in tests/*_test.cpp.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
