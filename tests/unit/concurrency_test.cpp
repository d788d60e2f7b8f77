// Concurrency: several caller threads sharing models and sessions while each
// run also splits its layers over oneTBB workers. The answers must equal the
// serial ones bit for bit. scripts/tsan.sh runs this file (with the session
// and thread-cap tests) under ThreadSanitizer, linked against an instrumented
// oneTBB, so a data race is a failure even when the bits happen to agree.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/model_samples.hpp"
#include "tests/support/networks.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using testing::bit_equal;

SessionOptions on_backend(const std::string& backend, int threads) {
  SessionOptions options;
  options.backends = {backend, "reference"};
  options.threads = threads;
  return options;
}

struct Workload {
  std::shared_ptr<const Model> model;
  std::vector<Tensor> inputs;
  std::vector<std::vector<Tensor>> expected;  // serial reference answers
};

Workload make_workload(Model model, const Shape& input_shape, uint32_t seed, int count) {
  Workload w;
  w.model = std::make_shared<const Model>(std::move(model));
  auto gen = testing::rng(seed);
  const Session serial(w.model, on_backend("reference", 1));
  for (int i = 0; i < count; ++i) {
    w.inputs.push_back(testing::random_f32(gen, input_shape));
    w.expected.push_back(serial.run(w.inputs.back()));
  }
  return w;
}

bool outputs_equal(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!bit_equal(got[i], want[i])) return false;
  }
  return true;
}

// `callers` threads run the workload's inputs round-robin, `repeats` times
// each. Even-numbered callers share `shared`; the others build a session of
// their own on the same model while the shared one runs, so session creation
// (planning, packing) overlaps other threads' runs.
void run_from_many_threads(const Workload& w, const Session& shared, const SessionOptions& own,
                           int callers, int repeats) {
  std::atomic<int> mismatches{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      try {
        std::unique_ptr<Session> mine;
        if (c % 2) mine = std::make_unique<Session>(w.model, own);
        const Session& session = mine ? *mine : shared;
        for (int r = 0; r < repeats; ++r) {
          const size_t which = static_cast<size_t>(c + r) % w.inputs.size();
          if (!outputs_equal(session.run(w.inputs[which]), w.expected[which])) ++mismatches;
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

class ConcurrentSessions : public ::testing::TestWithParam<std::string> {};

// Pruned layers at k = 3 with shared patterns, batch 2: the sparse planner,
// packed tiles and per-worker scratch are all exercised by the CPU backend.
TEST_P(ConcurrentSessions, FiveLayerCnnAgreesWithSerialRuns) {
  testing::NetworkOptions options;
  options.density = 3;
  options.sharing = PatternSharing{.out_group = 4, .in_group = 4};
  const Workload w =
      make_workload(testing::build_five_layer_cnn(options), Shape{2, 1, 28, 28}, 21, 4);
  const Session shared(w.model, on_backend(GetParam(), 2));
  run_from_many_threads(w, shared, on_backend(GetParam(), 2), 4, 3);
}

// Every op the model file stores (quantize, pools, residual add, depthwise,
// float layers, softmax, two outputs), with three workers per run.
TEST_P(ConcurrentSessions, OpZooAgreesWithSerialRuns) {
  const Workload w = make_workload(testing::build_op_zoo_model(5), Shape{3, 4, 8, 8}, 22, 3);
  const Session shared(w.model, on_backend(GetParam(), 3));
  run_from_many_threads(w, shared, on_backend(GetParam(), 3), 4, 3);
}

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrentSessions,
                         ::testing::Values("reference", "cpu", "device"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Models loaded from the same bytes on several threads at once, each run at
// once on its own session: loading keeps no shared mutable state.
TEST(ConcurrentLoads, ModelsFromOneFileRunAlike) {
  const Model original = testing::build_tiny_sparse_cnn(8, 2);
  const std::vector<uint8_t> bytes = original.to_bytes();
  const Workload w =
      make_workload(testing::build_tiny_sparse_cnn(8, 2), Shape{2, 1, 12, 12}, 23, 2);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 4; ++c) {
    threads.emplace_back([&, c] {
      const std::shared_ptr<const Model> model = Model::from_bytes(bytes);
      const Session session(model, on_backend("cpu", 2));
      const size_t which = static_cast<size_t>(c) % w.inputs.size();
      if (!outputs_equal(session.run(w.inputs[which]), w.expected[which])) ++mismatches;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace sparq
