// Runs a SparseConv3x3Kernel's work items on one sample (or several whole
// samples in one pass, run_samples): stage the input
// into the aligned lanes, accumulate every (pixel tile, output-block group)
// task with the path's microkernel, and apply the epilogue
//   y = act(dequantize_accumulator(acc, act_scale, w_scale[o], bias[o]))
// (then a fused residual add's act2(y + r), if the sample has one).
// Each output element is produced by exactly one task in a fixed order, so
// the result is identical for every split of the items over workers. The
// operator above (runtime/backends/cpu) owns the workers and the scratch.
#include <algorithm>
#include <cstring>

#include "kernels/common/thread_work.hpp"
#include "kernels/matrix_tiles/tile_unit_scope.hpp"
#include "kernels/sparse_conv3x3/microkernels.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "kernels/sparse_conv3x3/staging_epilogue.hpp"
#include "sparq/quantization.hpp"

namespace sparq::kernels {
namespace {

using sparse3x3::AccumulateFn;

// The most workers that split a layer's output channels (work()).
constexpr int kMaxChannelShareWorkers = 2;

// A pass of run_samples: samples whose staged inputs take at most this, so
// that they and one group's entries share a 1 MiB L2.
constexpr size_t kPassStagedBytes = 256 * 1024;

size_t round_up_64(size_t bytes) {
  return (bytes + 63) / 64 * 64;
}

// The sample's output as the epilogue writes it: f32, or the bytes of the
// fused static quantize.
sparse3x3::EpilogueOutput epilogue_output(const Sparse3x3Sample& sample, int64_t plane) {
  sparse3x3::EpilogueOutput out;
  out.data = sample.output;
  out.plane = plane;
  const OutputQuantization& q = sample.output_quantization;
  if (q.enabled()) out.quantize = fused_quantize(q);
  if (sample.residual_add.enabled) {
    out.residual = sample.residual;
    out.residual_first = sample.residual_add.residual_first;
    out.residual_activation = sample.residual_add.activation;
  }
  return out;
}

}  // namespace

void SparseConv3x3Kernel::stage_rows(const void* input, int lane, int row_begin, int row_end,
                                     uint8_t* lane_out) const {
  const Sparse3x3Geometry& g = geometry_;
  const Sparse3x3Problem& p = problem_;
  const sparse3x3::StagingEpilogue ops = sparse3x3::staging_epilogue_for(path_.isa);
  const int64_t plane_in = static_cast<int64_t>(p.height) * p.width;
  const int64_t planes_elems = static_cast<int64_t>(p.stride) * p.stride * g.plane_elems;
  const auto* bytes = static_cast<const uint8_t*>(input);  // u8 or s8: one byte per value
  if (row_end == g.plane_rows) {
    // The slack past the planes is read by the last tile's discarded pixels.
    std::memset(lane_out + planes_elems * 4, 0,
                static_cast<size_t>((g.lane_stride - planes_elems) * 4));
  }
  if (path_.layout == LaneLayout::kF32) {
    ops.stage_f32(bytes + lane * plane_in, p.signed_input, p.height, p.width, p.stride, g,
                  row_begin, row_end, reinterpret_cast<float*>(lane_out));
    return;
  }
  // Quad: byte j of each 4-byte pixel is channel 4*lane + j (zero past I).
  const void* channels[4];
  for (int j = 0; j < 4; ++j) {
    const int channel = lane * 4 + j;
    channels[j] = channel < p.in_channels ? bytes + channel * plane_in : nullptr;
  }
  ops.stage_quad(channels, p.signed_input, p.height, p.width, p.stride, g, row_begin, row_end,
                 lane_out);
}

int64_t SparseConv3x3Kernel::tile_first_pixel(int tile) const {
  const int T = path_.tile_pixels();
  if (path_.axis == VectorAxis::kOutputChannels) {
    const Sparse3x3Geometry& g = geometry_;
    return static_cast<int64_t>(tile / g.row_tiles) * g.pitch + (tile % g.row_tiles) * T;
  }
  return static_cast<int64_t>(tile) * T;
}

int64_t SparseConv3x3Kernel::last_element_read(int tile_last) const {
  // A tile reads T pixels from its first one plus a tap offset within a
  // (phase) plane: at most 2 / stride rows and columns.
  const int reach = 2 / problem_.stride;
  return tile_first_pixel(tile_last) + path_.tile_pixels() - 1 + int64_t{reach} * geometry_.pitch +
         reach;
}

std::pair<int, int> SparseConv3x3Kernel::plane_rows_read(int tile_begin, int tile_end) const {
  const Sparse3x3Geometry& g = geometry_;
  const int64_t row_end =
      std::min<int64_t>(g.plane_rows, last_element_read(tile_end - 1) / g.pitch + 1);
  return {static_cast<int>(tile_first_pixel(tile_begin) / g.pitch), static_cast<int>(row_end)};
}

size_t SparseConv3x3Kernel::accumulator_bytes() const {
  const size_t elems =
      static_cast<size_t>(blocks_per_task_) * path_.out_block * path_.tile_pixels();
  // f32 paths that must flush keep a second, int32 accumulator after the first.
  return elems * 4 * (needs_flush_ ? 2 : 1);
}

size_t SparseConv3x3Kernel::staged_input_bytes() const {
  return round_up_64(geometry_.staged_bytes());
}

size_t SparseConv3x3Kernel::worker_scratch_bytes() const {
  return staged_input_bytes() + round_up_64(accumulator_bytes()) + sizeof(RangeLanes);
}

void SparseConv3x3Kernel::stage_lanes(const void* input, int lane_begin, int lane_end,
                                      uint8_t* out) const {
  for (int lane = lane_begin; lane < lane_end; ++lane) {
    stage_rows(input, lane, 0, geometry_.plane_rows,
               out + static_cast<size_t>(lane - lane_begin) * lane_bytes());
  }
}

int32_t* SparseConv3x3Kernel::worker_accumulators(void* worker_scratch) const {
  return reinterpret_cast<int32_t*>(static_cast<uint8_t*>(worker_scratch) + staged_input_bytes());
}

RangeLanes* SparseConv3x3Kernel::worker_range(void* worker_scratch) const {
  return reinterpret_cast<RangeLanes*>(
      reinterpret_cast<uint8_t*>(worker_accumulators(worker_scratch)) +
      round_up_64(accumulator_bytes()));
}

void SparseConv3x3Kernel::compute_task(const uint8_t* staged, int32_t* acc, int tile, int group,
                                       const Sparse3x3Sample& sample) const {
  const int block_begin = group * blocks_per_task_;
  const int block_end = std::min(block_count_, block_begin + blocks_per_task_);
  const float act_scale = sample.act_scale;
  const Sparse3x3Geometry& g = geometry_;
  const int OB = path_.out_block;
  const int T = path_.tile_pixels();
  const int block_count = block_end - block_begin;
  const size_t acc_elems = static_cast<size_t>(block_count) * OB * T;
  const bool f32 = path_.layout == LaneLayout::kF32;
  int32_t* flushed = acc + acc_elems;
  // The first chunk's microkernel calls start the accumulators from zero;
  // the flush target is the only one zeroed in memory.
  if (needs_flush_) std::memset(flushed, 0, acc_elems * 4);

  const AccumulateFn fn = accumulate_;
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
      const size_t slot = static_cast<size_t>(c) * block_count_ + b;
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
  const sparse3x3::StagingEpilogue ops = sparse3x3::staging_epilogue_for(path_.isa);
  sparse3x3::EpilogueOutput output = epilogue_output(sample, plane_out);
  if (sample.widen_range) {
    // The worker's scratch: its staged input, then acc (worker_range).
    output.range = reinterpret_cast<RangeLanes*>(reinterpret_cast<uint8_t*>(acc) +
                                                 round_up_64(accumulator_bytes()));
  }
  sparse3x3::EpilogueOutput block_output = output;  // each block's destination
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
      block_output.point_at(output, first_channel * plane_out + tile_row * out_w + tile_x0);
      ops.epilogue_channels(final_acc + static_cast<size_t>(b - block_begin) * OB * T, T, pixels,
                            channels, scales, bias_.data() + first_channel, activation_,
                            block_output);
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
    block_output.point_at(output, first_channel * plane_out);
    ops.epilogue(final_acc + static_cast<size_t>(b - block_begin) * OB * T, acc_is_float, T,
                 channels, first_pixel, last_pixel, g.pitch, out_w, scales,
                 bias_.data() + first_channel, activation_, block_output);
  }
}

