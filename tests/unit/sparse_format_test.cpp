// The one-byte-per-tap format: the byte layout, pack/unpack round trips, every
// message of check_taps, and building a SparseConv3x3Op from float weights.
#include <algorithm>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

::testing::AssertionResult mentions(const std::string& message, const std::string& part) {
  if (message.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << message << "' does not mention '" << part << "'";
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

// A random mask keeping `density` taps per kernel and random s4 values.
void random_layer(std::mt19937& gen, int out_channels, int in_channels, int density,
                  std::vector<int8_t>& values, std::vector<uint8_t>& mask) {
  const size_t size = static_cast<size_t>(out_channels) * in_channels * 9;
  values.resize(size);
  mask.assign(size, 0);
  std::uniform_int_distribution<int> value(-8, 7);
  for (auto& v : values) v = static_cast<int8_t>(value(gen));
  std::vector<int> positions(9);
  for (size_t kernel = 0; kernel < size / 9; ++kernel) {
    std::iota(positions.begin(), positions.end(), 0);
    std::shuffle(positions.begin(), positions.end(), gen);
    for (int t = 0; t < density; ++t) mask[kernel * 9 + positions[t]] = 1;
  }
}

TEST(TapByte, HighNibblePositionLowNibbleSignedValue) {
  EXPECT_EQ(make_tap(4, -1), 0x4F);
  EXPECT_EQ(make_tap(8, 7), 0x87);
  EXPECT_EQ(make_tap(0, -8), 0x08);
  for (int position = 0; position <= 8; ++position) {
    for (int value = -8; value <= 7; ++value) {
      const uint8_t tap = make_tap(position, value);
      EXPECT_EQ(tap_position(tap), position);
      EXPECT_EQ(tap_value(tap), value);
    }
  }
}

TEST(PackTaps, HandWorkedKernel) {
  // One kernel keeping positions 1, 4, 8 with values -3, 7, -8.
  std::vector<int8_t> values(9, 5);  // pruned positions may hold anything
  std::vector<uint8_t> mask(9, 0);
  values[1] = -3, values[4] = 7, values[8] = -8;
  mask[1] = mask[4] = mask[8] = 1;
  EXPECT_EQ(pack_taps(values, mask, 1, 1, 3), (std::vector<uint8_t>{0x1D, 0x47, 0x88}));
  EXPECT_EQ(unpack_taps(std::vector<uint8_t>{0x1D, 0x47, 0x88}, 1, 1, 3),
            (std::vector<int8_t>{0, -3, 0, 0, 7, 0, 0, 0, -8}));
}

TEST(PackTaps, RoundTripsAtEveryDensity) {
  auto gen = testing::rng(5);
  for (int density = 1; density <= 9; ++density) {
    std::vector<int8_t> values;
    std::vector<uint8_t> mask;
    random_layer(gen, 4, 3, density, values, mask);
    auto taps = pack_taps(values, mask, 4, 3, density);
    ASSERT_EQ(taps.size(), 4u * 3 * density);
    EXPECT_EQ(check_taps(taps, 4, 3, density, {}), "");
    auto dense = unpack_taps(taps, 4, 3, density);
    for (size_t j = 0; j < dense.size(); ++j) {
      EXPECT_EQ(dense[j], mask[j] ? values[j] : 0) << "density " << density << " entry " << j;
    }
    // And back: packing the unpacked weights under the same mask gives the same bytes.
    EXPECT_EQ(pack_taps(dense, mask, 4, 3, density), taps);
  }
}

TEST(PackTaps, Errors) {
  std::vector<int8_t> values(2 * 3 * 9, 1);
  std::vector<uint8_t> mask(2 * 3 * 9, 0);
  for (int kernel = 0; kernel < 6; ++kernel) mask[kernel * 9 + 2] = mask[kernel * 9 + 6] = 1;
  EXPECT_EQ(pack_taps(values, mask, 2, 3, 2).size(), 12u);

  auto extra = mask;
  extra[(1 * 3 + 2) * 9 + 0] = 1;
  EXPECT_TRUE(mentions(error_message([&] { pack_taps(values, extra, 2, 3, 2); }),
                       "kernel (1, 2) keeps 3 taps, expected density 2"));
  auto big = values;
  big[(0 * 3 + 1) * 9 + 6] = 8;
  EXPECT_TRUE(mentions(error_message([&] { pack_taps(big, mask, 2, 3, 2); }),
                       "kernel (0, 1) position 6 has value 8"));
  big[(0 * 3 + 1) * 9 + 5] = -9;  // a pruned position: its value does not matter
  big[(0 * 3 + 1) * 9 + 6] = 1;
  EXPECT_NO_THROW(pack_taps(big, mask, 2, 3, 2));
  EXPECT_TRUE(mentions(error_message([&] { pack_taps(values, mask, 2, 2, 2); }), "expected 36"));
  EXPECT_TRUE(
      mentions(error_message([&] { pack_taps(values, mask, 2, 3, 10); }), "density must be 1..9"));
}

TEST(CheckTaps, AcceptsValidLayersWithAndWithoutSharing) {
  auto gen = testing::rng(9);
  for (int density = 1; density <= 9; ++density) {
    for (PatternSharing sharing :
         {PatternSharing{1, 1}, PatternSharing{4, 1}, PatternSharing{1, 4}, PatternSharing{4, 2}}) {
      auto taps = testing::random_taps(gen, 6, 5, density, sharing);
      EXPECT_EQ(check_taps(taps, 6, 5, density, sharing), "");
      EXPECT_EQ(check_taps(taps, 6, 5, density, {}),
                "");  // any shared layer is a valid unshared one
    }
  }
}

TEST(CheckTaps, NamesTheProblemAndTheFirstOffendingKernel) {
  const int out_channels = 3, in_channels = 2, density = 3;
  // Every kernel keeps positions 0, 4, 8: a valid layer shared by everything.
  std::vector<uint8_t> taps;
  for (int kernel = 0; kernel < out_channels * in_channels; ++kernel) {
    for (int p : {0, 4, 8}) taps.push_back(make_tap(p, kernel % 8));
  }
  ASSERT_EQ(check_taps(taps, out_channels, in_channels, density, {3, 2}), "");
  auto at = [&](int o, int i, int t) -> uint8_t& {
    return taps[(o * in_channels + i) * density + t];
  };

  {  // wrong size
    const std::vector<uint8_t> short_taps(taps.begin(), taps.end() - 1);
    EXPECT_TRUE(mentions(check_taps(short_taps, out_channels, in_channels, density, {}),
                         "wrong size: 17 bytes, expected 18"));
  }
  {  // position > 8
    auto saved = taps;
    at(1, 1, 2) = 0x93;  // position 9
    at(2, 0, 2) = 0xF3;  // a later kernel with position 15 is not the first
    EXPECT_EQ(check_taps(taps, out_channels, in_channels, density, {}),
              "kernel (1, 1): tap 2 has position 9 > 8");
    taps = saved;
  }
  {  // repeated position
    auto saved = taps;
    at(2, 1, 1) = make_tap(0, 3);
    EXPECT_TRUE(mentions(check_taps(taps, out_channels, in_channels, density, {}),
                         "kernel (2, 1): positions not strictly increasing (tap 1 has position 0 "
                         "after position 0)"));
    taps = saved;
  }
  {  // decreasing positions
    auto saved = taps;
    at(0, 1, 1) = make_tap(8, 1);
    at(0, 1, 2) = make_tap(4, 1);
    EXPECT_TRUE(mentions(check_taps(taps, out_channels, in_channels, density, {}),
                         "kernel (0, 1): positions not strictly increasing (tap 2 has position 4 "
                         "after position 8)"));
    taps = saved;
  }
  {  // group pattern mismatch: valid alone, not with sharing
    auto saved = taps;
    at(1, 0, 1) = make_tap(5, -2);
    EXPECT_EQ(check_taps(taps, out_channels, in_channels, density, {}), "");
    // When the group's first kernel is the odd one, the error names the next kernel.
    EXPECT_TRUE(mentions(check_taps(taps, out_channels, in_channels, density, {1, 2}),
                         "kernel (1, 1): group pattern mismatch, tap 1 has position 4 but kernel "
                         "(1, 0)"));
    EXPECT_TRUE(mentions(check_taps(taps, out_channels, in_channels, density, {2, 1}),
                         "kernel (1, 0): group pattern mismatch, tap 1 has position 5 but kernel "
                         "(0, 0) of its sharing group (2 out x 1 in) has position 4"));
    // With 2-out groups, channel 2 forms a partial group on its own and may differ.
    at(2, 1, 0) = make_tap(1, 0);
    at(1, 0, 1) = make_tap(4, -2);
    EXPECT_EQ(check_taps(taps, out_channels, in_channels, density, {2, 1}), "");
    EXPECT_TRUE(mentions(check_taps(taps, out_channels, in_channels, density, {2, 2}),
                         "kernel (2, 1): group pattern mismatch"));
    taps = saved;
  }
  EXPECT_TRUE(mentions(check_taps(taps, out_channels, in_channels, 0, {}), "density must be 1..9"));
  EXPECT_TRUE(mentions(check_taps(taps, 0, in_channels, density, {}), "channel counts"));
  EXPECT_TRUE(
      mentions(check_taps(taps, out_channels, in_channels, density, {0, 1}), "sharing groups"));
}

TEST(UnpackTaps, RefusesBadTapsBeforeWriting) {
  std::vector<uint8_t> taps = {make_tap(2, 1), 0xC1};  // position 12 would write out of bounds
  EXPECT_TRUE(mentions(error_message([&] { unpack_taps(taps, 1, 1, 2); }),
                       "unpack_taps: kernel (0, 0): tap 1 has position 12 > 8"));
  EXPECT_TRUE(mentions(error_message([&] { unpack_taps(taps, 1, 1, 3); }), "wrong size"));
}

TEST(MakeSparseConv3x3, QuantizesKeptWeightsPerChannel) {
  // Two output channels, one input channel, density 2.
  std::vector<float> weights(2 * 9, 0.0f);
  std::vector<uint8_t> mask(2 * 9, 0);
  weights[3] = 1.4f, weights[7] = -0.35f, weights[0] = 100.0f;  // position 0 is pruned
  mask[3] = mask[7] = 1;
  weights[9 + 0] = 0.0f, weights[9 + 8] = 0.0f;  // an all-zero kept channel
  mask[9 + 0] = mask[9 + 8] = 1;
  SparseConv3x3Op op = make_sparse_conv3x3(weights, mask, {}, 2, 1, 2, 2, {}, Activation::kRelu);
  EXPECT_EQ(op.weight_scales, (std::vector<float>{1.4f / 7.0f, 1.0f}));
  // -0.35 / 0.2 = -1.75 -> -2.
  EXPECT_EQ(op.taps, (std::vector<uint8_t>{make_tap(3, 7), make_tap(7, -2), make_tap(0, 0),
                                           make_tap(8, 0)}));
  EXPECT_EQ(op.bias, (std::vector<float>{0.0f, 0.0f}));
  EXPECT_EQ(op.stride, 2);
  EXPECT_EQ(op.density, 2);
  EXPECT_EQ(op.out_channels, 2);
  EXPECT_EQ(op.in_channels, 1);
  EXPECT_EQ(op.activation, Activation::kRelu);
}

TEST(MakeSparseConv3x3, PrunedLayerBuildsAValidNode) {
  auto gen = testing::rng(21);
  const int out_channels = 8, in_channels = 4;
  const PatternSharing sharing{4, 2};
  auto weights = testing::random_floats(gen, out_channels * in_channels * 9, -1.0f, 1.0f);
  std::vector<uint8_t> mask(weights.size(), 1);
  prune_to_density(weights, mask, out_channels, in_channels, 3, sharing);
  auto bias = testing::random_floats(gen, out_channels, -1.0f, 1.0f);
  SparseConv3x3Op op = make_sparse_conv3x3(weights, mask, bias, out_channels, in_channels, 3, 1,
                                           sharing, Activation::kNone);
  EXPECT_EQ(check_taps(op.taps, out_channels, in_channels, 3, sharing), "");
  EXPECT_EQ(op.bias, bias);
  ModelBuilder builder;
  ValueId x = builder.input({in_channels, 6, 6}, DType::kU8);
  builder.mark_output(builder.sparse_conv3x3(x, op));
  EXPECT_NO_THROW(builder.build());
}

TEST(MakeSparseConv3x3, Errors) {
  std::vector<float> weights(9, 1.0f);
  std::vector<uint8_t> mask(9, 0);
  mask[0] = mask[1] = 1;
  EXPECT_TRUE(mentions(error_message([&] {
                         make_sparse_conv3x3(weights, mask, {}, 1, 1, 3, 1, {}, Activation::kNone);
                       }),
                       "keeps 2 taps per kernel, expected density 3"));
  EXPECT_TRUE(mentions(error_message([&] {
                         make_sparse_conv3x3(weights, mask, {}, 1, 1, 2, 3, {}, Activation::kNone);
                       }),
                       "stride must be 1 or 2"));
  const std::vector<float> bias(2, 0.0f);
  EXPECT_TRUE(mentions(error_message([&] {
                         make_sparse_conv3x3(weights, mask, bias, 1, 1, 2, 1, {},
                                             Activation::kNone);
                       }),
                       "bias has 2 entries"));
  std::vector<float> two_weights(18, 1.0f);
  std::vector<uint8_t> two_masks(18, 0);
  two_masks[0] = two_masks[1] = two_masks[9 + 0] = two_masks[9 + 2] = 1;
  EXPECT_TRUE(mentions(
      error_message([&] {
        make_sparse_conv3x3(two_weights, two_masks, {}, 2, 1, 2, 1, {2, 1}, Activation::kNone);
      }),
      "one pattern per sharing group"));
}

}  // namespace
}  // namespace sparq
