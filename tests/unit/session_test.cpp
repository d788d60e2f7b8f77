// The session: placement, memory plan, batches, threads, transfers, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

#include "runtime/session/memory_plan.hpp"
#include "tests/support/networks.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using testing::bit_equal;

std::shared_ptr<const Model> five_layer(int density = 3) {
  testing::NetworkOptions options;
  options.density = density;
  return std::make_shared<const Model>(testing::build_five_layer_cnn(options));
}

SessionOptions reference_only(int threads = 1) {
  SessionOptions o;
  o.backends = {"reference"};
  o.threads = threads;
  return o;
}

TEST(MemoryPlan, NeverOverlapsLiveTensors) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> requests;
    std::uniform_int_distribution<int> step(0, 20), size(1, 5000);
    for (int r = 0; r < 30; ++r) {
      int a = step(gen), b = step(gen);
      requests.push_back({static_cast<size_t>(size(gen)), std::min(a, b), std::max(a, b)});
    }
    MemoryPlan plan = plan_memory(requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(plan.offsets[i] % kTensorAlignment, 0u);
      EXPECT_LE(plan.offsets[i] + requests[i].bytes, plan.total_bytes);
      for (size_t j = i + 1; j < requests.size(); ++j) {
        bool live_together = requests[i].first_step <= requests[j].last_step &&
                             requests[j].first_step <= requests[i].last_step;
        bool disjoint = plan.offsets[i] + requests[i].bytes <= plan.offsets[j] ||
                        plan.offsets[j] + requests[j].bytes <= plan.offsets[i];
        EXPECT_TRUE(!live_together || disjoint)
            << "trial " << trial << " requests " << i << ", " << j;
      }
    }
    EXPECT_LE(plan.total_bytes, plan.unplanned_bytes);
  }
}

TEST(MemoryPlan, ReusesBuffersOfDeadTensors) {
  // A chain: each tensor dies when the next-but-one is written.
  std::vector<BufferRequest> chain;
  for (int s = 0; s < 10; ++s) chain.push_back({1024, s, s + 1});
  MemoryPlan plan = plan_memory(chain);
  EXPECT_EQ(plan.total_bytes, 2 * 1024u);
  EXPECT_EQ(plan.unplanned_bytes, 10 * 1024u);
}

// Above kGreedyPlanMaxRequests the plan sweeps the steps with best-fit
// reuse: the same guarantees, checked on random lifetimes with a sort by
// offset (each tensor against its neighbours among those live with it).
TEST(MemoryPlan, LargePlansNeverOverlapLiveTensors) {
  std::mt19937 gen(17);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<BufferRequest> requests;
    const int steps = 3000;
    std::uniform_int_distribution<int> step(0, steps), span(0, 40), size(1, 9000);
    for (size_t r = 0; r < kGreedyPlanMaxRequests + 1000; ++r) {
      const int first = step(gen);
      requests.push_back({static_cast<size_t>(size(gen)), first, first + span(gen)});
    }
    const MemoryPlan plan = plan_memory(requests);
    // Live sets per step: at most ~(n * 20 / steps) tensors each, so the pairwise check is cheap.
    std::vector<std::vector<size_t>> live(steps + 41);
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(plan.offsets[i] % kTensorAlignment, 0u);
      EXPECT_LE(plan.offsets[i] + requests[i].bytes, plan.total_bytes);
      for (int t = requests[i].first_step; t <= requests[i].last_step; ++t) live[t].push_back(i);
    }
    for (const auto& at_step : live) {
      for (size_t a = 0; a < at_step.size(); ++a) {
        for (size_t b = a + 1; b < at_step.size(); ++b) {
          const size_t i = at_step[a], j = at_step[b];
          const bool disjoint = plan.offsets[i] + requests[i].bytes <= plan.offsets[j] ||
                                plan.offsets[j] + requests[j].bytes <= plan.offsets[i];
          ASSERT_TRUE(disjoint) << "trial " << trial << " requests " << i << ", " << j;
        }
      }
    }
    EXPECT_LE(plan.total_bytes, plan.unplanned_bytes);
  }
}

TEST(MemoryPlan, LargePlansReuseBuffersOfDeadTensors) {
  std::vector<BufferRequest> chain;
  const int n = static_cast<int>(kGreedyPlanMaxRequests) * 2;
  for (int s = 0; s < n; ++s) chain.push_back({1024, s, s + 1});
  const MemoryPlan plan = plan_memory(chain);
  EXPECT_EQ(plan.total_bytes, 2 * 1024u);
  EXPECT_EQ(plan.unplanned_bytes, static_cast<size_t>(n) * 1024u);
}

