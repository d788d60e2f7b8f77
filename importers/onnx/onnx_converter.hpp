// ONNX graph -> sparq float graph, node by node in file order, with BatchNorm
// folded into and ReLU / ReLU6 fused into the convolution (or fully connected
// layer, or residual add) that produces their input when nothing else reads it.
#pragma once

#include <string>
#include <vector>

#include "importers/onnx/onnx_proto.hpp"
#include "sparq/graph.hpp"

namespace sparq::onnx_import {

struct ConvertedGraph {
  Graph graph;
  std::vector<std::string> onnx_ops;  // per sparq node: the ONNX ops it came from
  std::string name;
  int64_t opset = 0;
};

ConvertedGraph convert_graph(const onnx::ModelProto& model);

}  // namespace sparq::onnx_import
