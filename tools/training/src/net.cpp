#include "sparq_training/net.hpp"

#include <vector>

#include "sparq/error.hpp"
#include "sparq/pruning.hpp"

namespace sparq::training {

ConvBnImpl::ConvBnImpl(int in, int out, int k, int s, bool can_prune, int bits)
    : in_channels(in),
      out_channels(out),
      kernel(k),
      stride(s),
      weight_bits(bits),
      prunable(can_prune) {
  weight = register_parameter("weight", torch::empty({out, in, k, k}));
  torch::nn::init::kaiming_normal_(weight, 0.0, torch::kFanOut, torch::kReLU);
  mask = register_buffer("mask", torch::ones({out, in, k, k}));
  bn = register_module("bn", torch::nn::BatchNorm2d(out));
}

torch::Tensor ConvBnImpl::forward_float(const torch::Tensor& x) {
  auto options = torch::nn::functional::Conv2dFuncOptions().stride(stride).padding(kernel / 2);
  return bn(torch::nn::functional::conv2d(x, weight * mask, options));
}

std::pair<torch::Tensor, torch::Tensor> ConvBnImpl::folded() const {
  const float eps = static_cast<float>(bn->options.eps());
  torch::Tensor factor = bn->weight / torch::sqrt(bn->running_var + eps);
  torch::Tensor w = (weight * mask) * factor.view({-1, 1, 1, 1});
  torch::Tensor b = (-bn->running_mean) * factor + bn->bias;
  return {w, b};
}

torch::Tensor ConvBnImpl::forward_quantized(const QuantizedTensor& x, bool exact) {
  auto [w, b] = folded();
  QuantizedTensor wq = quantize_weights(w, weight_bits, !exact);
  auto options = torch::nn::functional::Conv2dFuncOptions().stride(stride).padding(kernel / 2);
  // Integer-valued operands: every product and partial sum is an integer
  // below 2^24, so this float convolution is the exact int32 accumulation.
  torch::Tensor acc = torch::nn::functional::conv2d(x.q, wq.q, options);
  return rescale_accumulator(acc, x.scale, wq.scale, b, exact);
}

NetImpl::NetImpl(ArchSpec arch) : arch_(std::move(arch)) {
  int channels = arch_.in_channels;
  auto add_conv = [&](int in, int out, int kernel, int stride, bool prunable, int bits) {
    ConvBn conv(in, out, kernel, stride, prunable, bits);
    register_module("conv" + std::to_string(convs_.size()), conv);
    convs_.push_back(conv);
    return static_cast<int>(convs_.size() - 1);
  };
  bool stem = true;
  for (const auto& layer : arch_.layers) {
    switch (layer.kind) {
      case LayerKind::kConv3x3:
        // The stem sees the image: dense, 8-bit (the chip's and the
        // contract's exception for the first layer).
        add_conv(channels, layer.out_channels, 3, layer.stride, !stem, stem ? 8 : 4);
        stem = false;
        channels = layer.out_channels;
        break;
      case LayerKind::kResidual: {
        BlockConvs b{};
        b.first = add_conv(channels, layer.out_channels, 3, layer.stride, true, 4);
        b.second = add_conv(layer.out_channels, layer.out_channels, 3, 1, true, 4);
        b.shortcut = (layer.stride != 1 || layer.out_channels != channels)
                         ? add_conv(channels, layer.out_channels, 1, layer.stride, false, 8)
                         : -1;
        blocks_.push_back(b);
        channels = layer.out_channels;
        break;
      }
      case LayerKind::kClassifier:
        classifier_ = register_module("fc", torch::nn::Linear(channels, layer.out_channels));
        break;
      default:
        break;
    }
  }
}

NetImpl::NetImpl(std::shared_ptr<const Model> source) {
  const Graph& g = source->graph();
  const Shape& in = g.value(g.input).shape;
  const Shape& out = g.value(g.outputs.at(0)).shape;
  if (in.rank() != 3 || out.rank() != 1) {
    throw Error(
        ErrorCode::kInvalidArgument,
        "training needs a model with a [C, H, W] input and [classes] output, this one has " +
            in.to_string() + " -> " + out.to_string());
  }
  arch_.name = "imported";
  arch_.in_channels = static_cast<int>(in[0]);
  arch_.height = static_cast<int>(in[1]);
  arch_.width_px = static_cast<int>(in[2]);
  arch_.classes = static_cast<int>(out[0]);
  graph_ = register_module("graph", GraphNet(std::move(source)));
}

std::string NetImpl::description() const {
  if (!graph_) return describe(arch_);
  const auto& model = *graph_->source();
  return "imported " + model.metadata().name + " (" + std::to_string(model.graph().nodes.size()) +
         " nodes, " + std::to_string(graph_->prunable().size()) + " prunable 3x3 convolutions)";
}

std::vector<MaskedWeight> NetImpl::prunable_weights() const {
  if (graph_) return graph_->prunable();
  std::vector<MaskedWeight> result;
  for (const auto& c : prunable_convs()) {
    result.push_back({c->weight, c->mask, c->out_channels, c->in_channels});
  }
  return result;
}

std::vector<ConvBn> NetImpl::prunable_convs() const {
  std::vector<ConvBn> result;
  for (const auto& c : convs_) {
    if (c->prunable) result.push_back(c);
  }
  return result;
}

int NetImpl::density() const {
  auto weights = prunable_weights();
  if (weights.empty()) return 9;
  const auto& c = weights.front();
  torch::Tensor m = c.mask.to(torch::kUInt8).contiguous();
  return mask_density({m.data_ptr<uint8_t>(), static_cast<size_t>(m.numel())}, c.out_channels,
                      c.in_channels);
}

torch::Tensor NetImpl::forward(const torch::Tensor& input, const QuantMode& mode) {
  if (graph_) return graph_->forward(input, mode);
  const bool ste = !mode.exact;
  // Quantizes the input of a quantized layer (signed 8-bit for the image).
  auto quantize = [&](const torch::Tensor& x, int bits, bool is_signed) {
    return quantize_activations(x, bits, is_signed, ste);
  };
  auto run_conv = [&](int index, const torch::Tensor& x, const QuantizedTensor* qx) {
    return mode.enabled ? convs_[static_cast<size_t>(index)]->forward_quantized(*qx, mode.exact)
                        : convs_[static_cast<size_t>(index)]->forward_float(x);
  };
  torch::Tensor x = input;
  size_t conv_index = 0, block_index = 0;
  bool stem = true;
  for (const auto& layer : arch_.layers) {
    switch (layer.kind) {
      case LayerKind::kConv3x3: {
        QuantizedTensor qx;
        if (mode.enabled) qx = stem ? quantize(x, 8, true) : quantize(x, mode.act_bits, false);
        x = torch::relu(run_conv(static_cast<int>(conv_index++), x, &qx));
        stem = false;
        break;
      }
      case LayerKind::kMaxPool2:
        x = torch::max_pool2d(x, 2, 2);
        break;
      case LayerKind::kResidual: {
        const BlockConvs& b = blocks_[block_index++];
        QuantizedTensor qx;
        if (mode.enabled) qx = quantize(x, mode.act_bits, false);
        torch::Tensor a = torch::relu(run_conv(b.first, x, &qx));
        QuantizedTensor qa;
        if (mode.enabled) qa = quantize(a, mode.act_bits, false);
        torch::Tensor y = run_conv(b.second, a, &qa);
        torch::Tensor shortcut = b.shortcut >= 0 ? run_conv(b.shortcut, x, &qx) : x;
        x = torch::relu(y + shortcut);
        conv_index += b.shortcut >= 0 ? 3 : 2;
        break;
      }
      case LayerKind::kGlobalAvgPool:
        x = x.mean({2, 3});
        break;
      case LayerKind::kClassifier: {
        x = x.flatten(1);
        if (!mode.enabled) {
          x = classifier_(x);
          break;
        }
        QuantizedTensor qx = quantize(x, 8, false);
        QuantizedTensor wq = quantize_weights(classifier_->weight, 8, ste);
        x = rescale_accumulator(qx.q.matmul(wq.q.t()), qx.scale, wq.scale, classifier_->bias,
                                mode.exact);
        break;
      }
    }
  }
  return x;
}

}  // namespace sparq::training
