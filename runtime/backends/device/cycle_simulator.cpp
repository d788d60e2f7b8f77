// See cycle_simulator.hpp. The loop nest is the one ConvTiling describes; the
// innermost loop is the clock.
#include "runtime/backends/device/cycle_simulator.hpp"

#include <algorithm>
#include <utility>

#include "runtime/backends/reference/reference_common.hpp"
#include "sparq/error.hpp"
#include "sparq/quantization.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq::device {
namespace {

int ceil_div(int a, int b) {
  return (a + b - 1) / b;
}

// Part `part` of `parts` of a two's-complement operand split into
// `native_bits`-wide slices: lower slices unsigned, the top slice signed, so
// sum(part_p << (p * native_bits)) == value.
int operand_part(int value, int part, int parts, int native_bits) {
  if (parts == 1) return value;
  const int shifted = value >> (part * native_bits);
  return part < parts - 1 ? (shifted & ((1 << native_bits) - 1)) : shifted;
}

// One request in flight through the aligner pipeline.
struct Slot {
  bool valid = false;
  int64_t channel = 0;
  int tap = 0;  // index among the window's taps
  int weight_part = 0, activation_part = 0;
  // The aligner's output: the tile's input row at each of the window's nine
  // positions, [position][column].
  std::vector<int32_t> shifted;
};

struct TileContext {
  int64_t block_row0 = 0;
  int rows = 0;
  int64_t pixel0 = 0;
  int cols = 0;
  int window = 0;
  int window_tap_offset = 0;
};

void align(const ConvShape& s, const TileContext& tile, const int32_t* input, Slot& slot) {
  const int across = ceil_div(s.kernel_w, kAlignerWindow);
  const int ky0 = (tile.window / across) * kAlignerWindow;
  const int kx0 = (tile.window % across) * kAlignerWindow;
  const int32_t* plane = input + slot.channel * s.in_h * s.in_w;
  for (int local = 0; local < kAlignerWindow * kAlignerWindow; ++local) {
    const int ky = ky0 + local / kAlignerWindow, kx = kx0 + local % kAlignerWindow;
    int32_t* row = &slot.shifted[static_cast<size_t>(local) * tile.cols];
    for (int c = 0; c < tile.cols; ++c) {
      const int64_t p = tile.pixel0 + c;
      const int64_t iy = (p / s.out_w) * s.stride_h + ky - s.pad_h;
      const int64_t ix = (p % s.out_w) * s.stride_w + kx - s.pad_w;
      const bool inside =
          ky < s.kernel_h && kx < s.kernel_w && iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
      row[c] = inside ? plane[iy * s.in_w + ix] : 0;
    }
  }
}

void multiply_accumulate(const ConvShape& s, const DeviceConfig& config, int weight_parts,
                         int activation_parts, const TileContext& tile, const Slot& slot,
                         const ArrayOperands& ops) {
  const int across = ceil_div(s.kernel_w, kAlignerWindow);
  const int ky0 = (tile.window / across) * kAlignerWindow;
  const int kx0 = (tile.window % across) * kAlignerWindow;
  const int shift =
      slot.weight_part * config.weight_bits + slot.activation_part * config.activation_bits;
  const int k = ops.weights->taps_per_kernel;
  for (int r = 0; r < tile.rows; ++r) {
    const int64_t o = tile.block_row0 + r;
    const ArrayTap& tap = ops.weights->taps[static_cast<size_t>(
        (o * s.in_channels + slot.channel) * k + tile.window_tap_offset + slot.tap)];
    const int local = (tap.ky - ky0) * kAlignerWindow + (tap.kx - kx0);
    const int64_t w = operand_part(tap.value, slot.weight_part, weight_parts, config.weight_bits);
    const int32_t* row = &slot.shifted[static_cast<size_t>(local) * tile.cols];
    int64_t* acc = ops.accumulators + o * s.pixels() + tile.pixel0;
    for (int c = 0; c < tile.cols; ++c) {
      const int64_t a =
          operand_part(row[c], slot.activation_part, activation_parts, config.activation_bits);
      acc[c] += (w * a) * (int64_t{1} << shift);
    }
  }
}

}  // namespace

