// The reference backend against independent brute-force loops written here.
// Integer layers must match bit for bit (the numerics contract); float layers
// are checked in their documented summation order where that order is what
// the compiler executes, and against double sums otherwise.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

// ---- helpers ----------------------------------------------------------------

// Compiles the last node of `graph` on the reference backend and runs it.
Tensor run_last_node(const Graph& graph, std::vector<ConstTensorView> inputs) {
  const Node& node = graph.nodes.back();
  auto compiled = BackendRegistry::get("reference")->compile(graph, node);
  EXPECT_FALSE(compiled->kernel_name().empty());
  const Value& out = graph.value(node.output);
  Tensor output(out.shape.with_batch(inputs[0].shape[0]), out.dtype);
  compiled->run(inputs, output.view(), ExecContext{});
  return output;
}

Tensor random_activations(std::mt19937& gen, const Shape& shape, DType dtype) {
  return dtype == DType::kU8 ? testing::random_u8(gen, shape) : testing::random_s8(gen, shape);
}

// Element e of a quantized tensor as an int, whatever its dtype.
int quantized_at(const Tensor& t, int64_t e) {
  return t.dtype() == DType::kU8 ? int{t.data<uint8_t>()[e]} : int{t.data<int8_t>()[e]};
}

float activate(float y, Activation activation) {
  if (activation == Activation::kNone) return y;
  y = std::max(y, 0.0f);
  return activation == Activation::kRelu6 ? std::min(y, 6.0f) : y;
}

// Sample n of a batched tensor as a batch of one.
Tensor sample(const Tensor& t, int64_t n) {
  Shape shape = t.shape();
  shape[0] = 1;
  const size_t bytes = t.bytes() / static_cast<size_t>(t.shape()[0]);
  Tensor one(shape, t.dtype());
  std::memcpy(one.raw(), static_cast<const uint8_t*>(t.raw()) + n * bytes, bytes);
  if (!t.scales().empty()) one.scales()[0] = t.scales()[n];
  return one;
}

Tensor concat_samples(const std::vector<Tensor>& samples) {
  Shape shape = samples[0].shape();
  shape[0] = static_cast<int64_t>(samples.size());
  Tensor all(shape, samples[0].dtype());
  size_t offset = 0;
  for (size_t n = 0; n < samples.size(); ++n) {
    std::memcpy(static_cast<uint8_t*>(all.raw()) + offset, samples[n].raw(), samples[n].bytes());
    offset += samples[n].bytes();
  }
  return all;
}

// A quantized layer's result must not depend on the rest of its batch.
void expect_batch_independent(const Graph& graph, const Tensor& input, const Tensor& batched) {
  std::vector<Tensor> alone;
  for (int64_t n = 0; n < input.shape()[0]; ++n) {
    alone.push_back(run_last_node(graph, {sample(input, n).view()}));
  }
  EXPECT_TRUE(testing::bit_equal(concat_samples(alone), batched));
}

// The brute-force integer convolution: dense int8 weights [O, I/groups, KH, KW].
struct IntConvCase {
  int64_t in_channels, out_channels, height, width, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, groups;
};

Tensor brute_force_int_conv(const Tensor& input, const std::vector<int>& weights,
                            const std::vector<float>& weight_scales, const std::vector<float>& bias,
                            const IntConvCase& c, Activation activation) {
  const int64_t batch = input.shape()[0];
  const int64_t out_h = (c.height + 2 * c.pad_h - c.kernel_h) / c.stride_h + 1;
  const int64_t out_w = (c.width + 2 * c.pad_w - c.kernel_w) / c.stride_w + 1;
  const int64_t in_per_group = c.in_channels / c.groups, out_per_group = c.out_channels / c.groups;
  Tensor out(Shape{batch, c.out_channels, out_h, out_w}, DType::kF32);
  float* y = out.data<float>();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t o = 0; o < c.out_channels; ++o) {
      for (int64_t oy = 0; oy < out_h; ++oy) {
        for (int64_t ox = 0; ox < out_w; ++ox) {
          int64_t acc = 0;
          for (int64_t i = 0; i < in_per_group; ++i) {
            const int64_t channel = o / out_per_group * in_per_group + i;
            for (int64_t ky = 0; ky < c.kernel_h; ++ky) {
              for (int64_t kx = 0; kx < c.kernel_w; ++kx) {
                const int64_t iy = oy * c.stride_h + ky - c.pad_h;
                const int64_t ix = ox * c.stride_w + kx - c.pad_w;
                if (iy < 0 || iy >= c.height || ix < 0 || ix >= c.width) continue;
                const int x = quantized_at(
                    input, ((n * c.in_channels + channel) * c.height + iy) * c.width + ix);
                acc +=
                    int64_t{x} * weights[static_cast<size_t>(
                                     ((o * in_per_group + i) * c.kernel_h + ky) * c.kernel_w + kx)];
              }
            }
          }
          EXPECT_LE(std::abs(acc), int64_t{std::numeric_limits<int32_t>::max()});
          const float value = __builtin_fmaf(static_cast<float>(acc),
                                             input.scales()[n] * weight_scales[o], bias[o]);
          y[((n * c.out_channels + o) * out_h + oy) * out_w + ox] = activate(value, activation);
        }
      }
    }
  }
  return out;
}

