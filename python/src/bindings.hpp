// The pieces of the `sparq._sparq` module, one function per file, called in
// order by module.cpp. A new area (e.g. ONNX import) is one more file and one
// more line there.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "sparq/model.hpp"

namespace sparq::python {

void bind_errors(pybind11::module_& m);
void bind_model(pybind11::module_& m);
void bind_session(pybind11::module_& m);
void bind_builder(pybind11::module_& m);
void bind_weights(pybind11::module_& m);
void bind_device(pybind11::module_& m);
void bind_data(pybind11::module_& m);
void bind_onnx(pybind11::module_& m);

// Python holds models as shared_ptr<Model>; every bound method is const, so
// the library's shared_ptr<const Model> is only re-typed, never mutated.
inline std::shared_ptr<Model> held(std::shared_ptr<const Model> model) {
  return std::const_pointer_cast<Model>(std::move(model));
}

}  // namespace sparq::python