ArrayWeights array_weights(const Node& node) {
  ArrayWeights out;
  if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    out.taps_per_kernel = sparse->density;
    out.taps.reserve(sparse->taps.size());
    for (uint8_t byte : sparse->taps) {
      const int pos = tap_position(byte);
      out.taps.push_back({pos / 3, pos % 3, tap_value(byte)});
    }
    return out;
  }
  const auto& conv = std::get<Conv2dOp>(node.op);
  const Shape& ws = conv.weights.shape();
  const int64_t kernels = ws[0] * ws[1];
  const int kh = conv.kernel_h, kw = conv.kernel_w;
  out.taps_per_kernel = kh * kw;
  out.taps.reserve(static_cast<size_t>(kernels * kh * kw));
  const auto* bytes = conv.weights.data<uint8_t>();
  auto value_at = [&](int64_t e) -> int {
    if (conv.weights.dtype() == DType::kS8) return static_cast<int8_t>(bytes[e]);
    return s4_element(bytes, static_cast<size_t>(e));
  };
  const int windows = aligner_windows(kh, kw);
  const int across = ceil_div(kw, kAlignerWindow);
  for (int64_t kernel = 0; kernel < kernels; ++kernel) {
    for (int g = 0; g < windows; ++g) {
      const int ky0 = (g / across) * kAlignerWindow, kx0 = (g % across) * kAlignerWindow;
      for (int ky = ky0; ky < std::min(kh, ky0 + kAlignerWindow); ++ky) {
        for (int kx = kx0; kx < std::min(kw, kx0 + kAlignerWindow); ++kx) {
          out.taps.push_back({ky, kx, value_at((kernel * kh + ky) * kw + kx)});
        }
      }
    }
  }
  return out;
}

ArrayCycles step_array(const ConvShape& s, const ConvTiling& t, const DeviceConfig& config,
                       const ArrayOperands* ops) {
  const int weight_parts = ceil_div(s.weight_bits, config.weight_bits);
  const int activation_parts = ceil_div(s.activation_bits, config.activation_bits);
  const int passes = weight_parts * activation_parts;
  const int depth = config.aligner_pipeline_stages;
  // Stage `depth` is the array's operand register.
  std::vector<Slot> pipeline(static_cast<size_t>(depth) + 1);
  if (ops) {
    for (Slot& slot : pipeline) {
      slot.shifted.resize(static_cast<size_t>(kAlignerWindow) * kAlignerWindow * config.array_cols);
    }
  }
  ArrayCycles total;
  const int64_t pixels = s.pixels();
  for (int64_t block = 0; block < t.out_blocks; ++block) {
    TileContext tile;
    tile.block_row0 = block * config.array_rows;
    tile.rows =
        static_cast<int>(std::min<int64_t>(config.array_rows, s.out_channels - tile.block_row0));
    for (int64_t chunk = 0; chunk < t.channel_chunks; ++chunk) {
      const int64_t c0 = chunk * t.channels_per_chunk;
      const int64_t c1 = std::min(s.in_channels, c0 + t.channels_per_chunk);
      for (int64_t tile_index = 0; tile_index < t.pixel_tiles; ++tile_index) {
        tile.pixel0 = tile_index * config.array_cols;
        tile.cols = static_cast<int>(std::min<int64_t>(config.array_cols, pixels - tile.pixel0));
        tile.window_tap_offset = 0;
        for (int g = 0; g < t.windows; ++g) {
          tile.window = g;
          const int taps = s.sparse ? s.taps_per_kernel : taps_in_window(s.kernel_h, s.kernel_w, g);
          const int64_t per_channel = int64_t{taps} * passes;
          const int64_t requests = (c1 - c0) * per_channel;
          for (Slot& slot : pipeline) slot.valid = false;
          int64_t issued = 0, consumed = 0;
          while (consumed < requests) {
            // Clock edge: every request moves one stage towards the array and
            // the aligner takes the next one.
            std::rotate(pipeline.rbegin(), pipeline.rbegin() + 1, pipeline.rend());
            Slot& head = pipeline.front();
            head.valid = issued < requests;
            if (head.valid) {
              const int64_t within = issued % per_channel;
              head.channel = c0 + issued / per_channel;
              head.tap = static_cast<int>(within / passes);
              head.weight_part = static_cast<int>((within % passes) / activation_parts);
              head.activation_part = static_cast<int>(within % activation_parts);
              if (ops) align(s, tile, ops->input, head);
              ++issued;
            }
            const Slot& operand = pipeline.back();
            if (operand.valid) {
              if (ops) {
                multiply_accumulate(s, config, weight_parts, activation_parts, tile, operand, *ops);
              }
              total.busy_pe_cycles += int64_t{tile.rows} * tile.cols;
              ++consumed;
            }
            ++total.cycles;
          }
          tile.window_tap_offset += taps;
        }
      }
    }
  }
  return total;
}

