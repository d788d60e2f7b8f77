// The derived figures of a LayerReport and the text / JSON forms of a report.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "sparq/device.hpp"

namespace sparq {
namespace {

double per_unit(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : 0.0;
}

std::string format(const char* fmt, auto... args) {
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer), fmt, args...);
  return buffer;
}

std::string row_text(const LayerReport& r) {
  if (r.placement == "host") {
    return format("%-22.22s %-15.15s %-34.34s %s\n", r.name.c_str(), r.op.c_str(), "",
                  "(host, not modelled)");
  }
  return format("%-22.22s %-15.15s %-34.34s %10lld %5.1f%% %10.1f %9.2f %7.3f %7.2f %7.2f\n",
                r.name.c_str(), r.op.c_str(), r.shape.c_str(), static_cast<long long>(r.cycles),
                100.0 * r.utilization, r.offchip_bytes() / 1024.0, r.energy.total() * 1e6,
                r.dense_tops(), r.tops_per_watt(), r.dense_tops_per_watt());
}

nlohmann::json energy_json(const EnergyBreakdown& e) {
  return {{"mac_joules", e.mac},       {"aligner_joules", e.aligner}, {"sram_joules", e.sram},
          {"vector_joules", e.vector}, {"leakage_joules", e.leakage}, {"offchip_joules", e.offchip},
          {"chip_joules", e.chip()},   {"total_joules", e.total()}};
}

nlohmann::json row_json(const LayerReport& r) {
  return {{"name", r.name},
          {"op", r.op},
          {"placement", r.placement},
          {"shape", r.shape},
          {"taps_per_kernel", r.taps_per_kernel},
          {"operand_passes", r.operand_passes},
          {"cycles", r.cycles},
          {"compute_cycles", r.compute_cycles},
          {"memory_cycles", r.memory_cycles},
          {"busy_pe_cycles", r.busy_pe_cycles},
          {"seconds", r.seconds},
          {"utilization", r.utilization},
          {"dense_macs", r.dense_macs},
          {"actual_macs", r.actual_macs},
          {"offchip_weight_bytes", r.offchip_weight_bytes},
          {"offchip_activation_bytes", r.offchip_activation_bytes},
          {"offchip_partial_sum_bytes", r.offchip_partial_sum_bytes},
          {"transfer_bytes", r.transfer_bytes},
          {"offchip_bytes", r.offchip_bytes()},
          {"sram_bytes", r.sram_bytes},
          {"energy", energy_json(r.energy)},
          {"tops", r.tops()},
          {"dense_tops", r.dense_tops()},
          {"tops_per_watt", r.tops_per_watt()},
          {"dense_tops_per_watt", r.dense_tops_per_watt()},
          {"dense_tops_per_watt_with_offchip", r.dense_tops_per_watt_with_offchip()}};
}

}  // namespace

double LayerReport::tops() const {
  return per_unit(2.0 * actual_macs, seconds) / 1e12;
}
double LayerReport::dense_tops() const {
  return per_unit(2.0 * dense_macs, seconds) / 1e12;
}
double LayerReport::tops_per_watt() const {
  return per_unit(2.0 * actual_macs, energy.chip()) / 1e12;
}
double LayerReport::dense_tops_per_watt() const {
  return per_unit(2.0 * dense_macs, energy.chip()) / 1e12;
}
double LayerReport::dense_tops_per_watt_with_offchip() const {
  return per_unit(2.0 * dense_macs, energy.total()) / 1e12;
}

std::string report_text(const DeviceReport& report) {
  const DeviceConfig& c = report.config;
  const LayerReport& t = report.total;
  std::string out = format("device model: %dx%d array, %.0f MHz / %.2f V, batch %lld, %s mode\n",
                           c.array_rows, c.array_cols, c.clock.frequency_hz / 1e6, c.clock.volts,
                           static_cast<long long>(report.batch), to_string(report.mode));
  out += format("%-22s %-15s %-34s %10s %6s %10s %9s %7s %7s %7s\n", "layer", "op", "shape",
                "cycles", "util", "offchip KB", "energy uJ", "dTOPS", "TOPS/W", "dTOPS/W");
  for (const LayerReport& r : report.layers) out += row_text(r);
  out += row_text(t);
  const double chip = t.energy.chip();
  out += format(
      "time %.3f ms; chip energy %.2f uJ (MAC %.1f%%, aligner %.1f%%, SRAM %.1f%%, vector %.1f%%, "
      "leakage %.1f%%), off-chip %.2f uJ for %.1f KB\n",
      t.seconds * 1e3, chip * 1e6, 100 * per_unit(t.energy.mac, chip),
      100 * per_unit(t.energy.aligner, chip), 100 * per_unit(t.energy.sram, chip),
      100 * per_unit(t.energy.vector, chip), 100 * per_unit(t.energy.leakage, chip),
      t.energy.offchip * 1e6, t.offchip_bytes() / 1024.0);
  out += format(
      "TOPS %.3f actual, %.3f dense-equivalent; TOPS/W %.2f actual, %.2f dense-equivalent "
      "(%.2f counting off-chip); utilization %.1f%%\n",
      t.tops(), t.dense_tops(), t.tops_per_watt(), t.dense_tops_per_watt(),
      t.dense_tops_per_watt_with_offchip(), 100 * t.utilization);
  out +=
      format("weights %.1f KB on chip: %s\n", report.weight_bytes / 1024.0,
             report.weights_resident ? "resident across inferences (fit the weight buffer)"
                                     : "loaded once per batch (exceed the weight buffer together)");
  for (const std::string& spill : report.spills) out += "spills: " + spill + "\n";
  return out;
}

std::string report_json(const DeviceReport& report) {
  nlohmann::json j;
  j["config"] = nlohmann::json::parse(report.config.to_json());
  j["batch"] = report.batch;
  j["mode"] = to_string(report.mode);
  j["layers"] = nlohmann::json::array();
  for (const LayerReport& r : report.layers) j["layers"].push_back(row_json(r));
  j["total"] = row_json(report.total);
  j["weight_bytes"] = report.weight_bytes;
  j["weights_resident"] = report.weights_resident;
  j["spills"] = report.spills;
  // Node and model names come from model files: replace invalid UTF-8.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace sparq
