// Shape and dtype inference: one rule per operation.
#include <cmath>
#include <string>

#include "kernels/common/window_geometry.hpp"
#include "sparq/error.hpp"
#include "sparq/graph.hpp"

namespace sparq {
namespace {

[[noreturn]] void fail(const Node& node, const std::string& what) {
  throw Error(ErrorCode::kInvalidModel,
              "node '" + node.name + "' (" + op_name(node.op) + "): " + what);
}

const Value& input_value(const Graph& graph, const Node& node, size_t index) {
  ValueId id = node.inputs[index];
  if (id < 0 || static_cast<size_t>(id) >= graph.values.size()) {
    fail(node, "input " + std::to_string(index) + " refers to unknown value " + std::to_string(id));
  }
  return graph.value(id);
}

void expect_inputs(const Node& node, size_t count) {
  if (node.inputs.size() != count) {
    fail(node, "expects " + std::to_string(count) + " input(s), has " +
                   std::to_string(node.inputs.size()));
  }
}

void expect_rank(const Node& node, const Value& v, int rank) {
  if (v.shape.rank() != rank) {
    fail(node, "input '" + v.name + "' must have rank " + std::to_string(rank) +
                   " (per sample), has shape " + v.shape.to_string());
  }
  for (int64_t d : v.shape.dims()) {
    if (d <= 0)
      fail(node, "input '" + v.name + "' has a non-positive dimension " + v.shape.to_string());
  }
}

bool is_quantized(DType t) {
  return t == DType::kU8 || t == DType::kS8;
}

int64_t window_output(const Node& node, int64_t in, int kernel, int stride, int pad,
                      const char* axis) {
  if (kernel <= 0 || stride <= 0 || pad < 0) {
    fail(node, std::string("kernel, stride and padding along ") + axis +
                   " must be positive (padding non-negative)");
  }
  if (pad >= kernel)
    fail(node, std::string("padding along ") + axis + " must be smaller than the kernel");
  int64_t span = in + 2 * static_cast<int64_t>(pad) - kernel;
  if (span < 0) {
    fail(node, std::string("kernel larger than the padded input along ") + axis + " (" +
                   std::to_string(in) + " + 2*" + std::to_string(pad) + " < " +
                   std::to_string(kernel) + ")");
  }
  return kernels::window_output_size(in, kernel, stride, pad);
}

// A quantized convolution's output: f32, or the fused static quantize's u8/s8.
DType output_dtype(const OutputQuantization& q) {
  if (!q.enabled()) return DType::kF32;
  return q.is_signed ? DType::kS8 : DType::kU8;
}

struct Inferrer {
  const Graph& graph;
  const Node& node;

  Value operator()(const QuantizeOp& op) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    if (x.dtype != DType::kF32)
      fail(node, "input must be f32, is " + std::string(to_string(x.dtype)));
    if (op.bits != 8 && op.bits != 4)
      fail(node, "bits must be 8 or 4, is " + std::to_string(op.bits));
    if (op.is_signed && op.bits != 8) fail(node, "signed activations must be 8-bit");
    return {"", x.shape, op.is_signed ? DType::kS8 : DType::kU8};
  }

  Value operator()(const DequantizeOp&) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    if (!is_quantized(x.dtype))
      fail(node, "input must be u8 or s8, is " + std::string(to_string(x.dtype)));
    return {"", x.shape, DType::kF32};
  }

