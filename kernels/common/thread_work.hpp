// How many threads one sample's work in a layer is worth, from an estimate
// of its cycles on one core. The convolution nodes size their parallel
// regions with it when a batch has fewer samples than threads.
#pragma once

#include <algorithm>

namespace sparq::kernels {

// Estimated cycles of work per thread below which one more thread does not
// pay for waking it and for the operands it then reads from the other
// core's cache: ~7 us at 3.5 GHz. At 50000, ResNet-18's k = 1 shared sparse
// layers (70-120 us each on a Xeon core) ran on one thread of two, and the
// network at 2 threads took 1.70-1.76 ms instead of 1.51-1.53.
inline constexpr double kMinCyclesPerThread = 25000;

// The work a convolution does per element besides its products: staging or
// packing each input byte, and the epilogue of each output value (f32, with
// its range). Fitted to a profile of ResNet-18 at k = 1 on one thread of a
// Xeon with AMX (sparse staging 174 us for 1.68 MB of inputs, the epilogues
// 272 us for 1.5 M outputs, ~3.2 GHz).
inline constexpr double kStagingCyclesPerByte = 0.35;
inline constexpr double kEpilogueCyclesPerOutput = 0.6;

// At least one, at most `threads`: one per kMinCyclesPerThread of `cycles`.
inline int threads_worth(double cycles, int threads) {
  return std::clamp(static_cast<int>(cycles / kMinCyclesPerThread), 1, std::max(1, threads));
}

}  // namespace sparq::kernels
