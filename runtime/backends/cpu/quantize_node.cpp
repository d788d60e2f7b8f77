// Quantization on the CPU, per sample. Dynamic: the range of the input as
// its producer stored it (ConstTensorView::ranges), else from a parallel
// pass over the parts of each sample that SampleParts gives (max and min are
// exact and order-free, so the split cannot change them), and the scale from
// sparq::activation_scale_from_max (the contract's one definition). Static:
// the node's calibrated scale, no range pass. Then a parallel quantize pass
// (u8 of a ReLU's output: the kernels' rounding for rectified values).
#include <algorithm>
#include <vector>

#include "kernels/quantize/quantize.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/cpu/sample_parts.hpp"
#include "sparq/quantization.hpp"

namespace sparq::cpu {
namespace {

constexpr int64_t kChunk = 32768;

class QuantizeNode : public CompiledNode {
 public:
  QuantizeNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<QuantizeOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        qmax_(activation_qmax(op_.bits, op_.is_signed)),
        kernels_(kernels::quantize_kernels(kernels::active_isa())) {
    // u8 of a ReLU's or ReLU6's output: the rounding for values never
    // below +0 nor NaN (QuantizeKernels::to_u8_rectified).
    const Node* producer = index_graph(graph).producer[static_cast<size_t>(node.inputs[0])];
    rectified_u8_ =
        !op_.is_signed && qmax_ == 255 && producer != nullptr && output_is_rectified(producer->op);
  }

  std::string kernel_name() const override {
    const std::string format = op_.is_signed ? "s8" : "u" + std::to_string(op_.bits);
    return kernel_label("quantize_" + format + (op_.scale > 0.0f ? "_static" : ""), kernels_.isa);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const SampleParts parts(input_.shape.elements(), batch, ctx.threads, kChunk);
    const int64_t per_sample = parts.per_sample();
    const float* x = inputs[0].as<float>();

    if (op_.scale > 0.0f) {
      std::fill_n(output.scales, batch, op_.scale);
    } else if (inputs[0].ranges != nullptr) {
      // The producer found each sample's range while writing it.
      for (int64_t n = 0; n < batch; ++n) output.scales[n] = scale_of(inputs[0].ranges[n]);
    } else {
      dynamic_scales(x, batch, parts, output.scales, ctx);
    }
    parallel_ranges(batch * per_sample, ctx.threads, [&](int64_t begin, int64_t end) {
      for (int64_t index = begin; index < end; ++index) {
        const auto [first, elements] = parts.extent(index);
        const auto count = static_cast<size_t>(elements);
        const float scale = output.scales[index / per_sample];
        if (op_.is_signed) {
          kernels_.to_s8(x + first, count, scale, output.as<int8_t>() + first);
        } else if (rectified_u8_) {
          kernels_.to_u8_rectified(x + first, count, scale, output.as<uint8_t>() + first);
        } else {
          kernels_.to_u8(x + first, count, scale, qmax_, output.as<uint8_t>() + first);
        }
      }
    });
  }

 private:
  // The dynamic rule: each sample's scale from its range.
  void dynamic_scales(const float* x, int64_t batch, const SampleParts& parts, float* scales,
                      const ExecContext& ctx) const {
    const int64_t per_sample = parts.per_sample();
    std::vector<kernels::SampleRange> part_ranges(static_cast<size_t>(batch * per_sample));
    parallel_ranges(batch * per_sample, ctx.threads, [&](int64_t begin, int64_t end) {
      for (int64_t index = begin; index < end; ++index) {
        const auto [first, count] = parts.extent(index);
        kernels_.fold_range(x + first, static_cast<size_t>(count),
                            part_ranges[static_cast<size_t>(index)]);
      }
    });
    for (int64_t n = 0; n < batch; ++n) {
      scales[n] = scale_of(
          fold_parts({part_ranges.data() + n * per_sample, static_cast<size_t>(per_sample)}));
    }
  }

  float scale_of(const kernels::SampleRange& range) const {
    return activation_scale_from_max(kernels::scale_max(range, op_.is_signed), op_.bits,
                                     op_.is_signed);
  }

  std::string name_;
  QuantizeOp op_;
  ValueLayout input_, output_;
  int qmax_ = 255;
  kernels::QuantizeKernels kernels_;
  bool rectified_u8_ = false;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_quantize(const Graph& graph, const Node& node) {
  return std::make_unique<QuantizeNode>(graph, node);
}

}  // namespace sparq::cpu
