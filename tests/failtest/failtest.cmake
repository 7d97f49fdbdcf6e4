# SPDX-License-Identifier: MIT
# One compile test: cmake -DCOMPILER=... -DINCLUDE_DIR=... -DSOURCE=file.cpp
#   [-DFLAGS="..."] -P failtest.cmake
#
# A source with a line "// expect: MESSAGE" must FAIL to compile, and the
# compiler output must contain MESSAGE and no other of the model checks'
# static_assert messages (include/eqinfo/model.hpp, check_byte_model). A
# source without such a line must compile.
foreach(var COMPILER INCLUDE_DIR SOURCE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "failtest.cmake: -D${var}=... is required")
  endif()
endforeach()

file(STRINGS "${SOURCE}" expect_lines REGEX "^// expect: ")
set(expect "")
if(expect_lines)
  list(GET expect_lines 0 expect)
  string(REGEX REPLACE "^// expect: " "" expect "${expect}")
endif()

separate_arguments(extra_flags UNIX_COMMAND "${FLAGS}")
execute_process(
  COMMAND "${COMPILER}" ${extra_flags} -std=c++20 -fsyntax-only "-I${INCLUDE_DIR}" "${SOURCE}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(expect STREQUAL "")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} should compile, but the compiler failed (${rc}):\n${output}")
  endif()
  message(STATUS "compiles, as it should")
  return()
endif()

if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must fail with \"${expect}\"")
endif()
string(FIND "${output}" "${expect}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile, but without \"${expect}\":\n${output}")
endif()
set(all_messages
  "eqinfo model is missing: unsigned precision_bits() const"
  "eqinfo model is missing: void reset()"
  "eqinfo model is missing: const eqinfo::cdf_table& predict()"
  "eqinfo model is missing: void update(std::uint8_t)"
  "eqinfo model must be copyable (one copy per thread)")
foreach(other IN LISTS all_messages)
  if(NOT other STREQUAL expect)
    string(FIND "${output}" "${other}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${SOURCE}: the compiler also reports \"${other}\":\n${output}")
    endif()
  endif()
endforeach()
message(STATUS "fails to compile with \"${expect}\", as it should")
