// The sensitivity of the model's headline figures to its free constants:
// each constant set to the low and the high end of its plausible range (the
// others at their defaults), the one factor refitted to the published power,
// and the figures recomputed (docs/DEVICE_MODEL.md section 5).
#include <functional>
#include <string>
#include <vector>

#include "sparq/device.hpp"

namespace sparq {
namespace {

struct FreeConstant {
  const char* name;
  const char* unit;
  double low, high;
  std::function<double&(DeviceConfig&)> field;
};

// The plausible ranges: a factor of two either way for the estimated
// constants, +-50 % for the published per-operation figures (another
// process, another implementation), the span of published values elsewhere.
std::vector<FreeConstant> free_constants() {
  return {
      {"register_joules_per_bit", "fJ", 1.5e-15, 6e-15,
       [](DeviceConfig& c) -> double& { return c.register_joules_per_bit; }},
      {"mux_joules_per_bit", "fJ", 0.5e-15, 2e-15,
       [](DeviceConfig& c) -> double& { return c.mux_joules_per_bit; }},
      {"multiplier_joules_per_bit2", "fJ", 0.5 * 0.2e-12 / 64, 1.5 * 0.2e-12 / 64,
       [](DeviceConfig& c) -> double& { return c.multiplier_joules_per_bit2; }},
      {"adder_joules_per_bit", "fJ", 0.5 * 0.1e-12 / 32, 1.5 * 0.1e-12 / 32,
       [](DeviceConfig& c) -> double& { return c.adder_joules_per_bit; }},
      {"sram_joules_per_byte_8k", "pJ", 0.5 * 1.25e-12, 1.5 * 1.25e-12,
       [](DeviceConfig& c) -> double& { return c.sram_joules_per_byte_8k; }},
      {"leakage_watts_per_mm2", "mW/mm2", 0.005, 0.02,
       [](DeviceConfig& c) -> double& { return c.leakage_watts_per_mm2; }},
      {"core_area_mm2", "mm2", 2.5, 5.0,
       [](DeviceConfig& c) -> double& { return c.core_area_mm2; }},
      {"static_voltage_exponent", "", 1.0, 5.0,
       [](DeviceConfig& c) -> double& { return c.static_voltage_exponent; }},
  };
}

double unit_scale(const std::string& unit) {
  if (unit == "fJ") return 1e15;
  if (unit == "pJ") return 1e12;
  if (unit == "mW/mm2") return 1e3;
  return 1;
}

SensitivityFigures figures(const DeviceConfig& config, const std::vector<const Model*>& models) {
  const DeviceConfig fitted = fit_overhead_factor(config);
  SensitivityFigures f;
  f.overhead_factor = fitted.overhead_factor;
  f.efficient_tops_per_watt = predict_calibration_points(fitted).efficient_tops_per_watt;
  DeviceConfig at = fitted;
  at.clock = fitted.operating_points[1];
  for (const Model* m : models) {
    f.model_dense_tops_per_watt.push_back(simulate(*m, at).total.dense_tops_per_watt());
  }
  return f;
}

}  // namespace

std::vector<SensitivityRow> sensitivity(const DeviceConfig& config,
                                        const std::vector<const Model*>& models) {
  std::vector<SensitivityRow> rows;
  SensitivityRow base;
  base.constant = "defaults";
  base.low = base.value = base.high = 0;
  base.at_low = base.at_high = figures(config, models);
  rows.push_back(base);
  for (const FreeConstant& k : free_constants()) {
    SensitivityRow row;
    row.constant = k.name;
    row.unit = k.unit;
    const double scale = unit_scale(k.unit);
    DeviceConfig c = config;
    row.value = k.field(c) * scale;
    row.low = k.low * scale;
    row.high = k.high * scale;
    k.field(c) = k.low;
    row.at_low = figures(c, models);
    c = config;
    k.field(c) = k.high;
    row.at_high = figures(c, models);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace sparq