// ---- sparse N-of-9 convolution ----------------------------------------------

struct SparseCase {
  int density;
  int stride;
  PatternSharing sharing;
  DType input_dtype;
};

class SparseConvTest : public ::testing::TestWithParam<SparseCase> {};

TEST_P(SparseConvTest, MatchesBruteForceOverUnpackedWeights) {
  const SparseCase p = GetParam();
  auto gen = testing::rng(1000 + p.density * 10 + p.stride);
  // Odd sizes, channel counts that leave partial sharing groups.
  for (auto [in_channels, out_channels, height, width] :
       {std::array<int, 4>{5, 6, 7, 9}, std::array<int, 4>{3, 9, 8, 5},
        std::array<int, 4>{1, 1, 1, 1}}) {
    const Activation activation = static_cast<Activation>((p.density + in_channels) % 3);
    SparseConv3x3Op op;
    op.stride = p.stride;
    op.density = p.density;
    op.out_channels = out_channels;
    op.in_channels = in_channels;
    op.sharing = p.sharing;
    op.activation = activation;
    op.taps = testing::random_taps(gen, out_channels, in_channels, p.density, p.sharing);
    op.weight_scales = testing::random_floats(gen, out_channels, 0.01f, 0.2f);
    op.bias = testing::random_floats(gen, out_channels, -2.0f, 2.0f);

    ModelBuilder builder;
    ValueId x = builder.input({in_channels, height, width}, p.input_dtype);
    builder.sparse_conv3x3(x, op);
    const Tensor input =
        random_activations(gen, Shape{3, in_channels, height, width}, p.input_dtype);
    const Tensor got = run_last_node(builder.graph(), {input.view()});

    const auto dense = unpack_taps(op.taps, out_channels, in_channels, p.density);
    const IntConvCase c{in_channels, out_channels, height, width, 3, 3,
                        p.stride,    p.stride,     1,      1,     1};
    const Tensor expected = brute_force_int_conv(input, {dense.begin(), dense.end()},
                                                 op.weight_scales, op.bias, c, activation);
    EXPECT_TRUE(testing::bit_equal(got, expected))
        << in_channels << "->" << out_channels << " " << height << "x" << width;
    expect_batch_independent(builder.graph(), input, got);
  }
}

