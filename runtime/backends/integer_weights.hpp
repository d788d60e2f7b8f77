// Integer convolution weights as one int8 value per element: s8 as stored,
// s4 unpacked by the one nibble rule (sparq/s4.hpp). Shared by the backends
// that repack dense integer weights.
#pragma once

#include <cstdint>
#include <vector>

#include "sparq/tensor.hpp"

namespace sparq {

// `weights` must be s8 or s4.
std::vector<int8_t> decode_integer_weights(const Tensor& weights);

}  // namespace sparq
