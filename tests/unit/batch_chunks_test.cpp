// Chunked batches: a batch run as chunks of samples (one after another, or
// side by side on several threads) gives the same bytes as each sample run
// alone and as the reference backend, for any chunk size and thread count;
// the stats sum the chunks; the memory accounting counts every chunk in
// flight; and the session never runs more at once than its threads allow.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/session/batch_chunks.hpp"
#include "tests/support/larger_arena.hpp"
#include "tests/support/networks.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using testing::bit_equal;

// ---------------------------------------------------------------- the rule

ChunkRequest request(int64_t batch, int64_t requested, size_t sample_bytes, size_t cache,
                     int threads) {
  ChunkRequest r;
  r.batch = batch;
  r.requested_chunk = requested;
  r.sample_arena_bytes = sample_bytes;
  r.cache_bytes = cache;
  r.threads = threads;
  return r;
}

TEST(ChunkPlan, AutomaticFillsTheCacheWithWholeSamples) {
  // 100 KB per sample in 1 MB: 10 samples; a batch of 64 on one thread.
  const ChunkPlan p = plan_chunks(request(64, 0, 100'000, 1'000'000, 1));
  EXPECT_EQ(p.chunk, 10);
  EXPECT_EQ(p.chunks, 7);
  EXPECT_EQ(p.workers, 1);
  EXPECT_EQ(p.threads_per_worker, 1);
}

TEST(ChunkPlan, AutomaticRunsOneSampleWhenASampleOverflowsTheCache) {
  const ChunkPlan p = plan_chunks(request(16, 0, 6'000'000, 1'000'000, 1));
  EXPECT_EQ(p.chunk, 1);
  EXPECT_EQ(p.chunks, 16);
}

TEST(ChunkPlan, AutomaticGivesEveryThreadAChunk) {
  // Ten samples would fit, but two threads each get half of a batch of 16.
  const ChunkPlan p = plan_chunks(request(16, 0, 100'000, 1'000'000, 2));
  EXPECT_EQ(p.chunk, 8);
  EXPECT_EQ(p.workers, 2);
  EXPECT_EQ(p.threads_per_worker, 1);
  // A batch of one: one chunk, and all threads work inside it.
  const ChunkPlan single = plan_chunks(request(1, 0, 100'000, 1'000'000, 4));
  EXPECT_EQ(single.chunk, 1);
  EXPECT_EQ(single.workers, 1);
  EXPECT_EQ(single.threads_per_worker, 4);
}

TEST(ChunkPlan, AutomaticChunksEvenOutOverTheThreads) {
  // 14 samples fit: chunks of 14 would be 5 (14, 14, 14, 14, 8), 36
  // samples for one thread and 28 for the other; 8 chunks of 8 share 64 as
  // 32 + 32 (and 11, 12 or 13 would leave one thread 33 or more).
  const ChunkPlan p = plan_chunks(request(64, 0, 100'000, 1'400'000, 2));
  EXPECT_EQ(p.chunk, 8);
  EXPECT_EQ(p.chunks, 8);
  EXPECT_EQ(p.workers, 2);
  // One thread finishes at the same time whatever the chunks: the cache's.
  const ChunkPlan one = plan_chunks(request(64, 0, 100'000, 1'400'000, 1));
  EXPECT_EQ(one.chunk, 14);
  EXPECT_EQ(one.chunks, 5);
  // Whatever the batch, threads and cache: chunks the cache holds, none
  // empty, and the threads, each taking the next chunk when it is free,
  // never finish later than with chunks of the cache's size capped at an
  // even share (every sample taking the same time).
  auto finish = [](int64_t batch, int64_t chunk, int workers) {
    std::vector<int64_t> load(static_cast<size_t>(workers), 0);
    for (int64_t first = 0; first < batch; first += chunk)
      *std::min_element(load.begin(), load.end()) += std::min(chunk, batch - first);
    return *std::max_element(load.begin(), load.end());
  };
  for (int64_t batch = 1; batch <= 70; ++batch) {
    for (int threads = 1; threads <= 4; ++threads) {
      for (int64_t fit = 1; fit <= 16; ++fit) {
        const ChunkPlan q =
            plan_chunks(request(batch, 0, 100'000, static_cast<size_t>(fit) * 100'000, threads));
        const std::string at = std::to_string(batch) + " samples, " + std::to_string(threads) +
                               " threads, " + std::to_string(fit) + " fit";
        EXPECT_LE(q.chunk, fit) << at;
        EXPECT_EQ(q.chunks, (batch + q.chunk - 1) / q.chunk) << at;
        const int64_t capped = std::min(fit, (batch + threads - 1) / threads);
        const int workers =
            static_cast<int>(std::min<int64_t>(threads, (batch + capped - 1) / capped));
        EXPECT_LE(finish(batch, q.chunk, q.workers), finish(batch, capped, workers)) << at;
      }
    }
  }
}

TEST(ChunkPlan, ASmallLoneChunkRunsOnOneThread) {
  // A batch of one on 4 threads: one chunk, whose nodes get the 4 threads
  // when its work is large or unknown, one when it is small.
  ChunkRequest r = request(1, 0, 100'000, 1'000'000, 4);
  EXPECT_EQ(plan_chunks(r).threads_per_worker, 4);
  r.sample_macs = kThreadedChunkMinMacs;
  EXPECT_EQ(plan_chunks(r).threads_per_worker, 4);
  r.sample_macs = kThreadedChunkMinMacs - 1;
  EXPECT_EQ(plan_chunks(r).threads_per_worker, 1);
  // Two such samples in one chunk (4 threads, 2 samples) are large enough.
  ChunkRequest pair = request(2, 2, 100'000, 1'000'000, 4);
  pair.sample_macs = kThreadedChunkMinMacs / 2;
  EXPECT_EQ(plan_chunks(pair).workers, 1);
  EXPECT_EQ(plan_chunks(pair).threads_per_worker, 4);
  // Chunks side by side keep a thread each, whatever their size.
  ChunkRequest many = request(8, 0, 100'000, 1'000'000, 2);
  many.sample_macs = 1;
  EXPECT_EQ(plan_chunks(many).workers, 2);
  EXPECT_EQ(plan_chunks(many).threads_per_worker, 1);
}

TEST(ChunkPlan, WholeBatchDefaultKeepsTheBatchUnlessAsked) {
  ChunkRequest r = request(12, 0, 6'000'000, 1'000'000, 2);
  r.whole_batch_default = true;
  EXPECT_EQ(plan_chunks(r).chunk, 12);
  r.requested_chunk = 5;
  EXPECT_EQ(plan_chunks(r).chunk, 5);
}

TEST(ChunkPlan, RequestedChunksAreClampedAndSplitTheThreads) {
  EXPECT_EQ(plan_chunks(request(3, 8, 1, 1, 1)).chunk, 3);
  const ChunkPlan p = plan_chunks(request(10, 3, 1, 1, 5));
  EXPECT_EQ(p.chunk, 3);
  EXPECT_EQ(p.chunks, 4);  // 3 + 3 + 3 + 1
  EXPECT_EQ(p.workers, 4);
  EXPECT_EQ(p.threads_per_worker, 1);
  const ChunkPlan wide = plan_chunks(request(4, 2, 1, 1, 5));
  EXPECT_EQ(wide.workers, 2);
  EXPECT_EQ(wide.threads_per_worker, 2);  // 5 / 2: never more than 5 in all
}

TEST(ChunkPlan, CacheSizeIsKnown) {
  EXPECT_GE(per_core_cache_bytes(), size_t{16} << 10);
}

// ------------------------------------------------------------- numerics

Tensor sample_of(const Tensor& batch, int64_t n) {
  Tensor one(batch.shape().without_batch().with_batch(1), batch.dtype());
  const size_t bytes = one.bytes();
  std::memcpy(one.raw(), static_cast<const uint8_t*>(batch.raw()) + bytes * n, bytes);
  if (!batch.scales().empty()) one.scales()[0] = batch.scales()[static_cast<size_t>(n)];
  return one;
}

// Each sample alone at batch 1, stacked back into batches.
std::vector<Tensor> one_by_one(const Session& session, const Tensor& batch) {
  const int64_t samples = batch.shape()[0];
  std::vector<Tensor> stacked;
  for (int64_t n = 0; n < samples; ++n) {
    const std::vector<Tensor> outs = session.run(sample_of(batch, n));
    if (stacked.empty()) {
      for (const Tensor& o : outs)
        stacked.emplace_back(o.shape().without_batch().with_batch(samples), o.dtype());
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      const size_t bytes = outs[i].bytes();
      std::memcpy(static_cast<uint8_t*>(stacked[i].raw()) + bytes * n, outs[i].raw(), bytes);
      if (!outs[i].scales().empty())
        stacked[i].scales()[static_cast<size_t>(n)] = outs[i].scales()[0];
    }
  }
  return stacked;
}

SessionOptions options_for(std::vector<std::string> backends, int threads, int64_t chunk) {
  SessionOptions o;
  o.backends = std::move(backends);
  o.threads = threads;
  o.batch_chunk = chunk;
  return o;
}

// Every chunk size (automatic, 1, 2, 3, the batch) on 1, 2 and 3 threads,
// at batches that are not multiples of the chunk: the CPU backend's outputs
// equal each sample run alone and the reference backend's, byte for byte.
void expect_chunking_exact(const std::shared_ptr<const Model>& model, const Tensor& batch,
                           const std::vector<std::string>& backends = {"cpu", "reference"}) {
  const int64_t samples = batch.shape()[0];
  const std::vector<Tensor> alone = one_by_one(Session(model, options_for(backends, 1, 0)), batch);
  const std::vector<Tensor> reference = Session(model, options_for({"reference"}, 1, 0)).run(batch);
  ASSERT_EQ(alone.size(), reference.size());
  for (size_t i = 0; i < alone.size(); ++i) ASSERT_TRUE(bit_equal(alone[i], reference[i]));
  for (int threads : {1, 2, 3}) {
    for (int64_t chunk : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}, samples}) {
      Session session(model, options_for(backends, threads, chunk));
      RunStats stats;
      const std::vector<Tensor> outs = session.run(batch, &stats);
      ASSERT_EQ(outs.size(), alone.size());
      for (size_t i = 0; i < outs.size(); ++i) {
        EXPECT_TRUE(bit_equal(outs[i], alone[i]))
            << "output " << i << ", " << threads << " threads, chunk " << chunk << " (used "
            << session.batch_chunk(samples) << ")";
      }
      EXPECT_EQ(stats.arena_bytes, session.planned_bytes(samples));
    }
  }
}

std::shared_ptr<const Model> five_layer() {
  testing::NetworkOptions options;
  options.density = 3;
  return std::make_shared<const Model>(testing::build_five_layer_cnn(options));
}

std::shared_ptr<const Model> small_resnet18() {
  testing::NetworkOptions options;
  options.density = 1;
  options.sharing = {16, 4};
  return std::make_shared<const Model>(testing::build_resnet18(options, 32, 16, 10));
}

TEST(ChunkedBatch, FiveLayerCnnIsExactForAnyChunkAndThreads) {
  auto gen = testing::rng(21);
  for (int64_t batch : {5, 7}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    expect_chunking_exact(five_layer(), testing::random_f32(gen, Shape{batch, 1, 28, 28}));
  }
}

TEST(ChunkedBatch, SmallResnet18IsExactForAnyChunkAndThreads) {
  auto gen = testing::rng(22);
  expect_chunking_exact(small_resnet18(), testing::random_f32(gen, Shape{7, 3, 32, 32}));
}

TEST(ChunkedBatch, ShippedModelsAreExactForAnyChunkAndThreads) {
  const std::filesystem::path dir = std::filesystem::path(SPARQ_SOURCE_DIR) / "examples/models";
  int models = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".sparq") continue;
    SCOPED_TRACE(entry.path().filename().string());
    auto model = Model::load(entry.path());
    auto gen = testing::rng(23);
    expect_chunking_exact(model,
                          testing::random_f32(gen, model->input().shape.with_batch(5), 0.0f, 1.0f));
    ++models;
  }
  EXPECT_GE(models, 5);
}

// Quantized input (per-sample scales read at the chunk's offset) and a
// quantized output (per-sample scales written at the chunk's offset).
TEST(ChunkedBatch, QuantizedInputsAndOutputsKeepTheirPerSampleScales) {
  std::mt19937 gen(24);
  testing::NetworkOptions options;
  options.density = 3;
  ModelBuilder b;
  ValueId x = b.input(Shape{8, 12, 12}, DType::kU8);
  x = b.sparse_conv3x3(x, testing::random_pruned_conv(gen, 16, 8, 1, options, Activation::kRelu),
                       "conv1");
  x = b.quantize(x, 8, false, "quantize1");
  x = b.sparse_conv3x3(x, testing::random_pruned_conv(gen, 16, 16, 2, options, Activation::kRelu),
                       "conv2");
  ValueId q = b.quantize(x, 8, false, "quantize2");
  b.mark_output(q);
  b.mark_output(b.global_avg_pool(x, "gap"));
  auto model = std::make_shared<const Model>(b.build());
  auto data = testing::rng(25);
  const Tensor batch = testing::random_u8(data, Shape{7, 8, 12, 12});
  expect_chunking_exact(model, batch);
  // Borrowed memory: the scales are read from the caller's array.
  Session session(model, options_for({"cpu", "reference"}, 2, 2));
  const std::vector<Tensor> from_view = session.run(
      ConstTensorView(batch.raw(), batch.shape(), batch.dtype(), batch.scales().data()));
  const std::vector<Tensor> from_tensor = session.run(batch);
  for (size_t i = 0; i < from_view.size(); ++i)
    EXPECT_TRUE(bit_equal(from_view[i], from_tensor[i]));
}

// -------------------------------------------------------------- stats

TEST(ChunkedBatch, StatsHaveOneEntryPerStepSummedOverChunks) {
  auto model = five_layer();
  auto gen = testing::rng(26);
  const Tensor batch = testing::random_f32(gen, Shape{7, 1, 28, 28});
  Session one(model, options_for({"cpu", "reference"}, 1, 0));
  RunStats single;
  one.run(sample_of(batch, 0), &single);
  for (int threads : {1, 2}) {
    Session session(model, options_for({"cpu", "reference"}, threads, 3));
    RunStats stats;
    session.run(batch, &stats);
    ASSERT_EQ(stats.steps.size(), single.steps.size());
    for (size_t s = 0; s < stats.steps.size(); ++s) {
      EXPECT_EQ(stats.steps[s].name, single.steps[s].name);
      EXPECT_EQ(stats.steps[s].kernel, single.steps[s].kernel);
      EXPECT_EQ(stats.steps[s].dense_macs, 7 * single.steps[s].dense_macs);
      EXPECT_EQ(stats.steps[s].actual_macs, 7 * single.steps[s].actual_macs);
      EXPECT_GT(stats.steps[s].seconds, 0.0);
    }
  }
}

// thread_seconds: at batch 1 on 2 threads a network large enough for a
// team of threads (kThreadedChunkMinMacs) reports each thread's time in the
// parallel regions, none longer than the run; one thread, a batch in chunks
// side by side, or a network too small for a team report none.
TEST(ChunkedBatch, ThreadSecondsOnlyForOneChunkOnSeveralThreads) {
  testing::NetworkOptions options;
  options.density = 1;
  options.sharing = {16, 4};
  const auto large = std::make_shared<const Model>(testing::build_resnet18(options, 112, 32, 10));
  auto gen = testing::rng(28);
  const Tensor one = testing::random_f32(gen, Shape{1, 3, 112, 112});
  Session two_threads(large, options_for({"cpu", "reference"}, 2, 0));
  RunStats stats;
  two_threads.run(one, &stats);
  ASSERT_EQ(stats.thread_seconds.size(), 2u);
  EXPECT_GT(stats.thread_seconds[0], 0.0);  // the calling thread works in every region
  for (double busy : stats.thread_seconds) {
    EXPECT_GE(busy, 0.0);
    EXPECT_LE(busy, stats.seconds);
  }
  RunStats without;
  Session(large, options_for({"cpu", "reference"}, 1, 0)).run(one, &without);
  EXPECT_TRUE(without.thread_seconds.empty());
  RunStats chunks;
  two_threads.run(testing::random_f32(gen, Shape{2, 3, 112, 112}), &chunks);
  EXPECT_TRUE(chunks.thread_seconds.empty());
  RunStats small;
  Session(five_layer(), options_for({"cpu", "reference"}, 2, 0))
      .run(testing::random_f32(gen, Shape{1, 1, 28, 28}), &small);
  EXPECT_TRUE(small.thread_seconds.empty());
}

// The device prices the batch it is given: automatically the batch stays
// whole; asked for chunks, each step's figures are those of the chunks run
// as batches of their own, added up.
TEST(ChunkedBatch, DeviceFiguresAreThoseOfTheChunksItRan) {
  auto model = five_layer();
  auto gen = testing::rng(27);
  const Tensor batch = testing::random_f32(gen, Shape{7, 1, 28, 28});
  const std::vector<std::string> device = {"device", "cpu", "reference"};
  Session whole(model, options_for(device, 2, 0));
  EXPECT_EQ(whole.batch_chunk(7), 7);
  RunStats whole_stats;
  const std::vector<Tensor> expected = whole.run(batch, &whole_stats);

  Session chunked(model, options_for(device, 2, 3));
  RunStats stats;
  const std::vector<Tensor> outs = chunked.run(batch, &stats);
  ASSERT_EQ(outs.size(), expected.size());
  for (size_t i = 0; i < outs.size(); ++i) EXPECT_TRUE(bit_equal(outs[i], expected[i]));

  // Chunks of 3, 3 and 1 samples, each run as a batch of its own.
  Session unchunked(model, options_for(device, 1, 0));
  RunStats three, last;
  unchunked.run(testing::random_f32(gen, Shape{3, 1, 28, 28}), &three);
  unchunked.run(testing::random_f32(gen, Shape{1, 1, 28, 28}), &last);
  ASSERT_EQ(stats.steps.size(), three.steps.size());
  ASSERT_EQ(stats.steps.size(), whole_stats.steps.size());
  // Host steps carry no device figures: zeros.
  const DeviceNodeStats none;
  auto figures = [&](const NodeStats& step) -> const DeviceNodeStats& {
    const DeviceNodeStats* d = device_stats(step);
    return d ? *d : none;
  };
  int64_t device_cycles = 0;
  for (size_t s = 0; s < stats.steps.size(); ++s) {
    const NodeStats& got = stats.steps[s];
    SCOPED_TRACE(got.name);
    EXPECT_EQ(got.backend, three.steps[s].backend);
    const DeviceNodeStats& d = figures(got);
    const DeviceNodeStats& d3 = figures(three.steps[s]);
    const DeviceNodeStats& d1 = figures(last.steps[s]);
    EXPECT_EQ(device_stats(got) != nullptr, device_stats(three.steps[s]) != nullptr);
    EXPECT_EQ(d.cycles, 2 * d3.cycles + d1.cycles);
    EXPECT_EQ(got.bytes_moved, 2 * three.steps[s].bytes_moved + last.steps[s].bytes_moved);
    EXPECT_EQ(d.offchip_bytes, 2 * d3.offchip_bytes + d1.offchip_bytes);
    EXPECT_DOUBLE_EQ(d.energy_joules, 2 * d3.energy_joules + d1.energy_joules);
    EXPECT_DOUBLE_EQ(d.seconds, 2 * d3.seconds + d1.seconds);
    // The chunks' busy cycles over all cycles.
    const double busy = 2 * d3.utilization * d3.cycles + d1.utilization * d1.cycles;
    if (d.cycles > 0) {
      EXPECT_DOUBLE_EQ(d.utilization, busy / d.cycles);
    }
    EXPECT_EQ(whole_stats.steps[s].bytes_moved, got.bytes_moved);
    device_cycles += d.cycles;
  }
  EXPECT_GT(device_cycles, 0);
}

// ------------------------------------------------------------- memory

TEST(ChunkedBatch, PlannedBytesCountEveryChunkInFlight) {
  auto model = five_layer();
  Session one_thread(model, options_for({"reference"}, 1, 1));
  const size_t sample = one_thread.planned_bytes(1);
  EXPECT_GT(sample, 0u);
  EXPECT_EQ(one_thread.planned_bytes(9), sample);  // chunks of 1, one at a time
  Session two_threads(model, options_for({"reference"}, 2, 1));
  EXPECT_EQ(two_threads.planned_bytes(9), 2 * sample);
  EXPECT_EQ(two_threads.planned_bytes(1), sample);
  Session chunks_of_4(model, options_for({"reference"}, 3, 4));
  EXPECT_EQ(chunks_of_4.planned_bytes(9), 3 * 4 * sample);  // 4 + 4 + 1 side by side
  EXPECT_EQ(chunks_of_4.unplanned_bytes(9), 12 * one_thread.unplanned_bytes(1));
}

// True when a session under `limit` bytes is made and runs `batch`.
bool fits(const std::shared_ptr<const Model>& model, SessionOptions o, int64_t limit,
          const Tensor& batch) {
  o.limits.max_memory_bytes = limit;
  try {
    Session(model, o).run(batch);
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(ChunkedBatch, MemoryLimitCountsTheChunksInFlight) {
  auto model = five_layer();
  const SessionOptions sequential = options_for({"reference"}, 1, 1);
  SessionOptions side_by_side = options_for({"reference"}, 2, 1);
  const size_t sample = Session(model, sequential).planned_bytes(1);
  auto gen = testing::rng(28);
  const Tensor batch = testing::random_f32(gen, Shape{4, 1, 28, 28});
  // The least limit that runs the batch one chunk at a time.
  int64_t lo = 0, hi = int64_t{1} << 32;
  while (lo + 1 < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(model, sequential, mid, batch) ? hi : lo) = mid;
  }
  ASSERT_TRUE(fits(model, sequential, hi, batch));
  // Two chunks in flight need a second chunk arena (the reference backend
  // asks for no scratch), exactly.
  EXPECT_FALSE(fits(model, side_by_side, hi, batch));
  EXPECT_FALSE(fits(model, side_by_side, hi + static_cast<int64_t>(sample) - 1, batch));
  EXPECT_TRUE(fits(model, side_by_side, hi + static_cast<int64_t>(sample), batch));
  side_by_side.limits.max_memory_bytes = hi;
  try {
    Session(model, side_by_side).run(batch);
    FAIL() << "expected the memory limit to refuse two chunks in flight";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("a batch of 4 needs"), std::string::npos) << e.what();
  }
}

// Several callers at once share the buffer pool while each run's chunks
// run side by side.
TEST(ChunkedBatch, ConcurrentRunsWithChunksAgree) {
  auto model = five_layer();
  Session session(model, options_for({"cpu", "reference"}, 2, 2));
  auto gen = testing::rng(29);
  std::vector<Tensor> inputs;
  std::vector<std::vector<Tensor>> expected;
  for (int i = 0; i < 4; ++i) {
    inputs.push_back(testing::random_f32(gen, Shape{5, 1, 28, 28}));
    expected.push_back(session.run(inputs.back()));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        const std::vector<Tensor> got = session.run(inputs[static_cast<size_t>(i)]);
        if (!bit_equal(got[0], expected[static_cast<size_t>(i)][0])) ++mismatches;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// -------------------------------------------------------------- threads

// Concurrency seen by the nodes of a run: how many ran at once, and how many
// threads they were allowed between them.
struct Probe {
  std::atomic<int> in_flight{0};
  std::atomic<int> threads_in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> max_threads_in_flight{0};
  // Set where chunks should overlap: each node then waits (up to a bound)
  // until two have been in flight at once, so that a busy host that
  // schedules the second worker late still shows the overlap.
  bool expect_overlap = false;
  std::mutex mutex;
  std::set<std::thread::id> os_threads;

  static void raise(std::atomic<int>& max, int now) {
    int seen = max.load();
    while (now > seen && !max.compare_exchange_weak(seen, now)) {
    }
  }
};

// Runs the wrapped node after a short wait (so that chunks overlap even on a
// busy host), recording the concurrency.
class ProbeNode : public CompiledNode {
 public:
  ProbeNode(std::unique_ptr<CompiledNode> inner, Probe& probe)
      : inner_(std::move(inner)), probe_(probe) {}
  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    Probe::raise(probe_.max_in_flight, probe_.in_flight.fetch_add(1) + 1);
    Probe::raise(probe_.max_threads_in_flight,
                 probe_.threads_in_flight.fetch_add(ctx.threads) + ctx.threads);
    {
      std::lock_guard lock(probe_.mutex);
      probe_.os_threads.insert(std::this_thread::get_id());
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } while (probe_.expect_overlap && probe_.max_in_flight.load() < 2 &&
             std::chrono::steady_clock::now() < deadline);
    inner_->run(inputs, output, ctx);
    probe_.threads_in_flight.fetch_sub(ctx.threads);
    probe_.in_flight.fetch_sub(1);
  }
  size_t scratch_bytes(int64_t batch, int threads) const override {
    return inner_->scratch_bytes(batch, threads);
  }
  std::string kernel_name() const override { return "probe(" + inner_->kernel_name() + ")"; }

 private:
  std::unique_ptr<CompiledNode> inner_;
  Probe& probe_;
};

class ProbeBackend : public Backend {
 public:
  explicit ProbeBackend(Probe& probe) : probe_(probe) {}
  std::string name() const override { return "probe"; }
  bool supports(const Graph& g, const Node& n) const override {
    return BackendRegistry::get("cpu")->supports(g, n);
  }
  std::unique_ptr<CompiledNode> compile(const Graph& g, const Node& n) const override {
    return std::make_unique<ProbeNode>(BackendRegistry::get("cpu")->compile(g, n), probe_);
  }

 private:
  Probe& probe_;
};

TEST(ChunkedBatch, NeverRunsMoreThanItsThreadsInALargerArena) {
  auto model = five_layer();
  auto gen = testing::rng(30);
  const Tensor batch = testing::random_f32(gen, Shape{8, 1, 28, 28});
  const std::vector<Tensor> expected = Session(model, options_for({"reference"}, 1, 0)).run(batch);
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    Probe probe;
    probe.expect_overlap = threads > 1;
    SessionOptions o = options_for({"reference"}, threads, 1);
    o.backend_objects = {std::make_shared<ProbeBackend>(probe)};
    Session session(model, o);
    std::vector<Tensor> outs;
    testing::run_in_larger_arena(threads, [&] { outs = session.run(batch); });
    EXPECT_TRUE(bit_equal(outs[0], expected[0]));
    EXPECT_LE(probe.max_in_flight.load(), threads);
    EXPECT_LE(probe.max_threads_in_flight.load(), threads);
    EXPECT_LE(static_cast<int>(probe.os_threads.size()), threads);
    // Eight chunks of nodes that wait for a second one in flight: the
    // workers overlap unless wrongly serialised.
    if (threads > 1) {
      EXPECT_GE(probe.max_in_flight.load(), 2);
    }
  }
}

}  // namespace
}  // namespace sparq
