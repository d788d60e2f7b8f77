#include <cmath>

#include "kernels/softmax/softmax.hpp"

namespace sparq::kernels {
namespace {

// Writes e_j = exp(x_j - m) to y and returns their ascending sum; `max` gets m.
float exp_shifted(const float* x, float* y, size_t count, float& max) {
  max = x[0];
  for (size_t j = 1; j < count; ++j) max = x[j] > max ? x[j] : max;
  float sum = 0.0f;
  for (size_t j = 0; j < count; ++j) {
    y[j] = std::exp(x[j] - max);
    sum += y[j];
  }
  return sum;
}

}  // namespace

void softmax_row(const float* x, float* y, size_t count) {
  if (count == 0) return;
  float max = 0.0f;
  const float sum = exp_shifted(x, y, count, max);
  for (size_t j = 0; j < count; ++j) y[j] = y[j] / sum;
}

void log_softmax_row(const float* x, float* y, size_t count) {
  if (count == 0) return;
  float max = 0.0f;
  const float log_sum = std::log(exp_shifted(x, y, count, max));
  for (size_t j = 0; j < count; ++j) y[j] = (x[j] - max) - log_sum;
}

}  // namespace sparq::kernels
