// sparq.import_onnx: an ONNX classifier (torch.onnx.export) into a sparq
// Model, lossless by default or as sparse 4-bit layers (docs/ONNX_IMPORT.md).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "python/src/bindings.hpp"
#include "sparq/onnx_import.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

py::dict layer_dict(const ImportedLayer& layer) {
  py::dict d;
  d["name"] = layer.name;
  d["onnx_op"] = layer.onnx_op;
  d["sparq_op"] = layer.sparq_op;
  d["input_shape"] = layer.input_shape.dims();
  d["output_shape"] = layer.output_shape.dims();
  // 3x3 convolutions only; None elsewhere (and when kernels keep different counts).
  if (layer.density > 0) {
    d["density"] = layer.density;
    d["sharing"] = py::make_tuple(layer.sharing.out_group, layer.sharing.in_group);
  } else {
    d["density"] = py::none();
    d["sharing"] = py::none();
  }
  return d;
}

py::tuple import_onnx(const std::filesystem::path& path, const std::string& quantize,
                      const std::string& name, std::vector<std::string> labels, float scale,
                      std::vector<float> mean, std::vector<float> std) {
  OnnxImportOptions options;
  options.quantization = parse_import_quantization(quantize);
  options.name = name;
  options.labels = std::move(labels);
  options.scale = scale;
  options.mean = std::move(mean);
  options.std = std::move(std);
  OnnxImport imported;
  {
    py::gil_scoped_release no_gil;  // parsing and quantizing a large model takes a while
    imported = sparq::import_onnx(path.string(), options);
  }
  py::list layers;
  for (const ImportedLayer& layer : imported.layers) layers.append(layer_dict(layer));
  return py::make_tuple(held(std::move(imported.model)), layers);
}

}  // namespace

void bind_onnx(py::module_& m) {
  m.def("import_onnx", &import_onnx, py::arg("path"), py::kw_only(), py::arg("quantize") = "none",
        py::arg("name") = "", py::arg("labels") = std::vector<std::string>{},
        py::arg("scale") = 1.0f / 255.0f, py::arg("mean") = std::vector<float>{},
        py::arg("std") = std::vector<float>{},
        "Imports an ONNX classifier (float32 NCHW, opsets 11-17, static C, H, W) as "
        "`sparq import` does. quantize: 'none' (lossless float graph), 'w4a8' or 'w4a4' "
        "(3x3 convolutions become sparse 4-bit layers at the tap count their weights keep). "
        "name, labels, scale, mean, std: metadata for applications (how images become the "
        "input). Returns (model, layers): layers is the per-node report (onnx_op, sparq_op, "
        "shapes, and for 3x3 convolutions the detected density and tap-position sharing). "
        "Raises IoError, InvalidModelError (malformed file) or UnsupportedError naming the "
        "node and operator.");
}

}  // namespace sparq::python
