// The device backend: a model of the Tokyo Tech sparse CNN chip (Hot Chips 33,
// 2021). Outputs are bit-exact with the reference backend; on top, every node
// the chip runs reports its cycles, utilization, SRAM and off-chip traffic and
// energy. docs/DEVICE_MODEL.md gives the formulas and says which parameters
// are published and which are reconstructed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sparq/backend.hpp"
#include "sparq/model.hpp"

namespace sparq {

// A clock / supply pair the chip runs at.
struct OperatingPoint {
  std::string name;
  double frequency_hz = 0;
  double volts = 0;
};

// The chip's parameters. Defaults are the published chip where a figure is
// published (array, bit widths, SRAM total, clock points, the calibration
// targets) and a documented reconstruction elsewhere (SRAM split, off-chip
// link, energy split).
struct DeviceConfig {
  // ---- compute array: rows are output channels, columns output pixels ----
  int array_rows = 32;
  int array_cols = 32;
  // Native operand widths of one multiplier. A wider operand (the 8-bit first
  // layer) is fed in ceil(bits / native) nibble passes, each one array cycle.
  int weight_bits = 4;
  int activation_bits = 4;
  int position_bits = 4;      // kernel position stored with each kept tap (k < 9)
  int accumulator_bits = 24;  // partial sums as stored in the partial-sum buffer
  // How the chip stores the f32 values of the graph (conv outputs before
  // their quantizer, residual sums): the chip keeps them in fixed point.
  int intermediate_bits = 8;
  // Stages between the aligner reading an input channel and the array using
  // it; refilled at the start of every tile pass.
  int aligner_pipeline_stages = 3;
  // Elements per cycle of the post-processing unit (quantize, add, ReLU, pool).
  int vector_lanes = 32;

  // ---- on-chip SRAM (5 Mb in total on the chip) ----
  int64_t weight_buffer_bytes = 196608;      // 1.5 Mb
  int64_t activation_buffer_bytes = 393216;  // 3 Mb
  int64_t partial_sum_buffer_bytes = 65536;  // 0.5 Mb

  // ---- off-chip memory interface (also carries host <-> device transfers) ----
  double offchip_bytes_per_second = 3.2e9;
  // DRAM access, 1.3-2.6 nJ per 64 bits (45 nm figures): the middle, per byte.
  // The interface has its own supply: it does not scale with the core voltage.
  double offchip_joules_per_byte = 24e-12;

  // ---- clock: the published points, and the one in use ----
  std::vector<OperatingPoint> operating_points = {{"nominal", 534e6, 1.1},
                                                  {"efficient", 234e6, 0.8}};
  OperatingPoint clock = {"nominal", 534e6, 1.1};

  // ---- energy per operation, from published 45 nm figures at `reference_volts`
  // (docs/DEVICE_MODEL.md section 4 gives the sources and the scaling rules).
  // Dynamic energy scales with (V / reference_volts)^2 and does not depend on
  // the frequency; leakage power scales with
  // (V / reference_volts)^static_voltage_exponent and integrates over time.
  double reference_volts = 0.9;
  // An n x m-bit multiplier costs n*m times this (8 x 8 bits: 0.2 pJ).
  double multiplier_joules_per_bit2 = 0.2e-12 / 64;
  // An n-bit adder costs n times this (32 bits: 0.1 pJ; 8 bits: 0.03 pJ).
  double adder_joules_per_bit = 0.1e-12 / 32;
  // One flip-flop bit clocked for one cycle (estimate, section 4).
  double register_joules_per_bit = 3e-15;
  // One bit through one 2:1 multiplexer (estimate, section 4).
  double mux_joules_per_bit = 1e-15;
  // SRAM read or write of one byte from an 8 KiB macro (64-bit read: 10 pJ),
  // scaled by (sram_macro_bytes / 8 KiB)^sram_size_exponent (8 KiB -> 32 KiB:
  // 10 -> 20 pJ; 32 KiB -> 1 MiB: 20 -> 100 pJ).
  double sram_joules_per_byte_8k = 10e-12 / 8;
  int64_t sram_macro_bytes = 16384;  // the buffers are banks of macros of this size
  double sram_size_exponent = 0.5;
  // Leakage: a power density over the core area (both estimates, section 4).
  double leakage_watts_per_mm2 = 0.01;
  double core_area_mm2 = 3.5;
  double static_voltage_exponent = 3.0;
  // The one fitted factor: on-chip dynamic energy beyond the per-operation
  // figures (clock distribution, control, wiring), as a multiplier on them.
  // Set by fit_overhead_factor() to the published power at 534 MHz / 1.1 V.
  double overhead_factor = 1.2695;

