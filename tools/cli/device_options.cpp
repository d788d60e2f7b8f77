#include "tools/cli/device_options.hpp"

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
  return config;
}

}  // namespace sparq::cli
