// The AMX tile program's entries (kernels/matrix_tiles/tile_program.hpp) of one (input chunk,
// output block) of a sparse 3x3 layer: the kept (lane, tap) pairs become
// K-rows, 16 per entry. Counting them (for the plan's cost) and packing them
// share the row list, so the plan scores exactly what it would pack.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"

namespace sparq::kernels::sparse3x3 {

struct TileRow {
  int lane, tap;
};

struct TileEntryCounts {
  int64_t rows = 0;      // kept (lane, tap) pairs
  int64_t entries = 0;   // K-tiles of 16 rows
  int64_t gathered = 0;  // entries whose rows are not evenly spaced
};

// The K-rows of quad lanes [lane_begin, lane_end): `lane_taps[lane]` has bit
// q set when any weight of the block at that lane and tap q is nonzero. Rows
// run tap by tap, lanes ascending within a tap, so a dense block's entries
// are 16 lanes at one tap: evenly spaced, loaded in place.
std::vector<TileRow> tile_rows(std::span<const uint16_t> lane_taps, int lane_begin, int lane_end);

TileEntryCounts count_tile_entries(std::span<const TileRow> rows,
                                   const Sparse3x3Geometry& geometry);

// Appends to `entries` the K-tiles of `rows` for output channels [first_out,
// first_out + 16 * channel_tiles) (those below out_channels). `dense` is the
// layer as [out][in][9] s8.
void append_tile_entries(std::span<const TileRow> rows, std::span<const int8_t> dense,
                         int out_channels, int in_channels, const Sparse3x3Geometry& geometry,
                         int first_out, int channel_tiles, std::vector<int32_t>& entries);

}  // namespace sparq::kernels::sparse3x3
