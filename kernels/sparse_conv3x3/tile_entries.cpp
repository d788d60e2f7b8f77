#include "kernels/sparse_conv3x3/tile_entries.hpp"

#include <algorithm>

#include "kernels/matrix_tiles/tile_program.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

// Byte offsets of the 16 rows of the entry starting at `first` (rows past
// the end repeat the entry's first row); returns the rows that are real.
int entry_offsets(std::span<const TileRow> rows, size_t first, const Sparse3x3Geometry& geometry,
                  int64_t offsets[kTileRows]) {
  const int used = static_cast<int>(std::min<size_t>(kTileRows, rows.size() - first));
  for (int k = 0; k < kTileRows; ++k) {
    const TileRow& row = rows[first + static_cast<size_t>(k < used ? k : 0)];
    offsets[k] =
        (static_cast<int64_t>(row.lane) * geometry.lane_stride + geometry.tap_offset[row.tap]) * 4;
  }
  return used;
}

}  // namespace

std::vector<TileRow> tile_rows(std::span<const uint16_t> lane_taps, int lane_begin, int lane_end) {
  std::vector<TileRow> rows;
  for (int q = 0; q < 9; ++q) {
    for (int lane = lane_begin; lane < lane_end; ++lane) {
      if ((lane_taps[static_cast<size_t>(lane)] >> q) & 1) rows.push_back({lane, q});
    }
  }
  return rows;
}

TileEntryCounts count_tile_entries(std::span<const TileRow> rows,
                                   const Sparse3x3Geometry& geometry) {
  TileEntryCounts counts;
  counts.rows = static_cast<int64_t>(rows.size());
  for (size_t first = 0; first < rows.size(); first += kTileRows) {
    int64_t offsets[kTileRows];
    const int used = entry_offsets(rows, first, geometry, offsets);
    counts.gathered += tile_entry_stride(offsets, used) == 0 ? 1 : 0;
    ++counts.entries;
  }
  return counts;
}

void append_tile_entries(std::span<const TileRow> rows, std::span<const int8_t> dense,
                         int out_channels, int in_channels, const Sparse3x3Geometry& geometry,
                         int first_out, int channel_tiles, std::vector<int32_t>& entries) {
  const int out_end = std::min(out_channels, first_out + 16 * channel_tiles);
  auto weight = [&](int o, int i, int q) -> int8_t {
    if (i >= in_channels) return 0;
    return dense[(static_cast<size_t>(o) * in_channels + i) * 9 + static_cast<size_t>(q)];
  };
  for (size_t first = 0; first < rows.size(); first += kTileRows) {
    const size_t at = entries.size();
    entries.resize(at + static_cast<size_t>(tile_entry_words(channel_tiles)), 0);
    int32_t* entry = entries.data() + at;
    int64_t offsets[kTileRows];
    const int used = entry_offsets(rows, first, geometry, offsets);
    write_tile_entry_header(offsets, used, entry);
    // Weight tile cv: byte 64 m + 4 k + j = w(out 16 cv + m, in 4 lane(k) + j, tap(k)).
    auto* weights = reinterpret_cast<uint8_t*>(entry + kTileHeaderWords);
    for (int cv = 0; cv < channel_tiles; ++cv) {
      for (int m = 0; m < 16; ++m) {
        const int o = first_out + 16 * cv + m;
        if (o >= out_end) break;
        for (int k = 0; k < used; ++k) {
          const TileRow& row = rows[first + static_cast<size_t>(k)];
          for (int j = 0; j < 4; ++j) {
            weights[cv * 1024 + m * 64 + 4 * k + j] =
                static_cast<uint8_t>(weight(o, 4 * row.lane + j, row.tap));
          }
        }
      }
    }
  }
}

}  // namespace sparq::kernels::sparse3x3