int SparseConv3x3Kernel::useful_threads(int threads) const {
  const Sparse3x3Problem& p = problem_;
  const double inputs = static_cast<double>(p.in_channels) * p.height * p.width;
  const double outputs = static_cast<double>(p.out_channels) * p.out_height() * p.out_width();
  // The planner's estimate only ranks paths: the staging and the epilogue,
  // alike on every path, are added (without them the stride-2 layers,
  // estimated at 37-45 thousand cycles, ran on one thread of two though they
  // took 50-72 us).
  const double cycles = cost_ + kStagingCyclesPerByte * inputs + kEpilogueCyclesPerOutput * outputs;
  return threads_worth(cycles, threads);
}

Sparse3x3Work SparseConv3x3Kernel::work(int threads) const {
  const int64_t tasks = int64_t{geometry_.tiles} * groups();
  Sparse3x3Work work;
  if (threads <= 1) {
    work.items = tasks;
    work.grain = tasks;
    return work;
  }
  const int bands = 2 * threads;
  // Up to kMaxChannelShareWorkers, each worker computes its share of the
  // output channels (groups_major), as the nodes around the layer split
  // theirs (runtime/backends/cpu/sample_parts.hpp), on the input the workers
  // staged together, each its share of the lanes (channels), which the
  // layer before wrote on the same core. ResNet-18 at k = 1 on 2 threads:
  // 1.30 ms against 1.35 with row bands where a layer had the tiles for
  // them (with each worker staging the whole input; sharing the staging
  // then took the network from 1.14-1.16 to 1.08-1.11 ms). Beyond, the other cores' staged lanes
  // that every worker reads are assumed to cost more than row bands, whose workers read only the
  // rows around their own.
  const bool channel_shares = groups() >= threads && threads <= kMaxChannelShareWorkers;
  if (geometry_.tiles < 2 * bands || channel_shares) {
    // Too few tiles (rows) to band, or shares of the channels: every task
    // is balanced dynamically (numbered in the planned order, so
    // neighbouring tasks share data, or group-major).
    work.items = tasks;
    work.groups_major = channel_shares;
    work.shared_staging = true;
    work.grain = std::max<int64_t>(1, tasks / (int64_t{threads} * 2));
    return work;
  }
  work.item = Sparse3x3Work::Item::kBands;
  work.items = bands;
  work.grain = 2;
  return work;
}

