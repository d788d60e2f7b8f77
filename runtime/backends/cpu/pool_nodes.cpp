// Max / average pooling (one task per range of planes; max also on u8/s8
// planes) and global average pooling (fixed blocks of planes) on the CPU.
// Small planes whose windows tile their rows exactly stack: consecutive
// planes are then one tall plane, pooled in one kernel call.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/pool/pool.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/cpu/sample_parts.hpp"
#include "sparq/error.hpp"

namespace sparq::cpu {
namespace {

// How many of `threads` pool `batch` samples of `input`: all when every
// thread gets samples of its own, else as many as the element-wise nodes
// split such a sample into (SampleParts: one share per kShareElements), the
// split the convolution that wrote it makes too when its own work pays for
// it, so that each thread pools what its core wrote. Splitting every pool
// over all threads, the 2x2 pools of the Fashion-MNIST CNN after an unsplit
// layer (64 planes of 14x14) took 3.7 us on 2 threads and 1.8 on one.
int sample_threads(const ValueLayout& input, int64_t batch, int threads) {
  if (threads <= 1 || batch >= threads) return std::max(threads, 1);
  const SampleParts parts(input.shape.elements(), batch, threads, 1);
  return static_cast<int>(std::min<int64_t>(threads, batch * parts.per_sample()));
}

// Planes of fewer output rows than this stack into tall planes of at least
// this many: VGG-11's 2x2 pools at 4x4 and 2x2 ran one call per plane, a
// call costing as much as its pooling.
constexpr int64_t kStackRows = 64;

// Planes whose windows cover their rows exactly, without padding rows and
// without a window reaching into the next plane (kernel_h == stride_h and
// in_h == out_h * stride_h): k consecutive planes are one plane of k times
// the rows, every window the same (kernels/common/window_geometry.hpp).
int64_t planes_per_stack(const kernels::PoolGeometry& g) {
  const bool stacks =
      g.pad_h == 0 && g.kernel_h == g.stride_h && g.in_h == g.out_h * g.stride_h && g.out_h > 0;
  if (!stacks || g.out_h >= kStackRows) return 1;
  return (kStackRows + g.out_h - 1) / g.out_h;
}

kernels::PoolGeometry stacked(const kernels::PoolGeometry& g, int64_t planes) {
  kernels::PoolGeometry tall = g;
  tall.in_h = g.in_h * planes;
  tall.out_h = g.out_h * planes;
  return tall;
}

class Pool2dNode : public CompiledNode {
 public:
  Pool2dNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<Pool2dOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        kernels_(kernels::pool_kernels(kernels::active_isa())) {
    g_ = kernels::pool_geometry(op_, input_.shape, output_.shape);
    stack_ = planes_per_stack(g_);
    const Node* producer = index_graph(graph).producer[static_cast<size_t>(node.inputs[0])];
    relu_input_ = producer != nullptr && output_is_rectified(producer->op);
  }

  std::string kernel_name() const override {
    const char* name = op_.kind == PoolKind::kAverage ? "avg_pool2d"
                       : input_.dtype == DType::kU8   ? "max_pool2d_u8"
                       : input_.dtype == DType::kS8   ? "max_pool2d_s8"
                       : relu_input_                  ? "max_pool2d_after_relu"
                                                      : "max_pool2d";
    return kernel_label(name, kernels_.isa);
  }

