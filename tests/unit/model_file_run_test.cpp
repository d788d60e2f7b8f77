// A model read back from its file computes exactly what the original does:
// same outputs, bit for bit, on the reference backend.
#include <memory>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/model_samples.hpp"
#include "tests/support/networks.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

void expect_same_outputs_after_round_trip(Model original, uint32_t seed) {
  auto before = std::make_shared<const Model>(std::move(original));
  std::shared_ptr<const Model> after = Model::from_bytes(before->to_bytes());

  SessionOptions options;
  options.backends = {"reference"};
  options.threads = 1;
  Session run_before(before, options);
  Session run_after(after, options);

  std::mt19937 gen = testing::rng(seed);
  Tensor input = testing::random_f32(gen, before->input().shape.with_batch(2), 0.0f, 1.0f);
  std::vector<Tensor> expected = run_before.run(input);
  std::vector<Tensor> actual = run_after.run(input);
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(testing::bit_equal(expected[i], actual[i])) << "output " << i;
  }
}

class RoundTripRun : public ::testing::TestWithParam<int> {};

TEST_P(RoundTripRun, FiveLayerCnnGivesIdenticalOutputs) {
  testing::NetworkOptions options;
  options.density = GetParam();
  options.seed = 100u + static_cast<uint32_t>(GetParam());
  expect_same_outputs_after_round_trip(testing::build_five_layer_cnn(options), options.seed);
}

TEST_P(RoundTripRun, TinySharedCnnGivesIdenticalOutputs) {
  expect_same_outputs_after_round_trip(testing::build_tiny_sparse_cnn(7, GetParam(), {4, 2}),
                                       static_cast<uint32_t>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Densities, RoundTripRun, ::testing::Values(9, 5, 3, 1));

TEST(RoundTripRun, OpZooGivesIdenticalOutputs) {
  for (uint32_t seed : {1u, 2u})
    expect_same_outputs_after_round_trip(testing::build_op_zoo_model(seed), seed);
}

TEST(RoundTripRun, ImportedOperationsGiveIdenticalOutputs) {
  for (uint32_t seed : {1u, 2u})
    expect_same_outputs_after_round_trip(testing::build_imported_ops_model(seed), seed);
}

}  // namespace
}  // namespace sparq
