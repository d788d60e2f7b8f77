// Energy and time of one node or transfer on the chip. Dynamic energy (MACs,
// SRAM, post-processing unit) scales with V^2 from the reference voltage,
// leakage power with V^static_voltage_exponent; the off-chip interface runs
// on its own supply and does not scale with the core voltage.
#include <algorithm>
#include <cmath>

#include "runtime/backends/device/cycle_simulator.hpp"
#include "runtime/backends/device/device_model.hpp"

namespace sparq::device {

double dynamic_energy_scale(const DeviceConfig& config) {
  const double v = config.clock.volts / config.reference_volts;
  return v * v;
}

double static_power_watts(const DeviceConfig& config) {
  return config.static_watts *
         std::pow(config.clock.volts / config.reference_volts, config.static_voltage_exponent);
}

int64_t link_cycles(int64_t bytes, const DeviceConfig& config) {
  const double seconds = static_cast<double>(bytes) / config.offchip_bytes_per_second;
  return static_cast<int64_t>(std::ceil(seconds * config.clock.frequency_hz));
}

LayerReport model_node(const NodeWork& work, const DeviceConfig& config, int64_t batch,
                       SimulationMode mode) {
  LayerReport r;
  r.name = work.name;
  r.op = work.op;
  r.placement = "device";
  r.shape = work.shape_text;
  r.dense_macs = work.macs.dense * batch;
  r.actual_macs = work.macs.actual * batch;

  const Traffic traffic = plan_traffic(work, config, batch);
  if (work.is_conv) {
    const ArrayCycles per_sample = mode == SimulationMode::kAnalytic
                                       ? analytic_array_cycles(work.conv, work.tiling, config)
                                       : stepped_array_cycles(work.conv, work.tiling, config);
    r.taps_per_kernel = work.conv.taps_per_kernel;
    r.operand_passes = work.tiling.operand_passes;
    r.compute_cycles = per_sample.cycles * batch;
    r.busy_pe_cycles = per_sample.busy_pe_cycles * batch;
  } else {
    r.compute_cycles =
        batch * ((work.vector_elements + config.vector_lanes - 1) / config.vector_lanes);
  }
  r.offchip_weight_bytes = traffic.offchip_weight;
  r.offchip_activation_bytes = traffic.offchip_activation;
  r.offchip_partial_sum_bytes = traffic.offchip_partial_sum;
  r.sram_bytes = traffic.sram;
  // Off-chip traffic is double-buffered behind the array: the slower wins.
  r.memory_cycles = link_cycles(traffic.offchip(), config);
  r.cycles = std::max(r.compute_cycles, r.memory_cycles);
  r.seconds = static_cast<double>(r.cycles) / config.clock.frequency_hz;
  if (work.is_conv && r.cycles > 0) {
    r.utilization = static_cast<double>(r.busy_pe_cycles) /
                    (static_cast<double>(config.array_rows) * config.array_cols * r.cycles);
  }

  const double scale = dynamic_energy_scale(config);
  // Each busy multiplier-cycle is one 4 x 4-bit product (a nibble pass).
  r.energy.mac = static_cast<double>(r.busy_pe_cycles) * config.mac_joules * scale;
  r.energy.sram = static_cast<double>(traffic.sram) * config.sram_joules_per_byte * scale;
  r.energy.vector =
      static_cast<double>(batch * work.vector_elements) * config.vector_op_joules * scale;
  r.energy.leakage = static_power_watts(config) * r.seconds;
  r.energy.offchip = static_cast<double>(traffic.offchip()) * config.offchip_joules_per_byte;
  return r;
}

LayerReport model_transfer(const std::string& value_name, int64_t bytes,
                           const DeviceConfig& config) {
  LayerReport r;
  r.name = value_name;
  r.op = "transfer";
  r.placement = "transfer";
  r.transfer_bytes = bytes;
  r.memory_cycles = link_cycles(bytes, config);
  r.cycles = r.memory_cycles;
  r.seconds = static_cast<double>(bytes) / config.offchip_bytes_per_second;
  r.energy.offchip = static_cast<double>(bytes) * config.offchip_joules_per_byte;
  // The chip is powered while it waits for the link.
  r.energy.leakage = static_power_watts(config) * r.seconds;
  return r;
}

}  // namespace sparq::device