  int64_t sram_bytes() const {
    return weight_buffer_bytes + activation_buffer_bytes + partial_sum_buffer_bytes;
  }
  // Throws Error(kInvalidArgument) naming the first field out of range.
  void validate() const;

  // This configuration clocked at a named point of `operating_points`
  // (throws Error(kInvalidArgument) listing the names when unknown).
  DeviceConfig at_point(const std::string& name) const;
  // This configuration at `volts`, the frequency interpolated linearly between
  // the published points (voltage scaling); `volts` must lie within them.
  DeviceConfig at_volts(double volts) const;

  // JSON form: every field above, by the same names; missing fields keep
  // their defaults, unknown fields are an error.
  std::string to_json() const;
  static DeviceConfig from_json(const std::string& text, const std::string& source = "<json>");
  void save(const std::filesystem::path& path) const;
  static DeviceConfig load(const std::filesystem::path& path);
};

// The chip's published figures. One of them (nominal_watts) sets the one
// fitted factor; the others are held out and predicted (published_predictions).
struct CalibrationTargets {
  double nominal_tops = 1.07;             // at 534 MHz / 1.1 V
  double nominal_watts = 0.352;           // at 534 MHz / 1.1 V
  double efficient_tops_per_watt = 5.30;  // at 234 MHz / 0.8 V
  double sparse_tops_per_watt = 26.5;     // dense-equivalent, 88 % random pruning, 0.8 V
  double sparse_over_dense = 5.0;         // 26.5 / 5.30
};

// The layer the calibration is defined on: a dense, compute-bound 3x3
// convolution (s4 weights, 4-bit activations, 64 -> 64 channels, 32 x 32).
std::shared_ptr<const Model> calibration_model();

// Sets overhead_factor so that the calibration layer draws
// targets.nominal_watts of chip power at the first operating point; every
// other constant stays as given. Throws Error(kInvalidArgument) when the
// leakage alone exceeds the target or the constants give no dynamic energy.
DeviceConfig fit_overhead_factor(DeviceConfig config, const CalibrationTargets& targets = {});

// The held-out published figures as the configuration predicts them on the
// calibration layer (throughput and power at the first operating point,
// dense TOPS/W at the second).
struct CalibrationPredictions {
  double nominal_tops = 0;
  double nominal_watts = 0;
  double efficient_tops_per_watt = 0;
};
CalibrationPredictions predict_calibration_points(const DeviceConfig& config);

// The headline figures under one setting of the constants, the factor refitted.
struct SensitivityFigures {
  double overhead_factor = 0;
  double efficient_tops_per_watt = 0;             // calibration layer at the second point
  std::vector<double> model_dense_tops_per_watt;  // per model, at the second point
};
// One free constant at the ends of its plausible range (in `unit`).
struct SensitivityRow {
  std::string constant;  // the DeviceConfig field; "defaults" for the first row
  std::string unit;
  double value = 0, low = 0, high = 0;
  SensitivityFigures at_low, at_high;
};
// The first row is `config` itself; then every free constant at its low and
// high end (docs/DEVICE_MODEL.md section 5), each time refitting the
// overhead factor and recomputing the figures for `models`.
std::vector<SensitivityRow> sensitivity(const DeviceConfig& config,
                                        const std::vector<const Model*>& models);

enum class SimulationMode {
  kAnalytic,      // closed-form cycles per layer (fast, whole networks)
  kCycleStepped,  // steps the array and the aligner cycle by cycle
};
const char* to_string(SimulationMode mode);

// Joules by where they go.
struct EnergyBreakdown {
  double mac = 0;      // multipliers, accumulator adders and registers
  double aligner = 0;  // aligner registers (loads and fill), per-PE tap muxes, index decode
  double sram = 0;
  double vector = 0;
  double leakage = 0;
  double offchip = 0;  // the off-chip interface (not part of the chip's power)
  double chip() const { return mac + aligner + sram + vector + leakage; }
  double total() const { return chip() + offchip; }
};

// One row of a report: a node on the device, a node left to the host, or a
// transfer between the two. Figures cover the whole batch.
struct LayerReport {
  std::string name;
  std::string op;              // op_name(), or "transfer"
  std::string placement;       // "device", "host" (not modelled) or "transfer"
  std::string shape;           // e.g. "64->64 56x56 s1 k3"; empty for non-convolutions
  int taps_per_kernel = 0;     // k of a sparse layer, kh*kw of a dense one, 0 otherwise
  int operand_passes = 0;      // nibble passes per tap (1 for 4-bit x 4-bit)
  int64_t cycles = 0;          // max(compute, memory): the two overlap
  int64_t compute_cycles = 0;  // array (with aligner fill) or vector unit
  int64_t memory_cycles = 0;   // off-chip traffic at the link's bandwidth
  int64_t busy_pe_cycles = 0;  // multiplier-cycles that did useful work
  double seconds = 0;
  double utilization = 0;  // busy_pe_cycles / (rows * cols * cycles); 0 for non-array nodes
  int64_t dense_macs = 0;
  int64_t actual_macs = 0;
  int64_t offchip_weight_bytes = 0;
  int64_t offchip_activation_bytes = 0;
  int64_t offchip_partial_sum_bytes = 0;
  int64_t transfer_bytes = 0;  // transfers: bytes between host and device
  int64_t sram_bytes = 0;
  EnergyBreakdown energy;