void SparseConv3x3Kernel::run_items(const Sparse3x3Sample& sample, const Sparse3x3Work& work,
                                    int64_t begin, int64_t end, void* worker_scratch,
                                    const uint8_t* staged_input) const {
  const Sparse3x3Geometry& g = geometry_;
  auto* own_staging = static_cast<uint8_t*>(worker_scratch);
  int32_t* acc = worker_accumulators(worker_scratch);
  const int group_count = groups();
  const TileUnitScope tile_unit(path_.isa == Isa::kAmx && !emulated_tiles_);
  const uint8_t* staged = staged_input != nullptr ? staged_input : own_staging;
  auto run_task = [&](int64_t task) {
    if (groups_outer_ || work.groups_major) {
      compute_task(staged, acc, static_cast<int>(task % g.tiles), static_cast<int>(task / g.tiles),
                   sample);
    } else {
      compute_task(staged, acc, static_cast<int>(task / group_count),
                   static_cast<int>(task % group_count), sample);
    }
  };
  if (work.item == Sparse3x3Work::Item::kTasks) {
    if (staged_input == nullptr) stage_lanes(sample.input, 0, g.lanes, own_staging);
    for (int64_t task = begin; task < end; ++task) run_task(task);
    return;
  }
  // Band b computes tiles [b T / B, (b+1) T / B), every (tile, group) task of
  // them in the planned order.
  const int64_t bands = work.items;
  const int64_t planes_elems = int64_t{problem_.stride} * problem_.stride * g.plane_elems;
  for (int64_t b = begin; b < end; ++b) {
    const int tile_begin = static_cast<int>(g.tiles * b / bands);
    const int tile_end = static_cast<int>(g.tiles * (b + 1) / bands);
    const auto [row_begin, row_end] = plane_rows_read(tile_begin, tile_end);
    // The last tile's discarded pixels of one phase plane read the first
    // elements of the next (stride 2), which only a band from row 0 stages:
    // zeroed here, so no stale scratch bytes enter any accumulator.
    const int64_t spill =
        std::min(last_element_read(tile_end - 1) + 1 - g.plane_elems, int64_t{row_begin} * g.pitch);
    for (int lane = 0; lane < g.lanes; ++lane) {
      uint8_t* const lane_out = own_staging + lane * lane_bytes();
      stage_rows(sample.input, lane, row_begin, row_end, lane_out);
      if (spill <= 0) continue;
      auto* lane_elems = reinterpret_cast<int32_t*>(lane_out);
      for (int64_t plane = g.plane_elems; plane < planes_elems; plane += g.plane_elems) {
        std::memset(lane_elems + plane, 0, static_cast<size_t>(spill) * 4);
      }
    }
    if (groups_outer_) {
      for (int group = 0; group < group_count; ++group) {
        for (int tile = tile_begin; tile < tile_end; ++tile)
          compute_task(staged, acc, tile, group, sample);
      }
    } else {
      for (int tile = tile_begin; tile < tile_end; ++tile) {
        for (int group = 0; group < group_count; ++group)
          compute_task(staged, acc, tile, group, sample);
      }
    }
  }
}

