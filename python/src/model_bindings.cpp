// sparq.Model: load / save / bytes, metadata, and inspect() (the table of
// `sparq inspect`, from the same summary code as the CLI).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "python/src/bindings.hpp"
#include "sparq/model.hpp"
#include "tools/cli/layer_summary.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

py::dict value_dict(const Value& v) {
  py::dict d;
  d["name"] = v.name;
  d["shape"] = v.shape.dims();
  d["dtype"] = to_string(v.dtype);
  return d;
}

py::dict preprocessing_dict(const Preprocessing& p) {
  py::dict d;
  d["height"] = p.height;
  d["width"] = p.width;
  d["channels"] = p.channels;
  d["scale"] = p.scale;
  d["mean"] = p.mean;
  d["std"] = p.std;
  return d;
}

py::list inspect_layers(const Model& model) {
  py::list rows;
  for (const cli::LayerSummary& s : cli::summarize_layers(model)) {
    py::dict d;
    d["name"] = s.name;
    d["op"] = s.op;
    d["input_shape"] = s.input_shape;
    d["output_shape"] = s.output_shape;
    d["density"] = s.density;
    d["sharing"] = s.sharing;
    d["weights"] = s.weight_count;
    d["packed_bytes"] = s.packed_bytes;
    d["dense_s4_bytes"] = s.dense_s4_bytes;
    d["fp32_bytes"] = s.fp32_bytes;
    d["dense_macs"] = s.macs.dense;
    d["actual_macs"] = s.macs.actual;
    d["quantization"] = s.quantization;
    d["activation_scale"] = s.activation_scale;
    d["cpu_kernel"] = s.cpu_kernel;
    d["predicted_speedup"] = s.predicted_speedup;
    d["speedup_upper_bound"] =
        s.macs.actual > 0 ? static_cast<double>(s.macs.dense) / static_cast<double>(s.macs.actual)
                          : 1.0;
    rows.append(d);
  }
  return rows;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<Model, std::shared_ptr<Model>>(
      m, "Model",
      "A validated, immutable model (graph + preprocessing, labels, provenance). One model "
      "can back any number of sessions and threads.")
      .def_static(
          "load", [](const std::filesystem::path& path) { return held(Model::load(path)); },
          py::arg("path"),
          "Reads a .sparq file (verified, then validated). Raises IoError or InvalidModelError.")
      .def_static(
          "from_bytes",
          [](const py::bytes& data) {
            const std::string_view view = data;
            return held(Model::from_bytes(std::span<const uint8_t>(
                reinterpret_cast<const uint8_t*>(view.data()), view.size())));
          },
          py::arg("data"), "Parses the bytes of a .sparq file (as Model.load does).")
      .def("save", &Model::save, py::arg("path"), "Writes the model as a .sparq file.")
      .def(
          "to_bytes",
          [](const Model& model) {
            const std::vector<uint8_t> bytes = model.to_bytes();
            return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          },
          "The .sparq file contents.")
      .def("inspect", &inspect_layers,
           "Per layer, as `sparq inspect` prints it: a list of dicts with name, op, "
           "input_shape, output_shape, density, sharing, weights, packed_bytes, "
           "dense_s4_bytes, fp32_bytes, dense_macs, actual_macs, quantization, cpu_kernel, "
           "predicted_speedup, speedup_upper_bound.")
      .def_property_readonly(
          "name", [](const Model& model) { return model.metadata().name; }, "The model's name.")
      .def_property_readonly(
          "labels", [](const Model& model) { return model.metadata().labels; },
          "Class names (index = class id); empty when the model has none.")
      .def_property_readonly(
          "provenance", [](const Model& model) { return model.metadata().provenance; },
          "Free-form facts about how the model was made (dataset, accuracy, schedule ...).")
      .def_property_readonly(
          "preprocessing",
          [](const Model& model) { return preprocessing_dict(model.metadata().preprocessing); },
          "How raw images become the input: height, width, channels, scale, mean, std.")
      .def_property_readonly(
          "input", [](const Model& model) { return value_dict(model.input()); },
          "The graph input: name, per-sample shape, dtype.")
      .def_property_readonly(
          "outputs",
          [](const Model& model) {
            py::list outs;
            for (ValueId v : model.graph().outputs) outs.append(value_dict(model.graph().value(v)));
            return outs;
          },
          "The graph outputs in order: name, per-sample shape, dtype.")
      // Pickled as its file bytes, so a Model can travel to Dask workers or
      // multiprocessing children.
      .def(py::pickle(
          [](const Model& model) {
            const std::vector<uint8_t> bytes = model.to_bytes();
            return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          },
          [](const py::bytes& data) {
            const std::string_view view = data;
            return held(Model::from_bytes(std::span<const uint8_t>(
                reinterpret_cast<const uint8_t*>(view.data()), view.size())));
          }))
      .def("__repr__", [](const Model& model) {
        return "<sparq.Model '" + model.metadata().name + "' input " +
               model.input().shape.to_string() + ", " + std::to_string(model.graph().nodes.size()) +
               " nodes>";
      });
}

}  // namespace sparq::python
