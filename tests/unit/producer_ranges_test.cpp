// Ranges stored by a producer for the dynamic quantize that reads its output
// (TensorView::ranges, CompiledNode::writes_ranges): the residual add's
// kernel finds the range of what it writes, and a session whose quantize
// takes the add's ranges instead of its own pass gives the reference
// backend's bits. The expected range is computed here from the written
// values with plain comparisons, not with the quantize kernels.
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/eltwise/eltwise.hpp"
#include "kernels/isa/isa.hpp"
#include "kernels/isa/isa_override.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::Isa;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The smallest interval holding 0 and every finite value.
SampleRange range_of(const std::vector<float>& values) {
  SampleRange range;
  for (const float v : values) {
    if (!std::isfinite(v)) continue;
    if (v > range.max) range.max = v;
    if (v < range.min) range.min = v;
  }
  return range;
}

// Mostly ordinary values; with `special`, some NaN, infinities, -0 and
// values far outside the rest.
std::vector<float> operand(std::mt19937& gen, size_t count, bool special) {
  std::uniform_real_distribution<float> value(-3.0f, 2.0f);
  std::uniform_int_distribution<int> pick(0, 40);
  std::vector<float> out(count);
  for (float& v : out) {
    v = value(gen);
    if (!special) continue;
    switch (pick(gen)) {
      case 0:
        v = kNaN;
        break;
      case 1:
        v = kInf;
        break;
      case 2:
        v = -kInf;
        break;
      case 3:
        v = -0.0f;
        break;
      case 4:
        v *= 1e30f;
        break;
      default:
        break;
    }
  }
  return out;
}

class AddRanges : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!kernels::isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << kernels::isa_name(GetParam());
    }
  }
};

TEST_P(AddRanges, KernelWidensTheRangeByExactlyTheValuesItWrites) {
  const kernels::EltwiseKernels k = kernels::eltwise_kernels(GetParam());
  std::mt19937 gen = testing::rng(31);
  const size_t counts[] = {0, 1, 7, 15, 16, 17, 31, 33, 64, 65, 127, 1000, 20001};
  for (const size_t count : counts) {
    for (const bool special : {false, true}) {
      for (const Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
        const std::vector<float> a = operand(gen, count, special), b = operand(gen, count, special);
        std::vector<float> plain(count), ranged(count);
        k.add(a.data(), b.data(), plain.data(), count, act);
        // A range already holding values keeps them.
        SampleRange range{0.25f, -0.5f};
        k.add_ranged(a.data(), b.data(), ranged.data(), count, act, range);
        const std::string what = "count " + std::to_string(count) + " special " +
                                 std::to_string(special) + " activation " + to_string(act);
        const Shape flat{static_cast<int64_t>(count)};
        ASSERT_TRUE(
            testing::bit_equal(Tensor::from_floats(flat, plain), Tensor::from_floats(flat, ranged)))
            << what;
        std::vector<float> seen = ranged;
        seen.push_back(0.25f);
        seen.push_back(-0.5f);
        const SampleRange want = range_of(seen);
        EXPECT_EQ(range.max, want.max) << what;
        EXPECT_EQ(range.min, want.min) << what;
        EXPECT_FALSE(std::signbit(range.max)) << what;  // never -0
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, AddRanges,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(kernels::isa_name(info.param));
                         });

// input -> add(input, input) -> dynamic quantize -> dequantize, per activation
// and quantized format: the CPU quantize takes the add's ranges.
std::shared_ptr<const Model> add_then_quantize(Activation act, int bits, bool is_signed) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{5, 9, 13});
  const ValueId sum = b.add(x, x, act, "add");
  const ValueId q = b.quantize(sum, bits, is_signed, "quantize");
  b.mark_output(b.dequantize(q, "dequantize"));
  return std::make_shared<const Model>(b.build());
}

TEST(ProducerRanges, QuantizeFromTheAddsRangesMatchesTheReferenceBackend) {
  std::mt19937 gen = testing::rng(32);
  const int64_t batch = 5;
  const Shape shape{batch, 5, 9, 13};
  const auto sample = static_cast<size_t>(shape.elements() / batch);
  // Samples with ordinary values, with special values, all negative, all
  // zero, and one whose only finite values are tiny.
  std::vector<float> values;
  for (int64_t n = 0; n < batch; ++n) {
    std::vector<float> s = operand(gen, sample, n == 1);
    for (float& v : s) {
      if (n == 2) v = -std::fabs(v) - 0.1f;
      if (n == 3) v = 0.0f;
      if (n == 4) v = v > 0.0f ? 1e-20f : -kInf;
    }
    values.insert(values.end(), s.begin(), s.end());
  }
  const Tensor input = Tensor::from_floats(shape, values);
  for (const Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
    for (const auto& [bits, is_signed] :
         {std::pair{8, false}, std::pair{8, true}, std::pair{4, false}}) {
      const auto model = add_then_quantize(act, bits, is_signed);
      SessionOptions reference;
      reference.backends = {"reference"};
      const Tensor want = Session(model, reference).run(input).at(0);
      for (int threads : {1, 2, 3}) {
        for (int64_t chunk : {0, 1, 2}) {
          SessionOptions cpu;
          cpu.backends = {"cpu"};
          cpu.threads = threads;
          cpu.batch_chunk = chunk;
          const Tensor got = Session(model, cpu).run(input).at(0);
          EXPECT_TRUE(testing::bit_equal(got, want))
              << to_string(act) << " u/s" << bits << (is_signed ? " signed" : "") << " threads "
              << threads << " chunk " << chunk;
        }
      }
    }
  }
}

}  // namespace
}  // namespace sparq
