#include "importers/onnx/onnx_converter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "sparq/error.hpp"
#include "sparq/quantization.hpp"

namespace sparq::onnx_import {
namespace {

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, what);
}
[[noreturn]] void unsupported(const std::string& what) {
  throw Error(ErrorCode::kUnsupported, what);
}

constexpr int64_t kMinOpset = 11, kMaxOpset = 17;
// The batch dimension inside folded shape computations (Shape -> Gather -> ...).
constexpr int64_t kBatch = std::numeric_limits<int64_t>::min();

// Each supported operator with the attributes the importer reads; any other
// attribute is refused rather than ignored.
const std::map<std::string, std::set<std::string>> kSupportedOps = {
    {"Conv", {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
    {"BatchNormalization", {"epsilon", "momentum", "training_mode"}},
    {"Relu", {}},
    {"Clip", {}},
    {"Sigmoid", {}},
    {"MaxPool",
     {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}},
    {"AveragePool",
     {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}},
    {"GlobalAveragePool", {}},
    {"ReduceMean", {"axes", "keepdims"}},
    {"Add", {}},
    {"Sub", {}},
    {"Mul", {}},
    {"Gemm", {"alpha", "beta", "transA", "transB"}},
    {"MatMul", {}},
    {"Flatten", {"axis"}},
    {"Reshape", {"allowzero"}},
    {"Squeeze", {"axes"}},
    {"Unsqueeze", {"axes"}},
    {"Concat", {"axis"}},
    {"Softmax", {"axis"}},
    {"LogSoftmax", {"axis"}},
    {"Identity", {}},
    {"Dropout", {"ratio", "seed"}},
    {"Constant", {"value", "value_float", "value_floats", "value_int", "value_ints"}},
    {"Shape", {"start", "end"}},
    {"Gather", {"axis"}},
    {"Pad", {"mode"}}};

std::string supported_list() {
  std::string s;
  for (const auto& [op, attributes] : kSupportedOps) s += (s.empty() ? "" : ", ") + op;
  return s;
}

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    s += (i ? ", " : "") + (d[i] == kBatch ? std::string("N") : std::to_string(d[i]));
  }
  return s + "]";
}

// Per-sample ONNX dims with trailing 1s removed (rank >= 1): a sparq value of
// shape [C] stands for ONNX [N, C, 1, 1] as well as [N, C].
std::vector<int64_t> canonical(std::vector<int64_t> d) {
  while (d.size() > 1 && d.back() == 1) d.pop_back();
  return d;
}

// A tensor of the ONNX graph: a constant, or a sparq graph value.
struct Entry {
  bool is_constant = false;
  Constant constant;
  ValueId value = -1;
  std::vector<int64_t> dims;  // graph values: per-sample ONNX dims
  std::vector<int64_t> pad;   // a pending zero Pad: top, left, bottom, right
};

class Converter {
 public:
  explicit Converter(const onnx::ModelProto& model) : model_(model) {}

  ConvertedGraph run() {
    check_opset();
    const onnx::GraphProto& g = model_.graph();
    out_.name = g.name();
    for (const auto& init : g.initializer()) {
      if (init.name().empty()) malformed("an initializer has no name");
      Entry e;
      e.is_constant = true;
      e.constant = decode_tensor(init, "initializer '" + init.name() + "'");
      entries_[init.name()] = std::move(e);
    }
    add_input(g);
    for (const auto& node : g.node()) {
      for (const auto& in : node.input()) ++uses_[in];
    }
    for (const auto& o : g.output()) ++uses_[o.name()];
    for (const auto& node : g.node()) convert(node);
    if (g.output_size() == 0) malformed("the ONNX graph has no outputs");
    for (const auto& o : g.output()) {
      const Entry& e = lookup_output(o.name());
      out_.graph.outputs.push_back(e.value);
    }
    if (out_.graph.nodes.empty()) unsupported("the ONNX graph has no operations sparq can run");
    return std::move(out_);
  }

