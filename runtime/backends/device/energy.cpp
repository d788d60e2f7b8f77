// Energy and time of one node or transfer on the chip, built from energies
// per operation (docs/DEVICE_MODEL.md section 4). Dynamic energy scales with
// V^2 from the reference voltage and carries the one fitted overhead factor;
// leakage power scales with V^static_voltage_exponent; the off-chip
// interface runs on its own supply and does not scale with the core voltage.
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
  return config.leakage_watts_per_mm2 * config.core_area_mm2 *
         std::pow(config.clock.volts / config.reference_volts, config.static_voltage_exponent);
}

double sram_joules_per_byte(const DeviceConfig& config) {
  return config.sram_joules_per_byte_8k *
         std::pow(static_cast<double>(config.sram_macro_bytes) / 8192.0, config.sram_size_exponent);
}

OperationEnergies operation_energies(const DeviceConfig& config) {
  const double s = dynamic_energy_scale(config) * config.overhead_factor;
  const double mul = config.multiplier_joules_per_bit2;
  const double add = config.adder_joules_per_bit;
  const double reg = config.register_joules_per_bit;
  const double mux = config.mux_joules_per_bit;
  OperationEnergies e;
  // A busy PE multiplies two native operands, adds the product into its
  // accumulator and clocks the accumulator and its activation register.
  e.pe_mac =
      s * (mul * config.weight_bits * config.activation_bits + add * config.accumulator_bits +
           reg * (config.accumulator_bits + config.activation_bits));
  // It picks its activation among the aligner's nine shifted copies: a 9:1
  // multiplexer is eight 2:1 stages per bit.
  e.pe_select = s * mux * 8 * config.activation_bits;
  // A row clocks its tap (value and position) and decodes the position into
  // the nine select lines (about nine gates, counted as multiplexer bits).
  e.row_tap = s * (reg * (config.weight_bits + config.position_bits) + mux * 9);
  e.register_bit = s * reg;
  e.sram_byte = s * sram_joules_per_byte(config);
  // Post-processing: an 8-bit scale multiply, an accumulator-wide add and
  // its input and output registers per element.
  e.vector_element =
      s * (mul * 64 + add * config.accumulator_bits + reg * 2 * config.intermediate_bits);
  e.leakage_watts = static_power_watts(config);
  return e;
}

int64_t link_cycles(int64_t bytes, const DeviceConfig& config) {
  const double seconds = static_cast<double>(bytes) / config.offchip_bytes_per_second;
  return static_cast<int64_t>(std::ceil(seconds * config.clock.frequency_hz));
}

LayerReport model_node(const NodeWork& work, const DeviceConfig& config, int64_t batch,
                       SimulationMode mode, bool weights_resident) {
  LayerReport r;
  r.name = work.name;
  r.op = work.op;
  r.placement = "device";
  r.shape = work.shape_text;
  r.dense_macs = work.macs.dense * batch;
  r.actual_macs = work.macs.actual * batch;

  const Traffic traffic = plan_traffic(work, config, batch, weights_resident);
  const OperationEnergies op = operation_energies(config);
  if (work.is_conv) {
    const ArrayCycles per_sample = mode == SimulationMode::kAnalytic
                                       ? analytic_array_cycles(work.conv, work.tiling, config)
                                       : stepped_array_cycles(work.conv, work.tiling, config);
    r.taps_per_kernel = work.conv.taps_per_kernel;
    r.operand_passes = work.tiling.operand_passes;
    r.compute_cycles = per_sample.cycles * batch;
    r.busy_pe_cycles = per_sample.busy_pe_cycles * batch;
    const ArrayEvents events = array_events(work.conv, work.tiling, config);
    r.energy.mac = static_cast<double>(r.busy_pe_cycles) * op.pe_mac;
    r.energy.aligner =
        static_cast<double>(r.busy_pe_cycles) * op.pe_select +
        static_cast<double>(batch * events.row_cycles) * op.row_tap +
        static_cast<double>(batch * events.aligner_loads * events.aligner_load_bits) *
            op.register_bit;
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

  r.energy.sram = static_cast<double>(traffic.sram) * op.sram_byte;
  r.energy.vector = static_cast<double>(batch * work.vector_elements) * op.vector_element;
  r.energy.leakage = op.leakage_watts * r.seconds;
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
