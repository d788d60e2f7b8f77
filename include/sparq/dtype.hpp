// Element types of tensors. Quantized types carry their scale on the tensor.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sparq {

enum class DType : uint8_t {
  kF32,  // IEEE float
  kU8,   // unsigned 8-bit (activations; u4 activations use the values 0..15)
  kS8,   // signed 8-bit (signed activations, 8-bit weights)
  kS4,   // signed 4-bit, two per byte, element 2i in the low nibble of byte i
  kS32,  // int32 (accumulators, bias of integer layers)
};

const char* to_string(DType dtype);

// Bytes needed for `count` elements (kS4 rounds up to whole bytes).
size_t storage_bytes(DType dtype, size_t count);

}  // namespace sparq