std::vector<SparseCase> sparse_cases() {
  std::vector<SparseCase> cases;
  for (int density = 1; density <= 9; ++density) {
    for (int stride : {1, 2}) {
      for (PatternSharing sharing : {PatternSharing{1, 1}, PatternSharing{4, 2}}) {
        for (DType dtype : {DType::kU8, DType::kS8})
          cases.push_back({density, stride, sharing, dtype});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(EveryDensity, SparseConvTest, ::testing::ValuesIn(sparse_cases()),
                         [](const auto& info) {
                           const SparseCase& c = info.param;
                           return "k" + std::to_string(c.density) + "_s" +
                                  std::to_string(c.stride) + "_share" +
                                  std::to_string(c.sharing.out_group) + "x" +
                                  std::to_string(c.sharing.in_group) + "_" +
                                  to_string(c.input_dtype);
                         });

TEST(SparseConv, RejectsOverflowingLayers) {
  // 130000 input channels x 9 taps x 255 x 8 exceeds int32.
  SparseConv3x3Op op;
  op.density = 9;
  op.out_channels = 1;
  op.in_channels = 130000;
  op.taps.assign(130000 * 9, 0);
  for (size_t t = 0; t < op.taps.size(); ++t) op.taps[t] = make_tap(static_cast<int>(t % 9), -8);
  op.weight_scales = {1.0f};
  op.bias = {0.0f};
  ModelBuilder builder;
  builder.sparse_conv3x3(builder.input({130000, 1, 1}, DType::kU8), op);
  try {
    BackendRegistry::get("reference")->compile(builder.graph(), builder.graph().nodes.back());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("int32"), std::string::npos) << e.what();
  }
}

// ---- dense quantized convolution --------------------------------------------

struct DenseQuantCase {
  IntConvCase shape;
  DType weight_dtype;
  DType input_dtype;
};

class DenseQuantConvTest : public ::testing::TestWithParam<DenseQuantCase> {};

TEST_P(DenseQuantConvTest, MatchesBruteForce) {
  const DenseQuantCase p = GetParam();
  const IntConvCase& c = p.shape;
  auto gen =
      testing::rng(static_cast<uint32_t>(c.in_channels * 131 + c.out_channels * 7 + c.groups));
  const int64_t in_per_group = c.in_channels / c.groups;
  const Shape weight_shape{c.out_channels, in_per_group, c.kernel_h, c.kernel_w};
  const auto count = static_cast<size_t>(weight_shape.elements());
  std::vector<int> weights(count);
  Tensor packed(weight_shape, p.weight_dtype);
  const int wmax = p.weight_dtype == DType::kS4 ? 7 : 127;
  std::uniform_int_distribution<int> value(p.weight_dtype == DType::kS4 ? -8 : -127, wmax);
  auto* bytes = packed.data<uint8_t>();
  for (size_t e = 0; e < count; ++e) {
    weights[e] = value(gen);
    if (p.weight_dtype == DType::kS8) {
      bytes[e] = static_cast<uint8_t>(weights[e]);
    } else {  // element 2i in the low nibble of byte i
      const auto nibble = static_cast<uint8_t>(weights[e] & 0x0F);
      bytes[e / 2] = static_cast<uint8_t>(e % 2 == 0 ? (bytes[e / 2] & 0xF0) | nibble
                                                     : (bytes[e / 2] & 0x0F) | (nibble << 4));
    }
  }
  for (Activation activation : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
    Conv2dOp op;
    op.kernel_h = static_cast<int>(c.kernel_h);
    op.kernel_w = static_cast<int>(c.kernel_w);
    op.stride_h = static_cast<int>(c.stride_h);
    op.stride_w = static_cast<int>(c.stride_w);
    op.pad_h = static_cast<int>(c.pad_h);
    op.pad_w = static_cast<int>(c.pad_w);
    op.groups = static_cast<int>(c.groups);
    op.activation = activation;
    op.weights = packed;
    op.weight_scales =
        testing::random_floats(gen, static_cast<size_t>(c.out_channels), 0.01f, 0.1f);
    op.bias = testing::random_floats(gen, static_cast<size_t>(c.out_channels), -1.0f, 1.0f);
    ModelBuilder builder;
    ValueId x = builder.input({c.in_channels, c.height, c.width}, p.input_dtype);
    builder.conv2d(x, op);
    const Tensor input =
        random_activations(gen, Shape{2, c.in_channels, c.height, c.width}, p.input_dtype);
    const Tensor got = run_last_node(builder.graph(), {input.view()});
    EXPECT_TRUE(testing::bit_equal(
        got, brute_force_int_conv(input, weights, op.weight_scales, op.bias, c, activation)));
    expect_batch_independent(builder.graph(), input, got);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DenseQuantConvTest,
    ::testing::Values(
        DenseQuantCase{{4, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1}, DType::kS4, DType::kU8},
        DenseQuantCase{{4, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1}, DType::kS8, DType::kS8},
        DenseQuantCase{{6, 4, 9, 8, 3, 3, 2, 2, 1, 1, 2}, DType::kS8, DType::kU8},   // groups
        DenseQuantCase{{8, 8, 6, 6, 3, 3, 1, 1, 1, 1, 8}, DType::kS4, DType::kS8},   // depthwise
        DenseQuantCase{{8, 16, 5, 7, 3, 3, 2, 2, 1, 1, 8}, DType::kS4, DType::kU8},  // multiplier 2
        DenseQuantCase{{3, 5, 11, 6, 5, 3, 2, 1, 2, 1, 1}, DType::kS8, DType::kU8},  // 5x3 kernel
        DenseQuantCase{
            {5, 3, 4, 4, 1, 1, 1, 1, 0, 0, 1}, DType::kS4, DType::kU8},  // 1x1, odd count
        DenseQuantCase{{2, 3, 9, 9, 7, 7, 3, 3, 3, 3, 1}, DType::kS8, DType::kS8},  // 7x7 stride 3
        DenseQuantCase{{5, 10, 9, 6, 3, 3, 2, 2, 0, 0, 5}, DType::kS4, DType::kS8}));

// ---- float convolution ------------------------------------------------------

TEST(FloatConv, MatchesDocumentedOrderAndDoubleSums) {
  auto gen = testing::rng(77);
  // 6 -> 4 channels in 2 groups, 7x8 input, 3x3 kernel, stride (2, 1), pad 1.
  Conv2dOp op;
  op.stride_h = 2, op.pad_h = 1, op.pad_w = 1, op.groups = 2;
  op.activation = Activation::kRelu;
  op.weights = testing::random_f32(gen, {4, 3, 3, 3});
  op.bias = testing::random_floats(gen, 4, -0.5f, 0.5f);
  ModelBuilder builder;
  builder.conv2d(builder.input({6, 7, 8}), op);
  const Tensor input = testing::random_f32(gen, {2, 6, 7, 8});
  const Tensor got = run_last_node(builder.graph(), {input.view()});
  ASSERT_EQ(got.shape(), (Shape{2, 4, 4, 8}));
  const float* x = input.data<float>();
  const float* w = op.weights.data<float>();
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t o = 0; o < 4; ++o) {
      for (int64_t oy = 0; oy < 4; ++oy) {
        for (int64_t ox = 0; ox < 8; ++ox) {
          float ordered = 0.0f;
          double exact = 0.0;
          for (int64_t i = 0; i < 3; ++i) {
            for (int64_t ky = 0; ky < 3; ++ky) {
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t iy = oy * 2 + ky - 1, ix = ox + kx - 1;
                if (iy < 0 || iy >= 7 || ix < 0 || ix >= 8) continue;
                const float xv = x[((n * 6 + o / 2 * 3 + i) * 7 + iy) * 8 + ix];
                const float wv = w[((o * 3 + i) * 3 + ky) * 3 + kx];
                const float product = xv * wv;
                ordered = ordered + product;
                exact += double{xv} * wv;
              }
            }
          }
          const float value = got.data<float>()[((n * 4 + o) * 4 + oy) * 8 + ox];
          EXPECT_NEAR(value, std::max(exact + op.bias[o], 0.0), 1e-5);
#ifndef __FP_FAST_FMAF
          // Without FMA instructions the compiler cannot contract the loop
          // above, so it runs in the documented order: the bits must agree.
          EXPECT_EQ(value, std::max(ordered + op.bias[o], 0.0f));
#endif
        }
      }
    }
  }
}

// ---- fully connected ----------------------------------------------------------

TEST(FullyConnected, QuantizedMatchesBruteForce) {
  auto gen = testing::rng(8);
  for (DType dtype : {DType::kU8, DType::kS8}) {
    FullyConnectedOp op;
    op.activation = Activation::kRelu;
    op.weights = Tensor({7, 33}, DType::kS8);
    std::uniform_int_distribution<int> value(-127, 127);
    for (int8_t& w : op.weights.span<int8_t>()) w = static_cast<int8_t>(value(gen));
    op.weight_scales = testing::random_floats(gen, 7, 0.001f, 0.01f);
    op.bias = testing::random_floats(gen, 7, -1.0f, 1.0f);
    ModelBuilder builder;
    builder.fully_connected(builder.input({33}, dtype), op);
    const Tensor input = random_activations(gen, {4, 33}, dtype);
    const Tensor got = run_last_node(builder.graph(), {input.view()});
    Tensor expected({4, 7}, DType::kF32);
    for (int64_t n = 0; n < 4; ++n) {
      for (int64_t o = 0; o < 7; ++o) {
        int32_t acc = 0;
        for (int64_t i = 0; i < 33; ++i)
          acc += quantized_at(input, n * 33 + i) * op.weights.data<int8_t>()[o * 33 + i];
        expected.data<float>()[n * 7 + o] =
            activate(__builtin_fmaf(static_cast<float>(acc),
                                    input.scales()[n] * op.weight_scales[o], op.bias[o]),
                     op.activation);
      }
    }
    EXPECT_TRUE(testing::bit_equal(got, expected)) << to_string(dtype);
    expect_batch_independent(builder.graph(), input, got);
  }
}

TEST(FullyConnected, FloatMatchesDoubleSums) {
  auto gen = testing::rng(9);
  FullyConnectedOp op;
  op.weights = testing::random_f32(gen, {5, 40});
  op.bias = testing::random_floats(gen, 5, -1.0f, 1.0f);
  ModelBuilder builder;
  builder.fully_connected(builder.input({40}), op);
  const Tensor input = testing::random_f32(gen, {3, 40});
  const Tensor got = run_last_node(builder.graph(), {input.view()});
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t o = 0; o < 5; ++o) {
      double exact = op.bias[o];
      for (int64_t i = 0; i < 40; ++i)
        exact += double{op.weights.data<float>()[o * 40 + i]} * input.data<float>()[n * 40 + i];
      EXPECT_NEAR(got.data<float>()[n * 5 + o], exact, 1e-5);
    }
  }
}

