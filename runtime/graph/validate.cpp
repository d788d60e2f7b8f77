// Semantic validation of a graph: everything a backend relies on is checked
// here once, so kernels can trust their inputs.
#include <cmath>
#include <set>
#include <string>

#include "sparq/error.hpp"
#include "sparq/graph.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, what);
}

void check_finite_positive(const Node& node, const std::vector<float>& v, const char* field) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]) || v[i] <= 0) {
      fail("node '" + node.name + "': " + field + "[" + std::to_string(i) +
           "] must be finite and positive, is " + std::to_string(v[i]));
    }
  }
}

void check_finite(const Node& node, const std::vector<float>& v, const char* field) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      fail("node '" + node.name + "': " + field + "[" + std::to_string(i) + "] is not finite");
    }
  }
}

void check_float_weights(const Node& node, const Tensor& w) {
  if (w.dtype() != DType::kF32) return;
  auto values = w.span<float>();
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      fail("node '" + node.name + "': weights[" + std::to_string(i) + "] is not finite");
    }
  }
}

void check_s8_weights(const Node& node, const Tensor& w) {
  if (w.dtype() != DType::kS8) return;
  auto values = w.span<int8_t>();
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == -128) {
      fail("node '" + node.name + "': weights[" + std::to_string(i) +
           "] is -128; symmetric 8-bit weights use -127..127");
    }
  }
}

void check_node_data(const Node& node) {
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    check_float_weights(node, conv->weights);
    check_s8_weights(node, conv->weights);
    check_finite_positive(node, conv->weight_scales, "weight_scales");
    check_finite(node, conv->bias, "bias");
  } else if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    check_finite_positive(node, sparse->weight_scales, "weight_scales");
    check_finite(node, sparse->bias, "bias");
    if (sparse->sharing.out_group < 1 || sparse->sharing.in_group < 1) {
      fail("node '" + node.name + "': sharing groups must be >= 1");
    }
    std::string problem = check_taps(sparse->taps, sparse->out_channels, sparse->in_channels,
                                     sparse->density, sparse->sharing);
    if (!problem.empty()) fail("node '" + node.name + "': taps: " + problem);
  } else if (const auto* fc = std::get_if<FullyConnectedOp>(&node.op)) {
    check_float_weights(node, fc->weights);
    check_s8_weights(node, fc->weights);
    check_finite_positive(node, fc->weight_scales, "weight_scales");
    check_finite(node, fc->bias, "bias");
  } else if (const auto* affine = std::get_if<ChannelAffineOp>(&node.op)) {
    check_finite(node, affine->scale, "scale");
    check_finite(node, affine->shift, "shift");
  } else if (const auto* clamp = std::get_if<ClampOp>(&node.op)) {
    check_finite(node, {clamp->min, clamp->max}, "min, max");
  }
}

}  // namespace

void validate(const Graph& graph) {
  const auto value_count = static_cast<ValueId>(graph.values.size());
  if (graph.input < 0 || graph.input >= value_count) fail("graph input refers to an unknown value");
  if (graph.outputs.empty()) fail("graph has no outputs");
  if (graph.nodes.empty()) fail("graph has no nodes");

  std::vector<bool> defined(graph.values.size(), false);
  defined[static_cast<size_t>(graph.input)] = true;
  std::set<std::string> names;
  for (const Node& node : graph.nodes) {
    if (node.name.empty()) fail("a node has an empty name");
    if (!names.insert(node.name).second) fail("node name '" + node.name + "' is used twice");
    for (ValueId in : node.inputs) {
      if (in < 0 || in >= value_count) {
        fail("node '" + node.name + "': input refers to unknown value " + std::to_string(in));
      }
      if (!defined[static_cast<size_t>(in)]) {
        fail("node '" + node.name + "': input '" + graph.value(in).name +
             "' is used before it is produced (nodes must be in topological order)");
      }
    }
    if (node.output < 0 || node.output >= value_count) {
      fail("node '" + node.name + "': output refers to unknown value " +
           std::to_string(node.output));
    }
    if (defined[static_cast<size_t>(node.output)]) {
      fail("node '" + node.name + "': output '" + graph.value(node.output).name +
           "' is produced twice");
    }
    Value inferred = infer_output(graph, node);
    const Value& declared = graph.value(node.output);
    if (inferred.shape != declared.shape || inferred.dtype != declared.dtype) {
      fail("node '" + node.name + "': output '" + declared.name + "' is declared " +
           to_string(declared.dtype) + " " + declared.shape.to_string() +
           " but the operation gives " + to_string(inferred.dtype) + " " +
           inferred.shape.to_string());
    }
    check_node_data(node);
    defined[static_cast<size_t>(node.output)] = true;
  }
  for (ValueId out : graph.outputs) {
    if (out < 0 || out >= value_count)
      fail("graph output refers to unknown value " + std::to_string(out));
    if (!defined[static_cast<size_t>(out)])
      fail("graph output '" + graph.value(out).name + "' is never produced");
  }
  const Value& in = graph.value(graph.input);
  for (int64_t d : in.shape.dims()) {
    if (d <= 0)
      fail("graph input '" + in.name + "' has a non-positive dimension " + in.shape.to_string());
  }
}

}  // namespace sparq
