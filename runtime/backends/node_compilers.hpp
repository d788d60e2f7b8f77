// A backend's node compilers, one per operation, and the one place that
// checks a node before any of them sees it. Backends that support every
// operation (cpu, reference) are a table of these plus a name.
#pragma once

#include <memory>

#include "sparq/backend.hpp"
#include "sparq/graph.hpp"

namespace sparq {

struct NodeCompilers {
  using Compile = std::unique_ptr<CompiledNode> (*)(const Graph&, const Node&);
  Compile quantize = nullptr;
  Compile dequantize = nullptr;
  Compile conv2d = nullptr;
  Compile sparse_conv3x3 = nullptr;
  Compile fully_connected = nullptr;
  Compile pool2d = nullptr;
  Compile global_avg_pool = nullptr;
  Compile add = nullptr;
  Compile activation = nullptr;
  Compile flatten = nullptr;
  Compile softmax = nullptr;
  Compile channel_affine = nullptr;
  Compile broadcast_binary = nullptr;
  Compile sigmoid = nullptr;
  Compile clamp = nullptr;
  Compile concat = nullptr;
  Compile log_softmax = nullptr;
};

// True when the table has a compiler for the operation of `op`.
bool has_compiler(const NodeCompilers& compilers, const OpAttrs& op);

// Checks that the node's declared output is what its operation gives for its
// inputs (kernels index buffers by those shapes), then calls the compiler of
// node.op. Throws Error(kInvalidModel) naming the node when the output
// disagrees, and Error(kUnsupported) when the table has no compiler for it.
std::unique_ptr<CompiledNode> compile_checked(const NodeCompilers& compilers, const char* backend,
                                              const Graph& graph, const Node& node);

}  // namespace sparq
