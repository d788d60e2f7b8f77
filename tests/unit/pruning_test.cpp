// Gradual N-of-9 pruning: which taps each round removes, with and without
// pattern sharing, and the errors on malformed masks.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

std::vector<uint8_t> full_mask(int out_channels, int in_channels) {
  return std::vector<uint8_t>(static_cast<size_t>(out_channels) * in_channels * 9, 1);
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

class GradualPruning : public ::testing::TestWithParam<uint32_t> {};

// After round r every kernel keeps exactly its 9 - r largest-magnitude taps
// (random weights have distinct magnitudes), and pruned weights are zero.
TEST_P(GradualPruning, EachRoundKeepsTheLargestNineMinusR) {
  auto gen = testing::rng(GetParam());
  const int out_channels = 5, in_channels = 3;
  const auto original = testing::random_floats(gen, out_channels * in_channels * 9, -1.0f, 1.0f);
  auto weights = original;
  auto mask = full_mask(out_channels, in_channels);
  for (int round = 1; round <= 8; ++round) {
    prune_round(weights, mask, out_channels, in_channels);
    ASSERT_EQ(mask_density(mask, out_channels, in_channels), 9 - round);
    for (int kernel = 0; kernel < out_channels * in_channels; ++kernel) {
      std::vector<int> order(9);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return std::fabs(original[kernel * 9 + a]) > std::fabs(original[kernel * 9 + b]);
      });
      for (int rank = 0; rank < 9; ++rank) {
        const int p = order[rank];
        const bool kept = rank < 9 - round;
        EXPECT_EQ(mask[kernel * 9 + p], kept ? 1 : 0) << "round " << round << " kernel " << kernel;
        EXPECT_EQ(weights[kernel * 9 + p], kept ? original[kernel * 9 + p] : 0.0f);
      }
    }
  }
  // Density 1 is the floor: another round changes nothing.
  const auto before = mask;
  prune_round(weights, mask, out_channels, in_channels);
  EXPECT_EQ(mask, before);
}

INSTANTIATE_TEST_SUITE_P(Seeds, GradualPruning, ::testing::Values(1u, 2u, 3u, 4u, 5u));

TEST(Pruning, TiesGoToTheLowestPosition) {
  // All magnitudes equal (signs differ): positions go in order 0, 1, 2, ...
  std::vector<float> weights = {1, -1, 1, -1, 1, -1, 1, -1, 1};
  auto mask = full_mask(1, 1);
  for (int round = 0; round < 8; ++round) {
    prune_round(weights, mask, 1, 1);
    for (int p = 0; p < 9; ++p) EXPECT_EQ(mask[p], p > round ? 1 : 0) << "round " << round;
  }
  // A tie between two smallest, above a larger one: the lower of the two goes.
  std::vector<float> w2 = {5, 5, 0.5f, 5, -0.5f, 5, 5, 5, 5};
  auto m2 = full_mask(1, 1);
  prune_round(w2, m2, 1, 1);
  EXPECT_EQ(m2[2], 0);
  EXPECT_EQ(m2[4], 1);
}

