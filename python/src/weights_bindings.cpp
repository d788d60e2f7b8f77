// Making weights from numpy: N-of-9 pruning, per-channel weight quantization,
// BatchNorm folding, the sparse tap format, and make_sparse_conv3x3 (the
// SparseConv3x3 layer ModelBuilder.sparse_conv3x3 takes). Functions return new
// arrays and never modify their arguments.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "python/src/arrays.hpp"
#include "python/src/bindings.hpp"
#include "python/src/names.hpp"
#include "sparq/error.hpp"
#include "sparq/pruning.hpp"
#include "sparq/quantization.hpp"
#include "sparq/sparse_format.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

struct Kernels3x3 {
  int out_channels = 0;
  int in_channels = 0;
};

// `array` must be [O, I, 3, 3].
Kernels3x3 kernels_3x3(const py::array& array, const std::string& what) {
  if (array.ndim() != 4 || array.shape(2) != 3 || array.shape(3) != 3) {
    std::string shape;
    for (int64_t d : shape_of(array)) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    throw Error(ErrorCode::kInvalidArgument,
                what + ": expected shape [O, I, 3, 3], got [" + shape + "]");
  }
  return {static_cast<int>(array.shape(0)), static_cast<int>(array.shape(1))};
}

PatternSharing to_sharing(const std::pair<int, int>& s) {
  return {s.first, s.second};
}

std::vector<uint8_t> mask_or_ones(const py::object& mask, const py::array& weights) {
  if (mask.is_none()) return std::vector<uint8_t>(static_cast<size_t>(weights.size()), 1);
  const auto m = mask.cast<py::array>();
  if (shape_of(m) != shape_of(weights)) {
    throw Error(ErrorCode::kInvalidArgument, "mask: shape differs from the weights'");
  }
  return to_vector<uint8_t>(m, "mask");
}

py::tuple prune(const py::array& weights, const py::object& mask, int density,
                std::pair<int, int> sharing, bool one_round) {
  const Kernels3x3 k = kernels_3x3(weights, "weights");
  std::vector<float> w = to_vector<float>(weights, "weights");
  std::vector<uint8_t> m = mask_or_ones(mask, weights);
  if (one_round) {
    prune_round(w, m, k.out_channels, k.in_channels, to_sharing(sharing));
  } else {
    prune_to_density(w, m, k.out_channels, k.in_channels, density, to_sharing(sharing));
  }
  const std::vector<int64_t> shape = shape_of(weights);
  return py::make_tuple(from_vector(w, shape), from_vector(m, shape));
}

std::vector<float> optional_floats(const py::object& array, size_t count, const std::string& what) {
  if (array.is_none()) return std::vector<float>(count, 0.0f);
  std::vector<float> v = to_vector<float>(array.cast<py::array>(), what);
  if (v.size() != count) {
    throw Error(ErrorCode::kInvalidArgument, what + ": " + std::to_string(v.size()) +
                                                 " values, expected " + std::to_string(count));
  }
  return v;
}

