// The cycle-stepped model of the array and the activation aligner. Each
// cycle the aligner accepts one request (input channel, tap slot, operand
// pass) into its pipeline and the array consumes the request leaving it: every
// row multiplies its own kept tap by the input row shifted to that tap's
// position, over the tile's columns, and accumulates in place. With operands
// it computes the real accumulators (tests check them against the reference);
// without, it only counts cycles.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/backends/device/device_model.hpp"
#include "sparq/backend.hpp"

namespace sparq::device {

struct ArrayTap {
  int ky = 0, kx = 0;
  int value = 0;
};

// Weights in the order the array consumes them: kernel (o, i) holds its taps
// window by window, positions increasing within a window.
struct ArrayWeights {
  int taps_per_kernel = 0;
  std::vector<ArrayTap> taps;  // [out][in][taps_per_kernel]
};
ArrayWeights array_weights(const Node& node);

struct ArrayOperands {
  const ArrayWeights* weights = nullptr;
  const int32_t* input = nullptr;   // one sample, [in_channels][in_h][in_w]
  int64_t* accumulators = nullptr;  // [out_channels][pixels], zeroed by the caller
};

// One sample through the array; `operands` may be null (timing only).
ArrayCycles step_array(const ConvShape& shape, const ConvTiling& tiling, const DeviceConfig& config,
                       const ArrayOperands* operands);

inline ArrayCycles stepped_array_cycles(const ConvShape& shape, const ConvTiling& tiling,
                                        const DeviceConfig& config) {
  return step_array(shape, tiling, config, nullptr);
}

// `value` held in a two's-complement accumulator of `bits` bits. The chip's
// accumulators wrap; since wrapping commutes with addition, wrapping the
// exact sum once equals wrapping after every add, so the stepped array sums
// exactly and wraps at the end.
int64_t wrap_to_accumulator(int64_t value, int bits);

// Runs a convolution node (sparse or quantized dense) on a batch through the
// stepped array, its accumulators config.accumulator_bits wide, and writes its
// f32 output by the numerics contract. Returns the cycles of the whole batch.
ArrayCycles run_conv_on_array(const Graph& graph, const Node& node, const DeviceConfig& config,
                              const ConstTensorView& input, const TensorView& output);

}  // namespace sparq::device
