// Helpers shared by the CPU backend's nodes: the shapes a node was compiled
// for and the check of the views handed to run(), deterministic oneTBB loops,
// and kernel names.
#pragma once

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <cstdint>
#include <span>
#include <string>

#include "kernels/isa/isa.hpp"
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

// Runs body(begin, end) over [0, count) on up to `threads` threads (oneTBB,
// in the caller's arena). Callers give every index its own outputs, computed
// the same way whichever range it lands in, so results never depend on the
// thread count or the split.
template <typename Body>
void parallel_ranges(int64_t count, int threads, const Body& body) {
  if (count <= 0) return;
  if (threads <= 1 || count == 1) {
    body(int64_t{0}, count);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, count),
                    [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); });
}

// "<family>__<isa>", the XNNPACK-style name reported by kernel_name().
std::string kernel_label(const std::string& family, kernels::Isa isa);

bool is_quantized(DType dtype);

}  // namespace sparq::cpu
