// The computation graph: values (tensors flowing between nodes, per-sample
// shapes) and nodes (an operation with its inputs and one output), kept in
// topological order. Graphs are built with `ModelBuilder` and owned by `Model`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sparq/dtype.hpp"
#include "sparq/ops.hpp"
#include "sparq/shape.hpp"

namespace sparq {

using ValueId = int32_t;

struct Value {
  std::string name;
  Shape shape;  // per sample: [C, H, W] or [F]
  DType dtype = DType::kF32;
};

struct Node {
  std::string name;
  OpAttrs op;
  std::vector<ValueId> inputs;
  ValueId output = -1;
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  ValueId input = -1;       // the single graph input
  std::vector<ValueId> outputs;

  const Value& value(ValueId id) const { return values.at(static_cast<size_t>(id)); }
};

// Who produces and who reads each value of a graph, built once in O(nodes +
// edges) so that questions about one node's neighbours (a backend's
// supports/compile, the chip model) stay linear in the graph's size. Points
// into the graph: valid while it lives, unchanged.
struct GraphIndex {
  std::vector<const Node*> producer;            // per value; nullptr for the graph input
  std::vector<std::vector<const Node*>> users;  // per value, in graph order, each node once
  std::vector<bool> is_output;                  // per value
  // Unique per index_graph call: a backend may remember a whole-graph fact
  // (the device's total weight bytes) under it while a session compiles.
  uint64_t id = 0;
};
GraphIndex index_graph(const Graph& graph);

// Infers the output value (shape and dtype) of `node` from its inputs; throws
// Error(kInvalidModel) naming the node and the problem when they do not fit.
Value infer_output(const Graph& graph, const Node& node);

// Checks every structural and semantic rule (ids in range, topological order,
// shapes and dtypes agree with infer_output, weights sized and in range,
// densities 1..9, tap bytes well formed, scales finite and positive).
// Throws Error(kInvalidModel) with a message naming the node and field.
void validate(const Graph& graph);

// Fuses each quantized-mode Conv2dOp / SparseConv3x3Op whose output is read
// by exactly one node, a static QuantizeOp (scale > 0), and is not a graph
// output, with that QuantizeOp: the convolution (keeping its name) gets the
// quantize's OutputQuantization and writes its u8/s8 value; the QuantizeOp
// and the f32 value disappear. A max Pool2dOp between a ReLU/ReLU6 layer and
// the QuantizeOp (the pool's output read by the quantize alone) is moved
// behind it: the layer writes u8/s8 of its own shape and the pool reads them
// and writes the quantize's value. Results are unchanged bit for bit.
// `folded` receives the number of quantize nodes fused. `graph` must be
// valid (validate).
Graph fold_static_quantize(const Graph& graph, int* folded = nullptr);

// Fuses each AddOp with a SparseConv3x3Op that writes one of its operands in
// f32 (no OutputQuantization, not fused already) for the add alone (not a
// graph output, no other reader): the convolution, keeping its name, moves to
// the add's place in the node order, reads the other operand as its second
// input and writes the add's value (FusedResidual, with the add's activation
// and operand order); the AddOp and the layer's own output value disappear.
// Results are unchanged bit for bit. `folded` receives the number of adds
// fused. `graph` must be valid (validate).
Graph fold_residual_add(const Graph& graph, int* folded = nullptr);

// Fuses each f32 max Pool2dOp into the quantized Conv2dOp that writes its
// input in f32 (no OutputQuantization, not fused already) for the pool alone
// (not a graph output, no other reader): the convolution, keeping its name,
// writes the pool's output value (FusedMaxPool with the pool's window); the
// Pool2dOp and the convolution's own output value disappear. Results are
// unchanged bit for bit. `folded` receives the number of pools fused.
// `graph` must be valid (validate).
Graph fold_max_pool(const Graph& graph, int* folded = nullptr);

// Multiply-accumulates of one sample through `node`: dense (what the unpruned
// layer needs) and actual (kept taps only). Zero for non-arithmetic ops.
struct MacCount {
  int64_t dense = 0;
  int64_t actual = 0;
};
MacCount count_macs(const Graph& graph, const Node& node);

}  // namespace sparq
