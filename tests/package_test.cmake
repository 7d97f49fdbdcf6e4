# SPDX-License-Identifier: MIT
# Package tests, run by ctest as `cmake -D... -P package_test.cmake`.
#
#   EQINFO_MODE          find-package | add-subdirectory
#   EQINFO_SOURCE_DIR    the eqinfo source tree
#   EQINFO_WORK_DIR      scratch directory (wiped first)
#   EQINFO_GENERATOR, EQINFO_CXX_COMPILER, EQINFO_CXX_FLAGS, EQINFO_BUILD_TYPE
#                        what the enclosing build uses
cmake_minimum_required(VERSION 3.25)

if(NOT EQINFO_BUILD_TYPE)
  set(EQINFO_BUILD_TYPE Release)  # the enclosing build had no CMAKE_BUILD_TYPE
endif()
foreach(var EQINFO_MODE EQINFO_SOURCE_DIR EQINFO_WORK_DIR EQINFO_GENERATOR EQINFO_CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "package_test.cmake: ${var} is not set")
  endif()
endforeach()

function(run_step what)
  message(STATUS "[${EQINFO_MODE}] ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${EQINFO_MODE}] ${what} failed (${rc}): ${ARGN}")
  endif()
endfunction()

set(common_args
  -G "${EQINFO_GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${EQINFO_CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${EQINFO_CXX_FLAGS}"
  "-DCMAKE_BUILD_TYPE=${EQINFO_BUILD_TYPE}")

file(REMOVE_RECURSE "${EQINFO_WORK_DIR}")
file(MAKE_DIRECTORY "${EQINFO_WORK_DIR}")

if(EQINFO_MODE STREQUAL "find-package")
  set(prefix "${EQINFO_WORK_DIR}/prefix")
  # A fresh configure of the library alone (header-only: nothing to compile).
  run_step("configure eqinfo for install"
    "${CMAKE_COMMAND}" ${common_args} -S "${EQINFO_SOURCE_DIR}" -B "${EQINFO_WORK_DIR}/eqinfo-build"
    -DEQINFO_BUILD_TESTS=OFF -DEQINFO_BUILD_TOOLS=OFF -DEQINFO_BUILD_BENCH=OFF -DEQINFO_BUILD_EXAMPLES=OFF
    -DEQINFO_INSTALL=ON "-DCMAKE_INSTALL_PREFIX=${prefix}")
  run_step("install eqinfo into ${prefix}"
    "${CMAKE_COMMAND}" --install "${EQINFO_WORK_DIR}/eqinfo-build" --config "${EQINFO_BUILD_TYPE}")
  # Every file of include/ (headers and the .inc files they include), nothing else needed.
  file(GLOB_RECURSE source_headers RELATIVE "${EQINFO_SOURCE_DIR}" "${EQINFO_SOURCE_DIR}/include/*")
  foreach(required_file IN LISTS source_headers)
    if(NOT EXISTS "${prefix}/${required_file}")
      message(FATAL_ERROR "[find-package] ${required_file} was not installed")
    endif()
  endforeach()
  file(GLOB_RECURSE config_files "${prefix}/*/eqinfoConfig.cmake")
  if(NOT config_files)
    message(FATAL_ERROR "[find-package] eqinfoConfig.cmake was not installed")
  endif()
  # The examples, as a standalone project against the installed package only.
  run_step("configure examples against the installed package"
    "${CMAKE_COMMAND}" ${common_args} -S "${EQINFO_SOURCE_DIR}/examples" -B "${EQINFO_WORK_DIR}/examples-build"
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
  set(consumer_build "${EQINFO_WORK_DIR}/examples-build")
elseif(EQINFO_MODE STREQUAL "add-subdirectory")
  run_step("configure the add_subdirectory consumer"
    "${CMAKE_COMMAND}" ${common_args} -S "${EQINFO_SOURCE_DIR}/tests/add_subdirectory"
    -B "${EQINFO_WORK_DIR}/consumer-build" "-DEQINFO_SOURCE_DIR=${EQINFO_SOURCE_DIR}")
  set(consumer_build "${EQINFO_WORK_DIR}/consumer-build")
else()
  message(FATAL_ERROR "package_test.cmake: unknown EQINFO_MODE '${EQINFO_MODE}'")
endif()

run_step("build" "${CMAKE_COMMAND}" --build "${consumer_build}" --config "${EQINFO_BUILD_TYPE}" --parallel 2)
run_step("run" "${CMAKE_CTEST_COMMAND}" --test-dir "${consumer_build}" -C "${EQINFO_BUILD_TYPE}" --output-on-failure)