int SparseConv3x3Kernel::samples_per_pass(int64_t batch) const {
  if (!groups_outer_ || batch <= 1) return 1;
  const size_t fitting = kPassStagedBytes / staged_input_bytes();
  return static_cast<int>(std::clamp<int64_t>(
      std::min<int64_t>(static_cast<int64_t>(fitting), int64_t{kMaxPassSamples}), 1, batch));
}

void SparseConv3x3Kernel::run_samples(std::span<const Sparse3x3Sample> samples,
                                      void* scratch) const {
  const size_t scratch_stride = worker_scratch_bytes();
  auto own_scratch = [&](size_t i) { return static_cast<uint8_t*>(scratch) + i * scratch_stride; };
  for (size_t i = 0; i < samples.size(); ++i) {
    stage_lanes(samples[i].input, 0, geometry_.lanes, own_scratch(i));
  }
  const TileUnitScope tile_unit(path_.isa == Isa::kAmx && !emulated_tiles_);
  auto task = [&](size_t i, int tile, int group) {
    compute_task(own_scratch(i), worker_accumulators(own_scratch(i)), tile, group, samples[i]);
  };
  if (groups_outer_) {
    for (int group = 0; group < groups(); ++group) {
      for (size_t i = 0; i < samples.size(); ++i) {
        for (int tile = 0; tile < geometry_.tiles; ++tile) task(i, tile, group);
      }
    }
    return;
  }
  for (size_t i = 0; i < samples.size(); ++i) {
    for (int tile = 0; tile < geometry_.tiles; ++tile) {
      for (int group = 0; group < groups(); ++group) task(i, tile, group);
    }
  }
}

}  // namespace sparq::kernels