TEST(FullyConnected, RejectsOverflowingLayers) {
  FullyConnectedOp op;
  op.weights = Tensor({1, 70000}, DType::kS8);
  for (int8_t& w : op.weights.span<int8_t>()) w = 127;
  op.weight_scales = {1.0f};
  op.bias = {0.0f};
  ModelBuilder builder;
  builder.fully_connected(builder.input({70000}, DType::kU8), op);
  EXPECT_THROW(
      BackendRegistry::get("reference")->compile(builder.graph(), builder.graph().nodes.back()),
      Error);
}

// ---- pooling -----------------------------------------------------------------

TEST(Pooling, HandWorkedExamples) {
  // 1 x 4 x 4 plane with values 0..15.
  std::vector<float> values(16);
  for (int j = 0; j < 16; ++j) values[j] = static_cast<float>(j);
  const Tensor input = Tensor::from_floats({1, 1, 4, 4}, values);
  {
    ModelBuilder builder;
    builder.pool2d(builder.input({1, 4, 4}), Pool2dOp{PoolKind::kMax, 2, 2, 2, 2, 0, 0});
    const Tensor got = run_last_node(builder.graph(), {input.view()});
    EXPECT_EQ(std::vector<float>(got.data<float>(), got.data<float>() + 4),
              (std::vector<float>{5, 7, 13, 15}));
  }
  {
    // 3x3 average, stride 1, pad 1: the corner window covers 0, 1, 4, 5 and
    // divides by the full window of 9.
    ModelBuilder builder;
    builder.pool2d(builder.input({1, 4, 4}), Pool2dOp{PoolKind::kAverage, 3, 3, 1, 1, 1, 1});
    const Tensor got = run_last_node(builder.graph(), {input.view()});
    EXPECT_EQ(got.data<float>()[0], 10.0f / 9.0f);
    EXPECT_EQ(got.data<float>()[5], 45.0f / 9.0f);  // centre window 0+1+2+4+5+6+8+9+10
  }
  {
    // Max with padding over negative values: padding never wins.
    const Tensor negative = Tensor::from_floats({1, 1, 2, 2}, std::vector<float>{-4, -3, -2, -1});
    ModelBuilder builder;
    builder.pool2d(builder.input({1, 2, 2}), Pool2dOp{PoolKind::kMax, 2, 2, 2, 2, 1, 1});
    const Tensor got = run_last_node(builder.graph(), {negative.view()});
    EXPECT_EQ(std::vector<float>(got.data<float>(), got.data<float>() + 4),
              (std::vector<float>{-4, -3, -2, -1}));
  }
}

