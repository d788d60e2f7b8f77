// Building and running one node outside a session, the way a session runs
// it: a graph of one node, buffers 64-byte aligned between guard bytes (so a
// write past a tensor or its scratch shows), and run() inside an arena larger
// than the node's thread cap. Shared by the backend tests (cpu_ops_test,
// backend_agreement_test).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sparq/sparq.hpp"

namespace sparq::testing {

// Inputs x0..xn-1 (per-sample shapes), one node named `node_name`, output y
// with the shape infer_output gives.
struct OneNodeGraph {
  Graph graph;
  const Node& node() const { return graph.nodes.back(); }
  const Value& output() const { return graph.value(graph.nodes.back().output); }
};
OneNodeGraph one_node_graph(const std::string& node_name,
                            const std::vector<std::pair<Shape, DType>>& inputs, OpAttrs op);

inline constexpr uint8_t kGuardByte = 0xA5;
inline constexpr size_t kGuardBytes = 64;
// A quiet NaN no arithmetic produces from finite inputs: an f32 element
// still holding it was never written.
inline constexpr uint32_t kUnwrittenBits = 0x7FC0A5A5u;

// `bytes` bytes, 64-byte aligned as a session's arena gives them, with
// kGuardBytes of kGuardByte on each side; the bytes themselves start as
// guard bytes too (scratch is never handed over zeroed).
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t bytes);
  uint8_t* data() { return storage_.data() + offset_; }
  const uint8_t* data() const { return storage_.data() + offset_; }
  // data(), or null for an empty buffer (what a session passes as scratch).
  void* data_or_null() { return bytes_ ? data() : nullptr; }
  size_t bytes() const { return bytes_; }
  void fill_unwritten_f32();
  // Empty when both guards hold kGuardByte, else where the first bad byte is.
  std::string damaged_guard() const;
  std::vector<uint8_t> contents() const { return {data(), data() + bytes_}; }

 private:
  std::vector<uint8_t> storage_;
  size_t bytes_;
  size_t offset_ = 0;
};

// How many f32 elements of data[0, bytes) still hold kUnwrittenBits.
size_t unwritten_count(const uint8_t* data, size_t bytes);

// Runs `node` with `threads`, guarded scratch of scratch_bytes(batch, threads) and
// `stats`, in an arena larger than `threads` (testing::run_in_larger_arena).
// Records a gtest failure, prefixed with `who`, when the scratch guards are
// damaged.
void run_node(const CompiledNode& node, const std::vector<ConstTensorView>& inputs,
              const TensorView& output, int threads, const std::string& who,
              NodeStats* stats = nullptr);

// Compiles the node of `g` on `backend` and runs it on `inputs` into a new
// tensor (run_node); `kernel` receives the kernel's name.
Tensor run_on(const Backend& backend, const OneNodeGraph& g,
              const std::vector<const Tensor*>& inputs, int threads, std::string* kernel = nullptr);

}  // namespace sparq::testing