 private:
  void check_opset() {
    int64_t opset = 0;
    for (const auto& o : model_.opset_import()) {
      if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
    }
    if (opset == 0) malformed("the ONNX model declares no opset for the default domain");
    if (opset < kMinOpset || opset > kMaxOpset) {
      unsupported("the ONNX model uses opset " + std::to_string(opset) + "; sparq imports opsets " +
                  std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset));
    }
    out_.opset = opset;
  }

  void add_input(const onnx::GraphProto& g) {
    const onnx::ValueInfoProto* input = nullptr;
    for (const auto& in : g.input()) {
      if (entries_.count(in.name())) continue;  // an initializer listed as input
      if (input) {
        unsupported("the ONNX graph has more than one input ('" + input->name() + "', '" +
                    in.name() + "'); sparq models have a single input");
      }
      input = &in;
    }
    if (!input) malformed("the ONNX graph has no input");
    const std::string where = "graph input '" + input->name() + "'";
    if (!input->type().has_tensor_type()) unsupported(where + " is not a tensor");
    const auto& t = input->type().tensor_type();
    if (t.elem_type() != onnx::TensorProto::FLOAT) unsupported(where + " must be float32");
    if (!t.has_shape()) unsupported(where + " has no shape; sparq needs static C, H, W");
    const auto& dims = t.shape().dim();
    if (dims.size() != 4 && dims.size() != 2) {
      unsupported(where + " has rank " + std::to_string(dims.size()) +
                  "; sparq imports NCHW images (rank 4) or feature vectors (rank 2)");
    }
    Entry e;
    for (int i = 1; i < dims.size(); ++i) {
      if (!dims[i].has_dim_value()) {
        unsupported(where + ": dimension " + std::to_string(i) + " ('" + dims[i].dim_param() +
                    "') is dynamic; only the batch axis may be");
      }
      const int64_t d = dims[i].dim_value();
      if (d <= 0 || d > kMaxDimension) {
        malformed(where + ": dimension " + std::to_string(i) + " is " + std::to_string(d));
      }
      e.dims.push_back(d);
    }
    int64_t elements = 1;
    for (int64_t d : e.dims) elements *= d;  // each <= 2^24, at most 3 of them: no overflow
    if (elements > kMaxTensorElements) {
      unsupported(where + " has more than " + std::to_string(kMaxTensorElements) +
                  " elements per sample");
    }
    if (dims[0].has_dim_value() && dims[0].dim_value() != 1 && dims[0].dim_value() != 0) {
      // A fixed batch other than 1 would make Reshape targets ambiguous.
      unsupported(where + ": batch dimension is fixed at " + std::to_string(dims[0].dim_value()) +
                  "; export with batch 1 or a dynamic batch axis");
    }
    Value v{input->name(), Shape(e.dims), DType::kF32};
    out_.graph.values.push_back(v);
    e.value = out_.graph.input = static_cast<ValueId>(out_.graph.values.size() - 1);
    entries_[input->name()] = std::move(e);
  }

  // ---- lookups ----

  const Entry& lookup(const onnx::NodeProto& node, int index) {
    if (index >= node.input_size() || node.input(index).empty()) {
      malformed(describe(node) + ": input " + std::to_string(index) + " is missing");
    }
    auto it = entries_.find(node.input(index));
    if (it == entries_.end()) {
      malformed(describe(node) + ": input '" + node.input(index) +
                "' is not produced by any earlier node, initializer or graph input (missing "
                "initializer, or a cyclic / unsorted graph)");
    }
    return it->second;
  }

  const Entry& lookup_output(const std::string& name) {
    auto it = entries_.find(name);
    if (it == entries_.end()) malformed("graph output '" + name + "' is never produced");
    if (it->second.is_constant) unsupported("graph output '" + name + "' is a constant");
    return it->second;
  }

  const Entry& value_input(const onnx::NodeProto& node, int index) {
    const Entry& e = lookup(node, index);
    if (e.is_constant) {
      unsupported(describe(node) + ": input '" + node.input(index) +
                  "' is a constant where sparq needs a computed tensor");
    }
    if (!e.pad.empty() && node.op_type() != "Conv" && node.op_type() != "AveragePool") {
      unsupported(describe(node) +
                  ": reads the output of a Pad; sparq folds Pad into a "
                  "following Conv or AveragePool only");
    }
    return e;
  }

  const Constant& constant_input(const onnx::NodeProto& node, int index, const char* what) {
    const Entry& e = lookup(node, index);
    if (!e.is_constant) {
      unsupported(describe(node) + ": " + what + " '" + node.input(index) +
                  "' is computed at run time; sparq needs it constant (an initializer)");
    }
    return e.constant;
  }

  const Constant& float_constant(const onnx::NodeProto& node, int index, const char* what,
                                 int64_t expected) {
    const Constant& c = constant_input(node, index, what);
    if (!c.is_float) unsupported(describe(node) + ": " + what + " must be float32");
    if (expected >= 0 && c.elements() != expected) {
      malformed(describe(node) + ": " + what + " '" + node.input(index) + "' has " +
                std::to_string(c.elements()) + " values, expected " + std::to_string(expected));
    }
    return c;
  }

  std::optional<std::vector<int64_t>> optional_ints(const onnx::NodeProto& node, int index) {
    if (index >= node.input_size() || node.input(index).empty()) return std::nullopt;
    const Constant& c = constant_input(node, index, "an int64 input");
    if (c.is_float)
      malformed(describe(node) + ": input " + std::to_string(index) + " must be int64");
    return c.ints;
  }

  int64_t channels(const Entry& e) { return e.dims.empty() ? 0 : e.dims[0]; }

  // ---- emitting ----

  void define_constant(const onnx::NodeProto& node, Constant c) {
    Entry e;
    e.is_constant = true;
    e.constant = std::move(c);
    define(node, 0, std::move(e));
  }

  void define(const onnx::NodeProto& node, int index, Entry e) {
    if (index >= node.output_size() || node.output(index).empty()) {
      malformed(describe(node) + ": has no output " + std::to_string(index));
    }
    if (!entries_.emplace(node.output(index), std::move(e)).second) {
      malformed(describe(node) + ": output '" + node.output(index) +
                "' is produced twice (or names a graph input / initializer)");
    }
  }

  void alias(const onnx::NodeProto& node, const Entry& from, std::vector<int64_t> dims) {
    Entry e = from;
    e.dims = std::move(dims);
    define(node, 0, std::move(e));
  }

  ValueId emit(const onnx::NodeProto& node, OpAttrs op, std::vector<ValueId> inputs,
               std::vector<int64_t> dims) {
    Node n;
    n.name = node.name().empty() ? node.op_type() + "_" + std::to_string(out_.graph.nodes.size())
                                 : node.name();
    while (node_names_.count(n.name)) n.name += "_";
    node_names_.insert(n.name);
    n.op = std::move(op);
    n.inputs = std::move(inputs);
    Value v;
    try {
      v = infer_output(out_.graph, n);
    } catch (const Error& e) {
      unsupported(describe(node) + ": " + e.what());
    }
    if (v.shape.elements() > kMaxTensorElements) {
      unsupported(describe(node) + ": output " + v.shape.to_string() + " has more than " +
                  std::to_string(kMaxTensorElements) + " elements per sample");
    }
    v.name = node.output_size() > 0 ? node.output(0) : n.name;
    out_.graph.values.push_back(v);
    n.output = static_cast<ValueId>(out_.graph.values.size() - 1);
    producer_[n.output] = out_.graph.nodes.size();
    out_.graph.nodes.push_back(std::move(n));
    out_.onnx_ops.push_back(node.op_type());
    const ValueId id = out_.graph.nodes.back().output;
    Entry e;
    e.value = id;
    e.dims = dims.empty() ? v.shape.dims() : std::move(dims);
    define(node, 0, std::move(e));
    return id;
  }

  // The node producing `e` when only `node` reads it, so `node` can be fused in.
  Node* sole_producer(const onnx::NodeProto& node, const Entry& e) {
    if (uses_[node.input(0)] != 1) return nullptr;
    auto it = producer_.find(e.value);
    if (it == producer_.end()) return nullptr;
    return &out_.graph.nodes[it->second];
  }

  void fused(const onnx::NodeProto& node, const Entry& e) {
    out_.onnx_ops[producer_.at(e.value)] += "+" + node.op_type();
    alias(node, e, e.dims);
    // The ONNX output name now refers to the fused node's value.
    out_.graph.values[static_cast<size_t>(e.value)].name = node.output(0);
  }

  // ---- operators ----

  void convert(const onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      unsupported(describe(node) + ": domain '" + node.domain() +
                  "' is not supported; sparq imports the default ONNX domain");
    }
    const auto supported = kSupportedOps.find(op);
    if (supported == kSupportedOps.end()) {
      unsupported(describe(node) + ": operator not supported. sparq imports: " + supported_list());
    }
    std::set<std::string> seen;
    for (const auto& a : node.attribute()) {
      if (!seen.insert(a.name()).second) {
        malformed(describe(node) + ": attribute '" + a.name() + "' is given twice");
      }
      if (!supported->second.count(a.name())) {
        unsupported(describe(node) + ": attribute '" + a.name() + "' is not supported");
      }
    }
    if (op == "Conv") return conv(node);
    if (op == "BatchNormalization") return batch_norm(node);
    if (op == "Relu") return activation(node, 0.0f, std::numeric_limits<float>::infinity());
    if (op == "Clip") return clip(node);
    if (op == "Sigmoid") return unary(node, SigmoidOp{});
    if (op == "MaxPool" || op == "AveragePool") return pool(node);
    if (op == "GlobalAveragePool") return global_pool(node);
    if (op == "ReduceMean") return reduce_mean(node);
    if (op == "Add" || op == "Sub" || op == "Mul") return binary(node);
    if (op == "Gemm" || op == "MatMul") return fully_connected(node);
    if (op == "Flatten") return flatten(node);
    if (op == "Reshape") return reshape(node);
    if (op == "Squeeze" || op == "Unsqueeze") return squeeze(node);
    if (op == "Concat") return concat(node);
    if (op == "Softmax" || op == "LogSoftmax") return softmax(node);
    if (op == "Identity" || op == "Dropout") return identity(node);
    if (op == "Constant") return constant(node);
    if (op == "Shape") return shape(node);
    if (op == "Gather") return gather(node);
    if (op == "Pad") return pad(node);
  }

  std::vector<int64_t> spatial_pads(const onnx::NodeProto& node, const Entry& x) {
    const std::string auto_pad = string_attribute(node, "auto_pad", "NOTSET");
    if (auto_pad != "NOTSET") {
      unsupported(describe(node) + ": auto_pad '" + auto_pad +
                  "' is not supported; export with explicit pads");
    }
    std::vector<int64_t> pads = ints_attribute(node, "pads", {0, 0, 0, 0});
    if (pads.size() != 4) malformed(describe(node) + ": pads must have 4 entries");
    for (int64_t p : pads) {
      if (p < 0 || p > kMaxDimension) malformed(describe(node) + ": pads must be non-negative");
    }
    if (!x.pad.empty()) {
      for (int i = 0; i < 4; ++i) pads[static_cast<size_t>(i)] += x.pad[static_cast<size_t>(i)];
    }
    if (pads[0] != pads[2] || pads[1] != pads[3]) {
      unsupported(describe(node) + ": asymmetric padding " + dims_text(pads) +
                  " is not supported (sparq pads top = bottom, left = right)");
    }
    return pads;
  }

  std::vector<int64_t> pair_attribute(const onnx::NodeProto& node, const char* name,
                                      std::vector<int64_t> fallback, bool required) {
    if (required && !find_attribute(node, name)) {
      malformed(describe(node) + ": attribute '" + name + "' is missing");
    }
    std::vector<int64_t> v = ints_attribute(node, name, std::move(fallback));
    if (v.size() != 2) {
      unsupported(describe(node) + ": attribute '" + name + "' has " + std::to_string(v.size()) +
                  " entries; sparq imports 2-D (H, W) operations");
    }
    for (int64_t d : v) {
      if (d <= 0 || d > kMaxDimension) {
        malformed(describe(node) + ": attribute '" + name + "' has value " + std::to_string(d));
      }
    }
    return v;
  }

  const Entry& image_input(const onnx::NodeProto& node) {
    const Entry& x = value_input(node, 0);
    if (x.dims.size() != 3 || out_.graph.value(x.value).shape.rank() != 3) {
      unsupported(describe(node) + ": input " + dims_text(x.dims) +
                  " is not a [C, H, W] image tensor");
    }
    return x;
  }

  void conv(const onnx::NodeProto& node) {
    const Entry& x = image_input(node);
    const Constant& w = constant_input(node, 1, "weight");
    if (!w.is_float) unsupported(describe(node) + ": weights must be float32");
    if (w.dims.size() != 4) {
      unsupported(describe(node) + ": weights " + dims_text(w.dims) +
                  " are not [O, I/groups, KH, KW]; sparq imports 2-D convolutions");
    }
    const int64_t groups = int_attribute(node, "group", 1);
    if (groups <= 0 || groups > kMaxDimension)
      malformed(describe(node) + ": group must be positive");
    if (w.dims[0] <= 0 || channels(x) % groups != 0 || w.dims[1] * groups != channels(x)) {
      malformed(describe(node) + ": weights " + dims_text(w.dims) + " do not fit the input " +
                dims_text(x.dims) + " with group " + std::to_string(groups));
    }
    const auto dilations = pair_attribute(node, "dilations", {1, 1}, false);
    if (dilations[0] != 1 || dilations[1] != 1) {
      unsupported(describe(node) + ": dilation " + dims_text(dilations) +
                  " is not supported (dilation 1 only)");
    }
    const auto kernel = pair_attribute(node, "kernel_shape", {w.dims[2], w.dims[3]}, false);
    if (kernel[0] != w.dims[2] || kernel[1] != w.dims[3]) {
      malformed(describe(node) + ": kernel_shape disagrees with the weights " + dims_text(w.dims));
    }
    const auto strides = pair_attribute(node, "strides", {1, 1}, false);
    const auto pads = spatial_pads(node, x);
    Conv2dOp op;
    op.kernel_h = static_cast<int>(kernel[0]);
    op.kernel_w = static_cast<int>(kernel[1]);
    op.stride_h = static_cast<int>(strides[0]);
    op.stride_w = static_cast<int>(strides[1]);
    op.pad_h = static_cast<int>(pads[0]);
    op.pad_w = static_cast<int>(pads[1]);
    op.groups = static_cast<int>(groups);
    op.weights = Tensor::from_bytes(
        Shape(w.dims), DType::kF32,
        {reinterpret_cast<const uint8_t*>(w.floats.data()), w.floats.size() * sizeof(float)});
    if (node.input_size() > 2 && !node.input(2).empty()) {
      op.bias = float_constant(node, 2, "bias", w.dims[0]).floats;
    } else {
      op.bias.assign(static_cast<size_t>(w.dims[0]), 0.0f);
    }
    emit(node, std::move(op), {x.value}, {});
  }

  void batch_norm(const onnx::NodeProto& node) {
    const Entry& x = value_input(node, 0);
    if (int_attribute(node, "training_mode", 0) != 0 || node.output_size() > 1) {
      unsupported(describe(node) +
                  ": training-mode BatchNormalization is not supported; "
                  "export the model in eval mode");
    }
    const int64_t c = channels(x);
    const auto& gamma = float_constant(node, 1, "scale", c).floats;
    const auto& beta = float_constant(node, 2, "bias", c).floats;
    const auto& mean = float_constant(node, 3, "mean", c).floats;
    const auto& var = float_constant(node, 4, "var", c).floats;
    const float eps = float_attribute(node, "epsilon", 1e-5f);
    for (float v : var) {
      if (!(v + eps > 0.0f)) malformed(describe(node) + ": variance + epsilon must be positive");
    }
    Node* p = sole_producer(node, x);
    auto* conv = p ? std::get_if<Conv2dOp>(&p->op) : nullptr;
    if (conv && conv->activation == Activation::kNone) {
      auto weights = conv->weights.span<float>();
      std::vector<float> folded(weights.begin(), weights.end());
      fold_batchnorm(folded, conv->bias, static_cast<int>(c), gamma, beta, mean, var, eps);
      conv->weights = Tensor::from_bytes(
          conv->weights.shape(), DType::kF32,
          {reinterpret_cast<const uint8_t*>(folded.data()), folded.size() * sizeof(float)});
      return fused(node, x);
    }
    if (x.dims.size() != 3 && x.dims.size() != 1) {
      unsupported(describe(node) + ": input " + dims_text(x.dims) + " is not [C, H, W] or [C]");
    }
    ChannelAffineOp op;
    for (size_t i = 0; i < static_cast<size_t>(c); ++i) {
      const float s = gamma[i] / std::sqrt(var[i] + eps);
      op.scale.push_back(s);
      op.shift.push_back(beta[i] - mean[i] * s);
    }
    emit(node, std::move(op), {x.value}, x.dims);
  }

  void activation(const onnx::NodeProto& node, float lo, float hi) {
    const Entry& x = value_input(node, 0);
    const bool relu = lo == 0.0f && std::isinf(hi) && hi > 0;
    const bool relu6 = lo == 0.0f && hi == 6.0f;
    if (!relu && !relu6) return unary(node, ClampOp{lo, hi});
    const Activation a = relu ? Activation::kRelu : Activation::kRelu6;
    if (Node* p = sole_producer(node, x)) {
      Activation* slot = nullptr;
      if (auto* c = std::get_if<Conv2dOp>(&p->op)) slot = &c->activation;
      if (auto* f = std::get_if<FullyConnectedOp>(&p->op)) slot = &f->activation;
      if (auto* s = std::get_if<AddOp>(&p->op)) slot = &s->activation;
      if (slot && *slot == Activation::kNone) {
        *slot = a;
        return fused(node, x);
      }
    }
    emit(node, ActivationOp{a}, {x.value}, x.dims);
  }

  void clip(const onnx::NodeProto& node) {
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    auto bound = [&](int index, float& slot) {
      if (index < node.input_size() && !node.input(index).empty()) {
        slot = float_constant(node, index, index == 1 ? "min" : "max", 1).floats[0];
      }
    };
    bound(1, lo);
    bound(2, hi);
    if (std::isnan(lo) || std::isnan(hi) || lo > hi) {
      malformed(describe(node) + ": min must not exceed max");
    }
    activation(node, lo, hi);
  }

  void unary(const onnx::NodeProto& node, OpAttrs op) {
    const Entry& x = value_input(node, 0);
    emit(node, std::move(op), {x.value}, x.dims);
  }

  void pool(const onnx::NodeProto& node) {
    const Entry& x = image_input(node);
    const bool max = node.op_type() == "MaxPool";
    if (node.output_size() > 1 && !node.output(1).empty()) {
      unsupported(describe(node) + ": the Indices output is not supported");
    }
    if (int_attribute(node, "ceil_mode", 0) != 0) {
      unsupported(describe(node) + ": ceil_mode = 1 is not supported (floor only)");
    }
    if (max) {
      const auto dilations = pair_attribute(node, "dilations", {1, 1}, false);
      if (dilations[0] != 1 || dilations[1] != 1)
        unsupported(describe(node) + ": dilation must be 1");
      if (int_attribute(node, "storage_order", 0) != 0)
        unsupported(describe(node) + ": storage_order must be 0");
    }
    if (!x.pad.empty() && max)
      unsupported(describe(node) + ": a preceding Pad cannot fold into MaxPool");
    const auto kernel = pair_attribute(node, "kernel_shape", {}, true);
    const auto strides = pair_attribute(node, "strides", {1, 1}, false);
    bool include_pad = int_attribute(node, "count_include_pad", 0) != 0;
    if (!x.pad.empty()) {
      // Zero padding from a Pad node counts in the average: only the same as
      // count_include_pad when the pool adds no padding of its own.
      const auto own = ints_attribute(node, "pads", {0, 0, 0, 0});
      if (std::any_of(own.begin(), own.end(), [](int64_t p) { return p != 0; }) && !include_pad) {
        unsupported(describe(node) +
                    ": Pad followed by a padded AveragePool that excludes padding");
      }
      include_pad = true;
    }
    const auto pads = spatial_pads(node, x);
    Pool2dOp op;
    op.kind = max ? PoolKind::kMax : PoolKind::kAverage;
    op.kernel_h = static_cast<int>(kernel[0]);
    op.kernel_w = static_cast<int>(kernel[1]);
    op.stride_h = static_cast<int>(strides[0]);
    op.stride_w = static_cast<int>(strides[1]);
    op.pad_h = static_cast<int>(pads[0]);
    op.pad_w = static_cast<int>(pads[1]);
    op.count_include_pad = max || include_pad || (pads[0] == 0 && pads[1] == 0);
    emit(node, op, {x.value}, {});
  }

  void global_pool(const onnx::NodeProto& node) {
    const Entry& x = image_input(node);
    emit(node, GlobalAvgPoolOp{}, {x.value}, {channels(x), 1, 1});
  }

  void reduce_mean(const onnx::NodeProto& node) {
    const Entry& x = image_input(node);
    std::vector<int64_t> axes = ints_attribute(node, "axes", {});
    if (auto in = optional_ints(node, 1)) axes = *in;  // opset 18 form
    for (int64_t& a : axes) a = a < 0 ? a + 4 : a;
    std::sort(axes.begin(), axes.end());
    if (axes != std::vector<int64_t>{2, 3}) {
      unsupported(describe(node) + ": ReduceMean over axes " + dims_text(axes) +
                  " is not supported (only H, W: axes [2, 3])");
    }
    const bool keep = int_attribute(node, "keepdims", 1) != 0;
    emit(node, GlobalAvgPoolOp{}, {x.value},
         keep ? std::vector<int64_t>{channels(x), 1, 1} : std::vector<int64_t>{channels(x)});
  }

  // A constant operand as one value, or one per channel of `x`.
  std::vector<float> broadcast_constant(const onnx::NodeProto& node, const Constant& c,
                                        const Entry& x) {
    if (!c.is_float) unsupported(describe(node) + ": constant operand must be float32");
    if (c.elements() == 1) return c.floats;
    // [C], [C, 1, 1], [1, C, 1, 1] against a [C, ...] value.
    std::vector<int64_t> d = c.dims;
    while (!d.empty() && d.front() == 1 && d.size() > x.dims.size()) d.erase(d.begin());
    const bool per_channel = !d.empty() && d[0] == channels(x) && d.size() == x.dims.size() &&
                             std::all_of(d.begin() + 1, d.end(), [](int64_t v) { return v == 1; });
    if (!per_channel) {
      unsupported(describe(node) + ": constant " + dims_text(c.dims) + " broadcast over " +
                  dims_text(x.dims) + " is not supported (a scalar or one value per channel)");
    }
    return c.floats;
  }

  void binary(const onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    if (node.input_size() != 2) malformed(describe(node) + ": needs two inputs");
    const Entry& a = lookup(node, 0);
    const Entry& b = lookup(node, 1);
    if (a.is_constant && b.is_constant) {
      unsupported(describe(node) + ": both operands are constants (fold them before export)");
    }
    if (a.is_constant || b.is_constant) {
      const bool x_first = b.is_constant;
      const Entry& x = x_first ? value_input(node, 0) : value_input(node, 1);
      const std::vector<float> c = broadcast_constant(node, x_first ? b.constant : a.constant, x);
      std::vector<float> scale(c.size(), 1.0f), shift(c.size(), 0.0f);
      if (op == "Add") {
        shift = c;
        if (Node* p = sole_producer(node, x)) {  // a bias: Conv / Gemm without activation
          std::vector<float>* bias = nullptr;
          if (auto* cv = std::get_if<Conv2dOp>(&p->op); cv && cv->activation == Activation::kNone)
            bias = &cv->bias;
          if (auto* fc = std::get_if<FullyConnectedOp>(&p->op);
              fc && fc->activation == Activation::kNone)
            bias = &fc->bias;
          if (bias) {
            for (size_t o = 0; o < bias->size(); ++o) (*bias)[o] += c.size() == 1 ? c[0] : c[o];
            return fused(node, x);
          }
        }
      } else if (op == "Sub") {
        for (size_t i = 0; i < c.size(); ++i) {
          if (x_first) {
            shift[i] = -c[i];
          } else {
            scale[i] = -1.0f;
            shift[i] = c[i];
          }
        }
      } else {
        scale = c;
      }
      return emit(node, ChannelAffineOp{scale, shift}, {x.value}, x.dims), void();
    }
    const Entry* x = &value_input(node, 0);
    const Entry* y = &value_input(node, 1);
    if (canonical(x->dims) == canonical(y->dims) &&
        out_.graph.value(x->value).shape == out_.graph.value(y->value).shape) {
      if (op == "Add") return emit(node, AddOp{}, {x->value, y->value}, x->dims), void();
    } else if (canonical(x->dims).size() < canonical(y->dims).size() && op != "Sub") {
      std::swap(x, y);  // the smaller operand second (add and mul commute)
    }
    const BinaryKind kind = op == "Add"   ? BinaryKind::kAdd
                            : op == "Sub" ? BinaryKind::kSub
                                          : BinaryKind::kMul;
    const Shape& ys = out_.graph.value(y->value).shape;
    const Shape& xs = out_.graph.value(x->value).shape;
    if (xs != ys && !(ys.rank() == 1 && (ys[0] == 1 || ys[0] == xs[0]))) {
      unsupported(describe(node) + ": broadcasting " + dims_text(x->dims) + " with " +
                  dims_text(y->dims) + " is not supported (same shape, per channel, or scalar)");
    }
    emit(node, BroadcastBinaryOp{kind}, {x->value, y->value}, x->dims);
  }

  void fully_connected(const onnx::NodeProto& node) {
    const Entry& x = value_input(node, 0);
    const Shape& xs = out_.graph.value(x.value).shape;
    if (xs.rank() != 1 || canonical(x.dims).size() != 1) {
      unsupported(describe(node) + ": input " + dims_text(x.dims) +
                  " is not a [N, F] matrix (flatten it first)");
    }
    const int64_t features = xs[0];
    const Constant& w = constant_input(node, 1, "weight");
    if (!w.is_float || w.dims.size() != 2) {
      unsupported(describe(node) + ": weights must be a float32 matrix");
    }
    const bool gemm = node.op_type() == "Gemm";
    const bool trans_b = gemm && int_attribute(node, "transB", 0) != 0;
    if (gemm &&
        (int_attribute(node, "transA", 0) != 0 || float_attribute(node, "alpha", 1.0f) != 1.0f ||
         float_attribute(node, "beta", 1.0f) != 1.0f)) {
      unsupported(describe(node) + ": transA, alpha != 1 and beta != 1 are not supported");
    }
    const int64_t in = trans_b ? w.dims[1] : w.dims[0];
    const int64_t outputs = trans_b ? w.dims[0] : w.dims[1];
    if (in != features || outputs <= 0) {
      malformed(describe(node) + ": weights " + dims_text(w.dims) + " do not fit " +
                std::to_string(features) + " input features");
    }
    std::vector<float> weights(static_cast<size_t>(outputs * in));
    for (int64_t o = 0; o < outputs; ++o) {
      for (int64_t i = 0; i < in; ++i) {
        weights[static_cast<size_t>(o * in + i)] =
            trans_b ? w.floats[static_cast<size_t>(o * in + i)]
                    : w.floats[static_cast<size_t>(i * outputs + o)];
      }
    }
    FullyConnectedOp op;
    op.weights = Tensor::from_bytes(
        Shape{outputs, in}, DType::kF32,
        {reinterpret_cast<const uint8_t*>(weights.data()), weights.size() * sizeof(float)});
    op.bias.assign(static_cast<size_t>(outputs), 0.0f);
    if (gemm && node.input_size() > 2 && !node.input(2).empty()) {
      const Constant& c = constant_input(node, 2, "bias");
      if (!c.is_float || (c.elements() != outputs && c.elements() != 1)) {
        malformed(describe(node) + ": bias must have 1 or " + std::to_string(outputs) + " values");
      }
      for (size_t o = 0; o < op.bias.size(); ++o) op.bias[o] = c.floats[c.elements() == 1 ? 0 : o];
    }
    emit(node, std::move(op), {x.value}, {outputs});
  }

  // Reshape-like operations: a no-op when the sparq value already has the
  // target layout, a FlattenOp for [C, H, W] -> [F], refused otherwise.
  void reshape_to(const onnx::NodeProto& node, const Entry& x, std::vector<int64_t> dims) {
    int64_t count = 1;
    for (int64_t d : dims) {
      if (d <= 0)
        malformed(describe(node) + ": target shape " + dims_text(dims) + " is not static");
      count *= d;
      if (count > kMaxTensorElements) malformed(describe(node) + ": target shape is too large");
    }
    const Shape& s = out_.graph.value(x.value).shape;
    if (count != s.elements()) {
      malformed(describe(node) + ": cannot reshape " + dims_text(x.dims) + " (" +
                std::to_string(s.elements()) + " values per sample) to " + dims_text(dims));
    }
    // A sparq [C] value also stands for ONNX [C, 1, 1] (global pooling).
    if (s.dims() == dims || (s.rank() == 1 && canonical(dims) == canonical(s.dims()))) {
      return alias(node, x, dims);
    }
    if (dims.size() == 1) return emit(node, FlattenOp{}, {x.value}, dims), void();
    unsupported(describe(node) + ": reshaping " + dims_text(x.dims) + " to " + dims_text(dims) +
                " is not supported (only flattening [C, H, W] to [F], or no-op reshapes)");
  }

  void flatten(const onnx::NodeProto& node) {
    const Entry& x = value_input(node, 0);
    if (int_attribute(node, "axis", 1) != 1) {
      unsupported(describe(node) + ": axis must be 1 (keep the batch axis)");
    }
    int64_t count = 1;
    for (int64_t d : x.dims) count *= d;
    reshape_to(node, x, {count});
  }

  void reshape(const onnx::NodeProto& node) {
    const Entry& x = value_input(node, 0);
    const Constant& target = constant_input(node, 1, "shape");
    if (target.is_float || target.ints.empty()) malformed(describe(node) + ": shape must be int64");
    if (int_attribute(node, "allowzero", 0) != 0) unsupported(describe(node) + ": allowzero = 1");
    std::vector<int64_t> t = target.ints;
    if (t[0] != kBatch && t[0] != 0 && t[0] != -1 && t[0] != 1) {
      unsupported(describe(node) + ": the first target dimension must stay the batch axis");
    }
    std::vector<int64_t> dims(t.begin() + 1, t.end());
    int64_t known = 1, infer = -1;
    int64_t count = 1;
    for (int64_t d : x.dims) count *= d;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == 0 && i + 1 < x.dims.size() + 1) dims[i] = x.dims[i];
      if (dims[i] == -1) {
        if (infer >= 0) malformed(describe(node) + ": more than one -1 in the target shape");
        infer = static_cast<int64_t>(i);
      } else if (dims[i] <= 0 || dims[i] > kMaxDimension) {
        malformed(describe(node) + ": target shape " + dims_text(t) + " is invalid");
      } else {
        known *= dims[i];
      }
    }
    if (infer >= 0) {
      if (t[0] == -1) unsupported(describe(node) + ": -1 in both the batch and another dimension");
      if (count % known != 0)
        malformed(describe(node) + ": target shape does not divide the input");
      dims[static_cast<size_t>(infer)] = count / known;
    }
    reshape_to(node, x, dims);
  }

  void squeeze(const onnx::NodeProto& node) {
    const bool unsq = node.op_type() == "Unsqueeze";
    std::vector<int64_t> axes = ints_attribute(node, "axes", {});
    if (auto in = optional_ints(node, 1)) axes = *in;
    const Entry& x = lookup(node, 0);
    if (x.is_constant) {  // shape arithmetic: [a] <-> a on int64 constants
      Constant c = x.constant;
      if (unsq) {
        c.dims.insert(c.dims.begin(), 1);
      } else if (!c.dims.empty() && c.dims[0] == 1) {
        c.dims.erase(c.dims.begin());
      }
      return define_constant(node, std::move(c));
    }
    const Entry& v = value_input(node, 0);
    std::vector<int64_t> full = v.dims;
    full.insert(full.begin(), kBatch);
    const int64_t rank =
        static_cast<int64_t>(full.size()) + (unsq ? static_cast<int64_t>(axes.size()) : 0);
    for (int64_t& a : axes) {
      if (a < -rank || a >= rank)
        malformed(describe(node) + ": axis " + std::to_string(a) + " out of range");
      if (a < 0) a += rank;
      if (a == 0) unsupported(describe(node) + ": the batch axis cannot be squeezed / unsqueezed");
    }
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
      malformed(describe(node) + ": repeated axis");
    if (unsq) {
      for (int64_t a : axes) full.insert(full.begin() + a, 1);
    } else {
      if (axes.empty()) {
        for (size_t i = full.size(); i-- > 1;) {
          if (full[i] == 1) axes.insert(axes.begin(), static_cast<int64_t>(i));
        }
      }
      for (size_t i = axes.size(); i-- > 0;) {
        if (full[static_cast<size_t>(axes[i])] != 1) {
          malformed(describe(node) + ": axis " + std::to_string(axes[i]) + " of " +
                    dims_text(full) + " is not 1");
        }
        full.erase(full.begin() + axes[i]);
      }
    }
    reshape_to(node, v, {full.begin() + 1, full.end()});
  }

  void concat(const onnx::NodeProto& node) {
    if (node.input_size() == 0) malformed(describe(node) + ": has no inputs");
    const int64_t axis = int_attribute(node, "axis", std::numeric_limits<int64_t>::max());
    if (axis == std::numeric_limits<int64_t>::max())
      malformed(describe(node) + ": axis is missing");
    const Entry& first = lookup(node, 0);
    if (first.is_constant) {  // shape arithmetic on int64 vectors
      Constant c;
      c.is_float = false;
      for (int i = 0; i < node.input_size(); ++i) {
        const Constant& part = constant_input(node, i, "input");
        if (part.is_float || part.dims.size() != 1) {
          unsupported(describe(node) +
                      ": only int64 shape vectors can be concatenated as constants");
        }
        c.ints.insert(c.ints.end(), part.ints.begin(), part.ints.end());
      }
      c.dims = {static_cast<int64_t>(c.ints.size())};
      return define_constant(node, std::move(c));
    }
    const int64_t rank = static_cast<int64_t>(first.dims.size()) + 1;
    if (axis != 1 && axis != 1 - rank) {
      unsupported(describe(node) + ": concatenation along axis " + std::to_string(axis) +
                  " is not supported (channels, axis 1, only)");
    }
    std::vector<ValueId> inputs;
    int64_t total = 0;
    for (int i = 0; i < node.input_size(); ++i) {
      const Entry& e = value_input(node, i);
      if (e.dims.size() != first.dims.size()) malformed(describe(node) + ": inputs differ in rank");
      inputs.push_back(e.value);
      total += e.dims[0];
    }
    std::vector<int64_t> dims = first.dims;
    dims[0] = total;
    emit(node, ConcatOp{}, std::move(inputs), dims);
  }

  void softmax(const onnx::NodeProto& node) {
    const Entry& x = value_input(node, 0);
    const int64_t axis = int_attribute(node, "axis", out_.opset >= 13 ? -1 : 1);
    const int64_t rank = static_cast<int64_t>(x.dims.size()) + 1;
    if (out_.graph.value(x.value).shape.rank() != 1 || (axis != -1 && axis != rank - 1)) {
      unsupported(describe(node) + ": only a softmax over the features of [N, F] is supported");
    }
    if (node.op_type() == "Softmax") return unary(node, SoftmaxOp{});
    unary(node, LogSoftmaxOp{});
  }

  void identity(const onnx::NodeProto& node) {
    const Entry& x = lookup(node, 0);
    if (node.output_size() > 1 && !node.output(1).empty() && uses_[node.output(1)] > 0) {
      unsupported(describe(node) + ": the dropout mask output is not supported");
    }
    Entry e = x;
    define(node, 0, std::move(e));
  }

  void constant(const onnx::NodeProto& node) {
    if (node.attribute_size() != 1)
      malformed(describe(node) + ": needs exactly one value attribute");
    const auto& a = node.attribute(0);
    Constant c;
    if (a.name() == "value" && a.type() == onnx::AttributeProto::TENSOR) {
      c = decode_tensor(a.t(), describe(node));
    } else if (a.name() == "value_float" && a.type() == onnx::AttributeProto::FLOAT) {
      c.floats = {a.f()};
    } else if (a.name() == "value_floats" && a.type() == onnx::AttributeProto::FLOATS) {
      if (a.floats_size() > kMaxTensorElements) malformed(describe(node) + ": too many values");
      c.floats.assign(a.floats().begin(), a.floats().end());
      c.dims = {static_cast<int64_t>(c.floats.size())};
    } else if (a.name() == "value_int" && a.type() == onnx::AttributeProto::INT) {
      c.is_float = false;
      c.ints = {a.i()};
    } else if (a.name() == "value_ints" && a.type() == onnx::AttributeProto::INTS) {
      c.is_float = false;
      c.ints.assign(a.ints().begin(), a.ints().end());
      c.dims = {static_cast<int64_t>(c.ints.size())};
    } else {
      unsupported(describe(node) + ": attribute '" + a.name() + "' is not supported");
    }
    define_constant(node, std::move(c));
  }

  void shape(const onnx::NodeProto& node) {
    const Entry& x = value_input(node, 0);
    if (find_attribute(node, "start") || find_attribute(node, "end")) {
      unsupported(describe(node) + ": start / end are not supported");
    }
    Constant c;
    c.is_float = false;
    c.ints.push_back(kBatch);
    c.ints.insert(c.ints.end(), x.dims.begin(), x.dims.end());
    c.dims = {static_cast<int64_t>(c.ints.size())};
    define_constant(node, std::move(c));
  }

  void gather(const onnx::NodeProto& node) {
    const Constant& data = constant_input(node, 0, "data");
    const Constant& index = constant_input(node, 1, "indices");
    if (data.is_float || index.is_float || data.dims.size() != 1 ||
        int_attribute(node, "axis", 0) != 0) {
      unsupported(describe(node) + ": Gather is supported on int64 shape vectors only");
    }
    Constant c;
    c.is_float = false;
    c.dims = index.dims;
    const int64_t n = static_cast<int64_t>(data.ints.size());
    for (int64_t i : index.ints) {
      if (i < -n || i >= n)
        malformed(describe(node) + ": index " + std::to_string(i) + " out of range");
      c.ints.push_back(data.ints[static_cast<size_t>(i < 0 ? i + n : i)]);
    }
    define_constant(node, std::move(c));
  }

  void pad(const onnx::NodeProto& node) {
    const Entry& x = image_input(node);
    if (string_attribute(node, "mode", "constant") != "constant") {
      unsupported(describe(node) + ": only constant (zero) padding is supported");
    }
    auto pads = optional_ints(node, 1);
    if (!pads) malformed(describe(node) + ": pads input is missing");
    if (node.input_size() > 2 && !node.input(2).empty()) {
      if (float_constant(node, 2, "constant_value", 1).floats[0] != 0.0f) {
        unsupported(describe(node) + ": only zero padding is supported");
      }
    }
    if (node.input_size() > 3 && !node.input(3).empty())
      unsupported(describe(node) + ": axes input");
    const auto& p = *pads;
    if (p.size() != 8 || p[0] || p[1] || p[4] || p[5]) {
      unsupported(describe(node) + ": only padding of H and W is supported, pads are " +
                  dims_text(p));
    }
    for (int64_t v : p) {
      if (v < 0 || v > kMaxDimension) unsupported(describe(node) + ": negative padding (cropping)");
    }
    Entry e = x;
    if (p[2] || p[3] || p[6] || p[7]) e.pad = {p[2], p[3], p[6], p[7]};
    define(node, 0, std::move(e));
  }

  const onnx::ModelProto& model_;
  ConvertedGraph out_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, int> uses_;
  std::map<ValueId, size_t> producer_;
  std::set<std::string> node_names_;
};

}  // namespace

ConvertedGraph convert_graph(const onnx::ModelProto& model) {
  if (!model.has_graph()) throw Error(ErrorCode::kInvalidModel, "the ONNX model has no graph");
  return Converter(model).run();
}

}  // namespace sparq::onnx_import
