// Issue 2's end-to-end promise: a 5-layer CNN and a ResNet-18-shaped network
// (224x224) are built, pruned to every k in 9..1, quantized, saved, loaded and
// run on the reference backend, with identical results before and after.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/networks.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

std::vector<Tensor> run_reference(std::shared_ptr<const Model> model, const Tensor& input) {
  SessionOptions o;
  o.backends = {"reference"};
  return Session(std::move(model), o).run(input);
}

void expect_round_trip_identical(Model built, const Tensor& input, const std::string& file) {
  auto original = std::make_shared<const Model>(std::move(built));
  auto path = std::filesystem::temp_directory_path() / file;
  original->save(path);
  auto loaded = Model::load(path);
  std::filesystem::remove(path);
  EXPECT_EQ(loaded->to_bytes(), original->to_bytes());
  auto before = run_reference(original, input);
  auto after = run_reference(loaded, input);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(testing::bit_equal(before[i], after[i]));
  // Random weights still give a non-degenerate output.
  float spread = 0;
  for (float v : before[0].span<float>()) spread = std::max(spread, std::fabs(v));
  EXPECT_GT(spread, 0.0f);
}

class EveryDensity : public ::testing::TestWithParam<int> {};

TEST_P(EveryDensity, FiveLayerCnnRoundTrips) {
  testing::NetworkOptions options;
  options.density = GetParam();
  auto gen = testing::rng(10 + GetParam());
  Tensor input = testing::random_f32(gen, Shape{2, 1, 28, 28});
  expect_round_trip_identical(testing::build_five_layer_cnn(options), input,
                              "sparq_five_layer_k" + std::to_string(GetParam()) + ".sparq");
}

TEST_P(EveryDensity, ResNet18At224RoundTrips) {
  testing::NetworkOptions options;
  options.density = GetParam();
  options.seed = 100 + GetParam();
  auto gen = testing::rng(20 + GetParam());
  Tensor input = testing::random_f32(gen, Shape{1, 3, 224, 224});
  expect_round_trip_identical(testing::build_resnet18(options), input,
                              "sparq_resnet18_k" + std::to_string(GetParam()) + ".sparq");
}

INSTANTIATE_TEST_SUITE_P(Densities, EveryDensity, ::testing::Range(1, 10));

}  // namespace
}  // namespace sparq
