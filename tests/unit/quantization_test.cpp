// The rounding rules of the numerics contract, checked on hand-picked values
// whose right answers are known exactly.
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

std::vector<int> quantize_u8(const std::vector<float>& x, float scale, int bits = 8) {
  std::vector<uint8_t> q(x.size());
  quantize_activations_u8(x, scale, bits, q);
  return {q.begin(), q.end()};
}

std::vector<int> quantize_s8(const std::vector<float>& x, float scale) {
  std::vector<int8_t> q(x.size());
  quantize_activations_s8(x, scale, q);
  return {q.begin(), q.end()};
}

TEST(ActivationQuantization, QmaxPerMode) {
  EXPECT_EQ(activation_qmax(8, false), 255);
  EXPECT_EQ(activation_qmax(4, false), 15);
  EXPECT_EQ(activation_qmax(8, true), 127);
  EXPECT_THROW(activation_qmax(4, true), Error);
  EXPECT_THROW(activation_qmax(6, false), Error);
}

TEST(ActivationQuantization, RoundsHalfToEven) {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, 3.5f, 4.49f, 4.5f, 4.51f, 254.5f, 253.5f};
  EXPECT_EQ(quantize_u8(x, 1.0f), (std::vector<int>{0, 2, 2, 4, 4, 4, 5, 254, 254}));
  const std::vector<float> s = {-0.5f, -1.5f, -2.5f, -3.5f, 2.5f, 126.5f};
  EXPECT_EQ(quantize_s8(s, 1.0f), (std::vector<int>{0, -2, -2, -4, 2, 126}));
}

TEST(ActivationQuantization, DividesByTheScaleThenRounds) {
  // 0.75 / 0.5 = 1.5 -> 2, 1.25 / 0.5 = 2.5 -> 2, 0.25 / 0.5 = 0.5 -> 0.
  EXPECT_EQ(quantize_u8({0.75f, 1.25f, 0.25f, 1.75f}, 0.5f), (std::vector<int>{2, 2, 0, 4}));
}

TEST(ActivationQuantization, ClampsToTheRange) {
  EXPECT_EQ(quantize_u8({-3.0f, 255.5f, 300.0f, 1e30f}, 1.0f),
            (std::vector<int>{0, 255, 255, 255}));
  EXPECT_EQ(quantize_u8({-1.0f, 15.4f, 15.5f, 99.0f}, 1.0f, 4), (std::vector<int>{0, 15, 15, 15}));
  EXPECT_EQ(quantize_s8({-200.0f, -127.5f, 127.5f, 500.0f}, 1.0f),
            (std::vector<int>{-127, -127, 127, 127}));
}

TEST(ActivationQuantization, NonFiniteValuesSaturateOrBecomeZero) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(quantize_u8({inf, -inf, nan}, 1.0f), (std::vector<int>{255, 0, 0}));
  EXPECT_EQ(quantize_s8({inf, -inf, nan}, 1.0f), (std::vector<int>{127, -127, 0}));
  // They do not set the scale either.
  EXPECT_EQ(activation_scale(std::vector<float>{inf, 51.0f, nan}, 8, false), 51.0f / 255.0f);
}

TEST(ActivationQuantization, ScaleIsMaxOverQmax) {
  const std::vector<float> x = {0.1f, -9.0f, 5.1f, 2.0f};
  EXPECT_EQ(activation_scale(x, 8, false), 5.1f / 255.0f);
  EXPECT_EQ(activation_scale(x, 4, false), 5.1f / 15.0f);
  EXPECT_EQ(activation_scale(x, 8, true), 9.0f / 127.0f);
  EXPECT_EQ(activation_scale_from_max(2.55f, 8, false), 2.55f / 255.0f);
}

// The number the scale is taken from (what sparq calibrate records).
TEST(ActivationQuantization, MaxIsTheLargestFiniteValueOrMagnitude) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {0.1f, -9.0f, nan, 5.1f, inf, -inf, 2.0f};
  EXPECT_EQ(activation_max(x, false), 5.1f);
  EXPECT_EQ(activation_max(x, true), 9.0f);
  EXPECT_EQ(activation_max(std::vector<float>{-1.0f, -0.5f}, false), 0.0f);
  EXPECT_EQ(activation_max(std::vector<float>{}, true), 0.0f);
}

TEST(ActivationQuantization, AllZeroOrNegativeGetsScaleOne) {
  EXPECT_EQ(activation_scale(std::vector<float>{0.0f, 0.0f}, 8, false), 1.0f);
  EXPECT_EQ(activation_scale(std::vector<float>{-1.0f, -0.5f}, 8, false), 1.0f);
  EXPECT_EQ(activation_scale(std::vector<float>{0.0f, -0.0f}, 8, true), 1.0f);
  EXPECT_EQ(activation_scale(std::vector<float>{}, 4, false), 1.0f);
  // A maximum so small that max / qmax underflows must not give a zero scale.
  const float tiny = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ(activation_scale_from_max(tiny, 8, false), 1.0f);
}

