#include "tools/cli/device_options.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "tools/cli/cli_common.hpp"

namespace sparq::cli {

void add_device_options(CLI::App& command, DeviceOptions& options) {
  command.add_option("--config,-c", options.config_path,
                     "Chip configuration JSON (default: the published chip)");
  command.add_option("--point", options.point,
                     "Named operating point of the config (nominal, efficient)");
  command.add_option("--volts", options.volts, "Supply voltage, clock scaled between points")
      ->check(CLI::PositiveNumber);
}

DeviceConfig device_config(const DeviceOptions& options) {
  DeviceConfig config =
      options.config_path.empty() ? DeviceConfig{} : DeviceConfig::load(options.config_path);
  if (!options.point.empty() && options.volts > 0) {
    throw UsageError("--point and --volts both choose the clock; give one");
  }
  // A clock the config does not have is a mistake on the command line.
  try {
    if (!options.point.empty()) config = config.at_point(options.point);
    if (options.volts > 0) config = config.at_volts(options.volts);
  } catch (const Error& e) {
    throw UsageError(std::string(options.point.empty() ? "--volts: " : "--point: ") + e.what());
  }
  config.validate();
  if (!options.config_path.empty()) warn_if_off_calibration(config, options.config_path);
  return config;
}

void warn_if_off_calibration(const DeviceConfig& config, const std::string& source) {
  const CalibrationTargets published;
  // The calibration layer needs the published points by position; a config
  // without two points claims no calibration.
  if (config.operating_points.size() < 2) return;
  const double watts = predict_calibration_points(config).nominal_watts;
  if (std::abs(watts - published.nominal_watts) <= 0.01 * published.nominal_watts) return;
  char line[400];
  std::snprintf(line, sizeof(line),
                "warning: %s: the calibration layer draws %.1f mW at its first operating point, "
                "not the published %.0f mW its overhead_factor %.4g is fitted to; its figures are "
                "not calibrated (the fitted factor for these constants is %.4g)\n",
                source.c_str(), watts * 1e3, published.nominal_watts * 1e3, config.overhead_factor,
                fit_overhead_factor(config).overhead_factor);
  std::cerr << line;
}

}  // namespace sparq::cli
