// The CPU node of the pruned N-of-9 3x3 convolution: checks the node against
// its input, repacks the taps once for the best kernel path of this CPU
// (kernels/sparse_conv3x3), and runs each sample of a batch with that
// sample's activation scale: a sample per work item when the batch covers the
// threads, else sample after sample with the kernel's items over the threads
// worth waking. Every byte a worker uses comes from the session's scratch.
// With f32 output it stores each sample's range for a dynamic quantize that
// reads it (writes_ranges): each worker widens the RangeLanes in its scratch
// as its epilogues store, folded once per sample. A fused residual add
// (FusedResidual) is applied by the epilogue as it stores each value.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/cpu/sparse_conv3x3_workers.hpp"
#include "sparq/error.hpp"

namespace sparq::cpu {
namespace {

class SparseConv3x3Node : public CompiledNode {
 public:
  SparseConv3x3Node(const Graph& graph, const Node& node, const SparseConv3x3Op& op)
      : name_(node.name),
        inputs_{layout_of(graph, node.inputs.at(0)),
                op.residual.enabled ? layout_of(graph, node.inputs.at(1)) : ValueLayout{}},
        output_(layout_of(graph, node.output)),
        output_quantization_(op.output_quantization),
        residual_(op.residual),
        kernel_(make_kernel(node.name, op, inputs_[0])),
        quantize_(kernels::quantize_kernels(kernels::active_isa())) {}

  bool writes_ranges() const override { return !output_quantization_.enabled(); }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const size_t operands = residual_.enabled ? 2 : 1;
    const int64_t batch = check_views(name_, inputs, {inputs_, operands}, output, output_);
    if (ctx.scratch == nullptr) {
      throw Error(ErrorCode::kInvalidArgument,
                  "node '" + name_ + "': run without the scratch buffer it asked for");
    }
    const int64_t in_sample = inputs_[0].shape.elements();  // one byte per u8/s8 value
    const int64_t out_sample = output_.shape.elements();
    const auto* in = static_cast<const uint8_t*>(inputs[0].data);
    auto* out = static_cast<uint8_t*>(output.data);
    // f32 output, or one byte per value with the fused static quantize.
    const int64_t out_bytes = output_quantization_.enabled() ? 1 : 4;
    if (output_quantization_.enabled()) {
      for (int64_t n = 0; n < batch; ++n) output.scales[n] = output_quantization_.scale;
    }
    const bool widen = writes_ranges() && output.ranges != nullptr;
    const float* residual = residual_.enabled ? inputs[1].as<float>() : nullptr;
    auto sample = [&](int64_t n) {
      return kernels::Sparse3x3Sample{in + n * in_sample,
                                      inputs[0].scales[n],
                                      out + n * out_sample * out_bytes,
                                      output_quantization_,
                                      widen,
                                      residual ? residual + n * out_sample : nullptr,
                                      residual_};
    };
    // Sample n's range from the lanes of `count` workers.
    auto store_range = [&](int64_t n, int count, const auto& scratch_of) {
      output.ranges[n] = fold_range_lanes(
          count, [&](int w) -> const auto& { return *kernel_.worker_range(scratch_of(w)); },
          output.as<float>() + n * out_sample, out_sample, quantize_);
    };
    // Samples [begin, end) whole on one worker, in passes of run_samples
    // (several samples share a pass only where it shares the weights);
    // `own` holds samples_per_pass worker scratches.
    const size_t own_stride = kernel_.worker_scratch_bytes();
    auto run_whole = [&](int64_t begin, int64_t end, int per_pass, uint8_t* own) {
      kernels::Sparse3x3Sample pass[kernels::kMaxPassSamples];
      for (int64_t first = begin; first < end; first += per_pass) {
        const int count = static_cast<int>(std::min<int64_t>(per_pass, end - first));
        for (int i = 0; i < count; ++i) {
          pass[i] = sample(first + i);
          if (widen) std::construct_at(kernel_.worker_range(own + i * own_stride));
        }
        kernel_.run_samples({pass, static_cast<size_t>(count)}, own);
        for (int i = 0; widen && i < count; ++i) {
          store_range(first + i, 1, [&](int) { return own + i * own_stride; });
        }
      }
    };
    if (per_sample_workers(batch, ctx.threads)) {
      // Enough samples for every thread: each worker runs whole samples in
      // its own scratch, so a small layer is not one fork-join per sample.
      // The kernel's result does not depend on its split.
      const int per_pass = samples_per_pass(batch, ctx.threads);
      run_capped(batch, ctx.threads,
                 std::max<int64_t>(balanced_grain(batch, ctx.threads), per_pass),
                 [&](int worker, int64_t begin, int64_t end) {
                   run_whole(begin, end, per_pass,
                             static_cast<uint8_t*>(ctx.scratch) +
                                 static_cast<size_t>(worker) * per_pass * own_stride);
                 });
      return;
    }
    // Otherwise samples run on the threads worth waking for this layer: on
    // one, whole; on several, one after another, each over its own pixel
    // tiles and channel blocks.
    const int workers = kernel_.useful_threads(ctx.threads);
    if (workers == 1) {
      run_whole(0, batch, samples_per_pass(batch, 1), static_cast<uint8_t*>(ctx.scratch));
      return;
    }
    for (int64_t n = 0; n < batch; ++n) {
      run_sparse_conv3x3_sample(kernel_, sample(n), ctx.scratch, workers);
      if (widen) {
        store_range(n, workers, [&](int w) {
          return sparse_conv3x3_worker_scratch(kernel_, ctx.scratch, workers, w);
        });
      }
    }
  }

