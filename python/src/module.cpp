// The compiled half of the `sparq` Python package. Everything is defined in
// the bind_* files; python/sparq/__init__.py re-exports it.
#include "python/src/bindings.hpp"

PYBIND11_MODULE(_sparq, m) {
  m.doc() =
      "sparq: a CPU inference runtime for pruned 4-bit CNNs and a model of a sparse CNN chip.";
  m.attr("__version__") = SPARQ_VERSION_STRING;
  // Errors first: every later binding may raise them.
  sparq::python::bind_errors(m);
  sparq::python::bind_model(m);
  sparq::python::bind_session(m);
  // Weights before the builder: it takes the SparseConv3x3 layer class.
  sparq::python::bind_weights(m);
  sparq::python::bind_builder(m);
  sparq::python::bind_device(m);
  sparq::python::bind_data(m);
  sparq::python::bind_onnx(m);

  // The public names, for `from sparq._sparq import *` and the stub test.
  pybind11::list names;
  for (auto item : m.attr("__dict__").cast<pybind11::dict>()) {
    const auto name = item.first.cast<std::string>();
    if (name.empty() || name[0] != '_') names.append(name);
  }
  m.attr("__all__") = names;
}
