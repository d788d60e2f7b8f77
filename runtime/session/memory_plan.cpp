#include "runtime/session/memory_plan.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <queue>
#include <set>
#include <utility>

#include "sparq/tensor.hpp"

namespace sparq {
namespace {

size_t align_up(size_t n) {
  return (n + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

bool lifetimes_overlap(const BufferRequest& a, const BufferRequest& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

// Largest tensors first, each at the lowest offset that overlaps no tensor
// alive at the same time: O(n^2) in the number of requests.
MemoryPlan plan_greedy_by_size(const std::vector<BufferRequest>& requests) {
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

// Steps in order: a tensor takes the smallest free block that holds it (or
// the arena's end), and gives its block back after its last step, merged
// with free neighbours. O(n log n); packs worse than greedy by size.
MemoryPlan plan_sweep_best_fit(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return requests[a].first_step < requests[b].first_step;
  });
  std::map<size_t, size_t> free_by_offset;           // offset -> size
  std::set<std::pair<size_t, size_t>> free_by_size;  // (size, offset)
  auto add_free = [&](size_t offset, size_t size) {
    auto next = free_by_offset.lower_bound(offset);
    if (next != free_by_offset.end() && offset + size == next->first) {
      size += next->second;
      free_by_size.erase({next->second, next->first});
      next = free_by_offset.erase(next);
    }
    if (next != free_by_offset.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        size += prev->second;
        free_by_size.erase({prev->second, prev->first});
        free_by_offset.erase(prev);
      }
    }
    free_by_offset[offset] = size;
    free_by_size.insert({size, offset});
  };
  // (last step, request): released once every later first step is past it.
  using Live = std::pair<int, size_t>;
  std::priority_queue<Live, std::vector<Live>, std::greater<>> live;
  for (size_t r : order) {
    while (!live.empty() && live.top().first < requests[r].first_step) {
      const size_t done = live.top().second;
      live.pop();
      add_free(plan.offsets[done], align_up(requests[done].bytes));
    }
    const size_t size = align_up(requests[r].bytes);
    plan.unplanned_bytes += size;
    auto fit = free_by_size.lower_bound({size, 0});
    if (fit != free_by_size.end()) {
      const auto [block_size, offset] = *fit;
      free_by_size.erase(fit);
      free_by_offset.erase(offset);
      if (block_size > size) add_free(offset + size, block_size - size);
      plan.offsets[r] = offset;
    } else {
      plan.offsets[r] = plan.total_bytes;
      plan.total_bytes += size;
    }
    live.push({requests[r].last_step, r});
  }
  return plan;
}

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  return requests.size() <= kGreedyPlanMaxRequests ? plan_greedy_by_size(requests)
                                                   : plan_sweep_best_fit(requests);
}

std::vector<size_t> place_step_scratch(const std::vector<BufferRequest>& requests,
                                       const MemoryPlan& plan, size_t chunk,
                                       const std::vector<size_t>& scratch) {
  const size_t arena = plan.total_bytes * chunk;
  // A cache line between a scratch and the tensors on either side: kernels
  // may read a vector past the end of a tensor or of their scratch.
  const size_t gap = kTensorAlignment;
  std::vector<size_t> offsets(scratch.size(), arena + gap);
  if (requests.size() > kGreedyPlanMaxRequests) return offsets;
  // A sweep over the steps keeps the tensors alive at the current one,
  // sorted by offset: each step costs its live tensors, not all of them.
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return requests[a].first_step < requests[b].first_step;
  });
  using Interval = std::pair<size_t, size_t>;  // bytes [begin, end) in the chunk's arena
  std::multiset<Interval> live;
  std::vector<std::multiset<Interval>::iterator> live_at(requests.size());
  using Ending = std::pair<int, size_t>;  // (last step, request)
  std::priority_queue<Ending, std::vector<Ending>, std::greater<>> endings;
  size_t next = 0;
  for (size_t s = 0; s < scratch.size(); ++s) {
    const auto step = static_cast<int>(s);
    for (; next < order.size() && requests[order[next]].first_step <= step; ++next) {
      const size_t r = order[next];
      live_at[r] = live.insert(
          {plan.offsets[r] * chunk, (plan.offsets[r] + align_up(requests[r].bytes)) * chunk});
      endings.push({requests[r].last_step, r});
    }
    while (!endings.empty() && endings.top().first < step) {
      live.erase(live_at[endings.top().second]);
      endings.pop();
    }
    if (scratch[s] == 0) continue;
    const size_t size = align_up(scratch[s]);
    size_t offset = gap;
    for (const auto& [begin, end] : live) {
      if (offset + size + gap <= begin) break;
      offset = std::max(offset, end + gap);
    }
    offsets[s] = offset;
  }
  return offsets;
}

}  // namespace sparq