void bind_sparse_conv_layer(py::module_& m) {
  py::class_<SparseConv3x3Op>(
      m, "SparseConv3x3",
      "A pruned N-of-9 3x3 convolution layer (s4 taps, per-channel scales, bias), made by "
      "make_sparse_conv3x3 and added to a graph by ModelBuilder.sparse_conv3x3.")
      .def_readonly("stride", &SparseConv3x3Op::stride)
      .def_readonly("density", &SparseConv3x3Op::density, "Taps kept per kernel (k).")
      .def_readonly("out_channels", &SparseConv3x3Op::out_channels)
      .def_readonly("in_channels", &SparseConv3x3Op::in_channels)
      .def_property_readonly(
          "sharing",
          [](const SparseConv3x3Op& op) {
            return std::make_pair(op.sharing.out_group, op.sharing.in_group);
          },
          "Pattern sharing groups (out_group, in_group).")
      .def_property_readonly(
          "activation",
          [](const SparseConv3x3Op& op) { return std::string(to_string(op.activation)); })
      .def_property_readonly(
          "taps",
          [](const SparseConv3x3Op& op) {
            return from_vector(op.taps, {static_cast<int64_t>(op.taps.size())});
          },
          "Tap bytes (high nibble position, low nibble s4 value), kernel-major.")
      .def_property_readonly("weight_scales",
                             [](const SparseConv3x3Op& op) {
                               return from_vector(op.weight_scales,
                                                  {static_cast<int64_t>(op.weight_scales.size())});
                             })
      .def_property_readonly("bias",
                             [](const SparseConv3x3Op& op) {
                               return from_vector(op.bias, {static_cast<int64_t>(op.bias.size())});
                             })
      .def_property_readonly(
          "output_quantization",
          [](const SparseConv3x3Op& op) -> py::object {
            const OutputQuantization& q = op.output_quantization;
            if (!q.enabled()) return py::none();
            return py::make_tuple(q.scale, q.bits, q.is_signed);
          },
          "None (f32 output), or (scale, bits, is_signed) of a fused static quantize.");
}

}  // namespace

