// Plain loops: the baseline every other ISA must match.
#include "kernels/common/activation.hpp"
#include "kernels/eltwise/eltwise.hpp"
#include "kernels/quantize/quantize_scalar_rule.hpp"

namespace sparq::kernels {
namespace {

void add(const float* a, const float* b, float* out, size_t count, Activation act) {
  for (size_t j = 0; j < count; ++j) out[j] = apply_activation(a[j] + b[j], act);
}

void add_ranged(const float* a, const float* b, float* out, size_t count, Activation act,
                SampleRange& range) {
  add(a, b, out, count, act);
  scalar_rule::fold_range(out, count, range);
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
  return {Isa::kScalar, &add, &add_ranged, &activate, &dequantize_u8, &dequantize_s8};
}

}  // namespace sparq::kernels
