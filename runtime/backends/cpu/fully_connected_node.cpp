// Fully connected on the CPU. Quantized: exact int32 dot products (VNNI where
// present, on weights packed once into groups of 64 outputs:
// pack_fc_quant_groups), s8 inputs flipped to u8 and corrected by
// 128 * sum(w). Float: the
// reference order with transposed weights, one output channel per lane.
// Work is split into fixed blocks of output channels per sample, so results
// do not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/common/activation.hpp"
#include "kernels/fully_connected/fully_connected.hpp"
#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "sparq/error.hpp"

namespace sparq::cpu {
namespace {

constexpr int64_t kQuantRowsPerTask = 64;
// Tasks start on a group of the blocked weights.
static_assert(kQuantRowsPerTask % kernels::kFcQuantGroup == 0);

class FullyConnectedNode : public CompiledNode {
 public:
  FullyConnectedNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<FullyConnectedOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        in_(input_.shape[0]),
        out_(output_.shape[0]),
        kernels_(kernels::fully_connected_kernels(kernels::active_isa())) {
    if (op_.weights.dtype() == DType::kS8) {
      const int8_t* w = op_.weights.data<int8_t>();
      compensation_.assign(static_cast<size_t>(out_), 0);
      for (int64_t o = 0; o < out_; ++o) {
        int64_t sum = 0;
        for (int64_t i = 0; i < in_; ++i) {
          sum += w[o * in_ + i];
        }
        if (input_.dtype == DType::kS8)
          compensation_[static_cast<size_t>(o)] = static_cast<int32_t>(128 * sum);
      }
      check_int32_accumulator(graph, node);
      if (kernels_.dot_u8s8_groups != nullptr) {
        // [groups][bytes of a group], in a Tensor for its 64-byte alignment:
        // each of the kernel's 64-byte loads then reads one cache line, not
        // two (a large std::vector's data starts 16 bytes into its page).
        const int64_t groups = (out_ + kernels::kFcQuantGroup - 1) / kernels::kFcQuantGroup;
        packed_s8_ = Tensor(
            Shape{groups, kernels::fc_quant_group_bytes(kernels::kFcQuantGroup, in_)}, DType::kS8);
        kernels::pack_fc_quant_groups(w, out_, in_, packed_s8_.data<int8_t>());
      }
    } else {
      padded_out_ =
          (out_ + kernels::kFcFloatBlock - 1) / kernels::kFcFloatBlock * kernels::kFcFloatBlock;
      packed_f32_.assign(static_cast<size_t>(in_ * padded_out_), 0.0f);
      const float* w = op_.weights.data<float>();
      constexpr int64_t kBlock = kernels::kFcFloatBlock;
      for (int64_t o = 0; o < out_; ++o) {
        float* block = packed_f32_.data() + (o / kBlock) * in_ * kBlock;
        for (int64_t i = 0; i < in_; ++i) block[i * kBlock + o % kBlock] = w[o * in_ + i];
      }
    }
  }

  std::string kernel_name() const override {
    return kernel_label(quantized() ? "fully_connected_q8" : "fully_connected_f32", kernels_.isa);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    if (quantized()) {
      run_quantized(inputs[0], output, batch, ctx.threads);
    } else {
      run_float(inputs[0], output, batch, ctx.threads);
    }
  }

 private:
  bool quantized() const { return op_.weights.dtype() == DType::kS8; }

  void run_quantized(const ConstTensorView& input, const TensorView& output, int64_t batch,
                     int threads) const {
    const int64_t chunks = (out_ + kQuantRowsPerTask - 1) / kQuantRowsPerTask;
    const int8_t* w = op_.weights.data<int8_t>();
    parallel_ranges(batch * chunks, threads, [&](int64_t begin, int64_t end) {
      std::vector<uint8_t> flipped(input_.dtype == DType::kS8 ? static_cast<size_t>(in_) : 0);
      int32_t dots[kQuantRowsPerTask];
      for (int64_t index = begin; index < end; ++index) {
        const int64_t n = index / chunks, first = (index % chunks) * kQuantRowsPerTask;
        const int64_t rows = std::min(kQuantRowsPerTask, out_ - first);
        const uint8_t* x = static_cast<const uint8_t*>(input.data) + n * in_;
        if (input_.dtype == DType::kS8) {
          // s8 + 128 as u8, the operand vpdpbusd needs.
          for (int64_t i = 0; i < in_; ++i) flipped[static_cast<size_t>(i)] = x[i] ^ 0x80;
          x = flipped.data();
        }
        if (packed_s8_.raw() == nullptr) {
          kernels_.dot_u8s8(x, w + first * in_, in_, rows, dots);
        } else {
          // first is a multiple of the group size (kQuantRowsPerTask).
          const int64_t group_bytes = packed_s8_.shape()[1];
          kernels_.dot_u8s8_groups(
              x, packed_s8_.data<int8_t>() + first / kernels::kFcQuantGroup * group_bytes, in_,
              rows, dots);
        }
        const auto o = static_cast<size_t>(first);
        kernels::FcDequantizeArgs args;
        args.dots = dots;
        args.compensation = compensation_.data() + o;
        args.act_scale = input.scales[n];
        args.weight_scales = op_.weight_scales.data() + o;
        args.bias = op_.bias.data() + o;
        args.activation = op_.activation;
        kernels_.dequantize(args, rows, output.as<float>() + n * out_ + first);
      }
    });
  }

  void run_float(const ConstTensorView& input, const TensorView& output, int64_t batch,
                 int threads) const {
    const int64_t blocks = padded_out_ / kernels::kFcFloatBlock;
    parallel_ranges(batch * blocks, threads, [&](int64_t begin, int64_t end) {
      float sums[kernels::kFcFloatBlock];
      for (int64_t index = begin; index < end; ++index) {
        const int64_t n = index / blocks, first = (index % blocks) * kernels::kFcFloatBlock;
        kernels_.block_f32(input.as<float>() + n * in_, packed_f32_.data() + first * in_, in_,
                           sums);
        float* y = output.as<float>() + n * out_;
        for (int64_t r = 0; r < kernels::kFcFloatBlock && first + r < out_; ++r) {
          const auto o = static_cast<size_t>(first + r);
          y[o] = kernels::apply_activation(sums[r] + op_.bias[o], op_.activation);
        }
      }
    });
  }

  std::string name_;
  FullyConnectedOp op_;
  ValueLayout input_, output_;
  int64_t in_ = 0, out_ = 0, padded_out_ = 0;
  kernels::FullyConnectedKernels kernels_;
  std::vector<int32_t> compensation_;
  std::vector<float> packed_f32_;
  Tensor packed_s8_;  // the groups layout, where the ISA's kernels take it (else empty)
};

}  // namespace

std::unique_ptr<CompiledNode> compile_fully_connected(const Graph& graph, const Node& node) {
  return std::make_unique<FullyConnectedNode>(graph, node);
}

}  // namespace sparq::cpu
