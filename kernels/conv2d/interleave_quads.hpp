// The row copy of the direct convolution's channel-quad packing: pixels
// x < n of 4 channel rows, pixel x at byte x * stride of each row, become n
// four-byte quads (channel d in byte d), every byte XORed with `flip`; for
// `rows` rows, row r of channel d at src[d] + r * row_step, its quads at
// dst + 4 n r.
#pragma once

#include <cstdint>

namespace sparq::kernels {

// AVX-512 BW: 64 pixels per shuffle network (two rows at a time where
// n <= 32), stride 1 or 2, masked at the ends (no byte read past a row's last
// pixel, none written past dst + 4 n rows).
void interleave_quads_avx512(const uint8_t* const src[4], int64_t n, int stride, uint8_t flip,
                             uint8_t* dst, int64_t rows, int64_t row_step);

}  // namespace sparq::kernels
