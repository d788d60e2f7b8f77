// Max / average pooling (one task per range of planes; max also on u8/s8
// planes) and global average pooling (fixed blocks of planes) on the CPU.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/pool/pool.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/cpu/row_bands.hpp"
#include "sparq/error.hpp"

namespace sparq::cpu {
namespace {

class Pool2dNode : public CompiledNode {
 public:
  Pool2dNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<Pool2dOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)),
        kernels_(kernels::pool_kernels(kernels::active_isa())) {
    g_ = kernels::pool_geometry(op_, input_.shape, output_.shape);
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

  // One window buffer per worker.
  size_t scratch_bytes(int64_t /*batch*/, int threads) const override {
    return worker_slots_bytes(kernels::pool_scratch_floats(g_) * sizeof(float), threads);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t in_plane = g_.in_h * g_.in_w, out_plane = g_.out_h * g_.out_w;
    const auto plane_fn = op_.kind == PoolKind::kAverage ? kernels_.avg_plane
                          : relu_input_                  ? kernels_.max_plane_relu
                                                         : kernels_.max_plane;
    const size_t slot = worker_slot_bytes(kernels::pool_scratch_floats(g_) * sizeof(float));
    if (ctx.scratch == nullptr && slot > 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "node '" + name_ + "': run without the scratch buffer it asked for");
    }
    // Planes, or on several threads a band of rows of every plane per thread
    // (RowBands), each band pooled as a plane of its own.
    const RowBands bands(output_.shape, ctx.threads);
    const int64_t channels = input_.shape[0];
    const int64_t parts = bands.count() > 0 ? bands.count() : channels;  // per sample
    parallel_worker_ranges(batch * parts, ctx.threads, [&](int worker, int64_t begin, int64_t end) {
      void* window = static_cast<uint8_t*>(ctx.scratch) + static_cast<size_t>(worker) * slot;
      auto pool = [&](int64_t in_at, int64_t out_at, const kernels::PoolGeometry& g) {
        if (input_.dtype == DType::kU8) {
          kernels_.max_plane_u8(inputs[0].as<uint8_t>() + in_at, output.as<uint8_t>() + out_at, g,
                                window);
        } else if (input_.dtype == DType::kS8) {
          kernels_.max_plane_s8(inputs[0].as<int8_t>() + in_at, output.as<int8_t>() + out_at, g,
                                window);
        } else {
          plane_fn(inputs[0].as<float>() + in_at, output.as<float>() + out_at, g,
                   static_cast<float*>(window));
        }
      };
      for (int64_t index = begin; index < end; ++index) {
        if (bands.count() == 0) {
          pool(index * in_plane, index * out_plane, g_);
          continue;
        }
        const int64_t n = index / parts;
        const auto [first, last] = bands.rows(index % parts);
        int64_t first_row = 0;
        const kernels::PoolGeometry band = kernels::output_rows(g_, first, last, &first_row);
        for (int64_t plane = n * channels; plane < (n + 1) * channels; ++plane) {
          pool(plane * in_plane + first_row * g_.in_w, plane * out_plane + first * g_.out_w, band);
        }
      }
    });
    // Quantized planes: the largest byte is the byte of the largest value.
    if (input_.dtype != DType::kF32) std::copy_n(inputs[0].scales, batch, output.scales);
  }

 private:
  std::string name_;
  Pool2dOp op_;
  ValueLayout input_, output_;
  kernels::PoolGeometry g_;
  kernels::PoolKernels kernels_;
  bool relu_input_ = false;  // the input is a ReLU's output: max_plane_relu
};

class GlobalAvgPoolNode : public CompiledNode {
 public:
  GlobalAvgPoolNode(const Graph& graph, const Node& node)
      : name_(node.name),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {}

  // Each plane is summed in order (the reference's rounding), eight planes
  // interleaved to hide the add latency; there is no vector variant.
  std::string kernel_name() const override {
    return kernel_label("global_avg_pool", kernels::Isa::kScalar);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    const int64_t planes = batch * input_.shape[0];
    const int64_t plane_size = input_.shape[1] * input_.shape[2];
    constexpr int64_t kPlanesPerTask = 64;
    const int64_t tasks = (planes + kPlanesPerTask - 1) / kPlanesPerTask;
    parallel_ranges(tasks, ctx.threads, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t first = t * kPlanesPerTask;
        const int64_t count = std::min(kPlanesPerTask, planes - first);
        kernels::global_avg_pool_planes(inputs[0].as<float>() + first * plane_size,
                                        static_cast<size_t>(count), static_cast<size_t>(plane_size),
                                        output.as<float>() + first);
      }
    });
  }

 private:
  std::string name_;
  ValueLayout input_, output_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_pool2d(const Graph& graph, const Node& node) {
  return std::make_unique<Pool2dNode>(graph, node);
}

std::unique_ptr<CompiledNode> compile_global_avg_pool(const Graph& graph, const Node& node) {
  return std::make_unique<GlobalAvgPoolNode>(graph, node);
}

}  // namespace sparq::cpu