// Max pooling of u8/s8 planes against the f32 max pool (a separate loop) of
// the same integer values: equal values, every byte including -128 and 255,
// and the per-sample scales passed on unchanged. Padding never wins.
TEST(Pooling, BytePlanesMatchTheFloatPoolOfTheirValues) {
  auto gen = testing::rng(14);
  for (DType dtype : {DType::kU8, DType::kS8}) {
    for (Pool2dOp op :
         {Pool2dOp{PoolKind::kMax, 2, 2, 2, 2, 0, 0}, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1},
          Pool2dOp{PoolKind::kMax, 3, 2, 1, 2, 1, 0}, Pool2dOp{PoolKind::kMax, 5, 5, 3, 3, 2, 2}}) {
      const int64_t channels = 3, height = 9, width = 7;
      const Shape shape{2, channels, height, width};
      const Tensor bytes =
          dtype == DType::kU8 ? testing::random_u8(gen, shape) : testing::random_s8(gen, shape);
      Tensor floats(shape, DType::kF32);
      for (int64_t i = 0; i < shape.elements(); ++i) {
        floats.data<float>()[i] =
            dtype == DType::kU8 ? bytes.data<uint8_t>()[i] : bytes.data<int8_t>()[i];
      }
      ModelBuilder quantized, plain;
      quantized.pool2d(quantized.input({channels, height, width}, dtype), op);
      plain.pool2d(plain.input({channels, height, width}), op);
      const Tensor got = run_last_node(quantized.graph(), {bytes.view()});
      const Tensor want = run_last_node(plain.graph(), {floats.view()});
      ASSERT_EQ(got.dtype(), dtype);
      ASSERT_EQ(got.shape(), want.shape());
      for (int64_t i = 0; i < want.shape().elements(); ++i) {
        const float v = dtype == DType::kU8 ? got.data<uint8_t>()[i] : got.data<int8_t>()[i];
        ASSERT_EQ(v, want.data<float>()[i]) << to_string(dtype) << " element " << i;
      }
      EXPECT_TRUE(std::equal(got.scales().begin(), got.scales().end(), bytes.scales().begin(),
                             bytes.scales().end()));
    }
  }
  // Average pooling of bytes would need a rounding rule: refused.
  ModelBuilder average;
  EXPECT_THROW(average.pool2d(average.input({1, 4, 4}, DType::kU8),
                              Pool2dOp{PoolKind::kAverage, 2, 2, 2, 2, 0, 0}),
               Error);
}

