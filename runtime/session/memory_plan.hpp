// Static memory plan: intermediate tensors share one arena, and a tensor's
// bytes are reused once its last consumer has run. Planned per sample: every
// tensor's size scales with the batch, so offsets do too.
#pragma once

#include <cstddef>
#include <vector>

namespace sparq {

struct BufferRequest {
  size_t bytes = 0;    // per sample
  int first_step = 0;  // step that writes it
  int last_step = 0;   // last step that reads it (>= first_step)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request, per sample, 64-byte aligned
  size_t total_bytes = 0;       // per sample, the arena size
  size_t unplanned_bytes = 0;   // per sample, sum of all requests (no reuse)
};

// Up to kGreedyPlanMaxRequests tensors (every real network: ResNet-18 has
// about 70): greedy, largest tensors first, each at the lowest offset that
// overlaps no tensor alive at the same time; not optimal, but within a few
// percent of the lower bound (the largest set of simultaneously live
// tensors) on CNNs, and quadratic in the number of tensors. Above that (a
// generated or hostile graph), a sweep over the steps with best-fit reuse of
// freed blocks, O(n log n), so session creation stays fast for any graph.
inline constexpr size_t kGreedyPlanMaxRequests = 2048;
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

// Where each step's scratch goes in a worker's region for chunks of `chunk`
// samples, in bytes from the arena's start (the planned tensors of
// `requests` at plan.offsets * chunk): step s's scratch[s] bytes take the
// lowest gap that no tensor alive at step s occupies, a free cache line on
// either side of it, in the arena or past its end. So a node's scratch is
// memory the tensors around it use too, which the core touched recently,
// rather than memory of its own whose lines the tensors' traffic evicted
// between the steps that use it: the lines a layer writes after a large
// scratch (the ResNet-18 stem's 1.1 MB) are then in the cache. Above
// kGreedyPlanMaxRequests requests every scratch goes past the arena (the
// search is linear in the tensors alive at each step).
std::vector<size_t> place_step_scratch(const std::vector<BufferRequest>& requests,
                                       const MemoryPlan& plan, size_t chunk,
                                       const std::vector<size_t>& scratch);

}  // namespace sparq