// A step's scratch never touches a tensor alive at that step (nor the
// cache line on either side of one), for chunks of 1 and 3 samples.
TEST(MemoryPlan, StepScratchAvoidsLiveTensors) {
  std::mt19937 gen(11);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> requests;
    const int steps = 20;
    std::uniform_int_distribution<int> step(0, steps - 1), size(1, 5000), scratch_size(0, 9000);
    for (int r = 0; r < 30; ++r) {
      const int a = step(gen), b = step(gen);
      requests.push_back({static_cast<size_t>(size(gen)), std::min(a, b), std::max(a, b)});
    }
    std::vector<size_t> scratch(steps);
    for (size_t& bytes : scratch) bytes = static_cast<size_t>(scratch_size(gen));
    const MemoryPlan plan = plan_memory(requests);
    for (const size_t chunk : {size_t{1}, size_t{3}}) {
      const std::vector<size_t> at = place_step_scratch(requests, plan, chunk, scratch);
      ASSERT_EQ(at.size(), scratch.size());
      for (int s = 0; s < steps; ++s) {
        EXPECT_EQ(at[s] % kTensorAlignment, 0u);
        if (scratch[s] == 0) continue;
        for (size_t r = 0; r < requests.size(); ++r) {
          if (requests[r].first_step > s || s > requests[r].last_step) continue;
          const size_t begin = plan.offsets[r] * chunk;
          const size_t end = begin + requests[r].bytes * chunk;
          const bool apart =
              at[s] + scratch[s] + kTensorAlignment <= begin || end + kTensorAlignment <= at[s];
          EXPECT_TRUE(apart) << "trial " << trial << " chunk " << chunk << " step " << s
                             << " request " << r;
        }
      }
    }
  }
}

// The scratch of a step takes memory its own tensors leave free below the
// arena's end: a chain of two 1 KiB tensors live per step leaves nothing
// free, a step with one tensor alive leaves the other's 1 KiB.
TEST(MemoryPlan, StepScratchReusesFreeArenaMemory) {
  const std::vector<BufferRequest> requests = {{1024, 0, 1}, {1024, 1, 2}, {1024, 2, 3}};
  const MemoryPlan plan = plan_memory(requests);
  ASSERT_EQ(plan.total_bytes, 2 * 1024u);
  // Step 0: only the first tensor; step 1: two tensors; step 3: only the last.
  const std::vector<size_t> at = place_step_scratch(requests, plan, 1, {512, 512, 0, 512});
  EXPECT_LT(at[0] + 512, plan.total_bytes);  // in the second tensor's block
  EXPECT_GE(at[1], plan.total_bytes);        // past the arena: both blocks taken
  EXPECT_LT(at[3] + 512, plan.total_bytes);
}

// Tensors of no elements: nothing is copied (a null source with zero bytes
// is undefined behaviour for memcpy, which the sanitizer build reports).
TEST(Tensor, EmptyTensorsFromNoValues) {
  const Tensor floats = Tensor::from_floats(Shape{0}, {});
  EXPECT_EQ(floats.shape().elements(), 0);
  const Tensor bytes = Tensor::from_bytes(Shape{3, 0}, DType::kU8, {});
  EXPECT_EQ(bytes.bytes(), 0u);
  const float one = 1.0f;
  EXPECT_THROW(Tensor::from_floats(Shape{0}, {&one, 1}), Error);
}

TEST(Session, PlansLessMemoryThanOneBufferPerTensor) {
  Session session(five_layer(), reference_only());
  EXPECT_GT(session.planned_bytes(1), 0u);
  EXPECT_LT(session.planned_bytes(1), session.unplanned_bytes(1));
  // A batch run as one chunk holds every sample's tensors at once.
  SessionOptions whole = reference_only();
  whole.batch_chunk = 4;
  EXPECT_EQ(Session(five_layer(), whole).planned_bytes(4), 4 * session.planned_bytes(1));
}