TEST(Pooling, RandomWindowsMatchBruteForce) {
  auto gen = testing::rng(12);
  for (PoolKind kind : {PoolKind::kMax, PoolKind::kAverage}) {
    for (Pool2dOp op : {Pool2dOp{kind, 2, 2, 2, 2, 0, 0}, Pool2dOp{kind, 3, 3, 2, 2, 1, 1},
                        Pool2dOp{kind, 3, 2, 1, 2, 1, 0}, Pool2dOp{kind, 5, 5, 3, 3, 2, 2}}) {
      const int64_t channels = 3, height = 9, width = 7;
      ModelBuilder builder;
      builder.pool2d(builder.input({channels, height, width}), op);
      const Shape out_shape = builder.graph().values.back().shape;
      const Tensor input = testing::random_f32(gen, {2, channels, height, width});
      const Tensor got = run_last_node(builder.graph(), {input.view()});
      const int64_t out_h = out_shape[1], out_w = out_shape[2];
      for (int64_t plane = 0; plane < 2 * channels; ++plane) {
        for (int64_t oy = 0; oy < out_h; ++oy) {
          for (int64_t ox = 0; ox < out_w; ++ox) {
            float max = -std::numeric_limits<float>::infinity(), sum = 0.0f;
            for (int64_t ky = 0; ky < op.kernel_h; ++ky) {
              for (int64_t kx = 0; kx < op.kernel_w; ++kx) {
                const int64_t iy = oy * op.stride_h + ky - op.pad_h,
                              ix = ox * op.stride_w + kx - op.pad_w;
                if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
                const float v = input.data<float>()[(plane * height + iy) * width + ix];
                max = std::max(max, v);
                sum += v;
              }
            }
            const float expected =
                kind == PoolKind::kMax ? max : sum / static_cast<float>(op.kernel_h * op.kernel_w);
            EXPECT_EQ(got.data<float>()[(plane * out_h + oy) * out_w + ox], expected);
          }
        }
      }
    }
  }
}

TEST(Pooling, GlobalAverageSumsRowMajorThenDivides) {
  auto gen = testing::rng(13);
  ModelBuilder builder;
  builder.global_avg_pool(builder.input({4, 5, 3}));
  const Tensor input = testing::random_f32(gen, {2, 4, 5, 3});
  const Tensor got = run_last_node(builder.graph(), {input.view()});
  ASSERT_EQ(got.shape(), (Shape{2, 4}));
  for (int64_t plane = 0; plane < 8; ++plane) {
    float sum = 0.0f;
    for (int64_t p = 0; p < 15; ++p) sum += input.data<float>()[plane * 15 + p];
    EXPECT_EQ(got.data<float>()[plane], sum / 15.0f);
  }
}

// ---- element-wise, activation, softmax -------------------------------------

TEST(Elementwise, AddThenActivation) {
  const Tensor a = Tensor::from_floats({1, 5}, std::vector<float>{-2.0f, 1.0f, 3.0f, 5.5f, 0.25f});
  const Tensor b = Tensor::from_floats({1, 5}, std::vector<float>{1.0f, -3.0f, 4.0f, 0.25f, 0.5f});
  const std::vector<std::pair<Activation, std::vector<float>>> cases = {
      {Activation::kNone, {-1.0f, -2.0f, 7.0f, 5.75f, 0.75f}},
      {Activation::kRelu, {0.0f, 0.0f, 7.0f, 5.75f, 0.75f}},
      {Activation::kRelu6, {0.0f, 0.0f, 6.0f, 5.75f, 0.75f}}};
  for (const auto& [activation, expected] : cases) {
    ModelBuilder builder;
    ValueId x = builder.input({5});
    ValueId relu = builder.activation(x, Activation::kNone);
    builder.add(x, relu, activation);
    const Tensor got = run_last_node(builder.graph(), {a.view(), b.view()});
    EXPECT_EQ(std::vector<float>(got.data<float>(), got.data<float>() + 5), expected);
  }
}

