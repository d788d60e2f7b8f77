// How the CPU's element-wise nodes (add, activation, dequantize, quantize)
// split a batch over threads.
//
// With at least one sample per thread: fixed chunks of each sample, which
// balance however many samples each thread gets.
//
// With fewer samples than threads (batch 1 on several threads): one part of
// each sample per thread, part t being the t-th of T equal runs of the flat
// [C, H, W] sample, cut at multiples of 64 elements so that no cache line of
// an f32 or byte tensor lies in two parts. A SpinTeam gives thread t part t:
// the t-th share of the channels, the share of output channels the
// convolutions before and after give thread t too (the sparse 3x3 kernel's
// tasks group-major, the direct convolution's blocks outer, the pools'
// planes), so a thread reads what its own core wrote. On two cores that do
// not share a cache a value the other core wrote reads several times slower:
// ResNet-18 at k = 1 on 2 threads ran in 1.41 ms with these nodes in chunks
// and the convolutions in row bands, and in 1.28 ms with every node
// splitting by channels (Xeon with AMX, 2 vCPUs).
//
// A sample gets one share per kShareElements (at most one per thread), the
// same count in every node whatever its chunk, so that nodes on one tensor
// agree: a sample of at most kShareElements stays one part, waking a second
// thread for it costing more than it saves.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

namespace sparq::cpu {

class SampleParts {
 public:
  static constexpr int64_t kShareElements = 16384;

  // A batch of `batch` samples of `sample` elements for `threads` threads,
  // chunks being `chunk` elements.
  SampleParts(int64_t sample, int64_t batch, int threads, int64_t chunk)
      : sample_(sample), chunk_(std::max<int64_t>(chunk, 1)) {
    if (threads > 1 && batch < threads) {
      channel_shares_ = true;
      per_sample_ =
          std::clamp<int64_t>((sample_ + kShareElements - 1) / kShareElements, 1, threads);
    } else {
      per_sample_ = std::max<int64_t>((sample_ + chunk_ - 1) / chunk_, 1);
    }
  }

  // Parts per sample; part `index` of the batch is part index % per_sample()
  // of sample index / per_sample().
  int64_t per_sample() const { return per_sample_; }

  // Part `index`'s elements of the batch: [first, first + count).
  std::pair<int64_t, int64_t> extent(int64_t index) const {
    const int64_t n = index / per_sample_, part = index % per_sample_;
    const int64_t base = n * sample_;
    if (!channel_shares_) {
      const int64_t first = part * chunk_;
      return {base + first, std::min(chunk_, sample_ - first)};
    }
    const int64_t first = cut(part), last = cut(part + 1);
    return {base + first, last - first};
  }

 private:
  // Where part p starts: p / per_sample_ of the sample, down to a multiple of
  // 64 elements (the whole sample for p = per_sample_).
  int64_t cut(int64_t part) const {
    if (part >= per_sample_) return sample_;
    return sample_ * part / per_sample_ / 64 * 64;
  }

  int64_t sample_ = 0, chunk_ = 1, per_sample_ = 1;
  bool channel_shares_ = false;
};

}  // namespace sparq::cpu
