// Array cycles of one sample in closed form. Every kernel keeps the same
// number of taps, so every row has the same work and a tile pass costs
// exactly (aligner fill) + (input channels x taps x operand passes) cycles;
// cycle_simulator.cpp steps the same schedule and must agree exactly.
#include <algorithm>

#include "runtime/backends/device/device_model.hpp"

namespace sparq::device {

ArrayCycles analytic_array_cycles(const ConvShape& shape, const ConvTiling& tiling,
                                  const DeviceConfig& config) {
  const int64_t fill_per_tile =
      tiling.channel_chunks * tiling.windows * int64_t{config.aligner_pipeline_stages};
  const int64_t work_per_tile =
      shape.in_channels * shape.taps_per_kernel * int64_t{tiling.operand_passes};
  ArrayCycles out;
  out.cycles = tiling.out_blocks * tiling.pixel_tiles * (fill_per_tile + work_per_tile);
  // Partial blocks and tiles leave rows / columns idle: only real
  // (output channel, pixel) pairs count as busy.
  out.busy_pe_cycles = shape.out_channels * shape.pixels() * work_per_tile;
  return out;
}

}  // namespace sparq::device

namespace sparq::device {

ArrayEvents array_events(const ConvShape& shape, const ConvTiling& tiling,
                         const DeviceConfig& config) {
  const int64_t work_per_tile =
      shape.in_channels * shape.taps_per_kernel * int64_t{tiling.operand_passes};
  ArrayEvents e;
  // Rows past the last output channel of a partial block are clock-gated.
  e.row_cycles = shape.out_channels * tiling.pixel_tiles * work_per_tile;
  // Each tile pass loads every input channel once per aligner window.
  e.aligner_loads = tiling.out_blocks * tiling.pixel_tiles * tiling.windows * shape.in_channels;
  // A load holds a window's rows of the tile with its halo, shifted through
  // every stage (at least one register holds it while the taps use it).
  const int64_t elements = int64_t{kAlignerWindow} * (config.array_cols + kAlignerWindow - 1);
  e.aligner_load_bits =
      elements * shape.activation_bits * std::max(1, config.aligner_pipeline_stages);
  return e;
}

}  // namespace sparq::device
