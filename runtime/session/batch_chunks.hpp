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
  int threads_per_worker = 1;  // ExecContext::threads of each node run: threads / workers
};

struct ChunkRequest {
  int64_t batch = 1;
  int64_t requested_chunk = 0;    // SessionOptions::batch_chunk; 0 = automatic
  size_t sample_arena_bytes = 0;  // the memory plan's arena for one sample
  size_t cache_bytes = 0;         // what one worker's chunk may fill
  int threads = 1;
  bool whole_batch_default = false;  // automatic choice keeps the batch whole
};

// Automatic: the most samples whose arena fits `cache_bytes` (at least one),
// but no more than an even share of the batch per thread, so that every
// thread gets a chunk of its own; of the sizes up to that, the one whose
// chunks the threads finish soonest, taking the next chunk when free.
ChunkPlan plan_chunks(const ChunkRequest& request);

// The cache one core may fill: its L2 (sysconf, else sysfs), 1 MiB when
// neither says.
size_t per_core_cache_bytes();

}  // namespace sparq
