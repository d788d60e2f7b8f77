#include "tests/support/node_runner.hpp"

#include <cstring>

#include <gtest/gtest.h>

#include "tests/support/larger_arena.hpp"

namespace sparq::testing {

OneNodeGraph one_node_graph(const std::string& node_name,
                            const std::vector<std::pair<Shape, DType>>& inputs, OpAttrs op) {
  OneNodeGraph g;
  Node node;
  node.name = node_name;
  node.op = std::move(op);
  for (size_t j = 0; j < inputs.size(); ++j) {
    // Appended rather than "x" + to_string(j): GCC 12 warns (-Wrestrict) on the latter.
    std::string input_name = "x";
    input_name += std::to_string(j);
    g.graph.values.push_back({input_name, inputs[j].first, inputs[j].second});
    node.inputs.push_back(static_cast<ValueId>(j));
  }
  g.graph.input = 0;
  Value out = infer_output(g.graph, node);
  out.name = "y";
  g.graph.values.push_back(out);
  node.output = static_cast<ValueId>(g.graph.values.size() - 1);
  g.graph.outputs = {node.output};
  g.graph.nodes.push_back(std::move(node));
  return g;
}

GuardedBuffer::GuardedBuffer(size_t bytes)
    : storage_(bytes + 2 * kGuardBytes + kTensorAlignment, kGuardByte), bytes_(bytes) {
  const auto base = reinterpret_cast<uintptr_t>(storage_.data()) + kGuardBytes;
  offset_ = kGuardBytes + (kTensorAlignment - base % kTensorAlignment) % kTensorAlignment;
}

void GuardedBuffer::fill_unwritten_f32() {
  for (size_t i = 0; i + 4 <= bytes_; i += 4) std::memcpy(data() + i, &kUnwrittenBits, 4);
}

std::string GuardedBuffer::damaged_guard() const {
  for (size_t i = offset_ - kGuardBytes; i < offset_; ++i) {
    if (storage_[i] != kGuardByte)
      return "byte " + std::to_string(offset_ - i) + " before the start";
  }
  for (size_t i = offset_ + bytes_; i < offset_ + bytes_ + kGuardBytes; ++i) {
    if (storage_[i] != kGuardByte)
      return "byte " + std::to_string(i - offset_ - bytes_) + " after the end";
  }
  return {};
}

size_t unwritten_count(const uint8_t* data, size_t bytes) {
  size_t count = 0;
  for (size_t i = 0; i + 4 <= bytes; i += 4)
    count += std::memcmp(data + i, &kUnwrittenBits, 4) == 0;
  return count;
}

void run_node(const CompiledNode& node, const std::vector<ConstTensorView>& inputs,
              const TensorView& output, int threads, const std::string& who, NodeStats* stats) {
  GuardedBuffer scratch(node.scratch_bytes(output.shape[0], threads));
  ExecContext ctx;
  ctx.threads = threads;
  ctx.stats = stats;
  ctx.scratch = scratch.data_or_null();
  run_in_larger_arena(threads, [&] { node.run(inputs, output, ctx); });
  const std::string damage = scratch.damaged_guard();
  EXPECT_TRUE(damage.empty()) << who << " overwrote the guard at " << damage << " of its scratch";
}

Tensor run_on(const Backend& backend, const OneNodeGraph& g,
              const std::vector<const Tensor*>& inputs, int threads, std::string* kernel) {
  auto compiled = backend.compile(g.graph, g.node());
  if (kernel) *kernel = compiled->kernel_name();
  const int64_t batch = inputs[0]->shape()[0];
  Tensor output(g.output().shape.with_batch(batch), g.output().dtype);
  std::vector<ConstTensorView> views;
  for (const Tensor* t : inputs) views.push_back(t->view());
  run_node(*compiled, views, output.view(), threads,
           backend.name() + " " + compiled->kernel_name());
  return output;
}

}  // namespace sparq::testing
