// The reference backend: plain scalar code for every operation, the oracle of
// the numerics contract (docs/NUMERICS.md). It supports every node but the
// integer layers whose int32 accumulator could overflow (the contract refuses
// those everywhere), so a session can fall back to it.
#include <memory>

#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/builtin_backends.hpp"
#include "runtime/backends/node_compilers.hpp"
#include "runtime/backends/reference/reference_nodes.hpp"

namespace sparq {
namespace {

const NodeCompilers kReferenceCompilers{
    .quantize = reference::compile_quantize,
    .dequantize = reference::compile_dequantize,
    .conv2d = reference::compile_conv2d,
    .sparse_conv3x3 = reference::compile_sparse_conv3x3,
    .fully_connected = reference::compile_fully_connected,
    .pool2d = reference::compile_pool2d,
    .global_avg_pool = reference::compile_global_avg_pool,
    .add = reference::compile_add,
    .activation = reference::compile_activation,
    .flatten = reference::compile_flatten,
    .softmax = reference::compile_softmax,
    .channel_affine = reference::compile_channel_affine,
    .broadcast_binary = reference::compile_broadcast_binary,
    .sigmoid = reference::compile_sigmoid,
    .clamp = reference::compile_clamp,
    .concat = reference::compile_concat,
    .log_softmax = reference::compile_log_softmax,
};

class ReferenceBackend : public Backend {
 public:
  std::string name() const override { return "reference"; }

  bool supports(const Graph& graph, const Node& node) const override {
    return int32_accumulator_overflow(graph, node).empty();
  }

  std::unique_ptr<CompiledNode> compile(const Graph& graph, const Node& node) const override {
    return compile_checked(kReferenceCompilers, "reference", graph, node);
  }
};

}  // namespace

std::shared_ptr<const Backend> make_reference_backend() {
  return std::make_shared<const ReferenceBackend>();
}

}  // namespace sparq
