// sparq.simulate: the device model's report as a dict. The dict is the
// library's own JSON form of the report (report_json, also what
// `sparq simulate --json` prints), parsed, so the two never drift apart.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <optional>

#include "python/src/bindings.hpp"
#include "sparq/device.hpp"
#include "sparq/error.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

py::object parse_json(const std::string& text) {
  return py::module_::import("json").attr("loads")(text);
}

// None: the published chip; a dict: fields to override (DeviceConfig JSON
// names); a str / PathLike: a chip configuration JSON file.
DeviceConfig to_config(const py::object& config, const std::optional<std::string>& point,
                       std::optional<double> volts) {
  DeviceConfig c;
  if (py::isinstance<py::dict>(config)) {
    const std::string text = py::module_::import("json").attr("dumps")(config).cast<std::string>();
    c = DeviceConfig::from_json(text, "config dict");
  } else if (py::isinstance<py::str>(config) ||
             py::isinstance(config, py::module_::import("os").attr("PathLike"))) {
    c = DeviceConfig::load(config.cast<std::filesystem::path>());
  } else if (!config.is_none()) {
    throw Error(ErrorCode::kInvalidArgument,
                "config: expected None, a dict or a file path, got " +
                    py::str(config.get_type().attr("__name__")).cast<std::string>());
  }
  if (point && volts) {
    throw Error(ErrorCode::kInvalidArgument, "point and volts both choose the clock; give one");
  }
  if (point) c = c.at_point(*point);
  if (volts) c = c.at_volts(*volts);
  c.validate();
  return c;
}

SimulationMode to_mode(const std::string& mode) {
  if (mode == "analytic") return SimulationMode::kAnalytic;
  if (mode == "cycle") return SimulationMode::kCycleStepped;
  throw Error(ErrorCode::kInvalidArgument, "mode must be 'analytic' or 'cycle', is '" + mode + "'");
}

}  // namespace

void bind_device(py::module_& m) {
  m.def(
      "simulate",
      [](const Model& model, const py::object& config, int64_t batch, const std::string& mode,
         const std::optional<std::string>& point, std::optional<double> volts) {
        if (batch < 1) {
          throw Error(ErrorCode::kInvalidArgument,
                      "batch must be at least 1, is " + std::to_string(batch));
        }
        const DeviceConfig c = to_config(config, point, volts);
        const SimulationMode sim_mode = to_mode(mode);
        std::string text;
        {
          py::gil_scoped_release no_gil;
          text = report_json(simulate(model, c, batch, sim_mode));
        }
        return parse_json(text);
      },
      py::arg("model"), py::arg("config") = py::none(), py::kw_only(), py::arg("batch") = 1,
      py::arg("mode") = "analytic", py::arg("point") = py::none(), py::arg("volts") = py::none(),
      "The sparse CNN chip model's report for `model` as a dict (the JSON of `sparq simulate "
      "--json`): per-layer cycles, utilization, traffic, energy, and the total. config: None "
      "(the published chip), a dict of DeviceConfig fields to override, or a JSON file path; "
      "point ('nominal', 'efficient') or volts picks the clock; mode 'analytic' or 'cycle'.");
  m.def(
      "device_config",
      [](const py::object& config, const std::optional<std::string>& point,
         std::optional<double> volts) {
        return parse_json(to_config(config, point, volts).to_json());
      },
      py::arg("config") = py::none(), py::kw_only(), py::arg("point") = py::none(),
      py::arg("volts") = py::none(),
      "The chip configuration simulate() would use, as a dict (every field; a starting point "
      "for a custom config).");
}

}  // namespace sparq::python
