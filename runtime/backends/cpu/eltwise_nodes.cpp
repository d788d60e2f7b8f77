// Element-wise nodes on the CPU: residual add (+ activation), activation and
// dequantize, split into the parts of each sample that SampleParts gives.
#include <algorithm>
#include <vector>

#include "kernels/eltwise/eltwise.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/cpu/sample_parts.hpp"

namespace sparq::cpu {
namespace {

// Large enough to amortise a task, small enough to split a 56x56x64 map.
constexpr int64_t kChunk = 16384;

// body(index, n, first, count) over the parts of each sample, part `index` of
// the batch being elements [first, first + count) of sample n (a part never
// spans two samples, so per-sample operands such as scales are one per part).
template <typename Body>
void for_sample_parts(const SampleParts& parts, int64_t batch, int threads, const Body& body) {
  parallel_ranges(batch * parts.per_sample(), threads, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const auto [first, count] = parts.extent(index);
      body(index, index / parts.per_sample(), first, count);
    }
  });
}

class AddNode : public CompiledNode {
 public:
  AddNode(const Graph& graph, const Node& node)
      : name_(node.name),
        activation_(std::get<AddOp>(node.op).activation),
        inputs_{layout_of(graph, node.inputs[0]), layout_of(graph, node.inputs[1])},
        output_(layout_of(graph, node.output)),
        kernels_(kernels::eltwise_kernels(kernels::active_isa())) {}

  std::string kernel_name() const override { return kernel_label("add", kernels_.isa); }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, inputs_, output, output_);
    const float* a = inputs[0].as<float>();
    const float* b = inputs[1].as<float>();
    float* y = output.as<float>();
    const SampleParts parts(output_.shape.elements(), batch, ctx.threads, kChunk);
    // With output.ranges: each part's range, then each sample's from its
    // parts (order-free).
    const int64_t per_sample = parts.per_sample();
    std::vector<SampleRange> ranges(output.ranges != nullptr ? batch * per_sample : 0);
    for_sample_parts(parts, batch, ctx.threads,
                     [&](int64_t index, int64_t, int64_t first, int64_t count) {
                       const auto size = static_cast<size_t>(count);
                       if (ranges.empty()) {
                         kernels_.add(a + first, b + first, y + first, size, activation_);
                       } else {
                         kernels_.add_ranged(a + first, b + first, y + first, size, activation_,
                                             ranges[static_cast<size_t>(index)]);
                       }
                     });
    for (int64_t n = 0; n < batch && !ranges.empty(); ++n) {
      output.ranges[n] =
          fold_parts({ranges.data() + n * per_sample, static_cast<size_t>(per_sample)});
    }
  }
  bool writes_ranges() const override { return true; }

 private:
  std::string name_;
  Activation activation_;
  ValueLayout inputs_[2];
  ValueLayout output_;
  kernels::EltwiseKernels kernels_;
};

class ActivationNode : public CompiledNode {
 public:
  ActivationNode(const Graph& graph, const Node& node)
      : name_(node.name),
        activation_(std::get<ActivationOp>(node.op).activation),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        kernels_(kernels::eltwise_kernels(kernels::active_isa())) {}

  std::string kernel_name() const override {
    return kernel_label(std::string("activation_") + to_string(activation_), kernels_.isa);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const float* x = inputs[0].as<float>();
    float* y = output.as<float>();
    const SampleParts parts(output_.shape.elements(), batch, ctx.threads, kChunk);
    for_sample_parts(
        parts, batch, ctx.threads, [&](int64_t, int64_t, int64_t first, int64_t count) {
          kernels_.activate(x + first, y + first, static_cast<size_t>(count), activation_);
        });
  }

 private:
  std::string name_;
  Activation activation_;
  ValueLayout input_, output_;
  kernels::EltwiseKernels kernels_;
};

class DequantizeNode : public CompiledNode {
 public:
  DequantizeNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        kernels_(kernels::eltwise_kernels(kernels::active_isa())) {}

  std::string kernel_name() const override {
    return kernel_label(std::string("dequantize_") + to_string(input_.dtype), kernels_.isa);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const SampleParts parts(input_.shape.elements(), batch, ctx.threads, kChunk);
    for_sample_parts(
        parts, batch, ctx.threads, [&](int64_t, int64_t n, int64_t first, int64_t count) {
          const auto size = static_cast<size_t>(count);
          float* y = output.as<float>() + first;
          if (input_.dtype == DType::kU8) {
            kernels_.dequantize_u8(inputs[0].as<uint8_t>() + first, inputs[0].scales[n], y, size);
          } else {
            kernels_.dequantize_s8(inputs[0].as<int8_t>() + first, inputs[0].scales[n], y, size);
          }
        });
  }

 private:
  std::string name_;
  ValueLayout input_, output_;
  kernels::EltwiseKernels kernels_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_add(const Graph& graph, const Node& node) {
  return std::make_unique<AddNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_activation(const Graph& graph, const Node& node) {
  return std::make_unique<ActivationNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_dequantize(const Graph& graph, const Node& node) {
  return std::make_unique<DequantizeNode>(graph, node);
}

}  // namespace sparq::cpu
