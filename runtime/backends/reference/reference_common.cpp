#include "runtime/backends/reference/reference_common.hpp"

#include <algorithm>
#include <limits>

#include "sparq/error.hpp"

namespace sparq::reference {
namespace {

[[noreturn]] void bad_view(const std::string& node, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "node '" + node + "' (reference): " + what);
}

bool is_quantized(DType dtype) {
  return dtype == DType::kU8 || dtype == DType::kS8;
}

void check_one(const std::string& node, const std::string& operand, const Shape& shape, DType dtype,
               bool has_data, bool has_scales, const ValueLayout& expected, int64_t batch) {
  if (shape != expected.shape.with_batch(batch) || dtype != expected.dtype) {
    bad_view(node, operand + " is " + to_string(dtype) + " " + shape.to_string() + ", expected " +
                       to_string(expected.dtype) + " " +
                       expected.shape.with_batch(batch).to_string());
  }
  if (!has_data) bad_view(node, operand + " has no data");
  if (is_quantized(dtype) && !has_scales) bad_view(node, operand + " carries no per-sample scales");
}

}  // namespace

ValueLayout layout_of(const Graph& graph, ValueId id) {
  const Value& v = graph.value(id);
  return {v.shape, v.dtype};
}

int64_t check_views(const std::string& node, std::span<const ConstTensorView> inputs,
                    std::span<const ValueLayout> input_layouts, const TensorView& output,
                    const ValueLayout& output_layout) {
  if (inputs.size() != input_layouts.size()) {
    bad_view(node, "got " + std::to_string(inputs.size()) + " inputs, expected " +
                       std::to_string(input_layouts.size()));
  }
  if (output.shape.rank() < 1 || output.shape[0] < 1) {
    bad_view(node, "output shape " + output.shape.to_string() + " has no batch dimension");
  }
  const int64_t batch = output.shape[0];
  for (size_t j = 0; j < inputs.size(); ++j) {
    check_one(node, "input " + std::to_string(j), inputs[j].shape, inputs[j].dtype,
              inputs[j].data != nullptr, inputs[j].scales != nullptr, input_layouts[j], batch);
  }
  check_one(node, "output", output.shape, output.dtype, output.data != nullptr,
            output.scales != nullptr, output_layout, batch);
  return batch;
}

int64_t max_abs_activation(DType dtype) {
  return dtype == DType::kS8 ? 128 : 255;
}

void check_int32_accumulator(const std::string& node, int64_t products, int64_t max_abs_product) {
  const int64_t bound = products * max_abs_product;
  if (bound > std::numeric_limits<int32_t>::max()) {
    throw Error(ErrorCode::kUnsupported,
                "node '" + node + "': " + std::to_string(products) + " products of up to " +
                    std::to_string(max_abs_product) +
                    " could overflow the int32 accumulator of the numerics contract");
  }
}

OutputRange valid_outputs(int64_t in_size, int64_t out_size, int64_t stride, int64_t offset) {
  // Smallest out with out*stride + offset >= 0, and first out with
  // out*stride + offset >= in_size (both by ceiling division on non-negatives).
  auto first_at_least = [&](int64_t bound) -> int64_t {
    const int64_t need = bound - offset;
    if (need <= 0) return 0;
    return (need + stride - 1) / stride;
  };
  const int64_t begin = std::min(out_size, first_at_least(0));
  const int64_t end = std::min(out_size, first_at_least(in_size));
  return {begin, std::max(begin, end)};
}

}  // namespace sparq::reference