TEST(Session, BatchEqualsSamplesRunOneByOne) {
  auto model = five_layer();
  Session session(model, reference_only());
  auto gen = testing::rng(3);
  Tensor batch = testing::random_f32(gen, Shape{5, 1, 28, 28}, -1.0f, 1.0f);
  RunStats stats;
  std::vector<Tensor> together = session.run(batch, &stats);
  ASSERT_EQ(together.size(), 1u);
  EXPECT_EQ(together[0].shape(), (Shape{5, 10}));
  EXPECT_EQ(stats.arena_bytes, session.planned_bytes(5));
  const size_t per_sample = 28 * 28;
  for (int n = 0; n < 5; ++n) {
    Tensor one = Tensor::from_floats(Shape{1, 1, 28, 28},
                                     batch.span<float>().subspan(n * per_sample, per_sample));
    Tensor out = session.run(one)[0];
    Tensor expected =
        Tensor::from_floats(Shape{1, 10}, together[0].span<float>().subspan(n * 10, 10));
    EXPECT_TRUE(bit_equal(out, expected)) << "sample " << n;
  }
}

TEST(Session, StatsNameEveryNodeWithItsMacs) {
  auto model = five_layer(2);
  Session session(model, reference_only());
  auto gen = testing::rng(4);
  RunStats stats;
  session.run(testing::random_f32(gen, Shape{2, 1, 28, 28}), &stats);
  ASSERT_EQ(stats.steps.size(), model->graph().nodes.size());
  for (size_t i = 0; i < stats.steps.size(); ++i) {
    const Node& node = model->graph().nodes[i];
    EXPECT_EQ(stats.steps[i].name, node.name);
    EXPECT_EQ(stats.steps[i].backend, "reference");
    MacCount macs = count_macs(model->graph(), node);
    EXPECT_EQ(stats.steps[i].dense_macs, 2 * macs.dense);
    EXPECT_EQ(stats.steps[i].actual_macs, 2 * macs.actual);
    if (std::holds_alternative<SparseConv3x3Op>(node.op)) {
      EXPECT_EQ(stats.steps[i].actual_macs * 9, stats.steps[i].dense_macs * 2);
    }
  }
  EXPECT_GT(stats.seconds, 0);
}

TEST(Session, EightThreadsShareOneModel) {
  auto model = five_layer(4);
  Session shared_session(model, reference_only());
  auto gen = testing::rng(5);
  std::vector<Tensor> inputs, expected;
  for (int i = 0; i < 8; ++i) {
    inputs.push_back(testing::random_f32(gen, Shape{2, 1, 28, 28}));
    expected.push_back(shared_session.run(inputs.back())[0]);
  }
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads share one session, half build their own on the shared model.
      std::unique_ptr<Session> own;
      if (t % 2) own = std::make_unique<Session>(model, reference_only(2));
      const Session& s = own ? *own : shared_session;
      for (int rep = 0; rep < 5; ++rep) {
        int which = (t + rep) % 8;
        Tensor out = s.run(inputs[which])[0];
        if (!bit_equal(out, expected[which])) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

// A borrowed view (what the Python binding passes) runs exactly like a
// Tensor, even unaligned and ending at the last byte of its allocation: the
// session reads the caller's memory in place.
TEST(Session, RunsBorrowedMemoryLikeATensor) {
  auto model = five_layer();
  SessionOptions cpu;
  cpu.threads = 1;
  Session session(model, cpu);
  auto gen = testing::rng(11);
  Tensor batch = testing::random_f32(gen, Shape{3, 1, 28, 28}, -1.0f, 1.0f);
  const std::vector<Tensor> expected = session.run(batch);
  // One float past 64-byte alignment, and nothing after the last sample.
  std::vector<float> memory(1 + batch.span<float>().size());
  std::copy(batch.span<float>().begin(), batch.span<float>().end(), memory.begin() + 1);
  const ConstTensorView view(memory.data() + 1, batch.shape(), DType::kF32);
  const std::vector<Tensor> borrowed = session.run(view);
  ASSERT_EQ(borrowed.size(), expected.size());
  EXPECT_TRUE(bit_equal(borrowed[0], expected[0]));
}

TEST(Session, RejectsABorrowedQuantizedInputWithoutScales) {
  ModelBuilder b;
  ValueId x = b.input(Shape{4}, DType::kU8);
  b.mark_output(b.dequantize(x));
  auto model = std::make_shared<const Model>(b.build());
  Session session(model, reference_only());
  const std::vector<uint8_t> data(4, 1);
  try {
    session.run(ConstTensorView(data.data(), Shape{1, 4}, DType::kU8));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("no per-sample scales"), std::string::npos) << e.what();
  }
}

TEST(Session, RejectsInputOfWrongShapeOrType) {
  Session session(five_layer(), reference_only());
  try {
    session.run(Tensor(Shape{1, 1, 27, 28}, DType::kF32));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(
        std::string(e.what()).find("[1, 1, 27, 28] does not match the model input [-1, 1, 28, 28]"),
        std::string::npos)
        << e.what();
  }
  try {
    session.run(Tensor(Shape{1, 1, 28, 28}, DType::kU8));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input dtype is u8, the model expects f32"),
              std::string::npos)
        << e.what();
  }
}

