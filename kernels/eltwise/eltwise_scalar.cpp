// Plain loops: the baseline every other ISA must match.
#include "kernels/common/activation.hpp"
#include "kernels/eltwise/eltwise.hpp"

namespace sparq::kernels {
namespace {

void add(const float* a, const float* b, float* out, size_t count, Activation act) {
  for (size_t j = 0; j < count; ++j) out[j] = apply_activation(a[j] + b[j], act);
}

void activate(const float* x, float* out, size_t count, Activation act) {
  for (size_t j = 0; j < count; ++j) out[j] = apply_activation(x[j], act);
}

void dequantize_u8(const uint8_t* q, float scale, float* out, size_t count) {
  for (size_t j = 0; j < count; ++j) out[j] = scale * static_cast<float>(q[j]);
}

void dequantize_s8(const int8_t* q, float scale, float* out, size_t count) {
  for (size_t j = 0; j < count; ++j) out[j] = scale * static_cast<float>(q[j]);
}

}  // namespace

EltwiseKernels eltwise_kernels_scalar() {
  return {Isa::kScalar, &add, &activate, &dequantize_u8, &dequantize_s8};
}

}  // namespace sparq::kernels
