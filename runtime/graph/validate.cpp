// Semantic validation of a graph: everything a backend relies on is checked
// here once, so kernels can trust their inputs.
#include <cmath>
#include <limits>
#include <set>
#include <span>
#include <sstream>
#include <string>

#include "runtime/core/checked_math.hpp"
#include "sparq/error.hpp"
#include "sparq/graph.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, what);
}

// Numbers no trained network holds: a weight scale, bias or float weight of
// this magnitude (or a scale below the normal floats) cannot be right, and
// one such value makes every logit inf or NaN. Real models stay many orders
// of magnitude inside (scales ~1e-3, biases and weights ~1).
constexpr float kMaxMagnitude = 1e6f;
// As the model file reader's per-tensor limit (runtime/model/model_format.hpp).
constexpr int64_t kMaxValueElements = int64_t{1} << 31;
constexpr float kMinScale = std::numeric_limits<float>::min();

std::string number(float v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// The bounds of every scale in a model: weight scales and static activation scales.
bool valid_scale(float v) {
  return std::isfinite(v) && v >= kMinScale && v <= kMaxMagnitude;
}

// `what` names the number in the message ("weight_scales[3]", "static scale").
[[noreturn]] void bad_scale(const Node& node, float v, const std::string& what) {
  fail("node '" + node.name + "': " + what + " is " + number(v) +
       "; a scale must be finite, positive, at least " + number(kMinScale) + " and at most " +
       number(kMaxMagnitude));
}

void check_finite_positive(const Node& node, const std::vector<float>& v, const char* field) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!valid_scale(v[i]))
      bad_scale(node, v[i], std::string(field) + "[" + std::to_string(i) + "]");
  }
}

void check_bounded(const Node& node, std::span<const float> v, const char* field) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]) || std::fabs(v[i]) > kMaxMagnitude) {
      fail("node '" + node.name + "': " + field + "[" + std::to_string(i) + "] is " + number(v[i]) +
           "; it must be finite and at most " + number(kMaxMagnitude) + " in magnitude");
    }
  }
}

void check_float_weights(const Node& node, const Tensor& w) {
  if (w.dtype() != DType::kF32) return;
  check_bounded(node, w.span<float>(), "weights");
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

// The fused static quantize of a quantized convolution (fold_static_quantize):
// a scale a QuantizeOp could hold, and an activation format the rule has.
void check_output_quantization(const Node& node, const OutputQuantization& q, bool quantized_mode) {
  if (!q.enabled()) return;
  if (!quantized_mode) {
    fail("node '" + node.name +
         "': output_quantization needs a quantized-mode layer (integer weights)");
  }
  if (!valid_scale(q.scale)) bad_scale(node, q.scale, "output_quantization.scale");
  if (q.bits != 8 && q.bits != 4) {
    fail("node '" + node.name + "': output_quantization.bits must be 8 or 4, is " +
         std::to_string(q.bits));
  }
  if (q.is_signed && q.bits != 8) {
    fail("node '" + node.name + "': signed output_quantization must be 8-bit");
  }
}

void check_node_data(const Node& node) {
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    check_output_quantization(node, conv->output_quantization,
                              conv->weights.dtype() != DType::kF32);
    check_float_weights(node, conv->weights);
    check_s8_weights(node, conv->weights);
    check_finite_positive(node, conv->weight_scales, "weight_scales");
    check_bounded(node, conv->bias, "bias");
  } else if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    check_output_quantization(node, sparse->output_quantization, true);
    check_finite_positive(node, sparse->weight_scales, "weight_scales");
    check_bounded(node, sparse->bias, "bias");
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
    check_bounded(node, fc->bias, "bias");
  } else if (const auto* affine = std::get_if<ChannelAffineOp>(&node.op)) {
    check_bounded(node, affine->scale, "scale");
    check_bounded(node, affine->shift, "shift");
  } else if (const auto* clamp = std::get_if<ClampOp>(&node.op)) {
    // Infinite bounds are a one-sided clamp (ONNX Clip with min or max left out).
    if (std::isnan(clamp->min) || std::isnan(clamp->max) || clamp->min > clamp->max) {
      fail("node '" + node.name + "': clamp bounds [" + number(clamp->min) + ", " +
           number(clamp->max) + "] must not be NaN and min must not exceed max");
    }
  } else if (const auto* quantize = std::get_if<QuantizeOp>(&node.op)) {
    // 0 is the dynamic rule; a static scale obeys the bounds of every scale.
    if (quantize->scale != 0.0f && !valid_scale(quantize->scale))
      bad_scale(node, quantize->scale, "static scale");
  }
}

}  // namespace

void validate(const Graph& graph) {
  const auto value_count = static_cast<ValueId>(graph.values.size());
  if (graph.input < 0 || graph.input >= value_count) fail("graph input refers to an unknown value");
  if (graph.outputs.empty()) fail("graph has no outputs");
  if (graph.nodes.empty()) fail("graph has no nodes");

  // Element counts are multiplied by batch sizes and element widths later;
  // bounding them here (in 64 bits, saturating) keeps every such product
  // inside int64.
  for (const Value& value : graph.values) {
    int64_t elements = 1;
    for (int64_t d : value.shape.dims()) {
      if (d < 0)
        fail("value '" + value.name + "' has a negative dimension " + value.shape.to_string());
      elements = saturating_mul(elements, d);
    }
    if (elements > kMaxValueElements) {
      fail("value '" + value.name + "' " + value.shape.to_string() + " has more than " +
           std::to_string(kMaxValueElements) + " elements per sample");
    }
  }

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
  // Every output is a node's result, listed once: the graph input is not
  // an output (a session would return the caller's own tensor, or nothing),
  // and a second listing would be returned under the first one's name.
  std::vector<bool> listed(graph.values.size(), false);
  for (ValueId out : graph.outputs) {
    if (out < 0 || out >= value_count)
      fail("graph output refers to unknown value " + std::to_string(out));
    if (out == graph.input)
      fail("graph output '" + graph.value(out).name + "' is the graph input, not a node's result");
    if (!defined[static_cast<size_t>(out)])
      fail("graph output '" + graph.value(out).name + "' is never produced");
    if (listed[static_cast<size_t>(out)])
      fail("graph output '" + graph.value(out).name + "' is listed twice");
    listed[static_cast<size_t>(out)] = true;
  }
  const Value& in = graph.value(graph.input);
  for (int64_t d : in.shape.dims()) {
    if (d <= 0)
      fail("graph input '" + in.name + "' has a non-positive dimension " + in.shape.to_string());
  }
}

}  // namespace sparq
