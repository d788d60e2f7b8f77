// The reference backend compiles each node through one factory per operation
// family, each in its own file in this folder. Every kernel here is a plain
// scalar loop written to be read and trusted: it is the oracle the other
// backends are tested against (docs/NUMERICS.md).
#pragma once

#include <memory>

#include "sparq/backend.hpp"
#include "sparq/graph.hpp"

namespace sparq::reference {

std::unique_ptr<CompiledNode> compile_quantize(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_dequantize(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_conv2d(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_sparse_conv3x3(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_fully_connected(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_pool2d(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_global_avg_pool(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_add(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_activation(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_flatten(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_softmax(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_channel_affine(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_broadcast_binary(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_sigmoid(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_clamp(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_concat(const Graph& graph, const Node& node);
std::unique_ptr<CompiledNode> compile_log_softmax(const Graph& graph, const Node& node);

}  // namespace sparq::reference
