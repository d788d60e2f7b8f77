#include "kernels/sparse_conv3x3/tile_entries.hpp"

#include <algorithm>

#include "kernels/sparse_conv3x3/tile_program.hpp"

namespace sparq::kernels::sparse3x3 {

TileEntryCounts append_tile_entries(std::span<const int8_t> dense, int out_channels,
                                    int in_channels, const Sparse3x3Geometry& geometry,
                                    int lane_begin, int lane_end, int first_out, int channel_tiles,
                                    std::vector<int32_t>& entries) {
  const int out_end = std::min(out_channels, first_out + 16 * channel_tiles);
  auto weight = [&](int o, int i, int q) -> int8_t {
    if (i >= in_channels) return 0;
    return dense[(static_cast<size_t>(o) * in_channels + i) * 9 + static_cast<size_t>(q)];
  };
  struct Row {
    int lane, tap;
  };
  std::vector<Row> rows;
  for (int q = 0; q < 9; ++q) {
    for (int lane = lane_begin; lane < lane_end; ++lane) {
      bool kept = false;
      for (int o = first_out; o < out_end && !kept; ++o) {
        for (int j = 0; j < 4 && !kept; ++j) kept = weight(o, 4 * lane + j, q) != 0;
      }
      if (kept) rows.push_back({lane, q});
    }
  }

  TileEntryCounts counts;
  counts.rows = static_cast<int64_t>(rows.size());
  for (size_t first = 0; first < rows.size(); first += kTileRows) {
    const int used = static_cast<int>(std::min<size_t>(kTileRows, rows.size() - first));
    const size_t at = entries.size();
    entries.resize(at + static_cast<size_t>(tile_entry_words(channel_tiles)), 0);
    int32_t* entry = entries.data() + at;
    int64_t offsets[kTileRows];
    for (int k = 0; k < kTileRows; ++k) {
      const Row& row = rows[first + static_cast<size_t>(k < used ? k : 0)];
      offsets[k] =
          (static_cast<int64_t>(row.lane) * geometry.lane_stride + geometry.tap_offset[row.tap]) *
          4;
      entry[k] = static_cast<int32_t>(offsets[k]);
    }
    // In place only when all 16 rows are real and evenly spaced: a padded
    // entry's stride would walk past the staged lanes.
    bool even = used == kTileRows && offsets[1] > offsets[0];
    for (int k = 2; k < kTileRows && even; ++k) {
      even = offsets[k] - offsets[0] == k * (offsets[1] - offsets[0]);
    }
    entry[kTileRows] = even ? static_cast<int32_t>(offsets[1] - offsets[0]) : 0;
    counts.gathered += even ? 0 : 1;
    ++counts.entries;
    // Weight tile cv: byte 64 m + 4 k + j = w(out 16 cv + m, in 4 lane(k) + j, tap(k)).
    auto* weights = reinterpret_cast<uint8_t*>(entry + kTileHeaderWords);
    for (int cv = 0; cv < channel_tiles; ++cv) {
      for (int m = 0; m < 16; ++m) {
        const int o = first_out + 16 * cv + m;
        if (o >= out_end) break;
        for (int k = 0; k < used; ++k) {
          const Row& row = rows[first + static_cast<size_t>(k)];
          for (int j = 0; j < 4; ++j) {
            weights[cv * 1024 + m * 64 + 4 * k + j] =
                static_cast<uint8_t>(weight(o, 4 * row.lane + j, row.tap));
          }
        }
      }
    }
  }
  return counts;
}

}  // namespace sparq::kernels::sparse3x3
