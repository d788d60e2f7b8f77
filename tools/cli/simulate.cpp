// sparq simulate MODEL: what the sparse CNN chip (the device model) would
// spend on the model: cycles, time, utilization, energy and TOPS/W per layer.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sparq/device.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/device_options.hpp"

namespace sparq::cli {
namespace {

std::string format_number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", v);
  return text;
}

struct SimulateOptions {
  std::string model_path;
  DeviceOptions device;
  int64_t batch = 1;
  std::string mode = "analytic";
  bool json = false;
  bool print_config = false;
  bool sensitivity = false;
};

// Each free constant over its plausible range: the refitted factor, the
// predicted calibration-layer TOPS/W at the efficient point, and the model's
// dense-equivalent TOPS/W there.
void print_sensitivity(const DeviceConfig& config, const Model& model, bool json) {
  const std::vector<SensitivityRow> rows = sensitivity(config, {&model});
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const SensitivityRow& r : rows) {
      auto figures = [](const SensitivityFigures& f) {
        return nlohmann::json{{"overhead_factor", f.overhead_factor},
                              {"calibration_tops_per_watt", f.efficient_tops_per_watt},
                              {"model_dense_tops_per_watt", f.model_dense_tops_per_watt[0]}};
      };
      out.push_back({{"constant", r.constant},
                     {"unit", r.unit},
                     {"value", r.value},
                     {"low", r.low},
                     {"high", r.high},
                     {"at_low", figures(r.at_low)},
                     {"at_high", figures(r.at_high)}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  const OperatingPoint& point = config.operating_points.at(1);
  std::printf(
      "sensitivity: each free constant at the low and high end of its range, the overhead factor "
      "refitted to 352 mW; TOPS/W at %.0f MHz / %.2f V\n",
      point.frequency_hz / 1e6, point.volts);
  std::printf("%-28s %-10s %-18s %-15s %-19s %s\n", "constant", "value", "low .. high", "factor",
              "calibration TOPS/W", "model dense TOPS/W");
  for (const SensitivityRow& r : rows) {
    const std::string value = r.constant == "defaults" ? "" : format_number(r.value) + " " + r.unit;
    const std::string range =
        r.constant == "defaults" ? "" : format_number(r.low) + " .. " + format_number(r.high);
    std::printf("%-28s %-10s %-18s %6.3f .. %-6.3f %7.2f .. %-8.2f %6.2f .. %.2f\n",
                r.constant.c_str(), value.c_str(), range.c_str(), r.at_low.overhead_factor,
                r.at_high.overhead_factor, r.at_low.efficient_tops_per_watt,
                r.at_high.efficient_tops_per_watt, r.at_low.model_dense_tops_per_watt[0],
                r.at_high.model_dense_tops_per_watt[0]);
  }
}

void run_simulate(const SimulateOptions& options) {
  const DeviceConfig config = device_config(options.device);
  if (options.print_config) {
    std::cout << config.to_json() << "\n";
    return;
  }
  if (options.model_path.empty()) throw UsageError("simulate: MODEL is required");
  const auto model = load_model(options.model_path);
  const SimulationMode mode =
      options.mode == "cycle" ? SimulationMode::kCycleStepped : SimulationMode::kAnalytic;
  if (options.sensitivity) {
    print_sensitivity(config, *model, options.json);
    return;
  }
  const DeviceReport report = simulate(*model, config, options.batch, mode);
  std::cout << (options.json ? report_json(report) : report_text(report));
  if (options.json) std::cout << "\n";
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto options = std::make_shared<SimulateOptions>();
  CLI::App* command = app.add_subcommand(
      "simulate", "The device model's report: cycles, utilization, energy, TOPS/W per layer");
  command->add_option("MODEL", options->model_path, "Model file (.sparq)");
  add_device_options(*command, options->device);
  command->add_option("--batch", options->batch, "Samples per run")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  command->add_option("--mode", options->mode, "analytic (fast) or cycle (cycle-stepped)")
      ->check(CLI::IsMember({"analytic", "cycle"}))
      ->capture_default_str();
  command->add_flag("--json", options->json, "Machine-readable output");
  command->add_flag("--sensitivity", options->sensitivity,
                    "How the headline figures move as each free constant spans its plausible "
                    "range (docs/DEVICE_MODEL.md)");
  command->add_flag("--print-config", options->print_config,
                    "Print the configuration in use as JSON (a starting point for --config)");
  command->callback([options] { run_simulate(*options); });
}

}  // namespace sparq::cli
