// How the array tiles a convolution (the loop nest in device_model.hpp): how
// many output-channel blocks and pixel tiles, how the input channels are
// chunked so a block's weights fit the weight buffer, and how many operand
// passes and aligner windows each tap costs.
#include <algorithm>
#include <string>

#include "runtime/backends/device/device_model.hpp"
#include "sparq/error.hpp"

namespace sparq::device {
namespace {

constexpr int kKernelTaps = kAlignerWindow * kAlignerWindow;

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

}  // namespace

int aligner_windows(int kernel_h, int kernel_w) {
  return static_cast<int>(ceil_div(kernel_h, kAlignerWindow) * ceil_div(kernel_w, kAlignerWindow));
}

int taps_in_window(int kernel_h, int kernel_w, int window) {
  const int across = static_cast<int>(ceil_div(kernel_w, kAlignerWindow));
  const int gy = window / across, gx = window % across;
  return std::min(kAlignerWindow, kernel_h - gy * kAlignerWindow) *
         std::min(kAlignerWindow, kernel_w - gx * kAlignerWindow);
}

TapIndex tap_index(const ConvShape& shape, const DeviceConfig& config) {
  // A sparse layer at k = 9 keeps every position, so none needs storing.
  const int k = shape.taps_per_kernel;
  if (!shape.sparse || k >= kKernelTaps) return TapIndex::kNone;
  const int kept = k * config.position_bits;
  const int pruned = (kKernelTaps - k) * config.position_bits;
  // Ties go to the simpler decode: kept positions, then the mask.
  if (kept <= pruned && kept <= kKernelTaps) return TapIndex::kKeptPositions;
  if (kKernelTaps <= pruned) return TapIndex::kMask;
  return TapIndex::kPrunedPositions;
}

int tap_index_bits(const ConvShape& shape, const DeviceConfig& config) {
  switch (tap_index(shape, config)) {
    case TapIndex::kNone:
      return 0;
    case TapIndex::kKeptPositions:
      return shape.taps_per_kernel * config.position_bits;
    case TapIndex::kPrunedPositions:
      return (kKernelTaps - shape.taps_per_kernel) * config.position_bits;
    case TapIndex::kMask:
      return kKernelTaps;
  }
  return 0;
}

const char* to_string(TapIndex index) {
  switch (index) {
    case TapIndex::kNone:
      return "none";
    case TapIndex::kKeptPositions:
      return "kept positions";
    case TapIndex::kPrunedPositions:
      return "pruned positions";
    case TapIndex::kMask:
      return "9-bit mask";
  }
  return "?";
}

int stored_kernel_bits(const ConvShape& shape, const DeviceConfig& config) {
  return shape.taps_per_kernel * shape.weight_bits + tap_index_bits(shape, config);
}

int64_t block_channel_weight_bytes(const ConvShape& shape, const DeviceConfig& config) {
  return ceil_div(int64_t{config.array_rows} * stored_kernel_bits(shape, config), 8);
}

ConvTiling plan_tiling(const ConvShape& shape, const DeviceConfig& config,
                       const std::string& node_name) {
  ConvTiling t;
  t.out_blocks = ceil_div(shape.out_channels, config.array_rows);
  t.pixel_tiles = ceil_div(shape.pixels(), config.array_cols);
  t.kernel_bits = stored_kernel_bits(shape, config);
  t.operand_passes = static_cast<int>(ceil_div(shape.weight_bits, config.weight_bits) *
                                      ceil_div(shape.activation_bits, config.activation_bits));
  t.windows = shape.sparse ? 1 : aligner_windows(shape.kernel_h, shape.kernel_w);
  t.weight_bytes = ceil_div(shape.out_channels * shape.in_channels * int64_t{t.kernel_bits}, 8);

  // One input channel of a full block of rows must fit the weight buffer;
  // the input channels of a block are then taken in as few chunks as fit.
  const int64_t channel_bytes = block_channel_weight_bytes(shape, config);
  if (channel_bytes > config.weight_buffer_bytes) {
    throw Error(ErrorCode::kUnsupported, "node '" + node_name + "': one input channel of a " +
                                             std::to_string(config.array_rows) +
                                             "-row block needs " + std::to_string(channel_bytes) +
                                             " bytes of weights, more than weight_buffer_bytes (" +
                                             std::to_string(config.weight_buffer_bytes) + ")");
  }
  t.channels_per_chunk = std::min(shape.in_channels, config.weight_buffer_bytes / channel_bytes);
  t.channel_chunks = ceil_div(shape.in_channels, t.channels_per_chunk);
  return t;
}

}  // namespace sparq::device
