#include "runtime/session/batch_chunks.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace sparq {
namespace {

constexpr size_t kFallbackCacheBytes = size_t{1} << 20;

// "1024K", "2M" or a plain byte count, as sysfs writes cache sizes; 0 when
// unreadable.
size_t parse_cache_size(const std::string& text) {
  size_t value = 0;
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + static_cast<size_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) return 0;
  if (i < text.size() && (text[i] == 'K' || text[i] == 'k')) return value << 10;
  if (i < text.size() && (text[i] == 'M' || text[i] == 'm')) return value << 20;
  return value;
}

size_t sysfs_l2_bytes() {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    std::ifstream level_file(dir + "/level"), type_file(dir + "/type"), size_file(dir + "/size");
    int level = 0;
    std::string type, size;
    if (!(level_file >> level) || !(type_file >> type) || !(size_file >> size)) continue;
    if (level == 2 && type != "Instruction") return parse_cache_size(size);
  }
  return 0;
}

size_t query_per_core_cache_bytes() {
  const long from_sysconf = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (from_sysconf > 0) return static_cast<size_t>(from_sysconf);
  const size_t from_sysfs = sysfs_l2_bytes();
  return from_sysfs > 0 ? from_sysfs : kFallbackCacheBytes;
}

// When the last of `threads` threads finishes a batch in chunks of `chunk`
// samples, each thread taking the next chunk when it is free, in samples'
// time (every sample costing alike): the full chunks go round the threads,
// the short last one to a thread with the fewest.
int64_t finishing_time(int64_t batch, int64_t chunk, int threads) {
  const int64_t chunks = (batch + chunk - 1) / chunk;
  const int64_t workers = std::min<int64_t>(threads, chunks);
  const int64_t full = chunks - 1, last = batch - full * chunk;
  const int64_t rounds = full / workers, extra = full % workers;
  return std::max((rounds + (extra > 0 ? 1 : 0)) * chunk, rounds * chunk + last);
}

}  // namespace

size_t per_core_cache_bytes() {
  static const size_t bytes = query_per_core_cache_bytes();
  return bytes;
}

ChunkPlan plan_chunks(const ChunkRequest& request) {
  const int64_t batch = std::max<int64_t>(request.batch, 1);
  const int threads = std::max(request.threads, 1);
  int64_t chunk = request.requested_chunk;
  if (chunk <= 0) {
    if (request.whole_batch_default) {
      chunk = batch;
    } else {
      const size_t per_sample = std::max<size_t>(request.sample_arena_bytes, 1);
      chunk = static_cast<int64_t>(std::max<size_t>(request.cache_bytes / per_sample, 1));
      const int64_t share = (batch + threads - 1) / threads;
      chunk = std::min(chunk, share);
      // Of the sizes up to that, the one whose chunks the threads finish
      // soonest (the largest on ties): ResNet-20 at batch 64 on 2 threads in
      // chunks of 14 gave one thread 36 samples and the other 28, and 13 %
      // fewer images per second than at batch 16.
      int64_t soonest = finishing_time(batch, chunk, threads);
      for (int64_t smaller = chunk - 1; smaller >= 1; --smaller) {
        const int64_t time = finishing_time(batch, smaller, threads);
        if (time < soonest) {
          soonest = time;
          chunk = smaller;
        }
      }
    }
  }
  ChunkPlan plan;
  plan.chunk = std::clamp<int64_t>(chunk, 1, batch);
  plan.chunks = (batch + plan.chunk - 1) / plan.chunk;
  plan.workers = static_cast<int>(std::min<int64_t>(threads, plan.chunks));
  plan.threads_per_worker = std::max(threads / plan.workers, 1);
  // A lone chunk of little work: sample_macs * chunk below the bound,
  // compared without the product, which a huge model could overflow.
  if (plan.workers == 1 && request.sample_macs > 0 &&
      request.sample_macs < (kThreadedChunkMinMacs + plan.chunk - 1) / plan.chunk) {
    plan.threads_per_worker = 1;
  }
  return plan;
}

}  // namespace sparq
