// The N-of-9 sparse weight format (docs/SPARSE_FORMAT.md): one byte per kept
// tap, high nibble = position ky*3+kx (0..8), low nibble = signed 4-bit value
// (-8..7, two's complement). Kernel (o, i) is bytes [(o*I + i)*k, +k), its
// positions strictly increasing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sparq/ops.hpp"
#include "sparq/s4.hpp"

namespace sparq {

inline uint8_t make_tap(int position, int value) {
  return static_cast<uint8_t>((position << 4) | (value & 0x0F));
}
inline int tap_position(uint8_t tap) {
  return tap >> 4;
}
inline int tap_value(uint8_t tap) {
  return s4_from_nibble(tap);
}

// Packs quantized dense 3x3 weights [O, I, 3, 3] (values -8..7) under a mask
// keeping exactly `density` taps per kernel. Throws Error(kInvalidArgument)
// when a kernel keeps another count or a value is out of range.
std::vector<uint8_t> pack_taps(std::span<const int8_t> values, std::span<const uint8_t> mask,
                               int out_channels, int in_channels, int density);

// Expands tap bytes to dense [O, I, 3, 3] int8 weights (zeros where pruned).
std::vector<int8_t> unpack_taps(std::span<const uint8_t> taps, int out_channels, int in_channels,
                                int density);

// Checks a tap array: size, positions 0..8 strictly increasing per kernel, and
// that `sharing` groups keep identical positions. Returns an empty string when
// valid, otherwise what is wrong (first offending kernel named).
std::string check_taps(std::span<const uint8_t> taps, int out_channels, int in_channels,
                       int density, PatternSharing sharing);

// Builds a SparseConv3x3Op from float weights [O, I, 3, 3] and a mask of
// exactly `density` kept taps per kernel: quantizes the kept weights to s4
// per output channel (pruned weights do not count towards the scale) and packs
// them.
SparseConv3x3Op make_sparse_conv3x3(std::span<const float> weights, std::span<const uint8_t> mask,
                                    std::span<const float> bias, int out_channels, int in_channels,
                                    int density, int stride, PatternSharing sharing,
                                    Activation activation);

}  // namespace sparq
