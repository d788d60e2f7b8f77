// Resource limits for untrusted models and inputs. A session computes, from
// the shapes alone and before it allocates anything for a run, what one
// inference needs (weights, intermediate tensors, scratch, operations) and
// refuses a model or a batch that exceeds these limits, with an error naming
// the node and the limit.
#pragma once

#include <cstdint>

namespace sparq {

struct ResourceLimits {
  // Bytes one run may hold at once: weights, the input, the outputs, the
  // arena of intermediate tensors (times the batch) and the backends'
  // scratch. 4 GiB: ResNet-18 at 224x224 and batch 32 needs about 0.2 GiB.
  int64_t max_memory_bytes = int64_t{4} << 30;
  // Operations of one sample: multiply-accumulates of convolutions and dense
  // layers, window taps of pooling, one per element elsewhere. 2^40 (about
  // 1.1e12) is ~600x ResNet-18 at 224x224, and minutes on one core.
  int64_t max_operations = int64_t{1} << 40;
};

}  // namespace sparq