  // One window buffer per worker, for a whole stack.
  size_t scratch_bytes(int64_t /*batch*/, int threads) const override {
    return worker_slots_bytes(window_bytes(), threads);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t in_plane = g_.in_h * g_.in_w, out_plane = g_.out_h * g_.out_w;
    const auto plane_fn = op_.kind == PoolKind::kAverage ? kernels_.avg_plane
                          : relu_input_                  ? kernels_.max_plane_relu
                                                         : kernels_.max_plane;
    const size_t slot = worker_slot_bytes(window_bytes());
    if (ctx.scratch == nullptr && slot > 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "node '" + name_ + "': run without the scratch buffer it asked for");
    }
    // Whole planes (or stacks of them) per task: a thread's share of a
    // sample on a SpinTeam is a share of its channels, the share the
    // convolutions around the pool give it (sample_parts.hpp).
    const int64_t planes = batch * input_.shape[0], stacks = (planes + stack_ - 1) / stack_;
    const int workers = sample_threads(input_, batch, ctx.threads);
    parallel_worker_ranges(stacks, workers, [&](int worker, int64_t begin, int64_t end) {
      void* window = static_cast<uint8_t*>(ctx.scratch) + static_cast<size_t>(worker) * slot;
      for (int64_t s = begin; s < end; ++s) {
        const int64_t first = s * stack_, count = std::min(stack_, planes - first);
        pool_planes(inputs[0], output, first * in_plane, first * out_plane, stacked(g_, count),
                    plane_fn, window);
      }
    });
    // Quantized planes: the largest byte is the byte of the largest value.
    if (input_.dtype != DType::kF32) std::copy_n(inputs[0].scales, batch, output.scales);
  }

 private:
  using PlaneFn = void (*)(const float*, float*, const kernels::PoolGeometry&, float*);

  size_t window_bytes() const {
    return kernels::pool_scratch_floats(stacked(g_, stack_)) * sizeof(float);
  }

  // One (possibly stacked) plane: input elements from in_at,
  // output elements from out_at.
  void pool_planes(const ConstTensorView& input, const TensorView& output, int64_t in_at,
                   int64_t out_at, const kernels::PoolGeometry& g, PlaneFn plane_fn,
                   void* window) const {
    if (input_.dtype == DType::kU8) {
      kernels_.max_plane_u8(input.as<uint8_t>() + in_at, output.as<uint8_t>() + out_at, g, window);
    } else if (input_.dtype == DType::kS8) {
      kernels_.max_plane_s8(input.as<int8_t>() + in_at, output.as<int8_t>() + out_at, g, window);
    } else {
      plane_fn(input.as<float>() + in_at, output.as<float>() + out_at, g,
               static_cast<float*>(window));
    }
  }

  std::string name_;
  Pool2dOp op_;
  ValueLayout input_, output_;
  kernels::PoolGeometry g_;
  int64_t stack_ = 1;  // planes pooled as one (planes_per_stack)
  kernels::PoolKernels kernels_;
  bool relu_input_ = false;  // the input is a ReLU's output: max_plane_relu
};

class GlobalAvgPoolNode : public CompiledNode {
 public:
  GlobalAvgPoolNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        kernels_(kernels::pool_kernels(kernels::active_isa())) {}

  // Each plane is summed in order (the reference's rounding).
  std::string kernel_name() const override { return kernel_label("global_avg_pool", kernels_.isa); }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t planes = batch * input_.shape[0];
    const int64_t plane_size = input_.shape[1] * input_.shape[2];
    constexpr int64_t kPlanesPerTask = 64;
    const int64_t tasks = (planes + kPlanesPerTask - 1) / kPlanesPerTask;
    const int workers = sample_threads(input_, batch, ctx.threads);
    parallel_ranges(tasks, workers, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t first = t * kPlanesPerTask;
        const int64_t count = std::min(kPlanesPerTask, planes - first);
        kernels_.global_avg(inputs[0].as<float>() + first * plane_size, static_cast<size_t>(count),
                            static_cast<size_t>(plane_size), output.as<float>() + first);
      }
    });
  }

 private:
  std::string name_;
  ValueLayout input_, output_;
  kernels::PoolKernels kernels_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_pool2d(const Graph& graph, const Node& node) {
  return std::make_unique<Pool2dNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_global_avg_pool(const Graph& graph, const Node& node) {
  return std::make_unique<GlobalAvgPoolNode>(graph, node);
}

}  // namespace sparq::cpu
