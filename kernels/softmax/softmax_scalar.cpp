#include <cmath>

#include "kernels/softmax/softmax.hpp"

namespace sparq::kernels {

void softmax_row(const float* x, float* y, size_t count) {
  if (count == 0) return;
  float max = x[0];
  for (size_t j = 1; j < count; ++j) max = x[j] > max ? x[j] : max;
  float sum = 0.0f;
  for (size_t j = 0; j < count; ++j) {
    y[j] = std::exp(x[j] - max);
    sum += y[j];
  }
  for (size_t j = 0; j < count; ++j) y[j] = y[j] / sum;
}

}  // namespace sparq::kernels
