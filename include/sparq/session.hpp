// A session compiles a model for a backend preference list and runs batches.
// Each node goes to the first backend in the list that supports it. Buffers of
// dead tensors are reused (a static memory plan); `run` is safe to call from
// several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sparq/backend.hpp"
#include "sparq/limits.hpp"
#include "sparq/model.hpp"
#include "sparq/tensor.hpp"

namespace sparq {

struct SessionOptions {
  std::vector<std::string> backends = {"cpu", "reference"};
  // Threads for one run (oneTBB); 0 means all hardware threads. A cap: a
  // node uses fewer where its work does not pay for more, and a small model
  // runs a lone sample on one (kThreadedChunkMinMacs in the runtime).
  int threads = 0;
  // A batch runs as consecutive chunks of this many samples, each through
  // the whole graph, so that a chunk's intermediate tensors stay in the
  // cache; with several threads, chunks run side by side (each on its own
  // share of the threads). 0 = automatic: as many samples as fit one core's
  // L2 cache, at most an even share of the batch per thread, evened out so
  // that the threads finish together; sessions with a step on a device
  // (non-host) backend keep the batch whole, the batch the device's cost
  // model prices. Results never depend on it.
  int64_t batch_chunk = 0;
  // Backends may also be given as a ready object (tests, custom devices);
  // these are tried before `backends`.
  std::vector<std::shared_ptr<const Backend>> backend_objects;
  // What one run may take; a model that exceeds them is refused when the
  // session is made (Error kInvalidModel), a batch that does when it runs
  // (Error kInvalidArgument).
  ResourceLimits limits;
  // Fuse each quantized convolution with the static QuantizeOp that alone
  // reads its output (fold_static_quantize in sparq/graph.hpp) before placing
  // nodes on backends: the layer writes u8/s8 directly. Results are the same
  // bit for bit; stats and placements then list the fused node under the
  // convolution's name and no quantize step.
  bool fold_static_quantize = true;
  // Fuse each residual AddOp with the sparse 3x3 convolution that writes one
  // of its operands for it alone (fold_residual_add in sparq/graph.hpp): the
  // layer adds the other operand as it writes. Only in sessions whose
  // backends all keep values in host memory (a device models the add as a
  // step of its own). Results are the same bit for bit; stats and
  // placements list the fused node under the convolution's name and no add.
  bool fold_residual_add = true;
  // Fuse each f32 max pool with the quantized convolution that writes its
  // input for it alone (fold_max_pool in sparq/graph.hpp): the layer pools
  // bands of its rows as it computes them. Only in sessions whose backends
  // all keep values in host memory. Results are the same bit for bit; stats
  // and placements list the fused node under the convolution's name and no
  // pool.
  bool fold_max_pool = true;
};

struct RunStats {
  // Nodes and transfers in execution order, one entry per step, each summed
  // over the batch's chunks (seconds too: with chunks running side by side
  // the steps add up to more than the run's wall time; device utilization is
  // the cycle-weighted mean).
  std::vector<NodeStats> steps;
  double seconds = 0;      // whole run, host wall time
  size_t arena_bytes = 0;  // intermediate tensors of this batch: the arenas of the chunks in flight
  // One chunk at a time on several threads (batch 1 with threads > 1): each
  // thread's time running its shares of the nodes' parallel regions, the
  // calling thread first. The rest of a thread's run is waiting for the
  // others at region ends and the steps between regions. Empty otherwise.
  std::vector<double> thread_seconds;
};

struct Placement {
  std::string node;
  std::string backend;
  std::string kernel;
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, SessionOptions options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // `input` has the model's input shape with a leading batch dimension (any
  // batch >= 1). Returns one tensor per graph output, batch first.
  std::vector<Tensor> run(const Tensor& input, RunStats* stats = nullptr) const;
  // The same on borrowed memory (no copy: bindings pass a caller's array). The
  // session reads `input.bytes()` bytes from `input.data` (kernels need no
  // alignment beyond the element type's, and read no slack past the end) and
  // keeps no reference after `run` returns; the caller keeps the memory alive
  // and unchanged for the call. Quantized inputs need `input.scales`.
  std::vector<Tensor> run(const ConstTensorView& input, RunStats* stats = nullptr) const;

  // The model the session was made from (before fold_static_quantize,
  // fold_residual_add and fold_max_pool).
  const Model& model() const;
  // One entry per node the session runs (after fold_static_quantize,
  // fold_residual_add and fold_max_pool).
  const std::vector<Placement>& placements() const;
  // Peak bytes of intermediate tensors of a run of `batch` samples after
  // buffer reuse (one chunk's arena per chunk in flight), and without reuse.
  size_t planned_bytes(int64_t batch) const;
  size_t unplanned_bytes(int64_t batch) const;
  int threads() const;
  // Samples per chunk a run of `batch` samples uses.
  int64_t batch_chunk(int64_t batch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sparq
