#include "tests/support/networks.hpp"

#include <cmath>
#include <random>

#include "tests/support/test_support.hpp"

namespace sparq::testing {
namespace {

// He-style scale so activations neither vanish nor explode through depth.
std::vector<float> he_weights(std::mt19937& gen, size_t count, int fan_in) {
  float bound = std::sqrt(6.0f / static_cast<float>(fan_in));
  return random_floats(gen, count, -bound, bound);
}

Conv2dOp quantized_conv(std::mt19937& gen, int out, int in, int kernel, int stride, int pad,
                        Activation activation) {
  auto w = he_weights(gen, static_cast<size_t>(out) * in * kernel * kernel, in * kernel * kernel);
  QuantizedWeights q = quantize_weights_per_channel(w, out, 8);
  Conv2dOp op;
  op.kernel_h = op.kernel_w = kernel;
  op.stride_h = op.stride_w = stride;
  op.pad_h = op.pad_w = pad;
  op.activation = activation;
  op.weights =
      Tensor::from_bytes(Shape{out, in, kernel, kernel}, DType::kS8,
                         {reinterpret_cast<const uint8_t*>(q.values.data()), q.values.size()});
  op.weight_scales = q.scales;
  op.bias = random_floats(gen, static_cast<size_t>(out), -0.1f, 0.1f);
  return op;
}

FullyConnectedOp quantized_fc(std::mt19937& gen, int out, int in) {
  auto w = he_weights(gen, static_cast<size_t>(out) * in, in);
  QuantizedWeights q = quantize_weights_per_channel(w, out, 8);
  FullyConnectedOp op;
  op.weights =
      Tensor::from_bytes(Shape{out, in}, DType::kS8,
                         {reinterpret_cast<const uint8_t*>(q.values.data()), q.values.size()});
  op.weight_scales = q.scales;
  op.bias = random_floats(gen, static_cast<size_t>(out), -0.1f, 0.1f);
  return op;
}

}  // namespace

SparseConv3x3Op random_pruned_conv(std::mt19937& gen, int out_channels, int in_channels, int stride,
                                   const NetworkOptions& options, Activation activation) {
  const size_t count = static_cast<size_t>(out_channels) * in_channels * 9;
  auto w = he_weights(gen, count, in_channels * 9);
  std::vector<uint8_t> mask(count, 1);
  prune_to_density(w, mask, out_channels, in_channels, options.density, options.sharing);
  auto bias = random_floats(gen, static_cast<size_t>(out_channels), -0.1f, 0.1f);
  return make_sparse_conv3x3(w, mask, bias, out_channels, in_channels, options.density, stride,
                             options.sharing, activation);
}

Model build_five_layer_cnn(const NetworkOptions& options) {
  std::mt19937 gen(options.seed);
  ModelBuilder b;
  ValueId x = b.input(Shape{1, 28, 28});
  x = b.quantize(x, 8, /*is_signed=*/true, "quantize_image");
  x = b.conv2d(x, quantized_conv(gen, 16, 1, 3, 1, 1, Activation::kRelu), "conv1");
  x = b.quantize(x, options.activation_bits, false, "quantize2");
  x = b.sparse_conv3x3(x, random_pruned_conv(gen, 32, 16, 1, options, Activation::kRelu), "conv2");
  x = b.pool2d(x, Pool2dOp{}, "pool2");
  x = b.quantize(x, options.activation_bits, false, "quantize3");
  x = b.sparse_conv3x3(x, random_pruned_conv(gen, 32, 32, 2, options, Activation::kRelu), "conv3");
  x = b.quantize(x, options.activation_bits, false, "quantize4");
  x = b.sparse_conv3x3(x, random_pruned_conv(gen, 64, 32, 1, options, Activation::kRelu), "conv4");
  x = b.global_avg_pool(x, "gap");
  x = b.quantize(x, 8, false, "quantize_fc");
  x = b.fully_connected(x, quantized_fc(gen, 10, 64), "fc");
  x = b.softmax(x, "softmax");
  b.mark_output(x);
  ModelMetadata meta;
  meta.name = "five_layer_cnn_k" + std::to_string(options.density);
  meta.preprocessing = {28, 28, 1, 1.0f / 255.0f, {0.5f}, {0.5f}};
  return b.build(std::move(meta));
}

namespace {

// A basic residual block: two pruned 3x3 convolutions, a 1x1 8-bit shortcut
// where the shape changes, the add with ReLU.
ValueId basic_block(ModelBuilder& b, std::mt19937& gen, ValueId x, int channels, int out,
                    int stride, const NetworkOptions& options, const std::string& name) {
  ValueId q = b.quantize(x, options.activation_bits, false, name + ".quantize1");
  ValueId y = b.sparse_conv3x3(
      q, random_pruned_conv(gen, out, channels, stride, options, Activation::kRelu),
      name + ".conv1");
  y = b.quantize(y, options.activation_bits, false, name + ".quantize2");
  y = b.sparse_conv3x3(y, random_pruned_conv(gen, out, out, 1, options, Activation::kNone),
                       name + ".conv2");
  ValueId shortcut = x;
  if (stride != 1 || channels != out) {
    ValueId qs = b.quantize(x, 8, false, name + ".quantize_shortcut");
    shortcut = b.conv2d(qs, quantized_conv(gen, out, channels, 1, stride, 0, Activation::kNone),
                        name + ".shortcut");
  }
  return b.add(y, shortcut, Activation::kRelu, name + ".add");
}

// `stages` stages of `blocks` basic blocks, widths width, 2 width, ...; the
// first block of every stage but the first has stride 2.
ValueId residual_stages(ModelBuilder& b, std::mt19937& gen, ValueId x, int width, int stages,
                        int blocks, const NetworkOptions& options, int& channels) {
  channels = width;
  for (int stage = 0; stage < stages; ++stage) {
    const int out = width << stage;
    for (int block = 0; block < blocks; ++block) {
      const int stride = (stage > 0 && block == 0) ? 2 : 1;
      const std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(block);
      x = basic_block(b, gen, x, channels, out, stride, options, name);
      channels = out;
    }
  }
  return x;
}

// Global average pool, 8-bit FC to `classes`, the model's output.
void classifier_head(ModelBuilder& b, std::mt19937& gen, ValueId x, int channels, int classes) {
  x = b.global_avg_pool(x, "gap");
  x = b.quantize(x, 8, false, "quantize_fc");
  x = b.fully_connected(x, quantized_fc(gen, classes, channels), "fc");
  b.mark_output(x);
}

}  // namespace

Model build_resnet18(const NetworkOptions& options, int image, int width, int classes) {
  std::mt19937 gen(options.seed);
  ModelBuilder b;
  ValueId x = b.input(Shape{3, image, image});
  x = b.quantize(x, 8, /*is_signed=*/true, "quantize_image");
  x = b.conv2d(x, quantized_conv(gen, width, 3, 7, 2, 3, Activation::kRelu), "stem");
  x = b.pool2d(x, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1}, "stem_pool");
  int channels = 0;
  x = residual_stages(b, gen, x, width, 4, 2, options, channels);
  classifier_head(b, gen, x, channels, classes);
  ModelMetadata meta;
  meta.name = "resnet18_k" + std::to_string(options.density);
  meta.preprocessing = {
      image, image, 3, 1.0f / 255.0f, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  return b.build(std::move(meta));
}

Model build_resnet20(const NetworkOptions& options, int image, int width, int classes) {
  std::mt19937 gen(options.seed);
  ModelBuilder b;
  ValueId x = b.input(Shape{3, image, image});
  x = b.quantize(x, 8, /*is_signed=*/true, "quantize_image");
  x = b.conv2d(x, quantized_conv(gen, width, 3, 3, 1, 1, Activation::kRelu), "stem");
  int channels = 0;
  x = residual_stages(b, gen, x, width, 3, 3, options, channels);
  classifier_head(b, gen, x, channels, classes);
  ModelMetadata meta;
  meta.name = "resnet20_k" + std::to_string(options.density);
  meta.preprocessing = {
      image, image, 3, 1.0f / 255.0f, {0.4914f, 0.4822f, 0.4465f}, {0.247f, 0.243f, 0.261f}};
  return b.build(std::move(meta));
}

}  // namespace sparq::testing
