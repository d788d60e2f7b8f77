#include "runtime/backends/cpu/sparse_conv3x3_workers.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>

#include "runtime/backends/cpu/capped_parallel.hpp"

namespace sparq::cpu {
namespace {

size_t flag_bytes(int workers) {
  return (static_cast<size_t>(std::max(workers, 1)) + 63) / 64 * 64;
}

// One staged input all workers read (shared staging), after the flags.
size_t shared_bytes(const kernels::SparseConv3x3Kernel& kernel, int workers) {
  return workers > 1 ? kernel.staged_input_bytes() : 0;
}

}  // namespace

size_t sparse_conv3x3_sample_scratch(const kernels::SparseConv3x3Kernel& kernel, int workers) {
  workers = std::max(workers, 1);
  return flag_bytes(workers) + shared_bytes(kernel, workers) +
         static_cast<size_t>(workers) * kernel.worker_scratch_bytes();
}

void* sparse_conv3x3_worker_scratch(const kernels::SparseConv3x3Kernel& kernel, void* scratch,
                                    int workers, int worker) {
  return static_cast<uint8_t*>(scratch) + flag_bytes(workers) + shared_bytes(kernel, workers) +
         static_cast<size_t>(worker) * kernel.worker_scratch_bytes();
}

void run_sparse_conv3x3_sample(const kernels::SparseConv3x3Kernel& kernel,
                               const kernels::Sparse3x3Sample& sample, void* scratch, int workers) {
  workers = std::max(workers, 1);
  const kernels::Sparse3x3Work work = kernel.work(workers);
  for (int w = 0; sample.widen_range && w < workers; ++w) {
    std::construct_at(
        kernel.worker_range(sparse_conv3x3_worker_scratch(kernel, scratch, workers, w)));
  }
  auto worker_scratch = [&](int w) {
    return sparse_conv3x3_worker_scratch(kernel, scratch, workers, w);
  };
  if (work.shared_staging && workers > 1) {
    // Each worker stages its share of the lanes (the channels the layer
    // before wrote on its core), then every worker's tasks read them all.
    auto* staged = static_cast<uint8_t*>(scratch) + flag_bytes(workers);
    const int lanes = kernel.lanes();
    run_capped(
        lanes, workers, (lanes + workers - 1) / workers, [&](int, int64_t begin, int64_t end) {
          kernel.stage_lanes(sample.input, staged, static_cast<int>(begin), static_cast<int>(end));
        });
    run_capped(work.items, workers, work.grain, [&](int worker, int64_t begin, int64_t end) {
      kernel.run_items(sample, work, begin, end, worker_scratch(worker), staged);
    });
    return;
  }
  // Per worker: whether its scratch holds this sample's whole staged input
  // (task items stage it once per worker, at the worker's first range).
  auto* input_staged = static_cast<uint8_t*>(scratch);
  std::fill(input_staged, input_staged + workers, uint8_t{0});
  run_capped(work.items, workers, work.grain, [&](int worker, int64_t begin, int64_t end) {
    void* own = worker_scratch(worker);
    kernel.run_items(sample, work, begin, end, own,
                     input_staged[worker] != 0 ? static_cast<const uint8_t*>(own) : nullptr);
    input_staged[worker] = 1;
  });
}

}  // namespace sparq::cpu
