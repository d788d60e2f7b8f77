#include "sparq/dtype.hpp"

namespace sparq {

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kU8:
      return "u8";
    case DType::kS8:
      return "s8";
    case DType::kS4:
      return "s4";
    case DType::kS32:
      return "s32";
  }
  return "?";
}

size_t storage_bytes(DType dtype, size_t count) {
  switch (dtype) {
    case DType::kF32:
    case DType::kS32:
      return count * 4;
    case DType::kU8:
    case DType::kS8:
      return count;
    case DType::kS4:
      return (count + 1) / 2;
  }
  return 0;
}

}  // namespace sparq
