// The "cpu" backend: SIMD kernels chosen per node for the active ISA
// (kernels::active_isa(), SPARQ_ISA caps it), oneTBB inside the session's
// arena. It supports the operations sparq's own models use, bit-identical to
// "reference".
#include <memory>

#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/node_compilers.hpp"
#include "sparq/backend.hpp"

namespace sparq {
namespace {

const NodeCompilers kCpuCompilers{
    .quantize = cpu::compile_quantize,
    .dequantize = cpu::compile_dequantize,
    .conv2d = cpu::compile_conv2d,
    .sparse_conv3x3 = cpu::compile_sparse_conv3x3,
    .fully_connected = cpu::compile_fully_connected,
    .pool2d = cpu::compile_pool2d,
    .global_avg_pool = cpu::compile_global_avg_pool,
    .add = cpu::compile_add,
    .activation = cpu::compile_activation,
    .flatten = cpu::compile_flatten,
    .softmax = cpu::compile_softmax,
};

class CpuBackend : public Backend {
 public:
  std::string name() const override { return "cpu"; }

  // The operations of imported models (channel_affine, sigmoid, concat, ...)
  // and average pooling that excludes padding have no compiler here: the
  // session runs them on the reference backend. Layers whose int32
  // accumulator could overflow are refused, as compile() would.
  bool supports(const Graph& graph, const Node& node) const override {
    if (const auto* pool = std::get_if<Pool2dOp>(&node.op)) return pool->count_include_pad;
    return has_compiler(kCpuCompilers, node.op) && int32_accumulator_overflow(graph, node).empty();
  }

  std::unique_ptr<CompiledNode> compile(const Graph& graph, const Node& node) const override {
    return compile_checked(kCpuCompilers, "cpu", graph, node);
  }
};

}  // namespace

std::shared_ptr<const Backend> make_cpu_backend() {
  return std::make_shared<const CpuBackend>();
}

}  // namespace sparq