  // Every worker's staged input and accumulators (run() picks the workers),
  // a worker scratch per sample of a pass where passes share the weights.
  size_t scratch_bytes(int64_t batch, int threads) const override {
    const bool per_sample = per_sample_workers(batch, threads);
    const int workers = per_sample ? threads : kernel_.useful_threads(threads);
    const int per_pass = per_sample || workers == 1 ? samples_per_pass(batch, workers) : 1;
    return std::max(sparse_conv3x3_sample_scratch(kernel_, workers),
                    static_cast<size_t>(workers) * per_pass * kernel_.worker_scratch_bytes());
  }
  std::string kernel_name() const override {
    if (output_quantization_.enabled()) return kernel_.name() + "_to_" + to_string(output_.dtype);
    return residual_.enabled ? kernel_.name() + "_add" : kernel_.name();
  }

 private:
  static kernels::SparseConv3x3Kernel make_kernel(const std::string& name,
                                                  const SparseConv3x3Op& op,
                                                  const ValueLayout& input) {
    auto fail = [&](ErrorCode code, const std::string& what) {
      throw Error(code, "node '" + name + "': " + what);
    };
    if (input.shape.rank() != 3) fail(ErrorCode::kInvalidModel, "input must be [C, H, W]");
    if (input.dtype != DType::kU8 && input.dtype != DType::kS8) {
      fail(ErrorCode::kInvalidModel, "input must be u8 or s8 (quantized activations)");
    }
    if (input.shape[0] != op.in_channels) {
      fail(ErrorCode::kInvalidModel, "in_channels " + std::to_string(op.in_channels) +
                                         " does not match the input's " +
                                         std::to_string(input.shape[0]) + " channels");
    }
    const int64_t max_dim = std::numeric_limits<int32_t>::max() / 4;
    if (input.shape[1] > max_dim || input.shape[2] > max_dim) {
      fail(ErrorCode::kUnsupported, "input plane " + input.shape.to_string() + " is too large");
    }
    check_int32_accumulator(name, sparse_conv3x3_accumulator_bound(op, input.dtype));
    kernels::Sparse3x3Problem problem;
    problem.in_channels = op.in_channels;
    problem.out_channels = op.out_channels;
    problem.height = static_cast<int>(input.shape[1]);
    problem.width = static_cast<int>(input.shape[2]);
    problem.stride = op.stride;
    problem.density = op.density;
    problem.signed_input = input.dtype == DType::kS8;
    try {
      return kernels::SparseConv3x3Kernel::create(problem, op.taps, op.weight_scales, op.bias,
                                                  op.activation, kernels::active_isa());
    } catch (const Error& e) {
      throw Error(e.code(), "node '" + name + "': " + e.what());
    }
  }

  // True when run() gives each of `threads` workers whole samples.
  static bool per_sample_workers(int64_t batch, int threads) {
    return threads > 1 && batch >= threads;
  }
  // Samples of one worker's pass when `workers` share `batch` samples.
  int samples_per_pass(int64_t batch, int workers) const {
    return kernel_.samples_per_pass((batch + workers - 1) / workers);
  }

  std::string name_;
  ValueLayout inputs_[2];  // the layer's input, then the residual (if fused)
  ValueLayout output_;
  OutputQuantization output_quantization_;
  FusedResidual residual_;
  kernels::SparseConv3x3Kernel kernel_;
  kernels::QuantizeKernels quantize_;  // the rule's fold, for an overflowing sample
};

}  // namespace

std::unique_ptr<CompiledNode> compile_sparse_conv3x3(const Graph& graph, const Node& node) {
  const auto* op = std::get_if<SparseConv3x3Op>(&node.op);
  if (op == nullptr) {
    throw Error(ErrorCode::kInternal, "node '" + node.name + "' is not a sparse_conv3x3");
  }
  return std::make_unique<SparseConv3x3Node>(graph, node, *op);
}

}  // namespace sparq::cpu
