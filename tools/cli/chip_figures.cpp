#include "tools/cli/chip_figures.hpp"

#include <cstdio>

#include "sparq/device.hpp"

namespace sparq::cli {

void ChipFigures::add(const RunStats& stats) {
  for (const NodeStats& s : stats.steps) {
    const DeviceNodeStats* d = device_stats(s);
    if (!d || (d->cycles == 0 && d->energy_joules == 0)) continue;
    ++steps;
    cycles += d->cycles;
    seconds += d->seconds;
    joules += d->energy_joules;
    // "device" or "device-cycle": the steps the chip ran.
    if (s.backend.rfind("device", 0) == 0) dense_macs += s.dense_macs;
  }
}

double ChipFigures::dense_tops_per_watt() const {
  return joules > 0 ? 2.0 * static_cast<double>(dense_macs) / joules / 1e12 : 0.0;
}

std::string ChipFigures::text(int64_t units, const std::string& unit,
                              double host_seconds_total) const {
  if (steps == 0 || units <= 0) return "";
  const double n = static_cast<double>(units);
  char line[480];
  std::snprintf(line, sizeof(line),
                "chip (device model, per %s): latency %.3f ms, %.0f cycles, energy %.2f uJ "
                "(chip + off-chip interface), %.2f dense-equivalent TOPS/W; host emulation "
                "%.3f ms\n",
                unit.c_str(), seconds / n * 1e3, static_cast<double>(cycles) / n, joules / n * 1e6,
                dense_tops_per_watt(), host_seconds_total / n * 1e3);
  return line;
}

nlohmann::json ChipFigures::json(int64_t units, const std::string& unit,
                                 double host_seconds_total) const {
  const double n = units > 0 ? static_cast<double>(units) : 1.0;
  return {{"per", unit},
          {"modelled_seconds", seconds / n},
          {"cycles", static_cast<double>(cycles) / n},
          {"energy_joules", joules / n},
          {"energy_includes_offchip", true},
          {"dense_tops_per_watt", dense_tops_per_watt()},
          {"host_seconds", host_seconds_total / n}};
}

}  // namespace sparq::cli
