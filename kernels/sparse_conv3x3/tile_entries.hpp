// Packs the weights of one (input chunk, output block) of a sparse 3x3 layer
// into the AMX tile program's entries (tile_program.hpp): the kept
// (lane, tap) pairs become K-rows, 16 per entry.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"

namespace sparq::kernels::sparse3x3 {

struct TileEntryCounts {
  int64_t rows = 0;      // kept (lane, tap) pairs
  int64_t entries = 0;   // K-tiles of 16 rows
  int64_t gathered = 0;  // entries whose rows are not evenly spaced
};

// Appends to `entries` the K-tiles of output channels [first_out, first_out
// + 16 * channel_tiles) (those below out_channels) over quad lanes
// [lane_begin, lane_end). `dense` is the layer as [out][in][9] s8. A pair is
// a K-row when any of the block's weights at that lane and tap is nonzero;
// rows run tap by tap, lanes ascending within a tap, so a dense block's
// entries are 16 lanes at one tap: evenly spaced, loaded in place.
TileEntryCounts append_tile_entries(std::span<const int8_t> dense, int out_channels,
                                    int in_channels, const Sparse3x3Geometry& geometry,
                                    int lane_begin, int lane_end, int first_out, int channel_tiles,
                                    std::vector<int32_t>& entries);

}  // namespace sparq::kernels::sparse3x3
