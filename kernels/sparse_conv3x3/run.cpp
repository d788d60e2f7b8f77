// Runs a SparseConv3x3Kernel on one sample: stage the input into the aligned
// lanes, accumulate every (pixel tile, output-block group) task with the
// path's microkernel, and apply the epilogue
//   y = act(dequantize_accumulator(acc, act_scale, w_scale[o], bias[o])).
// Each output element is produced by exactly one task in a fixed order, so
// the result is identical for every thread count.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <new>

#include "kernels/common/capped_parallel.hpp"
#include "kernels/sparse_conv3x3/lane_ops.hpp"
#include "kernels/sparse_conv3x3/microkernels.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "sparq/quantization.hpp"

namespace sparq::kernels {
namespace {

using sparse3x3::AccumulateFn;

// Estimated cost (plan.cpp's units, about one cycle each) below which one
// more thread does not pay for waking it: ~15 us at 3.5 GHz.
constexpr double kMinCostPerThread = 50000;

// Per-thread storage (accumulators, a band's staged input), 64-byte
// aligned, grown on demand.
struct ThreadBuffer {
  struct Free {
    void operator()(void* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  std::unique_ptr<void, Free> data;
  size_t bytes = 0;
  void* get(size_t needed) {
    if (needed > bytes) {
      data.reset(::operator new (needed, std::align_val_t{64}));
      // Zeroed once: a band reads a few bytes of its staging buffer it did
      // not stage (pixels computed and discarded), never uninitialised ones.
      std::memset(data.get(), 0, needed);
      bytes = needed;
    }
    return data.get();
  }
};

}  // namespace

void SparseConv3x3Kernel::stage_rows(const void* input, uint8_t* staged, int lane, int row_begin,
                                     int row_end) const {
  const Sparse3x3Geometry& g = geometry_;
  const Sparse3x3Problem& p = problem_;
  const sparse3x3::LaneOps ops = sparse3x3::lane_ops_for(path_.isa);
  const int64_t plane_in = static_cast<int64_t>(p.height) * p.width;
  const int64_t planes_elems = static_cast<int64_t>(p.stride) * p.stride * g.plane_elems;
  const auto* bytes = static_cast<const uint8_t*>(input);  // u8 or s8: one byte per value
  uint8_t* lane_bytes = staged + static_cast<int64_t>(lane) * g.lane_stride * 4;
  if (row_end == g.plane_rows) {
    // The slack past the planes is read by the last tile's discarded pixels.
    std::memset(lane_bytes + planes_elems * 4, 0,
                static_cast<size_t>((g.lane_stride - planes_elems) * 4));
  }
  if (path_.layout == LaneLayout::kF32) {
    ops.stage_f32(bytes + lane * plane_in, p.signed_input, p.height, p.width, p.stride, g,
                  row_begin, row_end, reinterpret_cast<float*>(lane_bytes));
    return;
  }
  // Quad: byte j of each 4-byte pixel is channel 4*lane + j (zero past I).
  const void* channels[4];
  for (int j = 0; j < 4; ++j) {
    const int channel = lane * 4 + j;
    channels[j] = channel < p.in_channels ? bytes + channel * plane_in : nullptr;
  }
  ops.stage_quad(channels, p.signed_input, p.height, p.width, p.stride, g, row_begin, row_end,
                 lane_bytes);
}

int64_t SparseConv3x3Kernel::tile_first_pixel(int tile) const {
  const int T = path_.tile_pixels();
  if (path_.axis == VectorAxis::kOutputChannels) {
    const Sparse3x3Geometry& g = geometry_;
    return static_cast<int64_t>(tile / g.row_tiles) * g.pitch + (tile % g.row_tiles) * T;
  }
  return static_cast<int64_t>(tile) * T;
}

std::pair<int, int> SparseConv3x3Kernel::plane_rows_read(int tile_begin, int tile_end) const {
  const Sparse3x3Geometry& g = geometry_;
  // A tile reads T pixels from its first one plus a tap offset within a
  // (phase) plane: at most 2 / stride rows and columns.
  const int reach = 2 / problem_.stride;
  const int64_t last_read =
      tile_first_pixel(tile_end - 1) + path_.tile_pixels() - 1 + int64_t{reach} * g.pitch + reach;
  const int64_t row_end = std::min<int64_t>(g.plane_rows, last_read / g.pitch + 1);
  return {static_cast<int>(tile_first_pixel(tile_begin) / g.pitch), static_cast<int>(row_end)};
}

void SparseConv3x3Kernel::compute_tile_block(const uint8_t* staged, int tile, int block_begin,
                                             int block_end, float act_scale, float* output) const {
  thread_local ThreadBuffer buffer;
  const Sparse3x3Geometry& g = geometry_;
  const int OB = path_.out_block;
  const int T = path_.tile_pixels();
  const int block_count = block_end - block_begin;
  const size_t acc_elems = static_cast<size_t>(block_count) * OB * T;
  const bool f32 = path_.layout == LaneLayout::kF32;
  // f32 paths that must flush keep a second, int32 accumulator after the first.
  auto* acc = static_cast<int32_t*>(buffer.get(acc_elems * 4 * (needs_flush_ ? 2 : 1)));
  int32_t* flushed = acc + acc_elems;
  // The first chunk's microkernel calls start the accumulators from zero;
  // the flush target is the only one zeroed in memory.
  if (needs_flush_) std::memset(flushed, 0, acc_elems * 4);

  const AccumulateFn fn = sparse3x3::accumulate_for(path_, problem_.signed_input);
  const bool by_channels = path_.axis == VectorAxis::kOutputChannels;
  // Output-channel form: the tile's output row and first column.
  const int tile_row = by_channels ? tile / g.row_tiles : 0;
  const int tile_x0 = by_channels ? (tile % g.row_tiles) * T : 0;
  const int64_t first_pixel = tile_first_pixel(tile);
  const uint8_t* tile_input = staged + first_pixel * 4;
  // The tap rows [ky_begin, ky_end) this tile runs: a row tile skips those
  // that read only padding (their products are zero, so the sums are the same).
  const auto [ky_begin, ky_end] = by_channels ? problem_.tap_rows(tile_row) : std::pair{0, 3};
  for (int c = 0; c < chunks_; ++c) {
    for (int b = block_begin; b < block_end; ++b) {
      const size_t slot = static_cast<size_t>(c) * out_blocks_ + b;
      fn(tile_input, entries_.data() + starts_[3 * slot + ky_begin],
         entries_.data() + starts_[3 * slot + ky_end],
         acc + static_cast<size_t>(b - block_begin) * OB * T,
         /*fresh=*/c == 0);
    }
    if (needs_flush_ && flush_after_chunk_[static_cast<size_t>(c)]) {
      // Exact: every fp32 partial sum is an integer of magnitude <= 2^24.
      auto* facc = reinterpret_cast<float*>(acc);
      for (size_t e = 0; e < acc_elems; ++e) {
        flushed[e] += static_cast<int32_t>(facc[e]);
        facc[e] = 0.0f;
      }
    }
  }

  const int out_h = problem_.out_height(), out_w = problem_.out_width();
  const int64_t plane_out = static_cast<int64_t>(out_h) * out_w;
  // Flushed fp32 paths end with everything in the int32 accumulator.
  const int32_t* final_acc = needs_flush_ ? flushed : acc;
  const bool acc_is_float = f32 && !needs_flush_;
  const sparse3x3::LaneOps ops = sparse3x3::lane_ops_for(path_.isa);
  if (by_channels) {
    const int pixels = std::min(T, out_w - tile_x0);
    float scales[64];
    for (int b = block_begin; b < block_end; ++b) {
      const int first_channel = b * OB;
      const int channels = std::min(OB, problem_.out_channels - first_channel);
      for (int c = 0; c < channels; ++c) {
        // dequantize_accumulator's scale product, computed the same way.
        scales[c] = act_scale * weight_scales_[static_cast<size_t>(first_channel + c)];
      }
      ops.epilogue_channels(final_acc + static_cast<size_t>(b - block_begin) * OB * T, T, pixels,
                            channels, scales, bias_.data() + first_channel, activation_,
                            output + first_channel * plane_out + tile_row * out_w + tile_x0,
                            plane_out);
    }
    return;
  }
  const int64_t last_pixel = std::min<int64_t>(first_pixel + T, g.grid_pixels);
  float scales[64];  // pixel-form blocks hold 1, 2 or 4 channels (tile program: 16 to 64)
  for (int b = block_begin; b < block_end; ++b) {
    const int first_channel = b * OB;
    const int channels = std::min(OB, problem_.out_channels - first_channel);
    for (int c = 0; c < channels; ++c) {
      // dequantize_accumulator's scale product, computed the same way.
      scales[c] = act_scale * weight_scales_[static_cast<size_t>(first_channel + c)];
    }
    ops.epilogue(final_acc + static_cast<size_t>(b - block_begin) * OB * T, acc_is_float, T,
                 channels, first_pixel, last_pixel, g.pitch, out_w, scales,
                 bias_.data() + first_channel, activation_, output + first_channel * plane_out,
                 plane_out);
  }
}

int SparseConv3x3Kernel::useful_threads(int threads) const {
  return std::clamp(static_cast<int>(cost_ / kMinCostPerThread), 1, std::max(1, threads));
}

void SparseConv3x3Kernel::run(const void* input, float act_scale, float* output, void* scratch,
                              int threads) const {
  auto* scratch_lanes = static_cast<uint8_t*>(scratch);
  const Sparse3x3Geometry& g = geometry_;
  const int groups = (out_blocks_ + blocks_per_task_ - 1) / blocks_per_task_;
  // This thread's own staged input (parallel runs stage privately), and the
  // call whose whole input it holds (0: none or partial).
  struct ThreadStaging {
    ThreadBuffer buffer;
    uint64_t whole_call = 0;
  };
  auto thread_staging = []() -> ThreadStaging& {
    thread_local ThreadStaging own;
    return own;
  };
  auto run_task = [&](const uint8_t* staged, int tile, int group) {
    const int block_begin = group * blocks_per_task_;
    const int block_end = std::min(out_blocks_, block_begin + blocks_per_task_);
    compute_tile_block(staged, tile, block_begin, block_end, act_scale, output);
  };
  // Every (tile, group) task of tiles [tile_begin, tile_end), in the planned order.
  auto run_tiles = [&](const uint8_t* staged, int tile_begin, int tile_end) {
    if (groups_outer_) {
      for (int group = 0; group < groups; ++group) {
        for (int tile = tile_begin; tile < tile_end; ++tile) run_task(staged, tile, group);
      }
    } else {
      for (int tile = tile_begin; tile < tile_end; ++tile) {
        for (int group = 0; group < groups; ++group) run_task(staged, tile, group);
      }
    }
  };
  const int bands = 2 * threads;
  if (threads <= 1) {
    for (int lane = 0; lane < g.lanes; ++lane) {
      stage_rows(input, scratch_lanes, lane, 0, g.plane_rows);
    }
    run_tiles(scratch_lanes, 0, g.tiles);
    return;
  }
  if (g.tiles < 2 * bands) {
    // Too few tiles (rows) to band: every (tile, group) task is balanced
    // dynamically (numbered in the planned order, so neighbouring tasks
    // share data), each thread on the whole input staged once per call into
    // its own buffer. Staging is repeated per thread, in parallel, and no
    // core reads what another wrote; staging lanes in parallel into the
    // shared scratch first ran 256x14 k=1 slower on 2 threads than on 1.
    static std::atomic<uint64_t> calls{0};
    const uint64_t call = ++calls;
    const int tasks = g.tiles * groups;
    run_capped(tasks, threads, balanced_grain(tasks, threads, 2),
               [&](int, int64_t task_begin, int64_t task_end) {
                 ThreadStaging& staging = thread_staging();
                 auto* own = static_cast<uint8_t*>(staging.buffer.get(g.staged_bytes()));
                 if (staging.whole_call != call) {
                   for (int lane = 0; lane < g.lanes; ++lane)
                     stage_rows(input, own, lane, 0, g.plane_rows);
                   staging.whole_call = call;
                 }
                 for (int task = static_cast<int>(task_begin); task != task_end; ++task) {
                   if (groups_outer_) {
                     run_task(own, task % g.tiles, task / g.tiles);
                   } else {
                     run_task(own, task / groups, task % groups);
                   }
                 }
               });
    return;
  }
  // Row bands: band b computes tiles [b T / B, (b+1) T / B) on input it
  // stages itself, into its thread's own buffer: the plane rows those tiles
  // read (its share plus the 2 / stride rows below, which the next band
  // stages too). One loop, no barrier between staging and computing, and no
  // core reads rows another core wrote (docs/ARCHITECTURE.md, Threads).
  run_capped(bands, threads, bands / threads, [&](int, int64_t band_begin, int64_t band_end) {
    ThreadStaging& staging = thread_staging();
    auto* band_input = static_cast<uint8_t*>(staging.buffer.get(g.staged_bytes()));
    staging.whole_call = 0;  // about to hold some rows of this call only
    for (int b = static_cast<int>(band_begin); b != band_end; ++b) {
      const int tile_begin = static_cast<int>(int64_t{g.tiles} * b / bands);
      const int tile_end = static_cast<int>(int64_t{g.tiles} * (b + 1) / bands);
      const auto [row_begin, row_end] = plane_rows_read(tile_begin, tile_end);
      for (int lane = 0; lane < g.lanes; ++lane) {
        stage_rows(input, band_input, lane, row_begin, row_end);
      }
      run_tiles(band_input, tile_begin, tile_end);
    }
  });
}

}  // namespace sparq::kernels
