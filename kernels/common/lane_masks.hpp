// Masks for AVX-512 masked loads and stores (bit i: lane or byte i), written
// once: the first `count` lanes, and the lanes of a load that lie inside a
// row. Plain integers, usable from any file; callers narrow them to the
// __mmask type of their vector.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sparq::kernels {

// Bit i set for each i < count, for 0 <= count <= 16: one shift, for the
// masked tail of a 16-lane store in a hot loop.
constexpr uint32_t first_lanes16(int64_t count) {
  return (1u << count) - 1;
}

// Bit i set for each i < count; count is clamped to [0, 64].
constexpr uint64_t first_lanes(int64_t count) {
  return count <= 0 ? 0 : count >= 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
}

// Bit i set for each lane i < lanes (<= 64) whose element start + i lies
// inside a row of `width` elements (start may be negative).
constexpr uint64_t inside_lanes(int64_t start, int64_t width, int64_t lanes) {
  const int64_t skipped = std::max<int64_t>(0, -start);
  const uint64_t span = first_lanes(std::min(lanes, width - start) - skipped);
  return span == 0 ? 0 : span << skipped;  // span != 0: skipped < lanes <= 64
}

}  // namespace sparq::kernels
