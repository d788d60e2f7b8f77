// Runs one sample of a sparse 3x3 kernel (kernels/sparse_conv3x3) on several
// workers: the kernel's work items go through run_capped, so the layer never
// uses more than `workers` threads, and each worker's staged input and
// accumulators come from the caller's scratch (the session's plan).
#pragma once

#include <cstddef>

#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"

namespace sparq::cpu {

// Bytes of scratch run_sparse_conv3x3_sample needs with `workers`: a few
// bytes of state per worker, the shared staged input (several workers), then
// each worker's kernel scratch (a multiple of 64 bytes).
size_t sparse_conv3x3_sample_scratch(const kernels::SparseConv3x3Kernel& kernel, int workers);

// The kernel's items for one sample on at most `workers` threads of the
// caller's arena; `scratch` (64-byte aligned) holds
// sparse_conv3x3_sample_scratch(kernel, workers) bytes.
// With sample.widen_range, each worker's RangeLanes start fresh and are left
// widened by what that worker wrote (SparseConv3x3Kernel::worker_range).
void run_sparse_conv3x3_sample(const kernels::SparseConv3x3Kernel& kernel,
                               const kernels::Sparse3x3Sample& sample, void* scratch, int workers);

// Worker w's kernel scratch inside a sparse_conv3x3_sample_scratch buffer.
void* sparse_conv3x3_worker_scratch(const kernels::SparseConv3x3Kernel& kernel, void* scratch,
                                    int workers, int worker);

}  // namespace sparq::cpu
