#include "runtime/backends/node_views.hpp"

#include "sparq/error.hpp"

namespace sparq {
namespace {

[[noreturn]] void bad_view(const char* backend, const std::string& node, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "node '" + node + "' (" + backend + "): " + what);
}

bool is_quantized(DType dtype) {
  return dtype == DType::kU8 || dtype == DType::kS8;
}

void check_one(const char* backend, const std::string& node, const std::string& operand,
               const Shape& shape, DType dtype, bool has_data, bool has_scales,
               const ValueLayout& expected, int64_t batch) {
  if (shape != expected.shape.with_batch(batch) || dtype != expected.dtype) {
    bad_view(backend, node,
             operand + " is " + to_string(dtype) + " " + shape.to_string() + ", expected " +
                 to_string(expected.dtype) + " " + expected.shape.with_batch(batch).to_string());
  }
  if (!has_data) bad_view(backend, node, operand + " has no data");
  if (is_quantized(dtype) && !has_scales) {
    bad_view(backend, node, operand + " carries no per-sample scales");
  }
}

}  // namespace

ValueLayout layout_of(const Graph& graph, ValueId id) {
  const Value& v = graph.value(id);
  return {v.shape, v.dtype};
}

int64_t check_node_views(const char* backend, const std::string& node,
                         std::span<const ConstTensorView> inputs,
                         std::span<const ValueLayout> input_layouts, const TensorView& output,
                         const ValueLayout& output_layout) {
  if (inputs.size() != input_layouts.size()) {
    bad_view(backend, node,
             "got " + std::to_string(inputs.size()) + " inputs, expected " +
                 std::to_string(input_layouts.size()));
  }
  if (output.shape.rank() < 1 || output.shape[0] < 1) {
    bad_view(backend, node, "output shape " + output.shape.to_string() + " has no batch dimension");
  }
  const int64_t batch = output.shape[0];
  for (size_t j = 0; j < inputs.size(); ++j) {
    check_one(backend, node, "input " + std::to_string(j), inputs[j].shape, inputs[j].dtype,
              inputs[j].data != nullptr, inputs[j].scales != nullptr, input_layouts[j], batch);
  }
  check_one(backend, node, "output", output.shape, output.dtype, output.data != nullptr,
            output.scales != nullptr, output_layout, batch);
  return batch;
}

}  // namespace sparq
