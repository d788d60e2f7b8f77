// sparq.ModelBuilder: a graph in code, from numpy weights. Each call appends a
// node and returns its output value id (an int); shapes are inferred at once,
// so a mistake raises where it is made.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "python/src/arrays.hpp"
#include "python/src/bindings.hpp"
#include "python/src/names.hpp"
#include "sparq/error.hpp"
#include "sparq/model_builder.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

using Pair = std::pair<int, int>;

// float32 weights -> an f32 tensor; int8 -> an s8 tensor (quantized layer,
// weight_scales required).
Tensor weight_tensor(const py::array& weights) {
  const Shape shape(shape_of(weights));
  if (py::isinstance<py::array_t<float>>(weights)) {
    return Tensor::from_floats(shape, to_vector<float>(weights, "weights"));
  }
  if (py::isinstance<py::array_t<int8_t>>(weights)) {
    const std::vector<int8_t> v = to_vector<int8_t>(weights, "weights");
    return Tensor::from_bytes(
        shape, DType::kS8,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size()));
  }
  throw Error(ErrorCode::kInvalidArgument,
              "weights: dtype is " + py::str(weights.dtype()).cast<std::string>() +
                  ", expected float32 (float layer) or int8 (quantized layer, with "
                  "weight_scales)");
}

std::vector<float> floats_or_empty(const py::object& array, const std::string& what) {
  return array.is_none() ? std::vector<float>{} : to_vector<float>(array.cast<py::array>(), what);
}

// Float layers may omit the bias; the graph wants one per output channel.
std::vector<float> bias_for(const py::object& bias, int64_t out_channels) {
  std::vector<float> b = floats_or_empty(bias, "bias");
  if (b.empty()) b.assign(static_cast<size_t>(out_channels), 0.0f);
  return b;
}

py::dict value_dict(const Value& v) {
  py::dict d;
  d["name"] = v.name;
  d["shape"] = v.shape.dims();
  d["dtype"] = to_string(v.dtype);
  return d;
}

Preprocessing to_preprocessing(const py::dict& d) {
  Preprocessing p;
  for (auto item : d) {
    const auto key = item.first.cast<std::string>();
    if (key == "height")
      p.height = item.second.cast<int>();
    else if (key == "width")
      p.width = item.second.cast<int>();
    else if (key == "channels")
      p.channels = item.second.cast<int>();
    else if (key == "scale")
      p.scale = item.second.cast<float>();
    else if (key == "mean")
      p.mean = item.second.cast<std::vector<float>>();
    else if (key == "std")
      p.std = item.second.cast<std::vector<float>>();
    else {
      throw Error(ErrorCode::kInvalidArgument, "preprocessing: unknown key '" + key +
                                                   "' (height, width, channels, scale, mean, std)");
    }
  }
  return p;
}

}  // namespace

