// 64-bit products of untrusted sizes (shapes, windows, batch counts) that
// never wrap: a product that does not fit saturates at INT64_MAX, which every
// limit check then refuses. Used wherever a count comes from a model file or
// an input before it is compared with a limit.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>

namespace sparq {

inline constexpr int64_t kSaturated = std::numeric_limits<int64_t>::max();

// a * b for a, b >= 0, or kSaturated when it does not fit int64.
inline int64_t saturating_mul(int64_t a, int64_t b) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return kSaturated;
  return product;
}

inline int64_t saturating_mul(std::initializer_list<int64_t> factors) {
  int64_t product = 1;
  for (int64_t f : factors) product = saturating_mul(product, f);
  return product;
}

// a + b for a, b >= 0, or kSaturated when it does not fit.
inline int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return kSaturated;
  return sum;
}

}  // namespace sparq
