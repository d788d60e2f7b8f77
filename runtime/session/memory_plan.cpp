#include "runtime/session/memory_plan.hpp"

#include <algorithm>
#include <numeric>

#include "sparq/tensor.hpp"

namespace sparq {
namespace {

size_t align_up(size_t n) {
  return (n + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

bool lifetimes_overlap(const BufferRequest& a, const BufferRequest& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  std::vector<size_t> placed;
  for (size_t r : order) {
    const size_t size = align_up(requests[r].bytes);
    plan.unplanned_bytes += size;
    // Intervals taken by live tensors, sorted by offset; pick the first gap.
    std::vector<std::pair<size_t, size_t>> taken;
    for (size_t p : placed) {
      if (lifetimes_overlap(requests[r], requests[p])) {
        taken.emplace_back(plan.offsets[p], plan.offsets[p] + align_up(requests[p].bytes));
      }
    }
    std::sort(taken.begin(), taken.end());
    size_t offset = 0;
    for (auto [begin, end] : taken) {
      if (offset + size <= begin) break;
      offset = std::max(offset, end);
    }
    plan.offsets[r] = offset;
    plan.total_bytes = std::max(plan.total_bytes, offset + size);
    placed.push_back(r);
  }
  return plan;
}

}  // namespace sparq
