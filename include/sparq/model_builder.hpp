// Builds graphs in code. Each call appends a node and returns its output value,
// whose shape is inferred at once, so mistakes are reported where they are made.
#pragma once

#include <string>

#include "sparq/model.hpp"

namespace sparq {

class ModelBuilder {
 public:
  // The single graph input, per-sample shape (e.g. {1, 28, 28}).
  ValueId input(const Shape& shape, DType dtype = DType::kF32, const std::string& name = "input");

  // Dynamic quantization: each sample's scale from that sample.
  ValueId quantize(ValueId x, int bits = 8, bool is_signed = false, const std::string& name = "");
  // Static quantization: `scale` (> 0, e.g. from sparq calibrate) for every sample.
  ValueId quantize_static(ValueId x, float scale, int bits = 8, bool is_signed = false,
                          const std::string& name = "");
  ValueId dequantize(ValueId x, const std::string& name = "");
  ValueId conv2d(ValueId x, Conv2dOp op, const std::string& name = "");
  ValueId sparse_conv3x3(ValueId x, SparseConv3x3Op op, const std::string& name = "");
  ValueId fully_connected(ValueId x, FullyConnectedOp op, const std::string& name = "");
  ValueId pool2d(ValueId x, Pool2dOp op, const std::string& name = "");
  ValueId global_avg_pool(ValueId x, const std::string& name = "");
  ValueId add(ValueId a, ValueId b, Activation activation = Activation::kNone,
              const std::string& name = "");
  ValueId activation(ValueId x, Activation activation, const std::string& name = "");
  ValueId flatten(ValueId x, const std::string& name = "");
  ValueId softmax(ValueId x, const std::string& name = "");

  // Any node (the typed helpers above call this).
  ValueId add_node(OpAttrs op, std::vector<ValueId> inputs, const std::string& name = "");

  void mark_output(ValueId v);
  const Graph& graph() const { return graph_; }
  const Value& value(ValueId v) const { return graph_.value(v); }

  // Validates and hands the graph to a Model (the builder is left empty).
  Model build(ModelMetadata metadata = {});

 private:
  Graph graph_;
};

}  // namespace sparq
