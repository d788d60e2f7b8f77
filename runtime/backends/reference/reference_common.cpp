#include "runtime/backends/reference/reference_common.hpp"

#include <algorithm>

namespace sparq::reference {

OutputRange valid_outputs(int64_t in_size, int64_t out_size, int64_t stride, int64_t offset) {
  // Smallest out with out*stride + offset >= 0, and first out with
  // out*stride + offset >= in_size (both by ceiling division on non-negatives).
  auto first_at_least = [&](int64_t bound) -> int64_t {
    const int64_t need = bound - offset;
    if (need <= 0) return 0;
    return (need + stride - 1) / stride;
  };
  const int64_t begin = std::min(out_size, first_at_least(0));
  const int64_t end = std::min(out_size, first_at_least(in_size));
  return {begin, std::max(begin, end)};
}

}  // namespace sparq::reference