TEST(ActivationQuantization, MaximumMapsToQmaxUnsignedAndSigned) {
  auto gen = testing::rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    auto x = testing::random_floats(gen, 40, -3.0f, 3.0f);
    for (int bits : {8, 4}) {
      const float s = activation_scale(x, bits, false);
      auto q = quantize_u8(x, s, bits);
      EXPECT_EQ(*std::max_element(q.begin(), q.end()), activation_qmax(bits, false));
    }
    const float s = activation_scale(x, 8, true);
    auto q = quantize_s8(x, s);
    int max_abs = 0;
    for (int v : q) max_abs = std::max(max_abs, std::abs(v));
    EXPECT_EQ(max_abs, 127);
  }
}

TEST(ActivationQuantization, RejectsBadArguments) {
  std::vector<uint8_t> out(2);
  std::vector<int8_t> signed_out(2);
  const std::vector<float> x = {1.0f, 2.0f};
  EXPECT_THROW(quantize_activations_u8(x, 0.0f, 8, out), Error);
  EXPECT_THROW(quantize_activations_u8(x, NAN, 8, out), Error);
  EXPECT_THROW(quantize_activations_u8(x, 1.0f, 5, out), Error);
  EXPECT_THROW(quantize_activations_s8(x, -1.0f, signed_out), Error);
  std::vector<uint8_t> short_out(1);
  EXPECT_THROW(quantize_activations_u8(x, 1.0f, 8, short_out), Error);
  EXPECT_THROW(activation_scale(x, 4, true), Error);
}

TEST(WeightQuantization, PerChannelS4HalfEven) {
  // Channel 0: max 7 -> s = 1. Channel 1: all zero -> s = 1. Channel 2: max 3.5 -> s = 0.5.
  const std::vector<float> w = {7.0f, -3.5f, 0.5f,  2.5f,   -1.5f,  //
                                0.0f, 0.0f,  0.0f,  0.0f,   0.0f,   //
                                3.5f, 1.25f, 0.75f, -0.25f, -3.5f};
  QuantizedWeights q = quantize_weights_per_channel(w, 3, 4);
  EXPECT_EQ(q.scales, (std::vector<float>{1.0f, 1.0f, 0.5f}));
  EXPECT_EQ(q.values, (std::vector<int8_t>{7, -4, 0, 2, -2, 0, 0, 0, 0, 0, 7, 2, 2, 0, -7}));
}

TEST(WeightQuantization, S8RangeIsSymmetric) {
  auto gen = testing::rng(11);
  auto w = testing::random_floats(gen, 4 * 27, -2.0f, 2.0f);
  QuantizedWeights q = quantize_weights_per_channel(w, 4, 8);
  for (int o = 0; o < 4; ++o) {
    int max_abs = 0;
    float max_w = 0;
    for (int j = 0; j < 27; ++j) {
      max_abs = std::max(max_abs, std::abs(int{q.values[o * 27 + j]}));
      max_w = std::max(max_w, std::fabs(w[o * 27 + j]));
      EXPECT_EQ(q.values[o * 27 + j], std::nearbyint(w[o * 27 + j] / q.scales[o]));
    }
    EXPECT_EQ(max_abs, 127);
    EXPECT_EQ(q.scales[o], max_w / 127.0f);
  }
}

TEST(WeightQuantization, RejectsBadArguments) {
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};
  EXPECT_THROW(quantize_weights_per_channel(w, 4, 4), Error);  // 6 does not split into 4
  EXPECT_THROW(quantize_weights_per_channel(w, 0, 4), Error);
  EXPECT_THROW(quantize_weights_per_channel(w, 2, 2), Error);
  const std::vector<float> bad = {1.0f, std::numeric_limits<float>::infinity()};
  try {
    quantize_weights_per_channel(bad, 1, 4);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weights[1]"), std::string::npos) << e.what();
  }
}

