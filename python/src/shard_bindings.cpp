// SPDX-License-Identifier: MIT
// eqinfo._eqinfo, part 2: the shard pipeline of `eqinfo shard`
// (tools/shard_pipeline.hpp) reached per shard, for eqinfo.dask.

// clang-format off
#include <pybind11/pybind11.h>
// clang-format on

namespace py = pybind11;

void register_shard_bindings(py::module_& m) { (void)m; }
