#include "runtime/backends/cpu/sparse_conv3x3_workers.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "runtime/backends/cpu/capped_parallel.hpp"

namespace sparq::cpu {
namespace {

// What the sample's run keeps per worker, at the start of its scratch.
struct WorkerState {
  int32_t lane_begin = 0, lane_end = 0;  // the lanes it staged (shared staging)
  uint8_t staged = 0;                    // its scratch holds the whole staged input (task items)
  uint8_t read_others = 0;               // it has read the lanes the others staged
};

size_t state_bytes(int workers) {
  return (static_cast<size_t>(std::max(workers, 1)) * sizeof(WorkerState) + 63) / 64 * 64;
}

// One staged input all workers read (shared staging), after the states.
size_t shared_bytes(const kernels::SparseConv3x3Kernel& kernel, int workers) {
  return workers > 1 ? kernel.staged_input_bytes() : 0;
}

// Reads bytes [begin, end) once, a cache line at a time in address order, so
// that lines another core's cache holds arrive as one sequential stream
// rather than as the tile unit's and vector loads' rows ask for them.
void read_through(const uint8_t* begin, const uint8_t* end) {
  uint64_t sum = 0;
  for (const uint8_t* line = begin; line < end; line += 64) {
    uint64_t word;
    std::memcpy(&word, line, sizeof(word));
    sum += word;
  }
  __asm__ volatile("" ::"r"(sum));  // the loads are the point: keep them
}

// Stages lanes [begin, end) into their place in `shared`, the buffer every
// worker's tasks read, a run of lanes at a time through `block` (the start of
// the worker's own scratch, whose staged input it does not use here): staged
// there, then copied. The other workers' cores read these lines in the
// layer's previous run, and a store into such a line waits for the other
// core to give it up: on a 2-vCPU Zen 5 guest whose cores share no cache,
// the staging kernel's own stores into the shared buffer took 13.6-14.2 us
// per worker for ResNet-18's 512-channel 7x7 layer (k = 1, 20 KiB each),
// against 3.3 us into the worker's own scratch; memcpy (glibc's string copy
// at these sizes) then moved the 20 KiB in 2.0 us, where a loop of 64-byte
// vector loads and stores took 6.9. The layer on 2 threads went from 45.4 to
// 40.8 us, the 64-channel 56x56 one from 65.5 to 59.3
// (bench/sparse_conv_bench.cpp, 4 alternated rounds; one thread never takes
// this path). Runs of up to kPublishRunBytes keep the block in L1: staging
// a whole 108 KiB share before copying it made the 56x56 layer's leader
// stage 5x slower than its helper. Lanes start on cache lines (lane_bytes()),
// so no line holds two workers' lanes.
constexpr size_t kPublishRunBytes = 16384;

void stage_and_publish(const kernels::SparseConv3x3Kernel& kernel, const void* input, int begin,
                       int end, uint8_t* block, uint8_t* shared) {
  const size_t lane_bytes = kernel.lane_bytes();
  const int run = static_cast<int>(std::max<size_t>(1, kPublishRunBytes / lane_bytes));
  for (int first = begin; first < end; first += run) {
    const int last = std::min(end, first + run);
    kernel.stage_lanes(input, first, last, block);
    std::memcpy(shared + static_cast<size_t>(first) * lane_bytes, block,
                static_cast<size_t>(last - first) * lane_bytes);
  }
}

}  // namespace

size_t sparse_conv3x3_sample_scratch(const kernels::SparseConv3x3Kernel& kernel, int workers) {
  workers = std::max(workers, 1);
  return state_bytes(workers) + shared_bytes(kernel, workers) +
         static_cast<size_t>(workers) * kernel.worker_scratch_bytes();
}

void* sparse_conv3x3_worker_scratch(const kernels::SparseConv3x3Kernel& kernel, void* scratch,
                                    int workers, int worker) {
  return static_cast<uint8_t*>(scratch) + state_bytes(workers) + shared_bytes(kernel, workers) +
         static_cast<size_t>(worker) * kernel.worker_scratch_bytes();
}

void run_sparse_conv3x3_sample(const kernels::SparseConv3x3Kernel& kernel,
                               const kernels::Sparse3x3Sample& sample, void* scratch, int workers) {
  workers = std::max(workers, 1);
  const kernels::Sparse3x3Work work = kernel.work(workers);
  for (int w = 0; sample.widen_range && w < workers; ++w) {
    std::construct_at(
        kernel.worker_range(sparse_conv3x3_worker_scratch(kernel, scratch, workers, w)));
  }
  auto worker_scratch = [&](int w) {
    return sparse_conv3x3_worker_scratch(kernel, scratch, workers, w);
  };
  auto* state = static_cast<WorkerState*>(scratch);
  std::fill(state, state + workers, WorkerState{});
  if (work.shared_staging && workers > 1) {
    // Each worker stages its share of the lanes (the channels the layer
    // before wrote on its core: stage_and_publish), then every worker's
    // tasks read them all.
    auto* staged = static_cast<uint8_t*>(scratch) + state_bytes(workers);
    const int lanes = kernel.lanes();
    const size_t lane_bytes = kernel.lane_bytes();
    run_capped(lanes, workers, (lanes + workers - 1) / workers,
               [&](int worker, int64_t begin, int64_t end) {
                 stage_and_publish(kernel, sample.input, static_cast<int>(begin),
                                   static_cast<int>(end),
                                   static_cast<uint8_t*>(worker_scratch(worker)), staged);
                 state[worker].lane_begin = static_cast<int32_t>(begin);
                 state[worker].lane_end = static_cast<int32_t>(end);
               });
    // Before its first task a worker reads the lanes the others staged in one
    // pass: ResNet-18 at k = 9 on 2 threads of a Xeon with AMX took 2.24 ms
    // instead of 2.36 (medians, 10 of 10 alternated runs faster), its
    // stride-2 layer2.0.conv1 96 us instead of 134; k = 3 4 % less, k = 1
    // shared the same within noise.
    run_capped(work.items, workers, work.grain, [&](int worker, int64_t begin, int64_t end) {
      WorkerState& own = state[worker];
      if (!own.read_others) {
        own.read_others = 1;
        read_through(staged, staged + static_cast<size_t>(own.lane_begin) * lane_bytes);
        read_through(staged + static_cast<size_t>(own.lane_end) * lane_bytes,
                     staged + static_cast<size_t>(lanes) * lane_bytes);
      }
      kernel.run_items(sample, work, begin, end, worker_scratch(worker), staged);
    });
    return;
  }
  // Task items stage the sample's whole input once per worker, at the
  // worker's first range, into its own scratch.
  run_capped(work.items, workers, work.grain, [&](int worker, int64_t begin, int64_t end) {
    void* own = worker_scratch(worker);
    kernel.run_items(sample, work, begin, end, own,
                     state[worker].staged != 0 ? static_cast<const uint8_t*>(own) : nullptr);
    state[worker].staged = 1;
  });
}

}  // namespace sparq::cpu
