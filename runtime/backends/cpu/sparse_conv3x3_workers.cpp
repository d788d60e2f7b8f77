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

}  // namespace

size_t sparse_conv3x3_sample_scratch(const kernels::SparseConv3x3Kernel& kernel, int workers) {
  workers = std::max(workers, 1);
  return flag_bytes(workers) + static_cast<size_t>(workers) * kernel.worker_scratch_bytes();
}

void* sparse_conv3x3_worker_scratch(const kernels::SparseConv3x3Kernel& kernel, void* scratch,
                                    int workers, int worker) {
  return static_cast<uint8_t*>(scratch) + flag_bytes(workers) +
         static_cast<size_t>(worker) * kernel.worker_scratch_bytes();
}

void run_sparse_conv3x3_sample(const kernels::SparseConv3x3Kernel& kernel,
                               const kernels::Sparse3x3Sample& sample, void* scratch, int workers) {
  workers = std::max(workers, 1);
  const kernels::Sparse3x3Work work = kernel.work(workers);
  // Per worker: whether its scratch holds this sample's whole staged input
  // (task items stage it once per worker, at the worker's first range).
  auto* input_staged = static_cast<uint8_t*>(scratch);
  std::fill(input_staged, input_staged + workers, uint8_t{0});
  for (int w = 0; sample.widen_range && w < workers; ++w) {
    std::construct_at(
        kernel.worker_range(sparse_conv3x3_worker_scratch(kernel, scratch, workers, w)));
  }
  run_capped(work.items, workers, work.grain, [&](int worker, int64_t begin, int64_t end) {
    kernel.run_items(sample, work, begin, end,
                     sparse_conv3x3_worker_scratch(kernel, scratch, workers, worker),
                     input_staged[worker] != 0);
    input_staged[worker] = 1;
  });
}

}  // namespace sparq::cpu