TEST(Session, UnknownBackendIsNamed) {
  SessionOptions o;
  o.backends = {"tpu"};
  try {
    Session s(five_layer(), o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown backend 'tpu' (known: "), std::string::npos)
        << e.what();
  }
}

// What OffloadBackend reports about a transfer: the session stores it as is.
struct OffloadTransferStats final : BackendNodeStats {
  int64_t bytes = 0;
  std::shared_ptr<const BackendNodeStats> combined_with(
      const BackendNodeStats& other) const override {
    auto total = std::make_shared<OffloadTransferStats>(*this);
    total->bytes += dynamic_cast<const OffloadTransferStats&>(other).bytes;
    return total;
  }
};

// A backend that runs only pruned convolutions, in "its own memory", by
// delegating to the reference: lets the test see transfers being inserted.
class OffloadBackend : public Backend {
 public:
  std::string name() const override { return "offload"; }
  bool supports(const Graph&, const Node& node) const override {
    return std::holds_alternative<SparseConv3x3Op>(node.op);
  }
  std::unique_ptr<CompiledNode> compile(const Graph& g, const Node& n) const override {
    return BackendRegistry::get("reference")->compile(g, n);
  }
  bool host_memory() const override { return false; }
  std::shared_ptr<const BackendNodeStats> transfer_stats(int64_t bytes) const override {
    auto s = std::make_shared<OffloadTransferStats>();
    s->bytes = bytes;
    return s;
  }
};

TEST(Session, CountsTransfersBetweenHostAndOffloadedNodes) {
  auto model = five_layer(3);
  SessionOptions o = reference_only();
  o.backend_objects = {std::make_shared<OffloadBackend>()};
  Session offloaded(model, o);
  Session plain(model, reference_only());
  auto gen = testing::rng(6);
  Tensor input = testing::random_f32(gen, Shape{1, 1, 28, 28});
  RunStats stats;
  Tensor out = offloaded.run(input, &stats)[0];
  EXPECT_TRUE(bit_equal(out, plain.run(input)[0]));
  int transfers = 0;
  int64_t bytes = 0;
  for (const NodeStats& s : stats.steps) {
    if (s.op != "transfer") {
      // The reference kernels (run here for both backends) report no figures of their own.
      EXPECT_EQ(s.backend_stats, nullptr) << s.name;
      continue;
    }
    ++transfers;
    bytes += s.bytes_moved;
    EXPECT_EQ(s.backend, "offload");
    const auto* reported = dynamic_cast<const OffloadTransferStats*>(s.backend_stats.get());
    ASSERT_NE(reported, nullptr) << s.name;
    EXPECT_EQ(reported->bytes, s.bytes_moved);
    EXPECT_EQ(device_stats(s), nullptr) << "not a device step";
  }
  // Three pruned layers, each fed from the host and feeding back: 6 crossings.
  EXPECT_EQ(transfers, 6);
  EXPECT_GT(bytes, 0);
  int offloaded_nodes = 0;
  for (const Placement& p : offloaded.placements()) offloaded_nodes += p.backend == "offload";
  EXPECT_EQ(offloaded_nodes, 3);
}

class NothingBackend : public Backend {
 public:
  std::string name() const override { return "nothing"; }
  bool supports(const Graph&, const Node&) const override { return false; }
  std::unique_ptr<CompiledNode> compile(const Graph&, const Node&) const override {
    return nullptr;
  }
};

TEST(Session, UnsupportedNodeNamesTheNodeAndBackends) {
  SessionOptions o;
  o.backends = {};
  o.backend_objects = {std::make_shared<NothingBackend>()};
  try {
    Session s(five_layer(), o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find(
                  "node 'quantize_image' (quantize) is supported by none of the backends: nothing"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sparq
