#include "sparq/model_builder.hpp"

#include "sparq/error.hpp"

namespace sparq {

ValueId ModelBuilder::input(const Shape& shape, DType dtype, const std::string& name) {
  if (graph_.input >= 0) throw Error(ErrorCode::kInvalidArgument, "the graph already has an input");
  graph_.values.push_back({name, shape, dtype});
  graph_.input = static_cast<ValueId>(graph_.values.size() - 1);
  return graph_.input;
}

ValueId ModelBuilder::add_node(OpAttrs op, std::vector<ValueId> inputs, const std::string& name) {
  Node node;
  node.name =
      name.empty() ? std::string(op_name(op)) + "_" + std::to_string(graph_.nodes.size()) : name;
  node.op = std::move(op);
  node.inputs = std::move(inputs);
  Value out = infer_output(graph_, node);  // throws, naming the node, on a mismatch
  out.name = node.name;
  graph_.values.push_back(std::move(out));
  node.output = static_cast<ValueId>(graph_.values.size() - 1);
  graph_.nodes.push_back(std::move(node));
  return graph_.nodes.back().output;
}

ValueId ModelBuilder::quantize(ValueId x, int bits, bool is_signed, const std::string& name) {
  return add_node(QuantizeOp{bits, is_signed}, {x}, name);
}
ValueId ModelBuilder::quantize_static(ValueId x, float scale, int bits, bool is_signed,
                                      const std::string& name) {
  return add_node(QuantizeOp{bits, is_signed, scale}, {x}, name);
}
ValueId ModelBuilder::dequantize(ValueId x, const std::string& name) {
  return add_node(DequantizeOp{}, {x}, name);
}
ValueId ModelBuilder::conv2d(ValueId x, Conv2dOp op, const std::string& name) {
  return add_node(std::move(op), {x}, name);
}
ValueId ModelBuilder::sparse_conv3x3(ValueId x, SparseConv3x3Op op, const std::string& name) {
  return add_node(std::move(op), {x}, name);
}
ValueId ModelBuilder::fully_connected(ValueId x, FullyConnectedOp op, const std::string& name) {
  return add_node(std::move(op), {x}, name);
}
ValueId ModelBuilder::pool2d(ValueId x, Pool2dOp op, const std::string& name) {
  return add_node(op, {x}, name);
}
ValueId ModelBuilder::global_avg_pool(ValueId x, const std::string& name) {
  return add_node(GlobalAvgPoolOp{}, {x}, name);
}
ValueId ModelBuilder::add(ValueId a, ValueId b, Activation activation, const std::string& name) {
  return add_node(AddOp{activation}, {a, b}, name);
}
ValueId ModelBuilder::activation(ValueId x, Activation activation, const std::string& name) {
  return add_node(ActivationOp{activation}, {x}, name);
}
ValueId ModelBuilder::flatten(ValueId x, const std::string& name) {
  return add_node(FlattenOp{}, {x}, name);
}
ValueId ModelBuilder::softmax(ValueId x, const std::string& name) {
  return add_node(SoftmaxOp{}, {x}, name);
}

void ModelBuilder::mark_output(ValueId v) {
  if (v < 0 || static_cast<size_t>(v) >= graph_.values.size()) {
    throw Error(ErrorCode::kInvalidArgument, "mark_output: unknown value " + std::to_string(v));
  }
  graph_.outputs.push_back(v);
}

Model ModelBuilder::build(ModelMetadata metadata) {
  Graph graph = std::move(graph_);
  graph_ = Graph{};
  return Model(std::move(graph), std::move(metadata));
}

}  // namespace sparq
