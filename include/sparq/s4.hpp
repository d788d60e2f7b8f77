// Signed 4-bit values (DType::kS4): two per byte, element 2i in the low
// nibble of byte i, two's complement (-8..7). The one definition of the
// encoding; sparse taps (sparse_format.hpp) use the same nibble rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sparq {

// The low four bits of `nibble`, sign-extended: 0x0..0x7 -> 0..7, 0x8..0xF -> -8..-1.
inline int s4_from_nibble(unsigned nibble) {
  return static_cast<int8_t>(static_cast<uint8_t>(nibble << 4)) >> 4;
}

// Element e of a packed s4 buffer.
inline int s4_element(const uint8_t* bytes, size_t e) {
  const unsigned byte = bytes[e / 2];
  return s4_from_nibble(e % 2 == 0 ? byte : byte >> 4);
}

// Writes element e (its low four bits) and keeps the other nibble of the byte.
inline void set_s4_element(uint8_t* bytes, size_t e, int value) {
  const auto nibble = static_cast<uint8_t>(value & 0x0F);
  uint8_t& byte = bytes[e / 2];
  byte = static_cast<uint8_t>(e % 2 == 0 ? (byte & 0xF0) | nibble : (byte & 0x0F) | (nibble << 4));
}

}  // namespace sparq
