// RowBands: every row of a sample in exactly one band, bands only where each
// band's runs are long enough; and the CPU pools that split by it
// (max after a ReLU, max with NaN, average, max of bytes), with the nodes
// around them, give the reference backend's bits at 1-3 threads on planes
// large enough to band, batch 1 (one chunk, the spin team) and batch 2.
#include "runtime/backends/cpu/row_bands.hpp"

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

TEST(RowBands, EveryRowInOneBand) {
  const Shape shapes[] = {Shape{3, 64, 64}, Shape{5, 7, 300}, Shape{2, 2, 5000},
                          Shape{1000},      Shape{4, 28, 28}, Shape{1, 3, 2048}};
  for (const Shape& shape : shapes) {
    for (int threads : {1, 2, 3, 4}) {
      const cpu::RowBands bands(shape, threads);
      // Bands: one per thread, each run at least 1024 elements.
      const bool long_runs =
          shape.rank() == 3 && shape[1] >= threads && shape[1] * shape[2] / threads >= 1024;
      EXPECT_EQ(bands.count() > 0, threads > 1 && long_runs) << shape.to_string();
      if (bands.count() == 0) continue;
      EXPECT_EQ(bands.count(), threads);
      std::vector<int> hits(static_cast<size_t>(shape[1]), 0);
      for (int64_t b = 0; b < bands.count(); ++b) {
        const auto [first, last] = bands.rows(b);
        ASSERT_LT(first, last) << "band " << b << " of " << shape.to_string();
        for (int64_t row = first; row < last; ++row) hits[static_cast<size_t>(row)]++;
      }
      for (size_t row = 0; row < hits.size(); ++row) {
        ASSERT_EQ(hits[row], 1) << "row " << row << " of " << shape.to_string() << ", " << threads
                                << " threads";
      }
    }
  }
}

// Whole nodes: planes of 65x65 outputs and 130x130 inputs band at 2 and 3
// threads. The input holds NaN, infinities and -0 (before the ReLU).
TEST(RowBands, BandedPoolsMatchTheReference) {
  ModelBuilder b;
  const ValueId x = b.input(Shape{4, 130, 130});
  const ValueId relu = b.activation(x, Activation::kRelu, "relu");
  const ValueId sum = b.add(relu, x, Activation::kRelu6, "add");
  const ValueId q = b.quantize(sum, 8, false, "quantize");
  const ValueId back = b.dequantize(q, "dequantize");
  b.mark_output(back);
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