void bind_builder(py::module_& m) {
  py::class_<ModelBuilder>(m, "ModelBuilder",
                           "Builds a graph node by node; build() validates it into a Model.")
      .def(py::init<>())
      .def(
          "input",
          [](ModelBuilder& b, const std::vector<int64_t>& shape, const std::string& dtype,
             const std::string& name) { return b.input(Shape(shape), parse_dtype(dtype), name); },
          py::arg("shape"), py::arg("dtype") = "f32", py::arg("name") = "input",
          "The single graph input; per-sample shape, e.g. [1, 28, 28].")
      .def(
          "quantize",
          [](ModelBuilder& b, ValueId x, int bits, bool is_signed, const std::string& name,
             float scale) {
            return scale == 0.0f ? b.quantize(x, bits, is_signed, name)
                                 : b.quantize_static(x, scale, bits, is_signed, name);
          },
          py::arg("x"), py::arg("bits") = 8, py::arg("signed") = false, py::arg("name") = "",
          py::arg("scale") = 0.0f,
          "Quantization to u8 (bits 8 or 4) or s8 (signed, bits 8); scale 0: dynamic (each "
          "sample's scale from its maximum), > 0: that static scale for every sample.")
      .def("dequantize", &ModelBuilder::dequantize, py::arg("x"), py::arg("name") = "")
      .def(
          "conv2d",
          [](ModelBuilder& b, ValueId x, const py::array& weights, const py::object& bias,
             Pair stride, Pair padding, int groups, const std::string& activation,
             const py::object& weight_scales, const std::string& name) {
            if (weights.ndim() != 4) {
              throw Error(ErrorCode::kInvalidArgument, "weights: expected [O, I/groups, KH, KW]");
            }
            Conv2dOp op;
            op.kernel_h = static_cast<int>(weights.shape(2));
            op.kernel_w = static_cast<int>(weights.shape(3));
            op.stride_h = stride.first;
            op.stride_w = stride.second;
            op.pad_h = padding.first;
            op.pad_w = padding.second;
            op.groups = groups;
            op.activation = parse_activation(activation);
            op.weights = weight_tensor(weights);
            op.weight_scales = floats_or_empty(weight_scales, "weight_scales");
            op.bias = bias_for(bias, weights.shape(0));
            return b.conv2d(x, std::move(op), name);
          },
          py::arg("x"), py::arg("weights"), py::arg("bias") = py::none(), py::kw_only(),
          py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("groups") = 1,
          py::arg("activation") = "none", py::arg("weight_scales") = py::none(),
          py::arg("name") = "",
          "Dense convolution. float32 weights [O, I/groups, KH, KW] on an f32 input, or int8 "
          "weights with per-channel weight_scales on a quantized input.")
      .def(
          "sparse_conv3x3",
          [](ModelBuilder& b, ValueId x, const SparseConv3x3Op& op, const std::string& name) {
            return b.sparse_conv3x3(x, op, name);
          },
          py::arg("x"), py::arg("layer"), py::arg("name") = "",
          "A pruned 3x3 convolution (pad 1) from make_sparse_conv3x3, on a quantized input.")
      .def(
          "fully_connected",
          [](ModelBuilder& b, ValueId x, const py::array& weights, const py::object& bias,
             const std::string& activation, const py::object& weight_scales,
             const std::string& name) {
            if (weights.ndim() != 2) {
              throw Error(ErrorCode::kInvalidArgument, "weights: expected [O, I]");
            }
            FullyConnectedOp op;
            op.activation = parse_activation(activation);
            op.weights = weight_tensor(weights);
            op.weight_scales = floats_or_empty(weight_scales, "weight_scales");
            op.bias = bias_for(bias, weights.shape(0));
            return b.fully_connected(x, std::move(op), name);
          },
          py::arg("x"), py::arg("weights"), py::arg("bias") = py::none(), py::kw_only(),
          py::arg("activation") = "none", py::arg("weight_scales") = py::none(),
          py::arg("name") = "",
          "y = W x + b: float32 weights [O, I] on f32, or int8 with weight_scales on a "
          "quantized input.")
      .def(
          "pool2d",
          [](ModelBuilder& b, ValueId x, const std::string& kind, Pair kernel, Pair stride,
             Pair padding, const std::string& name) {
            Pool2dOp op;
            op.kind = parse_pool_kind(kind);
            op.kernel_h = kernel.first;
            op.kernel_w = kernel.second;
            op.stride_h = stride.first;
            op.stride_w = stride.second;
            op.pad_h = padding.first;
            op.pad_w = padding.second;
            return b.pool2d(x, op, name);
          },
          py::arg("x"), py::arg("kind") = "max", py::kw_only(), py::arg("kernel") = Pair{2, 2},
          py::arg("stride") = Pair{2, 2}, py::arg("padding") = Pair{0, 0}, py::arg("name") = "",
          "Max or average ('max', 'average') pooling.")
      .def("global_avg_pool", &ModelBuilder::global_avg_pool, py::arg("x"), py::arg("name") = "")
      .def(
          "add",
          [](ModelBuilder& b, ValueId a, ValueId c, const std::string& activation,
             const std::string& name) { return b.add(a, c, parse_activation(activation), name); },
          py::arg("a"), py::arg("b"), py::arg("activation") = "none", py::arg("name") = "",
          "Element-wise sum (residual), then the activation.")
      .def(
          "activation",
          [](ModelBuilder& b, ValueId x, const std::string& activation, const std::string& name) {
            return b.activation(x, parse_activation(activation), name);
          },
          py::arg("x"), py::arg("activation"), py::arg("name") = "")
      .def("flatten", &ModelBuilder::flatten, py::arg("x"), py::arg("name") = "")
      .def("softmax", &ModelBuilder::softmax, py::arg("x"), py::arg("name") = "")
      .def("mark_output", &ModelBuilder::mark_output, py::arg("x"), "Makes `x` a graph output.")
      .def(
          "value", [](const ModelBuilder& b, ValueId v) { return value_dict(b.value(v)); },
          py::arg("x"), "The value's name, per-sample shape and dtype.")
      .def(
          "build",
          [](ModelBuilder& b, const std::string& name, const std::vector<std::string>& labels,
             const py::dict& preprocessing, const std::map<std::string, std::string>& provenance) {
            ModelMetadata meta;
            meta.name = name;
            meta.labels = labels;
            meta.preprocessing = to_preprocessing(preprocessing);
            meta.provenance = provenance;
            return std::make_shared<Model>(b.build(std::move(meta)));
          },
          py::kw_only(), py::arg("name") = "", py::arg("labels") = std::vector<std::string>{},
          py::arg("preprocessing") = py::dict(),
          py::arg("provenance") = std::map<std::string, std::string>{},
          "Validates the graph into a Model (the builder is left empty). Raises "
          "InvalidModelError naming the problem.");
}

}  // namespace sparq::python
