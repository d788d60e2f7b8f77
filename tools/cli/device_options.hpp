// --config / --point / --volts: which chip the device model simulates, shared
// by the commands that report the chip (simulate, sweep) so they parse and
// check the clock choice the same way.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "sparq/device.hpp"

namespace sparq::cli {

struct DeviceOptions {
  std::string config_path;  // empty: the published chip
  std::string point;        // a named operating point of the config
  double volts = 0;         // 0: the config's own clock
};

void add_device_options(CLI::App& command, DeviceOptions& options);

// The configuration the options choose, validated. A clock the config does
// not have (an unknown --point, --volts outside its points) or both --point
// and --volts is a UsageError; a missing or malformed config file is the
// loader's Error.
// A config read from a file also gets warn_if_off_calibration.
DeviceConfig device_config(const DeviceOptions& options);

// Warns on stderr when `config` no longer reproduces the published point its
// overhead factor claims to be fitted to (352 mW at the first operating
// point, within 1 %): an edited constant without a refit.
void warn_if_off_calibration(const DeviceConfig& config, const std::string& source);

}  // namespace sparq::cli