  int64_t offchip_bytes() const {
    return offchip_weight_bytes + offchip_activation_bytes + offchip_partial_sum_bytes +
           transfer_bytes;
  }
  // 1e12 operations (2 per MAC) per second / per joule of chip energy.
  double tops() const;
  double dense_tops() const;
  double tops_per_watt() const;
  double dense_tops_per_watt() const;
  // Counting the off-chip interface energy too.
  double dense_tops_per_watt_with_offchip() const;
};

struct DeviceReport {
  DeviceConfig config;
  int64_t batch = 1;
  SimulationMode mode = SimulationMode::kAnalytic;
  std::vector<LayerReport> layers;  // execution order
  LayerReport total;                // sums over device layers and transfers
  // The device layers' weights as stored on chip, all together. When they
  // fit the weight buffer they are loaded once, before the first inference,
  // and stay resident (no per-inference weight traffic); otherwise every
  // layer's weights come in once per batch.
  int64_t weight_bytes = 0;
  bool weights_resident = false;
  // Layers whose operands or partial sums exceed their buffer (the
  // partition of docs/DEVICE_MODEL.md) and spill off chip.
  std::vector<std::string> spills;
};

// Places every node the device supports on it (the rest on the host, as a
// session with backends {device, cpu} does), adds the transfers between them
// and models each device node for `batch` samples. Timing does not depend on
// the data, so no input is needed.
DeviceReport simulate(const Model& model, const DeviceConfig& config, int64_t batch = 1,
                      SimulationMode mode = SimulationMode::kAnalytic);

// A fixed-width table (one line per layer, then the total) and a JSON document.
std::string report_text(const DeviceReport& report);
std::string report_json(const DeviceReport& report);

// What the chip spends on one step a device backend ran (a node or a
// transfer), for the whole batch: NodeStats::backend_stats of those steps.
struct DeviceNodeStats final : BackendNodeStats {
  int64_t cycles = 0;
  double seconds = 0;
  double energy_joules = 0;  // chip and off-chip interface
  double utilization = 0;    // 0..1; 0 for transfers and non-array nodes
  int64_t offchip_bytes = 0;
  // Sums; utilization is the cycle-weighted mean.
  std::shared_ptr<const BackendNodeStats> combined_with(
      const BackendNodeStats& other) const override;
};

// The device figures of a step; null when the step ran on another backend
// (or stats were gathered without them).
const DeviceNodeStats* device_stats(const NodeStats& stats);

// The "device" backend with `config`. In kAnalytic mode outputs come from
// the kernels of `functional_backend` (falling back to "reference" where that
// backend is not registered or does not support a node), so they are
// bit-exact with "reference"; the figures of the analytic model go into
// ExecContext::stats as DeviceNodeStats. In kCycleStepped mode (registered as "device-cycle")
// every convolution is computed by the stepped array model itself — aligner,
// per-row taps, nibble passes, accumulators wrapping at accumulator_bits —
// and its figures come from the stepped model; the post-processing nodes
// still use `functional_backend`.
std::shared_ptr<const Backend> make_device_backend(const DeviceConfig& config = {},
                                                   const std::string& functional_backend = "cpu",
                                                   SimulationMode mode = SimulationMode::kAnalytic);

}  // namespace sparq