void bind_weights(py::module_& m) {
  bind_sparse_conv_layer(m);

  m.def(
      "prune_to_density",
      [](const py::array& weights, int density, const py::object& mask,
         std::pair<int, int> sharing) { return prune(weights, mask, density, sharing, false); },
      py::arg("weights"), py::arg("density"), py::arg("mask") = py::none(),
      py::arg("sharing") = std::make_pair(1, 1),
      "Gradual N-of-9 pruning of float32 weights [O, I, 3, 3] down to `density` taps per kernel "
      "(one smallest-magnitude tap per round, no fine-tuning), from `mask` (uint8, 1 = kept; "
      "None = all kept). sharing=(out_group, in_group) makes groups keep one pattern. Returns "
      "(pruned weights, mask) as new arrays.");
  m.def(
      "prune_round",
      [](const py::array& weights, const py::object& mask, std::pair<int, int> sharing) {
        return prune(weights, mask, 0, sharing, true);
      },
      py::arg("weights"), py::arg("mask") = py::none(), py::arg("sharing") = std::make_pair(1, 1),
      "One pruning round: every kernel (or sharing group) drops its smallest kept tap. Returns "
      "(weights, mask).");
  m.def(
      "mask_density",
      [](const py::array& mask) {
        const Kernels3x3 k = kernels_3x3(mask, "mask");
        return mask_density(to_vector<uint8_t>(mask, "mask"), k.out_channels, k.in_channels);
      },
      py::arg("mask"), "Taps kept per kernel of a uint8 mask [O, I, 3, 3] (all kernels agree).");
  m.def(
      "mask_respects_sharing",
      [](const py::array& mask, std::pair<int, int> sharing) {
        const Kernels3x3 k = kernels_3x3(mask, "mask");
        return mask_respects_sharing(to_vector<uint8_t>(mask, "mask"), k.out_channels,
                                     k.in_channels, to_sharing(sharing));
      },
      py::arg("mask"), py::arg("sharing"),
      "True when every (out_group, in_group) group keeps identical positions.");
  m.def(
      "quantize_weights",
      [](const py::array& weights, int bits) {
        if (weights.ndim() < 1) {
          throw Error(ErrorCode::kInvalidArgument, "weights: need at least one dimension [O, ...]");
        }
        const QuantizedWeights q = quantize_weights_per_channel(
            to_vector<float>(weights, "weights"), static_cast<int>(weights.shape(0)), bits);
        return py::make_tuple(from_vector(q.values, shape_of(weights)),
                              from_vector(q.scales, {weights.shape(0)}));
      },
      py::arg("weights"), py::arg("bits") = 4,
      "Symmetric per-output-channel quantization of float32 weights [O, ...] to `bits` (4 or "
      "8): returns (int8 values of the same shape, float32 scales [O]).");
  m.def(
      "fold_batchnorm",
      [](const py::array& weights, const py::object& bias, const py::array& gamma,
         const py::array& beta, const py::array& mean, const py::array& var, float eps) {
        if (weights.ndim() < 1) {
          throw Error(ErrorCode::kInvalidArgument, "weights: need at least one dimension [O, ...]");
        }
        const auto out = static_cast<int>(weights.shape(0));
        std::vector<float> w = to_vector<float>(weights, "weights");
        std::vector<float> b = bias.is_none() ? std::vector<float>{}
                                              : to_vector<float>(bias.cast<py::array>(), "bias");
        fold_batchnorm(w, b, out, to_vector<float>(gamma, "gamma"), to_vector<float>(beta, "beta"),
                       to_vector<float>(mean, "mean"), to_vector<float>(var, "var"), eps);
        return py::make_tuple(from_vector(w, shape_of(weights)), from_vector(b, {out}));
      },
      py::arg("weights"), py::arg("bias"), py::arg("gamma"), py::arg("beta"), py::arg("mean"),
      py::arg("var"), py::arg("eps") = 1e-5f,
      "Folds an inference-mode BatchNorm into the preceding convolution's float32 weights "
      "[O, ...] and bias (None = 0). Returns (weights, bias).");
  m.def(
      "pack_taps",
      [](const py::array& values, const py::array& mask, int density) {
        const Kernels3x3 k = kernels_3x3(values, "values");
        if (shape_of(mask) != shape_of(values)) {
          throw Error(ErrorCode::kInvalidArgument, "mask: shape differs from the values'");
        }
        const std::vector<uint8_t> taps =
            pack_taps(to_vector<int8_t>(values, "values"), to_vector<uint8_t>(mask, "mask"),
                      k.out_channels, k.in_channels, density);
        return from_vector(taps, {static_cast<int64_t>(taps.size())});
      },
      py::arg("values"), py::arg("mask"), py::arg("density"),
      "Packs int8 weights [O, I, 3, 3] (values -8..7) kept by `mask` into tap bytes "
      "(docs/SPARSE_FORMAT.md).");
  m.def(
      "unpack_taps",
      [](const py::array& taps, int out_channels, int in_channels, int density) {
        const std::vector<int8_t> values =
            unpack_taps(to_vector<uint8_t>(taps, "taps"), out_channels, in_channels, density);
        return from_vector(values, {out_channels, in_channels, 3, 3});
      },
      py::arg("taps"), py::arg("out_channels"), py::arg("in_channels"), py::arg("density"),
      "Tap bytes -> dense int8 weights [O, I, 3, 3] (zeros where pruned).");
  m.def(
      "make_sparse_conv3x3",
      [](const py::array& weights, const py::array& mask, const py::object& bias,
         const py::object& density, int stride, std::pair<int, int> sharing,
         const std::string& activation) {
        const Kernels3x3 k = kernels_3x3(weights, "weights");
        if (shape_of(mask) != shape_of(weights)) {
          throw Error(ErrorCode::kInvalidArgument, "mask: shape differs from the weights'");
        }
        const std::vector<uint8_t> m = to_vector<uint8_t>(mask, "mask");
        const int k_taps = density.is_none() ? mask_density(m, k.out_channels, k.in_channels)
                                             : density.cast<int>();
        return make_sparse_conv3x3(
            to_vector<float>(weights, "weights"), m,
            optional_floats(bias, static_cast<size_t>(k.out_channels), "bias"), k.out_channels,
            k.in_channels, k_taps, stride, to_sharing(sharing), parse_activation(activation));
      },
      py::arg("weights"), py::arg("mask"), py::arg("bias") = py::none(), py::kw_only(),
      py::arg("density") = py::none(), py::arg("stride") = 1,
      py::arg("sharing") = std::make_pair(1, 1), py::arg("activation") = "none",
      "A SparseConv3x3 layer from float32 weights [O, I, 3, 3] and a uint8 mask keeping "
      "`density` taps per kernel (None: read from the mask): kept weights are quantized to s4 "
      "per output channel and packed. activation: 'none', 'relu', 'relu6'.");
}

}  // namespace sparq::python
