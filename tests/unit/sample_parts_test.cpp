// SampleParts: every element of a batch in exactly one part, parts within
// one sample, one per thread cut at multiples of 64 elements for fewer
// samples than threads; and the CPU nodes that split by it (add, activation,
// quantize, dequantize) and the pools around them give the reference
// backend's bits at 1-3 threads, batch 1 (one chunk, the spin team) and 2.
#include "runtime/backends/cpu/sample_parts.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sparq/model_builder.hpp"
#include "sparq/session.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

TEST(SampleParts, EveryElementInOnePart) {
  constexpr int64_t kChunk = 1000;
  constexpr int64_t kShare = cpu::SampleParts::kShareElements;
  for (int64_t sample : {int64_t{1}, int64_t{63}, int64_t{999}, int64_t{1001}, int64_t{4099},
                         kShare, kShare + 1, 2 * kShare + 64, int64_t{100352}}) {
    for (int64_t batch : {1, 2, 3}) {
      for (int threads : {1, 2, 3, 4}) {
        const cpu::SampleParts parts(sample, batch, threads, kChunk);
        const int64_t chunks = (sample + kChunk - 1) / kChunk;
        const int64_t share_count = (sample + kShare - 1) / kShare;
        const bool shares = threads > 1 && batch < threads;
        // Shares: one per thread, but no more than one per kShareElements.
        EXPECT_EQ(parts.per_sample(), shares ? std::min<int64_t>(share_count, threads) : chunks)
            << sample << " x " << batch << ", " << threads << " threads";
        std::vector<int> hits(static_cast<size_t>(sample * batch), 0);
        for (int64_t index = 0; index < batch * parts.per_sample(); ++index) {
          const auto [first, count] = parts.extent(index);
          const int64_t n = index / parts.per_sample();
          ASSERT_GT(count, 0) << "part " << index;
          ASSERT_GE(first, n * sample) << "part " << index;
          ASSERT_LE(first + count, (n + 1) * sample) << "part " << index;
          // Inner cuts of a share fall on 64-element boundaries.
          if (shares && index % parts.per_sample() != 0) {
            EXPECT_EQ((first - n * sample) % 64, 0) << "part " << index;
          }
          for (int64_t e = first; e < first + count; ++e) hits[static_cast<size_t>(e)]++;
        }
        for (size_t e = 0; e < hits.size(); ++e) {
          ASSERT_EQ(hits[e], 1) << "element " << e << " of " << sample << " x " << batch << ", "
                                << threads << " threads";
        }
      }
    }
  }
}

// Whole nodes: 4x130x130 samples split into parts at 2 and 3 threads. The
// input holds NaN, infinities and -0 (before the ReLU).
TEST(SampleParts, SplitNodesMatchTheReference) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{4, 130, 130});
  const ValueId relu = b.activation(x, Activation::kRelu, "relu");
  const ValueId sum = b.add(relu, x, Activation::kRelu6, "add");
  const ValueId q = b.quantize(sum, 8, false, "quantize");
  const ValueId back = b.dequantize(q, "dequantize");
  b.mark_output(back);
  // An activation stores no range: this quantize finds it in its own pass.
  b.mark_output(b.dequantize(b.quantize(relu, 8, false, "quantize_relu"), "dequantize_relu"));
  b.mark_output(b.pool2d(relu, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1}, "max_after_relu"));
  b.mark_output(b.pool2d(x, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1}, "max"));
  // Averaged after the ReLU: a window of x may hold a NaN and inf - inf, two
  // NaN payloads whose sum either compiler may take from either operand.
  b.mark_output(b.pool2d(relu, Pool2dOp{PoolKind::kAverage, 3, 3, 2, 2, 1, 1}, "average"));
  b.mark_output(b.pool2d(q, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1}, "max_bytes"));
  const auto model = std::make_shared<const Model>(b.build());
  std::mt19937 gen = testing::rng(811);
  for (int64_t batch : {1, 2}) {
    const Tensor input = testing::awkward_f32(gen, Shape{batch, 4, 130, 130});
    SessionOptions reference;
    reference.backends = {"reference"};
    const std::vector<Tensor> want = Session(model, reference).run(input);
    for (int threads : {1, 2, 3}) {
      SessionOptions options;
      options.backends = {"cpu"};
      options.threads = threads;
      options.batch_chunk = batch;  // one chunk: each node's threads split the sample
      const std::vector<Tensor> got = Session(model, options).run(input);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_TRUE(testing::bit_equal(got[i], want[i]))
            << "output " << i << ", batch " << batch << ", " << threads << " threads";
      }
    }
  }
}

}  // namespace
}  // namespace sparq