TEST(Pruning, PrunedWeightsDoNotComeBack) {
  // A pruned position (weight zero) must not be chosen again even though its
  // magnitude is the smallest.
  std::vector<float> weights = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  auto mask = full_mask(1, 1);
  prune_to_density(weights, mask, 1, 1, 3);
  EXPECT_EQ(mask, (std::vector<uint8_t>{1, 1, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(weights, (std::vector<float>{9, 8, 7, 0, 0, 0, 0, 0, 0}));
}

// With sharing, one round drops, in every group, the kept position whose
// summed |w| over the group is smallest; groups at the edges may be partial.
TEST(Pruning, SharingGroupsDropTheSmallestSummedMagnitude) {
  auto gen = testing::rng(42);
  const int out_channels = 6, in_channels = 5;
  const PatternSharing sharing{4, 2};
  auto weights = testing::random_floats(gen, out_channels * in_channels * 9, -1.0f, 1.0f);
  auto mask = full_mask(out_channels, in_channels);
  for (int round = 1; round <= 8; ++round) {
    const auto before_w = weights;
    const auto before_m = mask;
    prune_round(weights, mask, out_channels, in_channels, sharing);
    ASSERT_EQ(mask_density(mask, out_channels, in_channels), 9 - round);
    ASSERT_TRUE(mask_respects_sharing(mask, out_channels, in_channels, sharing));
    for (int go = 0; go < out_channels; go += 4) {
      for (int gi = 0; gi < in_channels; gi += 2) {
        double sums[9] = {};
        for (int o = go; o < std::min(out_channels, go + 4); ++o) {
          for (int i = gi; i < std::min(in_channels, gi + 2); ++i) {
            for (int p = 0; p < 9; ++p)
              sums[p] += std::fabs(double{before_w[(o * in_channels + i) * 9 + p]});
          }
        }
        const size_t leader = static_cast<size_t>(go * in_channels + gi) * 9;
        int expected = -1;
        for (int p = 0; p < 9; ++p) {
          if (before_m[leader + p] && (expected < 0 || sums[p] < sums[expected])) expected = p;
        }
        for (int p = 0; p < 9; ++p) {
          EXPECT_EQ(mask[leader + p], p == expected ? 0 : before_m[leader + p])
              << "round " << round << " group (" << go << ", " << gi << ")";
        }
      }
    }
  }
}

TEST(Pruning, SharingCanKeepATapAKernelAloneWouldDrop) {
  // Kernel (0,0) alone would drop position 0 (|w| = 0.1), but the group sum
  // at position 0 is 0.1 + 5 while position 1 sums to 1 + 1.
  std::vector<float> weights(2 * 9, 3.0f);
  weights[0] = 0.1f;
  weights[1] = 1.0f;
  weights[9 + 0] = 5.0f;
  weights[9 + 1] = 1.0f;
  auto mask = full_mask(2, 1);
  prune_round(weights, mask, 2, 1, {2, 1});
  EXPECT_EQ(mask[0], 1);
  EXPECT_EQ(mask[1], 0);
  EXPECT_EQ(mask[9 + 1], 0);
  EXPECT_EQ(weights[10], 0.0f);
}

TEST(Pruning, MaskRespectsSharing) {
  auto mask = full_mask(4, 2);
  EXPECT_TRUE(mask_respects_sharing(mask, 4, 2, {4, 2}));
  mask[(3 * 2 + 1) * 9 + 4] = 0;  // kernel (3, 1) alone drops position 4
  EXPECT_FALSE(mask_respects_sharing(mask, 4, 2, {4, 2}));
  EXPECT_FALSE(mask_respects_sharing(mask, 4, 2, {1, 2}));
  EXPECT_TRUE(mask_respects_sharing(mask, 4, 2, {1, 1}));
  EXPECT_FALSE(mask_respects_sharing(mask, 4, 2, {3, 2}));  // partial group (3, 0..1)
  EXPECT_TRUE(mask_respects_sharing(mask, 4, 2, {3, 1}));   // (3, 1) alone in its group
  EXPECT_FALSE(mask_respects_sharing(mask, 4, 2, {2, 2}));
}

TEST(Pruning, Errors) {
  std::vector<float> weights(2 * 3 * 9, 1.0f);
  auto mask = full_mask(2, 3);
  EXPECT_NE(error_message([&] { prune_round(weights, mask, 2, 2); }).find("mask has 54 entries"),
            std::string::npos);
  std::vector<float> short_weights(10, 1.0f);
  EXPECT_NE(error_message([&] { prune_round(short_weights, mask, 2, 3); }).find("weights have 10"),
            std::string::npos);
  EXPECT_NE(error_message([&] {
              prune_round(weights, mask, 2, 3, {0, 1});
            }).find("sharing groups"),
            std::string::npos);

  auto uneven = mask;
  uneven[(1 * 3 + 2) * 9 + 5] = 0;
  EXPECT_NE(error_message([&] { mask_density(uneven, 2, 3); }).find("kernel (1, 2) keeps 8 taps"),
            std::string::npos);
  EXPECT_NE(error_message([&] { prune_round(weights, uneven, 2, 3); }).find("kernel (1, 2)"),
            std::string::npos);

  auto not_binary = mask;
  not_binary[7] = 2;
  EXPECT_NE(error_message([&] { mask_density(not_binary, 2, 3); }).find("mask[7] is 2"),
            std::string::npos);

  // Every kernel at density 8 but kernel (1, 0) with another pattern than (0, 0).
  auto unshared = mask;
  for (int kernel = 0; kernel < 6; ++kernel) unshared[kernel * 9 + (kernel == 3 ? 1 : 0)] = 0;
  EXPECT_NE(error_message([&] {
              prune_round(weights, unshared, 2, 3, {2, 1});
            }).find("kernel (1, 0) keeps other positions than its sharing group"),
            std::string::npos);

  EXPECT_NE(
      error_message([&] { prune_to_density(weights, mask, 2, 3, 0); }).find("density must be 1..9"),
      std::string::npos);
  auto pruned = mask;
  prune_to_density(weights, pruned, 2, 3, 4);
  EXPECT_NE(error_message([&] { prune_to_density(weights, pruned, 2, 3, 6); }).find("cannot grow"),
            std::string::npos);
  EXPECT_NE(error_message([&] { mask_density(mask, 0, 3); }).find("channel counts"),
            std::string::npos);
}

}  // namespace
}  // namespace sparq
