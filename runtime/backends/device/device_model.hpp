// The internal pieces of the chip model (docs/DEVICE_MODEL.md):
//  - what a node asks of the chip (NodeWork, from the graph),
//  - how the array tiles a convolution (ConvTiling),
//  - the off-chip and SRAM traffic that tiling and residency imply (Traffic),
//  - array cycles, closed form (analytic_array_cycles) or stepped
//    (cycle_simulator.hpp),
//  - energy, and the LayerReport that puts them together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sparq/device.hpp"
#include "sparq/graph.hpp"

namespace sparq::device {

// The aligner serves one 3x3 window of kernel positions; larger kernels are
// split into ceil(kh/3) x ceil(kw/3) windows, each a separate tile pass.
inline constexpr int kAlignerWindow = 3;

// A convolution as the array runs it, per sample.
struct ConvShape {
  int64_t in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, out_h = 0, out_w = 0;
  int kernel_h = 3, kernel_w = 3, stride_h = 1, stride_w = 1, pad_h = 1, pad_w = 1;
  int taps_per_kernel = 9;  // k of a sparse layer, kh*kw of a dense one
  bool sparse = false;      // taps carry their position (N-of-9 layer)
  int weight_bits = 4;      // bits of one weight value (4, or 8 for s8 layers)
  int activation_bits = 4;  // bits of the input activations (4 or 8)
  int64_t pixels() const { return out_h * out_w; }
};

int aligner_windows(int kernel_h, int kernel_w);
// Kernel positions of window `window` (row-major over the windows).
int taps_in_window(int kernel_h, int kernel_w, int window);

// How the array walks a convolution: for each block of `array_rows` output
// channels, for each chunk of input channels whose weights fit the weight
// buffer, for each tile of `array_cols` output pixels (raster order over the
// whole map), for each aligner window: fill the aligner, then one cycle per
// (input channel, tap, operand pass).
struct ConvTiling {
  int64_t out_blocks = 0;
  int64_t pixel_tiles = 0;
  int64_t channel_chunks = 0;
  int64_t channels_per_chunk = 0;
  int windows = 1;
  int operand_passes = 1;
  int kernel_bits = 0;       // storage of one kernel (kept values and their index)
  int64_t weight_bytes = 0;  // the layer's weights as stored on chip
};
// How a sparse layer records which taps of a 3x3 kernel it kept: the
// cheapest of the positions of the kept taps, the positions of the pruned
// taps, and a 9-bit mask, chosen per layer (every kernel keeps k taps).
enum class TapIndex { kNone, kKeptPositions, kPrunedPositions, kMask };
TapIndex tap_index(const ConvShape& shape, const DeviceConfig& config);
int tap_index_bits(const ConvShape& shape, const DeviceConfig& config);  // per kernel
const char* to_string(TapIndex index);
// Bits one kernel takes on chip: its kept values plus its tap index. Never
// more than the dense kernel's 9 values.
int stored_kernel_bits(const ConvShape& shape, const DeviceConfig& config);
// The weights of one input channel of a full block of `array_rows` output
// channels: the least the weight buffer must hold for the layer to run.
int64_t block_channel_weight_bytes(const ConvShape& shape, const DeviceConfig& config);
// Throws Error(kUnsupported) naming the node when the weight buffer cannot
// hold block_channel_weight_bytes.
ConvTiling plan_tiling(const ConvShape& shape, const DeviceConfig& config,
                       const std::string& node_name);

// What one node asks of the chip, independent of the batch size.
struct NodeWork {
  std::string name;
  std::string op;
  bool is_conv = false;
  ConvShape conv;
  ConvTiling tiling;
  int64_t vector_elements = 0;       // per sample: element operations of the post-processing unit
  std::vector<int64_t> input_bytes;  // per sample, as stored on chip
  int64_t output_bytes = 0;
  // Per operand: the largest per-sample footprint among the device nodes that
  // touch the value, or -1 when the value must live off chip (a graph input or
  // output, or a host node uses it). The value stays on chip for a batch B
  // when B * footprint fits the activation buffer.
  std::vector<int64_t> input_share_footprint;
  int64_t output_share_footprint = -1;
  MacCount macs;  // per sample
  std::string shape_text;
};

// Whether the chip runs this node (the quantized convolutions and the
// post-processing operations; docs/DEVICE_MODEL.md says why).
bool device_supports(const Graph& graph, const Node& node);
// device_supports, and the chip as `config` describes it can hold the node
// (a convolution's block_channel_weight_bytes fit the weight buffer): what
// the device backend's supports() answers, so compile() never throws.
bool device_runs(const Graph& graph, const GraphIndex& index, const Node& node,
                 const DeviceConfig& config);
// Same, indexing the graph first (O(graph)): for asking about a single node.
bool device_runs(const Graph& graph, const Node& node, const DeviceConfig& config);
// Throws Error(kUnsupported) naming the node when device_supports is false.
NodeWork describe_node(const Graph& graph, const GraphIndex& index, const Node& node,
                       const DeviceConfig& config);
// The weights of every convolution the chip runs, as stored on chip. When
// they fit the weight buffer together they stay resident across inferences.
int64_t device_weight_bytes(const Graph& graph, const GraphIndex& index,
                            const DeviceConfig& config);
// Same, indexing the graph first (O(graph)): for describing a single node.
NodeWork describe_node(const Graph& graph, const Node& node, const DeviceConfig& config);

// Off-chip and SRAM bytes for a batch; both simulation modes share it.
struct Traffic {
  int64_t offchip_weight = 0;
  int64_t offchip_activation = 0;
  int64_t offchip_partial_sum = 0;
  int64_t sram = 0;
  int64_t offchip() const { return offchip_weight + offchip_activation + offchip_partial_sum; }
};
// `weights_resident`: every device layer's weights fit the weight buffer at
// once, so they were loaded before the first inference and stay.
Traffic plan_traffic(const NodeWork& work, const DeviceConfig& config, int64_t batch,
                     bool weights_resident = false);

struct ArrayCycles {
  int64_t cycles = 0;
  int64_t busy_pe_cycles = 0;
};
// One sample through the array, in closed form.
ArrayCycles analytic_array_cycles(const ConvShape& shape, const ConvTiling& tiling,
                                  const DeviceConfig& config);

// What the array's datapath does per sample besides the multiplies, for the
// energy model (closed form; both modes share it).
struct ArrayEvents {
  int64_t row_cycles = 0;         // cycles a row with a real output channel takes a tap
  int64_t aligner_loads = 0;      // input-channel tiles loaded into the aligner
  int64_t aligner_load_bits = 0;  // register bits one load shifts through all stages
};
ArrayEvents array_events(const ConvShape& shape, const ConvTiling& tiling,
                         const DeviceConfig& config);

// Energy of one event at config.clock's voltage, the overhead factor
// included (docs/DEVICE_MODEL.md section 4).
struct OperationEnergies {
  double pe_mac = 0;          // busy PE: native multiply, accumulator add, its registers
  double pe_select = 0;       // busy PE: 9:1 tap multiplexer of its activation
  double row_tap = 0;         // active row: weight (+ position) register and decode
  double register_bit = 0;    // one aligner register bit for one stage
  double sram_byte = 0;       // one byte read or written in one macro
  double vector_element = 0;  // one element through the post-processing unit
  double leakage_watts = 0;   // whole chip
};
OperationEnergies operation_energies(const DeviceConfig& config);

// Voltage scaling of the energy parameters at config.clock.
double dynamic_energy_scale(const DeviceConfig& config);
double static_power_watts(const DeviceConfig& config);
// SRAM energy per byte of one macro of config.sram_macro_bytes at the
// reference voltage, without the overhead factor.
double sram_joules_per_byte(const DeviceConfig& config);
// Cycles to move `bytes` over the off-chip link at config.clock.
int64_t link_cycles(int64_t bytes, const DeviceConfig& config);

// A whole node for `batch` samples.
LayerReport model_node(const NodeWork& work, const DeviceConfig& config, int64_t batch,
                       SimulationMode mode, bool weights_resident = false);
// A host <-> device transfer of `bytes`.
LayerReport model_transfer(const std::string& value_name, int64_t bytes,
                           const DeviceConfig& config);

}  // namespace sparq::device