TEST(Elementwise, ActivationTurnsNanAndNegativeZeroIntoZero) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_floats({1, 5}, std::vector<float>{nan, -0.0f, 6.5f, 2.0f, -1.0f});
  ModelBuilder builder;
  builder.activation(builder.input({5}), Activation::kRelu6);
  const Tensor got = run_last_node(builder.graph(), {x.view()});
  const Tensor expected =
      Tensor::from_floats({1, 5}, std::vector<float>{0.0f, 0.0f, 6.0f, 2.0f, 0.0f});
  EXPECT_TRUE(testing::bit_equal(got, expected));
}

TEST(Softmax, MatchesDoubleAndSurvivesLargeValues) {
  auto gen = testing::rng(14);
  Tensor input = testing::random_f32(gen, {3, 10}, -5.0f, 5.0f);
  input.data<float>()[20] = 1000.0f;  // exp(1000) would overflow without the max shift
  ModelBuilder builder;
  builder.softmax(builder.input({10}));
  const Tensor got = run_last_node(builder.graph(), {input.view()});
  for (int64_t n = 0; n < 3; ++n) {
    const float* x = input.data<float>() + n * 10;
    const double max = *std::max_element(x, x + 10);
    double sum = 0;
    for (int j = 0; j < 10; ++j) sum += std::exp(x[j] - max);
    double total = 0;
    for (int j = 0; j < 10; ++j) {
      const float y = got.data<float>()[n * 10 + j];
      EXPECT_NEAR(y, std::exp(x[j] - max) / sum, 1e-6);
      total += y;
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

// ---- quantize, dequantize, flatten -------------------------------------------

TEST(Quantize, EachSampleGetsItsOwnScale) {
  auto gen = testing::rng(15);
  for (auto [bits, is_signed] : {std::pair{8, false}, std::pair{4, false}, std::pair{8, true}}) {
    Tensor input = testing::random_f32(gen, {3, 2, 3, 3}, -1.0f, 1.0f);
    for (int e = 18; e < 36; ++e) input.data<float>()[e] *= 40.0f;  // sample 1 is much larger
    for (int e = 36; e < 54; ++e) input.data<float>()[e] = 0.0f;    // sample 2 is all zero
    ModelBuilder builder;
    builder.quantize(builder.input({2, 3, 3}), bits, is_signed);
    const Tensor got = run_last_node(builder.graph(), {input.view()});
    ASSERT_EQ(got.dtype(), is_signed ? DType::kS8 : DType::kU8);
    for (int64_t n = 0; n < 3; ++n) {
      std::span<const float> x(input.data<float>() + n * 18, 18);
      const float scale = activation_scale(x, bits, is_signed);
      EXPECT_EQ(got.scales()[n], scale);
      if (n == 2) {
        EXPECT_EQ(scale, 1.0f);
      }
      if (is_signed) {
        std::vector<int8_t> q(18);
        quantize_activations_s8(x, scale, q);
        EXPECT_EQ(0, std::memcmp(q.data(), got.data<int8_t>() + n * 18, 18));
      } else {
        std::vector<uint8_t> q(18);
        quantize_activations_u8(x, scale, bits, q);
        EXPECT_EQ(0, std::memcmp(q.data(), got.data<uint8_t>() + n * 18, 18));
      }
    }
  }
}

// A static scale: every sample uses the node's scale (0.5 here), whatever
// its own range. The expected bytes are worked out by hand: x / 0.5 rounded
// half to even, clamped to [0, qmax] or [-127, 127]; NaN gives 0 and the
// infinities saturate, as in the dynamic rule.
TEST(Quantize, StaticScaleHandWorkedBytes) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // x / 0.5:      0     0.5    1.5    2.5   2    255    400    -6   -1.5   NaN  inf  -inf  0.4
  const float sample0[] = {0.0f,  0.25f,  0.75f, 1.25f, 1.0f, 127.5f, 200.0f,
                           -3.0f, -0.75f, nan,   inf,   -inf, 0.2f};
  // Sample 1 is small: a dynamic scale would map 0.01 to qmax; the static one gives 0.02 -> 0.
  const float sample1[] = {0.01f, 0.01f, 0.01f, 0.01f, 0.01f, 0.01f, 0.01f,
                           0.01f, 0.01f, 0.01f, 0.01f, 0.01f, 3.25f};
  Tensor input(Shape{2, 13}, DType::kF32);
  std::memcpy(input.data<float>(), sample0, sizeof(sample0));
  std::memcpy(input.data<float>() + 13, sample1, sizeof(sample1));
  struct Case {
    int bits;
    bool is_signed;
    std::vector<int> expected;  // both samples
  };
  const Case cases[] = {
      {8, false, {0, 0, 2, 2, 2, 255, 255, 0, 0, 0, 255, 0, 0,
                  0, 0, 0, 0, 0, 0,   0,   0, 0, 0, 0,   0, 6}},
      {4, false, {0, 0, 2, 2, 2, 15, 15, 0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6}},
      {8, true, {0, 0, 2, 2, 2, 127, 127, -6, -2, 0, 127, -127, 0,
                 0, 0, 0, 0, 0, 0,   0,   0,  0,  0, 0,   0,    6}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE((c.is_signed ? "s" : "u") + std::to_string(c.bits));
    ModelBuilder builder;
    builder.quantize_static(builder.input({13}), 0.5f, c.bits, c.is_signed);
    const Tensor got = run_last_node(builder.graph(), {input.view()});
    EXPECT_EQ(got.scales()[0], 0.5f);
    EXPECT_EQ(got.scales()[1], 0.5f);
    std::vector<int> bytes;
    for (int64_t e = 0; e < 26; ++e) {
      bytes.push_back(c.is_signed ? int{got.data<int8_t>()[e]} : int{got.data<uint8_t>()[e]});
    }
    EXPECT_EQ(bytes, c.expected);
  }
}

TEST(Quantize, DequantizeMultipliesBack) {
  auto gen = testing::rng(16);
  for (DType dtype : {DType::kU8, DType::kS8}) {
    const Tensor input = random_activations(gen, {2, 4, 2, 2}, dtype);
    ModelBuilder builder;
    builder.dequantize(builder.input({4, 2, 2}, dtype));
    const Tensor got = run_last_node(builder.graph(), {input.view()});
    for (int64_t e = 0; e < 32; ++e) {
      EXPECT_EQ(got.data<float>()[e],
                input.scales()[e / 16] * static_cast<float>(quantized_at(input, e)));
    }
  }
}

TEST(Flatten, PassesBytesAndScales) {
  auto gen = testing::rng(17);
  const Tensor input = testing::random_u8(gen, {2, 3, 2, 2});
  ModelBuilder builder;
  builder.flatten(builder.input({3, 2, 2}, DType::kU8));
  const Tensor got = run_last_node(builder.graph(), {input.view()});
  EXPECT_TRUE(testing::bit_equal(got, input.reshaped({2, 12})));
}

// ---- the backend itself ------------------------------------------------------

TEST(ReferenceBackend, SupportsEveryNodeAndChecksViews) {
  auto backend = BackendRegistry::get("reference");
  EXPECT_EQ(backend->name(), "reference");
  EXPECT_TRUE(backend->host_memory());
  auto gen = testing::rng(18);
  ModelBuilder builder;
  ValueId x = builder.input({2, 5, 5});
  ValueId q = builder.quantize(x);
  SparseConv3x3Op op;
  op.density = 2, op.out_channels = 3, op.in_channels = 2;
  op.taps = testing::random_taps(gen, 3, 2, 2);
  op.weight_scales = {0.1f, 0.1f, 0.1f};
  op.bias = {0.0f, 0.0f, 0.0f};
  ValueId y = builder.sparse_conv3x3(q, op);
  ValueId p = builder.pool2d(y, {});
  ValueId g = builder.global_avg_pool(p);
  builder.softmax(builder.flatten(g));
  const Graph& graph = builder.graph();
  for (const Node& node : graph.nodes) EXPECT_TRUE(backend->supports(graph, node)) << node.name;

  auto conv = backend->compile(graph, graph.nodes[1]);
  const Tensor wrong_shape = testing::random_u8(gen, {1, 2, 5, 6});
  Tensor out({1, 3, 5, 5}, DType::kF32);
  std::vector<ConstTensorView> inputs = {wrong_shape.view()};
  EXPECT_THROW(conv->run(inputs, out.view(), {}), Error);
  const Tensor good = testing::random_u8(gen, {1, 2, 5, 5});
  ConstTensorView no_scales = good.view();
  no_scales.scales = nullptr;
  inputs = {no_scales};
  try {
    conv->run(inputs, out.view(), {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scales"), std::string::npos) << e.what();
  }
  inputs = {good.view()};
  EXPECT_NO_THROW(conv->run(inputs, out.view(), {}));
}

}  // namespace
}  // namespace sparq
