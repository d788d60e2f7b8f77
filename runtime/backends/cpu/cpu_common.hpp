// Helpers shared by the CPU backend's nodes: the shapes a node was compiled
// for and the check of the views handed to run(), capped deterministic loops,
// and kernel names.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "kernels/isa/isa.hpp"
#include "kernels/quantize/quantize.hpp"
#include "runtime/backends/cpu/capped_parallel.hpp"
#include "runtime/backends/node_views.hpp"
#include "sparq/backend.hpp"
#include "sparq/graph.hpp"

namespace sparq::cpu {

using sparq::layout_of;
using sparq::ValueLayout;

// Checks that the views have the compiled per-sample shapes and dtypes, one
// batch size >= 1, data, and scales on quantized views. Returns the batch.
// Throws Error(kInvalidArgument) naming the node and the operand.
inline int64_t check_views(const std::string& node, std::span<const ConstTensorView> inputs,
                           std::span<const ValueLayout> input_layouts, const TensorView& output,
                           const ValueLayout& output_layout) {
  return check_node_views("cpu", node, inputs, input_layouts, output, output_layout);
}

// Runs body(begin, end) over [0, count) on at most `threads` threads, in
// whatever arena the caller runs (capped_parallel.hpp).
// Callers give every index its own outputs, computed the same way whichever
// range it lands in, so results never depend on the thread count or the split.
template <typename Body>
void parallel_ranges(int64_t count, int threads, const Body& body) {
  run_capped(count, threads, balanced_grain(count, threads),
             [&](int, int64_t begin, int64_t end) { body(begin, end); });
}

// Per-worker scratch: `workers` slots of `slot_bytes` (rounded up to a cache
// line, so workers never share one) from `scratch`, for the worker index
// run_capped gives a body.
inline size_t worker_slot_bytes(size_t slot_bytes) {
  return (slot_bytes + 63) / 64 * 64;
}
// Saturates at 2^63 - 1 (the session then refuses the node by its memory
// limit instead of seeing a wrapped size).
inline size_t worker_slots_bytes(size_t slot_bytes, int workers) {
  const auto limit = static_cast<size_t>(std::numeric_limits<int64_t>::max());
  const size_t slot = worker_slot_bytes(std::min(slot_bytes, limit / 2));
  const auto count = static_cast<size_t>(std::max(workers, 1));
  return slot > limit / count ? limit : slot * count;
}

// parallel_ranges whose body also gets its worker index (for worker_slot).
template <typename Body>
void parallel_worker_ranges(int64_t count, int threads, const Body& body) {
  run_capped(count, threads, balanced_grain(count, threads), body);
}

// "<family>__<isa>", the XNNPACK-style name reported by kernel_name().
std::string kernel_label(const std::string& family, kernels::Isa isa);

bool is_quantized(DType dtype);

// The range holding every part's range.
inline SampleRange fold_parts(std::span<const SampleRange> parts) {
  SampleRange range;
  for (const SampleRange& part : parts) kernels::widen_range(range, part);
  return range;
}

// A sample's range from the RangeLanes lanes_of(0 .. count-1) that the
// workers writing its `size` values widened. After a ReLU the lanes took
// maxima only, infinities included (widen_lanes_nonnegative): a sample whose
// lanes hold one (an overflowing layer) is folded again from its values,
// which the rule's fold skips.
template <typename LanesOf>
SampleRange fold_range_lanes(int count, const LanesOf& lanes_of, const float* values, int64_t size,
                             const kernels::QuantizeKernels& quantize) {
  SampleRange range;
  bool infinite = false;
  for (int i = 0; i < count; ++i) {
    const kernels::RangeLanes& lanes = lanes_of(i);
    for (const float high : lanes.high) infinite = infinite || std::isinf(high);
    kernels::fold_lanes(lanes, range);
  }
  if (infinite) {
    range = SampleRange{};
    quantize.fold_range(values, static_cast<size_t>(size), range);
  }
  return range;
}

}  // namespace sparq::cpu
