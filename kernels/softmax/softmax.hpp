// Softmax of one row, the numerics contract's one definition (reference and
// CPU backends, and the command line's class probabilities): m = max(x)
// (first element, then strictly greater ones), e = exp(x - m) with std::exp,
// sum in ascending order, y = e / sum; log-softmax y = (x - m) - log(sum).
// Scalar on purpose: a vector exp rounds differently from libm, and the
// contract wants every backend to give the reference backend's bits.
#pragma once

#include <cstddef>

namespace sparq::kernels {

void softmax_row(const float* x, float* y, size_t count);
void log_softmax_row(const float* x, float* y, size_t count);

}  // namespace sparq::kernels
