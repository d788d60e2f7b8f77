// sparq simulate MODEL: what the sparse CNN chip (the device model) would
// spend on the model: cycles, time, utilization, energy and TOPS/W per layer.
#include <iostream>

#include "sparq/device.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/device_options.hpp"

namespace sparq::cli {
namespace {

struct SimulateOptions {
  std::string model_path;
  DeviceOptions device;
  int64_t batch = 1;
  std::string mode = "analytic";
  bool json = false;
  bool print_config = false;
};

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
  command->add_flag("--print-config", options->print_config,
                    "Print the configuration in use as JSON (a starting point for --config)");
  command->callback([options] { run_simulate(*options); });
}

}  // namespace sparq::cli
