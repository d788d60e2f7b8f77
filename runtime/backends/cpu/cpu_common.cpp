#include "runtime/backends/cpu/cpu_common.hpp"

#include "sparq/error.hpp"

namespace sparq::cpu {

bool is_quantized(DType dtype) {
  return dtype == DType::kU8 || dtype == DType::kS8;
}

std::string kernel_label(const std::string& family, kernels::Isa isa) {
  return family + "__" + kernels::isa_name(isa);
}

}  // namespace sparq::cpu
