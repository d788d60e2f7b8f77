// The pluggable backend interface. A backend says which nodes it supports and
// compiles each into a `CompiledNode` (repacking weights into its own layout);
// the session runs compiled nodes in graph order over a planned arena.
// Backends register themselves by name in the `BackendRegistry`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sparq/graph.hpp"
#include "sparq/tensor.hpp"

namespace sparq {

// Figures a particular backend reports about one node or transfer, beyond
// what every backend shares (NodeStats). Each backend that reports any
// derives its own struct and gives callers a typed accessor (the device's is
// device_stats() in sparq/device.hpp); the session only stores the pointer.
struct BackendNodeStats {
  virtual ~BackendNodeStats() = default;
  // This step's figures together with `other`'s, the same step run on
  // another part of the batch (the session runs a batch in chunks). `other`
  // comes from the same backend, so it has this object's dynamic type.
  virtual std::shared_ptr<const BackendNodeStats> combined_with(
      const BackendNodeStats& other) const = 0;
};

// What one executed node (or transfer) cost; filled by the session and, when
// the backend reports its own figures, by the kernel or the backend.
struct NodeStats {
  std::string name;     // node name
  std::string op;       // op_name(), or "transfer"
  std::string backend;  // backend name
  std::string kernel;   // the kernel that ran (e.g. "sparse3x3_k3_s1__avx512")
  double seconds = 0;   // host wall time
  int64_t dense_macs = 0;
  int64_t actual_macs = 0;
  int64_t bytes_moved = 0;  // transfers: bytes that crossed between backends
  // Null unless the backend reports its own figures: set by the node's run
  // (ExecContext::stats) or, for a transfer, from Backend::transfer_stats.
  std::shared_ptr<const BackendNodeStats> backend_stats;
};

struct ExecContext {
  int threads = 1;             // threads the kernel may use (oneTBB, inside the session's arena)
  void* scratch = nullptr;     // CompiledNode::scratch_bytes(batch, threads) bytes, 64-byte aligned
  NodeStats* stats = nullptr;  // may be null; a backend's kernels may set stats->backend_stats
};

class CompiledNode {
 public:
  virtual ~CompiledNode() = default;
  // Runs one batch (views include the batch dimension). Must be safe to call
  // from several threads at once on different buffers. A producer of a
  // quantized tensor writes output.scales.
  virtual void run(std::span<const ConstTensorView> inputs, const TensorView& output,
                   const ExecContext& ctx) const = 0;
  // Scratch a run of `batch` samples on `threads` threads uses (ctx.scratch),
  // per-worker buffers included: the session plans and counts every byte a
  // node's run takes besides its output.
  virtual size_t scratch_bytes(int64_t batch, int threads) const { return 0; }
  // True when run() stores, wherever output.ranges is set, each sample's
  // range of the f32 values it writes (the session sets it for values a
  // dynamic quantize reads).
  virtual bool writes_ranges() const { return false; }
  // Names the implementation chosen (shown by inspect, bench and stats).
  virtual std::string kernel_name() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual bool supports(const Graph& graph, const Node& node) const = 0;
  // Only called for nodes that supports() accepted.
  virtual std::unique_ptr<CompiledNode> compile(const Graph& graph, const Node& node) const = 0;
  // What a session calls: the same questions with the graph's index, built
  // once per session, so that a backend whose answer depends on a node's
  // producers and readers (the device) stays linear in the graph's size.
  // By default the index is not needed.
  virtual bool supports_indexed(const Graph& graph, const GraphIndex& index,
                                const Node& node) const {
    return supports(graph, node);
  }
  virtual std::unique_ptr<CompiledNode> compile_indexed(const Graph& graph, const GraphIndex& index,
                                                        const Node& node) const {
    return compile(graph, node);
  }
  // True for backends whose tensors live in host memory (CPU, reference).
  // Edges between a host and a non-host backend become transfer steps.
  virtual bool host_memory() const { return true; }
  // What moving `bytes` between host memory and this backend's memory costs,
  // in the backend's own figures (stored in the transfer step's
  // NodeStats::backend_stats); null when it reports none.
  virtual std::shared_ptr<const BackendNodeStats> transfer_stats(int64_t bytes) const {
    return nullptr;
  }
};

// Name -> factory. "reference" and "cpu" are always registered; "device" too.
class BackendRegistry {
 public:
  using Factory = std::function<std::shared_ptr<const Backend>()>;
  static void add(const std::string& name, Factory factory);
  // Throws Error(kInvalidArgument) listing the known names when `name` is unknown.
  static std::shared_ptr<const Backend> get(const std::string& name);
  static std::vector<std::string> names();
};

}  // namespace sparq
