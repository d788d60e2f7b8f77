#include "tests/support/model_samples.hpp"

#include <random>

#include "tests/support/test_support.hpp"

namespace sparq::testing {
namespace {

std::vector<float> positive_scales(std::mt19937& gen, int count) {
  return random_floats(gen, static_cast<size_t>(count), 0.001f, 0.05f);
}

std::vector<float> small_bias(std::mt19937& gen, int count) {
  return random_floats(gen, static_cast<size_t>(count), -0.1f, 0.1f);
}

// Symmetric 8-bit weights: -127..127 (-128 is not a valid weight).
Tensor random_s8_weights(std::mt19937& gen, const Shape& shape) {
  Tensor t(shape, DType::kS8);
  std::uniform_int_distribution<int> value(-127, 127);
  for (int8_t& v : t.span<int8_t>()) v = static_cast<int8_t>(value(gen));
  return t;
}

// Packed signed 4-bit weights: any byte is two valid nibbles (-8..7).
Tensor random_s4_weights(std::mt19937& gen, const Shape& shape) {
  Tensor t(shape, DType::kS4);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& v : t.span<uint8_t>()) v = static_cast<uint8_t>(byte(gen));
  return t;
}

}  // namespace

SparseConv3x3Op random_sparse(std::mt19937& gen, int out, int in, int density, int stride,
                              PatternSharing sharing, Activation activation) {
  SparseConv3x3Op op;
  op.stride = stride;
  op.density = density;
  op.out_channels = out;
  op.in_channels = in;
  op.sharing = sharing;
  op.activation = activation;
  op.taps = random_taps(gen, out, in, density, sharing);
  op.weight_scales = positive_scales(gen, out);
  op.bias = small_bias(gen, out);
  return op;
}

ModelMetadata sample_metadata(const std::string& name, int channels, int classes) {
  ModelMetadata meta;
  meta.name = name;
  meta.preprocessing.height = 12;
  meta.preprocessing.width = 12;
  meta.preprocessing.channels = channels;
  meta.preprocessing.scale = 1.0f / 255.0f;
  for (int c = 0; c < channels; ++c) {
    meta.preprocessing.mean.push_back(0.25f + 0.125f * static_cast<float>(c));
    meta.preprocessing.std.push_back(0.5f - 0.0625f * static_cast<float>(c));
  }
  for (int k = 0; k < classes; ++k) meta.labels.push_back("class_" + std::to_string(k));
  if (classes > 1) meta.labels[1] = "T-shirt/top \xc3\xa9t\xc3\xa9";  // UTF-8 survives
  meta.provenance = {{"dataset", "random"},
                     {"accuracy", "0.0"},
                     {"pruning_schedule", "9,8,7,6,5,4,3,2,1"},
                     {"empty_value", ""}};
  return meta;
}

Model build_tiny_sparse_cnn(uint32_t seed, int density, PatternSharing sharing) {
  std::mt19937 gen = rng(seed);
  ModelBuilder b;
  ValueId x = b.input(Shape{1, 12, 12});
  x = b.quantize(x, 8, false, "quantize_image");
  Conv2dOp conv1;
  conv1.pad_h = conv1.pad_w = 1;
  conv1.activation = Activation::kRelu;
  conv1.weights = random_s8_weights(gen, Shape{8, 1, 3, 3});
  conv1.weight_scales = positive_scales(gen, 8);
  conv1.bias = small_bias(gen, 8);
  x = b.conv2d(x, std::move(conv1), "conv1");
  x = b.quantize(x, 8, false, "quantize2");
  x = b.sparse_conv3x3(x, random_sparse(gen, 16, 8, density, 1, sharing, Activation::kRelu),
                       "conv2");
  x = b.pool2d(x, Pool2dOp{}, "pool2");
  x = b.quantize(x, 4, false, "quantize3");
  x = b.sparse_conv3x3(x, random_sparse(gen, 16, 16, density, 2, {}, Activation::kRelu), "conv3");
  x = b.quantize(x, 8, false, "quantize4");
  x = b.sparse_conv3x3(x, random_sparse(gen, 16, 16, density, 1, {}, Activation::kRelu), "conv4");
  x = b.flatten(x, "flatten");
  x = b.quantize(x, 8, true, "quantize_fc");
  FullyConnectedOp fc;
  fc.weights = random_s8_weights(gen, Shape{10, 16 * 3 * 3});
  fc.weight_scales = positive_scales(gen, 10);
  fc.bias = small_bias(gen, 10);
  x = b.fully_connected(x, std::move(fc), "fc");
  x = b.softmax(x, "softmax");
  b.mark_output(x);
  return b.build(sample_metadata("tiny_sparse_cnn_k" + std::to_string(density), 1, 10));
}

