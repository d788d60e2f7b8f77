// How a session splits a batch: consecutive chunks of samples, each run
// through the whole graph before the next, so that a chunk's intermediate
// tensors stay in the cache instead of streaming every layer's tensors of
// the whole batch through memory; and, with several threads, chunks run side
// by side, each worker on its own arena region and scratch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sparq {

struct ChunkPlan {
  int64_t chunk = 1;           // samples per chunk (the last one may be shorter)
  int64_t chunks = 1;          // ceil(batch / chunk)
  int workers = 1;             // chunks in flight at once: min(threads, chunks)
  int threads_per_worker = 1;  // ExecContext::threads of each node run: threads / workers,
                               // 1 for a lone chunk below kThreadedChunkMinMacs
};

struct ChunkRequest {
  int64_t batch = 1;
  int64_t requested_chunk = 0;    // SessionOptions::batch_chunk; 0 = automatic
  size_t sample_arena_bytes = 0;  // the memory plan's arena for one sample
  size_t cache_bytes = 0;         // what one worker's chunk may fill
  int threads = 1;
  bool whole_batch_default = false;  // automatic choice keeps the batch whole
  int64_t sample_macs = 0;           // dense multiply-adds of one sample; 0: unknown
};

// A chunk run alone on several threads (a batch smaller than the threads)
// with fewer dense multiply-adds than this runs on one thread: its layers
// are too small for a split to pay. On the 2-vCPU Xeon at batch 1, the
// Fashion-MNIST CNN (22 M) took 83-85 us on 2 threads against 64-66 on one
// (medians), ResNet-20 (41 M) as long on both; VGG-11 (153 M) at k = 9
// took 0.34 ms on 2 threads against 0.59 on one.
inline constexpr int64_t kThreadedChunkMinMacs = 100'000'000;

// Automatic: the most samples whose arena fits `cache_bytes` (at least one),
// but no more than an even share of the batch per thread, so that every
// thread gets a chunk of its own; of the sizes up to that, the one whose
// chunks the threads finish soonest, taking the next chunk when free.
ChunkPlan plan_chunks(const ChunkRequest& request);

// The cache one core may fill: its L2 (sysconf, else sysfs), 1 MiB when
// neither says.
size_t per_core_cache_bytes();

}  // namespace sparq
