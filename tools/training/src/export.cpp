#include "sparq_training/export.hpp"

#include <vector>

#include "importers/onnx/imported_quantization.hpp"
#include "sparq/error.hpp"
#include "sparq/model_builder.hpp"
#include "sparq/pruning.hpp"
#include "sparq/quantization.hpp"
#include "sparq/quantized_layers.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq::training {
namespace {

std::vector<float> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

struct FoldedConv {
  std::vector<float> weights;  // [O, I, k, k], pruned taps zero
  std::vector<float> bias;
};

// Folds the BatchNorm that follows `conv` into it with sparq's own rule.
FoldedConv fold(const ConvBn& conv) {
  FoldedConv f;
  f.weights = to_vector(conv->weight * conv->mask);
  fold_batchnorm(f.weights, f.bias, conv->out_channels, to_vector(conv->bn->weight),
                 to_vector(conv->bn->bias), to_vector(conv->bn->running_mean),
                 to_vector(conv->bn->running_var), static_cast<float>(conv->bn->options.eps()));
  return f;
}

// A dense convolution with s8 weights (the stem, 1x1 shortcuts).
Conv2dOp dense_conv(const ConvBn& conv, Activation activation) {
  FoldedConv f = fold(conv);
  Conv2dOp op;
  op.kernel_h = op.kernel_w = conv->kernel;
  op.stride_h = op.stride_w = conv->stride;
  op.pad_h = op.pad_w = conv->kernel / 2;
  op.activation = activation;
  op.weights = Tensor::from_floats(
      Shape{conv->out_channels, conv->in_channels, conv->kernel, conv->kernel}, f.weights);
  op.bias = std::move(f.bias);
  return make_s8_conv2d(std::move(op));
}

// A pruned 3x3 convolution: s4 taps, N of 9.
SparseConv3x3Op sparse_conv(const ConvBn& conv, PatternSharing sharing, Activation activation) {
  FoldedConv f = fold(conv);
  torch::Tensor mask = conv->mask.to(torch::kUInt8).contiguous();
  std::span<const uint8_t> mask_bytes{mask.data_ptr<uint8_t>(), static_cast<size_t>(mask.numel())};
  const int density = mask_density(mask_bytes, conv->out_channels, conv->in_channels);
  // A kernel whose kept taps all folded to 0 still keeps `density` taps.
  return make_sparse_conv3x3(f.weights, mask_bytes, f.bias, conv->out_channels, conv->in_channels,
                             density, conv->stride, sharing, activation);
}

// An imported model: its graph with the trained weights (pruned taps zero),
// quantized by the importer's rule, the one `sparq import --quantize` applies.
Model export_graph_model(Net& net, const CheckpointInfo& info, int act_bits,
                         const std::map<std::string, std::string>& provenance) {
  const GraphNet& graph = net->graph();
  onnx_import::QuantizedGraph q = onnx_import::quantize_imported(graph->float_graph(), act_bits);
  ModelMetadata meta = graph->source()->metadata();
  meta.name += "-k" + std::to_string(net->density()) + "-w4a" + std::to_string(act_bits);
  meta.preprocessing.scale = info.norm.scale;
  meta.preprocessing.mean = info.norm.mean;
  meta.preprocessing.std = info.norm.std;
  if (!info.class_names.empty()) meta.labels = info.class_names;
  for (const auto& [key, value] : provenance) meta.provenance[key] = value;
  return Model(std::move(q.graph), std::move(meta));
}

}  // namespace

Model export_model(Net& net, const CheckpointInfo& info, int act_bits,
                   const std::map<std::string, std::string>& provenance) {
  if (act_bits != 8 && act_bits != 4) {
    throw Error(ErrorCode::kInvalidArgument,
                "--act-bits must be 8 or 4, is " + std::to_string(act_bits));
  }
  torch::NoGradGuard no_grad;
  if (net->graph()) return export_graph_model(net, info, act_bits, provenance);
  const ArchSpec& arch = net->arch();
  const auto& convs = net->convs();
  ModelBuilder b;
  ValueId x = b.input(Shape{arch.in_channels, arch.height, arch.width_px}, DType::kF32, "image");
  size_t conv_index = 0, block_index = 0;
  bool stem = true;
  int layer_number = 0;
  for (const auto& layer : arch.layers) {
    const std::string id = std::to_string(layer_number++);
    switch (layer.kind) {
      case LayerKind::kConv3x3: {
        const ConvBn& conv = convs[conv_index++];
        if (stem) {
          ValueId q = b.quantize(x, 8, true, "quantize" + id);
          x = b.conv2d(q, dense_conv(conv, Activation::kRelu), "conv" + id);
        } else {
          ValueId q = b.quantize(x, act_bits, false, "quantize" + id);
          x = b.sparse_conv3x3(q, sparse_conv(conv, info.sharing, Activation::kRelu), "conv" + id);
        }
        stem = false;
        break;
      }
      case LayerKind::kMaxPool2:
        x = b.pool2d(x, Pool2dOp{PoolKind::kMax, 2, 2, 2, 2, 0, 0}, "pool" + id);
        break;
      case LayerKind::kResidual: {
        const NetImpl::BlockConvs& blk = net->blocks()[block_index++];
        ValueId q = b.quantize(x, act_bits, false, "block" + id + "_quantize_in");
        ValueId a =
            b.sparse_conv3x3(q, sparse_conv(convs[blk.first], info.sharing, Activation::kRelu),
                             "block" + id + "_conv1");
        ValueId qa = b.quantize(a, act_bits, false, "block" + id + "_quantize_mid");
        ValueId c =
            b.sparse_conv3x3(qa, sparse_conv(convs[blk.second], info.sharing, Activation::kNone),
                             "block" + id + "_conv2");
        ValueId shortcut = x;
        if (blk.shortcut >= 0) {
          shortcut = b.conv2d(q, dense_conv(convs[blk.shortcut], Activation::kNone),
                              "block" + id + "_shortcut");
        }
        x = b.add(c, shortcut, Activation::kRelu, "block" + id + "_add");
        conv_index += blk.shortcut >= 0 ? 3 : 2;
        break;
      }
      case LayerKind::kGlobalAvgPool:
        x = b.global_avg_pool(x, "global_pool");
        break;
      case LayerKind::kClassifier: {
        if (b.value(x).shape.rank() != 1) x = b.flatten(x, "flatten");
        ValueId q = b.quantize(x, 8, false, "quantize_classifier");
        auto fc = net->classifier();
        FullyConnectedOp op;
        op.weights = Tensor::from_floats(Shape{fc->weight.size(0), fc->weight.size(1)},
                                         to_vector(fc->weight));
        op.bias = to_vector(fc->bias);
        x = b.fully_connected(q, make_s8_fully_connected(std::move(op)), "logits");
        break;
      }
    }
  }
  b.mark_output(x);

  ModelMetadata meta;
  meta.name = info.dataset + "-" + arch.name + "-w" + std::to_string(arch.width) + "-k" +
              std::to_string(net->density()) + "-w4a" + std::to_string(act_bits);
  meta.preprocessing.height = arch.height;
  meta.preprocessing.width = arch.width_px;
  meta.preprocessing.channels = arch.in_channels;
  meta.preprocessing.scale = info.norm.scale;
  meta.preprocessing.mean = info.norm.mean;
  meta.preprocessing.std = info.norm.std;
  meta.labels = info.class_names;
  meta.provenance = provenance;
  return b.build(std::move(meta));
}

}  // namespace sparq::training