  Value operator()(const Conv2dOp& op) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    expect_rank(node, x, 3);
    const Shape& w = op.weights.shape();
    if (w.rank() != 4) fail(node, "weights must be [O, I/groups, KH, KW], are " + w.to_string());
    int64_t out_channels = w[0];
    if (op.groups <= 0) fail(node, "groups must be positive");
    if (x.shape[0] % op.groups != 0 || out_channels % op.groups != 0) {
      fail(node, "groups (" + std::to_string(op.groups) + ") must divide input channels (" +
                     std::to_string(x.shape[0]) + ") and output channels (" +
                     std::to_string(out_channels) + ")");
    }
    if (out_channels <= 0) fail(node, "weights have no output channels");
    if (w[1] != x.shape[0] / op.groups || w[2] != op.kernel_h || w[3] != op.kernel_w) {
      fail(node, "weights shape " + w.to_string() + " does not match input channels " +
                     std::to_string(x.shape[0]) + ", groups " + std::to_string(op.groups) +
                     " and kernel " + std::to_string(op.kernel_h) + "x" +
                     std::to_string(op.kernel_w));
    }
    if (op.weights.dtype() == DType::kF32) {
      if (x.dtype != DType::kF32)
        fail(node, "float weights need an f32 input, input is " + std::string(to_string(x.dtype)));
    } else if (op.weights.dtype() == DType::kS8 || op.weights.dtype() == DType::kS4) {
      if (!is_quantized(x.dtype))
        fail(node,
             "integer weights need a u8 or s8 input, input is " + std::string(to_string(x.dtype)));
      if (op.weight_scales.size() != static_cast<size_t>(out_channels)) {
        fail(node, "weight_scales has " + std::to_string(op.weight_scales.size()) +
                       " entries, expected one per output channel (" +
                       std::to_string(out_channels) + ")");
      }
    } else {
      fail(node,
           "weights must be f32, s8 or s4, are " + std::string(to_string(op.weights.dtype())));
    }
    if (op.bias.size() != static_cast<size_t>(out_channels)) {
      fail(node, "bias has " + std::to_string(op.bias.size()) + " entries, expected " +
                     std::to_string(out_channels));
    }
    int64_t oh = window_output(node, x.shape[1], op.kernel_h, op.stride_h, op.pad_h, "height");
    int64_t ow = window_output(node, x.shape[2], op.kernel_w, op.stride_w, op.pad_w, "width");
    if (op.pool.enabled) {
      if (op.weights.dtype() == DType::kF32) fail(node, "a fused max pool needs integer weights");
      if (op.output_quantization.enabled()) fail(node, "a fused max pool needs the f32 output");
      const FusedMaxPool& p = op.pool;
      oh = window_output(node, oh, p.kernel_h, p.stride_h, p.pad_h, "the fused pool's height");
      ow = window_output(node, ow, p.kernel_w, p.stride_w, p.pad_w, "the fused pool's width");
    }
    return {"", Shape{out_channels, oh, ow}, output_dtype(op.output_quantization)};
  }

  Value operator()(const SparseConv3x3Op& op) const {
    expect_inputs(node, op.residual.enabled ? 2 : 1);
    const Value& x = input_value(graph, node, 0);
    expect_rank(node, x, 3);
    if (!is_quantized(x.dtype))
      fail(node, "input must be u8 or s8, is " + std::string(to_string(x.dtype)));
    if (op.stride != 1 && op.stride != 2)
      fail(node, "stride must be 1 or 2, is " + std::to_string(op.stride));
    if (op.density < 1 || op.density > 9)
      fail(node, "density must be 1..9, is " + std::to_string(op.density));
    if (op.out_channels <= 0 || op.in_channels <= 0) fail(node, "channel counts must be positive");
    if (x.shape[0] != op.in_channels) {
      fail(node, "in_channels is " + std::to_string(op.in_channels) + " but the input has " +
                     std::to_string(x.shape[0]) + " channels");
    }
    size_t expected = static_cast<size_t>(op.out_channels) * op.in_channels * op.density;
    if (op.taps.size() != expected) {
      fail(node, "taps has " + std::to_string(op.taps.size()) + " bytes, expected " +
                     std::to_string(expected) + " (out x in x density)");
    }
    if (op.weight_scales.size() != static_cast<size_t>(op.out_channels)) {
      fail(node, "weight_scales has " + std::to_string(op.weight_scales.size()) +
                     " entries, expected " + std::to_string(op.out_channels));
    }
    if (op.bias.size() != static_cast<size_t>(op.out_channels)) {
      fail(node, "bias has " + std::to_string(op.bias.size()) + " entries, expected " +
                     std::to_string(op.out_channels));
    }
    int64_t oh = window_output(node, x.shape[1], 3, op.stride, 1, "height");
    int64_t ow = window_output(node, x.shape[2], 3, op.stride, 1, "width");
    const Shape out{op.out_channels, oh, ow};
    if (op.residual.enabled) {
      if (op.output_quantization.enabled()) fail(node, "a fused residual needs the f32 output");
      const Value& r = input_value(graph, node, 1);
      if (r.dtype != DType::kF32 || r.shape != out) {
        fail(node, "the residual must be f32 " + out.to_string() + ", is " +
                       std::string(to_string(r.dtype)) + " " + r.shape.to_string());
      }
    }
    return {"", out, output_dtype(op.output_quantization)};
  }

  Value operator()(const FullyConnectedOp& op) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    expect_rank(node, x, 1);
    const Shape& w = op.weights.shape();
    if (w.rank() != 2 || w[0] <= 0 || w[1] != x.shape[0]) {
      fail(node, "weights must be [O, " + std::to_string(x.shape[0]) + "], are " + w.to_string());
    }
    if (op.weights.dtype() == DType::kF32) {
      if (x.dtype != DType::kF32)
        fail(node, "float weights need an f32 input, input is " + std::string(to_string(x.dtype)));
    } else if (op.weights.dtype() == DType::kS8) {
      if (!is_quantized(x.dtype))
        fail(node, "s8 weights need a u8 or s8 input, input is " + std::string(to_string(x.dtype)));
      if (op.weight_scales.size() != static_cast<size_t>(w[0])) {
        fail(node, "weight_scales has " + std::to_string(op.weight_scales.size()) +
                       " entries, expected " + std::to_string(w[0]));
      }
    } else {
      fail(node, "weights must be f32 or s8, are " + std::string(to_string(op.weights.dtype())));
    }
    if (op.bias.size() != static_cast<size_t>(w[0])) {
      fail(node, "bias has " + std::to_string(op.bias.size()) + " entries, expected " +
                     std::to_string(w[0]));
    }
    return {"", Shape{w[0]}, DType::kF32};
  }

  Value operator()(const Pool2dOp& op) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    expect_rank(node, x, 3);
    // Max pooling commutes with quantization, so it also takes u8/s8 (the
    // scales pass through); an average would need a rounding rule.
    const bool bytes = x.dtype == DType::kU8 || x.dtype == DType::kS8;
    if (x.dtype != DType::kF32 && !(bytes && op.kind == PoolKind::kMax)) {
      fail(node, op.kind == PoolKind::kMax ? "input must be f32, u8 or s8"
                                           : "input must be f32 (average pooling)");
    }
    if (!op.count_include_pad && op.kind != PoolKind::kAverage)
      fail(node, "count_include_pad = false applies to average pooling only");
    int64_t oh = window_output(node, x.shape[1], op.kernel_h, op.stride_h, op.pad_h, "height");
    int64_t ow = window_output(node, x.shape[2], op.kernel_w, op.stride_w, op.pad_w, "width");
    return {"", Shape{x.shape[0], oh, ow}, x.dtype};
  }

  Value operator()(const GlobalAvgPoolOp&) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    expect_rank(node, x, 3);
    if (x.dtype != DType::kF32) fail(node, "input must be f32");
    return {"", Shape{x.shape[0]}, DType::kF32};
  }

  Value operator()(const AddOp&) const {
    expect_inputs(node, 2);
    const Value& a = input_value(graph, node, 0);
    const Value& b = input_value(graph, node, 1);
    if (a.dtype != DType::kF32 || b.dtype != DType::kF32) fail(node, "inputs must be f32");
    if (a.shape != b.shape) {
      fail(node, "input shapes differ: " + a.shape.to_string() + " vs " + b.shape.to_string());
    }
    return {"", a.shape, DType::kF32};
  }

  Value operator()(const ActivationOp&) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    if (x.dtype != DType::kF32) fail(node, "input must be f32");
    return {"", x.shape, DType::kF32};
  }

  Value operator()(const FlattenOp&) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    if (x.shape.rank() < 1) fail(node, "input must have rank >= 1");
    return {"", Shape{x.shape.elements()}, x.dtype};
  }

  Value operator()(const SoftmaxOp&) const {
    expect_inputs(node, 1);
    const Value& x = input_value(graph, node, 0);
    expect_rank(node, x, 1);
    if (x.dtype != DType::kF32) fail(node, "input must be f32");
    return {"", x.shape, DType::kF32};
  }

  Value operator()(const ChannelAffineOp& op) const {
    expect_inputs(node, 1);
    const Value& x = float_input(0);
    if (x.shape.rank() != 3 && x.shape.rank() != 1)
      fail(node, "input must be [C, H, W] or [C], is " + x.shape.to_string());
    if (op.scale.size() != op.shift.size())
      fail(node, "scale and shift must have the same number of entries");
    if (op.scale.size() != 1 && static_cast<int64_t>(op.scale.size()) != x.shape[0]) {
      fail(node, "scale has " + std::to_string(op.scale.size()) +
                     " entries, expected 1 or one per channel (" + std::to_string(x.shape[0]) +
                     ")");
    }
    return {"", x.shape, DType::kF32};
  }

  Value operator()(const BroadcastBinaryOp&) const {
    expect_inputs(node, 2);
    const Value& a = float_input(0);
    const Value& b = float_input(1);
    const bool per_channel = a.shape.rank() == 3 && b.shape.rank() == 1 && b.shape[0] == a.shape[0];
    const bool scalar = b.shape.rank() == 1 && b.shape[0] == 1;
    if (a.shape != b.shape && !per_channel && !scalar) {
      fail(node, "second input " + b.shape.to_string() + " must equal the first " +
                     a.shape.to_string() + ", be one value per channel, or be [1]");
    }
    return {"", a.shape, DType::kF32};
  }

  Value operator()(const SigmoidOp&) const {
    expect_inputs(node, 1);
    return {"", float_input(0).shape, DType::kF32};
  }

  Value operator()(const ClampOp& op) const {
    expect_inputs(node, 1);
    if (!(op.min <= op.max)) fail(node, "min must not exceed max");
    return {"", float_input(0).shape, DType::kF32};
  }

  Value operator()(const ConcatOp&) const {
    if (node.inputs.empty()) fail(node, "needs at least one input");
    const Value& first = float_input(0);
    if (first.shape.rank() < 1) fail(node, "inputs must have rank >= 1");
    int64_t channels = 0;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Value& x = float_input(i);
      if (x.shape.rank() != first.shape.rank()) fail(node, "inputs differ in rank");
      for (int d = 1; d < x.shape.rank(); ++d) {
        if (x.shape[d] != first.shape[d]) {
          fail(node, "input '" + x.name + "' " + x.shape.to_string() +
                         " differs from the first input " + first.shape.to_string() +
                         " outside the concatenation axis");
        }
      }
      if (x.shape[0] <= 0) fail(node, "input '" + x.name + "' has no channels");
      channels += x.shape[0];
    }
    std::vector<int64_t> dims = first.shape.dims();
    dims[0] = channels;
    return {"", Shape(dims), DType::kF32};
  }

  Value operator()(const LogSoftmaxOp&) const {
    expect_inputs(node, 1);
    const Value& x = float_input(0);
    expect_rank(node, x, 1);
    return {"", x.shape, DType::kF32};
  }

  const Value& float_input(size_t index) const {
    const Value& x = input_value(graph, node, index);
    if (x.dtype != DType::kF32) fail(node, "input '" + x.name + "' must be f32");
    return x;
  }
};

}  // namespace

Value infer_output(const Graph& graph, const Node& node) {
  return std::visit(Inferrer{graph, node}, node.op);
}

}  // namespace sparq
