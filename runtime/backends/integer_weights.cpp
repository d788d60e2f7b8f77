#include "runtime/backends/integer_weights.hpp"

#include "sparq/s4.hpp"

namespace sparq {

std::vector<int8_t> decode_integer_weights(const Tensor& weights) {
  const auto count = static_cast<size_t>(weights.shape().elements());
  std::vector<int8_t> values(count);
  const auto* bytes = weights.data<uint8_t>();
  for (size_t e = 0; e < count; ++e) {
    values[e] = weights.dtype() == DType::kS8 ? static_cast<int8_t>(bytes[e])
                                              : static_cast<int8_t>(s4_element(bytes, e));
  }
  return values;
}

}  // namespace sparq