// The folded layer must compute what the layer followed by BatchNorm computes.
TEST(FoldBatchnorm, MatchesConvolutionThenBatchnorm) {
  auto gen = testing::rng(3);
  const int channels = 5, per_channel = 12;
  auto w = testing::random_floats(gen, channels * per_channel, -1.0f, 1.0f);
  auto b = testing::random_floats(gen, channels, -0.5f, 0.5f);
  auto gamma = testing::random_floats(gen, channels, 0.5f, 2.0f);
  auto beta = testing::random_floats(gen, channels, -1.0f, 1.0f);
  auto mean = testing::random_floats(gen, channels, -0.3f, 0.3f);
  auto var = testing::random_floats(gen, channels, 0.1f, 3.0f);
  auto x = testing::random_floats(gen, per_channel, -2.0f, 2.0f);
  const float eps = 1e-5f;

  std::vector<float> folded_w = w;
  std::vector<float> folded_b = b;
  fold_batchnorm(folded_w, folded_b, channels, gamma, beta, mean, var, eps);
  for (int o = 0; o < channels; ++o) {
    double dot = 0, folded_dot = 0;
    for (int j = 0; j < per_channel; ++j) {
      dot += double{w[o * per_channel + j]} * x[j];
      folded_dot += double{folded_w[o * per_channel + j]} * x[j];
    }
    const double expected =
        (dot + b[o] - mean[o]) * gamma[o] / std::sqrt(double{var[o]} + eps) + beta[o];
    EXPECT_NEAR(folded_dot + folded_b[o], expected, 1e-5 * (1 + std::fabs(expected)))
        << "channel " << o;
  }
}

TEST(FoldBatchnorm, EmptyBiasIsZero) {
  std::vector<float> w = {1.0f, 2.0f, 3.0f, 4.0f};
  std::vector<float> bias;
  const std::vector<float> gamma = {2.0f, 1.0f}, beta = {0.5f, -1.0f}, mean = {1.0f, 2.0f},
                           var = {3.0f, 0.0f};
  fold_batchnorm(w, bias, 2, gamma, beta, mean, var, 1.0f);
  // Channel 0: factor 2 / sqrt(4) = 1. Channel 1: factor 1 / sqrt(1) = 1.
  EXPECT_EQ(w, (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
  EXPECT_EQ(bias, (std::vector<float>{-0.5f, -3.0f}));
}

TEST(FoldBatchnorm, RejectsBadArguments) {
  std::vector<float> w(6, 1.0f);
  std::vector<float> bias;
  const std::vector<float> ones(2, 1.0f), three(3, 1.0f), negative = {1.0f, -2.0f};
  EXPECT_THROW(fold_batchnorm(w, bias, 2, three, ones, ones, ones, 0.0f), Error);
  EXPECT_THROW(fold_batchnorm(w, bias, 4, ones, ones, ones, ones, 0.0f), Error);
  EXPECT_THROW(fold_batchnorm(w, bias, 2, ones, ones, ones, negative, 0.5f), Error);
  std::vector<float> wrong_bias(3, 0.0f);
  EXPECT_THROW(fold_batchnorm(w, wrong_bias, 2, ones, ones, ones, ones, 0.0f), Error);
}

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// Channel 0 {1, -0.5}: scale 1/127, values {127, nearbyint(-63.5) = -64};
// channel 1 all zero: scale 1, values 0. Attributes other than the weights
// are kept.
TEST(QuantizedLayers, S8ConvAndFullyConnected) {
  Conv2dOp conv;
  conv.kernel_h = 1;
  conv.kernel_w = 2;
  conv.pad_w = 0;
  conv.activation = Activation::kRelu6;
  conv.weights = Tensor::from_floats(Shape{2, 1, 1, 2}, std::vector<float>{1.0f, -0.5f, 0, 0});
  conv.bias = {0.25f, -1.0f};
  const Conv2dOp q = make_s8_conv2d(conv);
  EXPECT_EQ(q.weights.dtype(), DType::kS8);
  EXPECT_EQ(std::vector<int8_t>(q.weights.span<int8_t>().begin(), q.weights.span<int8_t>().end()),
            (std::vector<int8_t>{127, -64, 0, 0}));
  EXPECT_EQ(q.weight_scales, (std::vector<float>{1.0f / 127.0f, 1.0f}));
  EXPECT_EQ(q.bias, conv.bias);
  EXPECT_EQ(q.activation, Activation::kRelu6);
  EXPECT_EQ(q.kernel_w, 2);

  FullyConnectedOp fc;
  fc.weights = Tensor::from_floats(Shape{1, 3}, std::vector<float>{-2.0f, 1.0f, 0.5f});
  fc.bias = {3.0f};
  const FullyConnectedOp qf = make_s8_fully_connected(fc);
  // scale 2/127: {-127, 63.5 -> 64 (half to even), 31.75 -> 32}.
  EXPECT_EQ(std::vector<int8_t>(qf.weights.span<int8_t>().begin(), qf.weights.span<int8_t>().end()),
            (std::vector<int8_t>{-127, 64, 32}));
  EXPECT_EQ(qf.weight_scales, (std::vector<float>{2.0f / 127.0f}));
  // Already quantized weights are refused.
  EXPECT_THROW(make_s8_fully_connected(qf), Error);
}

}  // namespace
}  // namespace sparq