Model build_op_zoo_model(uint32_t seed) {
  std::mt19937 gen = rng(seed);
  ModelBuilder b;
  ValueId x = b.input(Shape{4, 8, 8}, DType::kF32, "image");
  Conv2dOp conv_a;
  conv_a.pad_h = conv_a.pad_w = 1;
  conv_a.activation = Activation::kRelu;
  conv_a.weights = random_f32(gen, Shape{8, 4, 3, 3}, -0.5f, 0.5f);
  conv_a.bias = small_bias(gen, 8);
  ValueId a = b.conv2d(x, std::move(conv_a), "conv_a");
  ValueId q = b.quantize(a, 8, /*is_signed=*/true);
  ValueId s = b.sparse_conv3x3(q, random_sparse(gen, 8, 8, 3, 1, {2, 4}, Activation::kNone));
  ValueId r = b.add(a, s, Activation::kRelu, "residual");
  Pool2dOp avg;
  avg.kind = PoolKind::kAverage;
  avg.kernel_h = avg.kernel_w = 3;
  avg.stride_h = avg.stride_w = 1;
  avg.pad_h = avg.pad_w = 1;
  ValueId p = b.pool2d(r, avg);
  ValueId q4 = b.quantize(p, 4, false);
  Conv2dOp depthwise;
  depthwise.stride_h = depthwise.stride_w = 2;
  depthwise.pad_h = depthwise.pad_w = 1;
  depthwise.groups = 8;
  depthwise.weights = random_s4_weights(gen, Shape{8, 1, 3, 3});
  depthwise.weight_scales = positive_scales(gen, 8);
  depthwise.bias = small_bias(gen, 8);
  ValueId d = b.conv2d(q4, std::move(depthwise), "depthwise");
  ValueId act = b.activation(d, Activation::kRelu6);
  ValueId g = b.global_avg_pool(act);
  FullyConnectedOp fc;
  fc.activation = Activation::kNone;
  fc.weights = random_f32(gen, Shape{5, 8});
  fc.bias = small_bias(gen, 5);
  ValueId logits = b.fully_connected(g, std::move(fc), "fc_float");
  b.mark_output(b.softmax(logits));
  b.mark_output(b.dequantize(q4, "dequantized"));
  return b.build(sample_metadata("op_zoo", 4, 5));
}

Model build_imported_ops_model(uint32_t seed) {
  std::mt19937 gen = rng(seed);
  ModelBuilder b;
  ValueId x = b.input(Shape{3, 6, 6}, DType::kF32, "image");
  ValueId bn = b.add_node(
      ChannelAffineOp{random_floats(gen, 3, 0.5f, 2.0f), random_floats(gen, 3, -0.5f, 0.5f)}, {x},
      "batch_norm");
  Conv2dOp conv;
  conv.pad_h = conv.pad_w = 1;
  conv.weights = random_f32(gen, Shape{4, 3, 3, 3}, -0.5f, 0.5f);
  conv.bias = small_bias(gen, 4);
  ValueId c = b.conv2d(bn, std::move(conv), "conv");
  ValueId s = b.add_node(SigmoidOp{}, {c}, "sigmoid");
  ValueId cat = b.add_node(ConcatOp{}, {c, s}, "concat");
  ValueId mean = b.global_avg_pool(cat, "mean");
  ValueId gated = b.add_node(BroadcastBinaryOp{BinaryKind::kMul}, {cat, mean}, "gate");
  ValueId clamped = b.add_node(ClampOp{-0.5f, 1.5f}, {gated}, "clamp");
  ValueId pooled = b.pool2d(clamped, Pool2dOp{PoolKind::kAverage, 3, 3, 2, 2, 1, 1, false}, "pool");
  ValueId zero = b.add_node(BroadcastBinaryOp{BinaryKind::kSub}, {pooled, pooled}, "zero");
  ValueId shifted = b.add_node(ChannelAffineOp{{1.0f}, {0.25f}}, {zero}, "shift");
  ValueId sum = b.add_node(BroadcastBinaryOp{BinaryKind::kAdd}, {shifted, pooled}, "sum");
  ValueId flat = b.flatten(sum, "flatten");
  FullyConnectedOp fc;
  fc.weights = random_f32(gen, Shape{4, 8 * 3 * 3});
  fc.bias = small_bias(gen, 4);
  ValueId logits = b.fully_connected(flat, std::move(fc), "fc");
  b.mark_output(b.add_node(LogSoftmaxOp{}, {logits}, "log_softmax"));
  return b.build(sample_metadata("imported_ops", 3, 4));
}

}  // namespace sparq::testing
