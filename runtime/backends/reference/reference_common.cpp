#include "runtime/backends/reference/reference_common.hpp"

#include <algorithm>
#include <limits>

#include "sparq/error.hpp"

namespace sparq::reference {

int64_t max_abs_activation(DType dtype) {
  return dtype == DType::kS8 ? 128 : 255;
}

void check_int32_accumulator(const std::string& node, int64_t products, int64_t max_abs_product) {
  const int64_t bound = products * max_abs_product;
  if (bound > std::numeric_limits<int32_t>::max()) {
    throw Error(ErrorCode::kUnsupported,
                "node '" + node + "': " + std::to_string(products) + " products of up to " +
                    std::to_string(max_abs_product) +
                    " could overflow the int32 accumulator of the numerics contract");
  }
}

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