int64_t wrap_to_accumulator(int64_t value, int bits) {
  if (bits >= 64) return value;
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t u = static_cast<uint64_t>(value) & mask;
  if ((u >> (bits - 1)) & 1) u |= ~mask;  // sign-extend
  return static_cast<int64_t>(u);
}

ArrayCycles run_conv_on_array(const Graph& graph, const Node& node, const DeviceConfig& config,
                              const ConstTensorView& input, const TensorView& output) {
  const NodeWork work = describe_node(graph, node, config);
  if (!work.is_conv) {
    throw Error(ErrorCode::kInvalidArgument,
                "node '" + node.name + "': only convolutions run on the array");
  }
  const ConvShape& s = work.conv;
  if (input.shape.rank() != 4 || input.shape.without_batch() != graph.value(node.inputs[0]).shape ||
      output.shape.rank() != 4 || output.shape[0] != input.shape[0] ||
      output.dtype != DType::kF32 || !input.scales) {
    throw Error(ErrorCode::kInvalidArgument,
                "node '" + node.name + "': input/output views do not match the node's shapes");
  }
  const ArrayWeights weights = array_weights(node);
  const std::vector<float>* scales = nullptr;
  const std::vector<float>* bias = nullptr;
  Activation activation = Activation::kNone;
  if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    scales = &sparse->weight_scales;
    bias = &sparse->bias;
    activation = sparse->activation;
  } else {
    const auto& conv = std::get<Conv2dOp>(node.op);
    scales = &conv.weight_scales;
    bias = &conv.bias;
    activation = conv.activation;
  }
  const int64_t batch = input.shape[0];
  const int64_t in_elements = s.in_channels * s.in_h * s.in_w;
  const int64_t out_elements = s.out_channels * s.pixels();
  std::vector<int32_t> sample(static_cast<size_t>(in_elements));
  std::vector<int64_t> acc(static_cast<size_t>(out_elements));
  ArrayCycles total;
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t e = 0; e < in_elements; ++e) {
      sample[static_cast<size_t>(e)] = input.dtype == DType::kS8
                                           ? int32_t{input.as<int8_t>()[n * in_elements + e]}
                                           : int32_t{input.as<uint8_t>()[n * in_elements + e]};
    }
    std::fill(acc.begin(), acc.end(), 0);
    ArrayOperands ops{&weights, sample.data(), acc.data()};
    const ArrayCycles c = step_array(s, work.tiling, config, &ops);
    total.cycles += c.cycles;
    total.busy_pe_cycles += c.busy_pe_cycles;
    float* y = output.as<float>() + n * out_elements;
    for (int64_t o = 0; o < s.out_channels; ++o) {
      const float b = bias->empty() ? 0.0f : (*bias)[static_cast<size_t>(o)];
      for (int64_t p = 0; p < s.pixels(); ++p) {
        const int64_t e = o * s.pixels() + p;
        const float v =
            dequantize_accumulator(static_cast<int32_t>(wrap_to_accumulator(
                                       acc[static_cast<size_t>(e)], config.accumulator_bits)),
                                   input.scales[n], (*scales)[static_cast<size_t>(o)], b);
        y[e] = reference::apply_activation(v, activation);
      }
    }
  }
  return total;
}

}  // namespace sparq::device
