// Builds a SparseConv3x3Kernel: the staged-input geometry, the repacked entry
// lists per (input chunk, output block), the fp32 exactness proof, and the
// choice of the cheapest path from a per-ISA cost model (docs/BREAK_EVEN.md).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels/common/byte_activation.hpp"
#include "kernels/matrix_tiles/tile_program.hpp"
#include "kernels/sparse_conv3x3/microkernels.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "kernels/sparse_conv3x3/staging_epilogue.hpp"
#include "kernels/sparse_conv3x3/tile_entries.hpp"
#include "sparq/error.hpp"
#include "sparq/sparse_format.hpp"

namespace sparq::kernels {
namespace sparse3x3 {

StagingEpilogue staging_epilogue_for(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return staging_epilogue_scalar();
    case Isa::kAvx2:
      return staging_epilogue_avx2();
    case Isa::kAvx512:
    case Isa::kVnni:
    case Isa::kAmx:
      return staging_epilogue_avx512();
  }
  return staging_epilogue_scalar();
}
}  // namespace sparse3x3

namespace {

using sparse3x3::AccumulateFn;

// The L1 budget for the staged input one chunk of lanes reads for a tile;
// entries, accumulators and weights use the rest of the 48 KiB L1.
constexpr int64_t kChunkInputBytes = 28 * 1024;
// Output channels one task accumulates (its accumulators stay in L1/L2).
constexpr int kTaskOutputChannels = 32;
// Past this many bytes of entries (half this core's 1 MiB L2), visiting
// every block for each tile would stream the weights from L3 once per tile:
// tasks then run block group by block group instead (docs/BREAK_EVEN.md).
constexpr size_t kCachedEntryBytes = 512 * 1024;
// fp32 represents every integer of magnitude <= 2^24 exactly.
constexpr int64_t kExactF32Limit = int64_t{1} << 24;

// Relative throughput factors fitted to bench/sparse_conv_paths_bench on the
// bench machine (BREAK_EVEN.md): cycles per entry per tile ~ max(ops / 2,
// loads / 2) + overhead, where ops are the OB*PV vector FMAs or vpdpbusd and
// loads the PV pixel vectors (unaligned: two of every three taps straddle
// cache lines, counted 2x) plus OB broadcasts and the offset.
constexpr double kSplitLoadFactor = 2.0;
constexpr double kEntryOverheadCycles = 1.0;
constexpr double kCallOverheadCycles = 12.0;
// Output-channel form only: its epilogue, per computed output element.
constexpr double kChannelEpilogueCycles = 0.5;
// AMX tile program, fitted like the constants above to
// bench/sparse_conv_paths_bench on a 2-vCPU Xeon with AMX (ResNet-18's 3x3
// layers at k = 9 random and k = 1 shared, the 32 tile paths, 28 % rms
// error), in the cycles of the vector model: each path's time x the model
// cycles per microsecond of the same layer's VNNI ob4 path. Per tile and
// entry, a tdpbsud of every accumulator tile and a tileloadd of every
// operand tile (Intel's 8 cycles: with it the model tells a 64 x 16 block,
// 5 loads for 4 dots, from a 32 x 32 one, 4 for 4, which the fit alone
// scored alike while the 64 x 16 ran up to 1.5x slower); each gathered
// activation tile adds its 16 row copies. Per call (one block of a chunk,
// per tile): the call and its accumulator tiles stored, and loaded after the
// first chunk (Intel's figures: the fit could not tell them from zero; the
// tile unit's configuration is no longer per call).
constexpr double kTileDotCycles = 47.0;
constexpr double kTileLoadCycles = 8.0;
constexpr double kTileGatherCycles = 11.0;
constexpr double kTileCallCycles = 40.0;
constexpr double kTileAccumulatorCycles = 8.0;

// Every sparse path family, once: what it runs on, its lane layout and
// vector axis, the output blocks it offers, its register budget and its
// microkernel. candidate_paths, accumulate_for and the plan's preferences
// all read this table.
struct PathFamily {
  Isa isa;
  LaneLayout layout;
  VectorAxis axis;
  int out_block_sizes[4];  // output channels per block; 0 = unused
  int vector_pixels;       // pixels per vector (kOutputChannels: 1)
  // Most pixel vectors (kOutputChannels: pixels) per tile for an out block.
  int (*max_pixel_vecs)(int out_block);
  AccumulateFn (*accumulate)(int out_block, int pixel_vecs, bool signed_input);
  // The plan drops the family when the ISA offers a path of this level or
  // above (a narrower or portable version of what that path does).
  Isa superseded_at;
  bool signed_input_ok;
};

constexpr Isa kNeverSuperseded = static_cast<Isa>(255);

const PathFamily kPathFamilies[] = {
    {Isa::kScalar,
     LaneLayout::kQuad,
     VectorAxis::kPixels,
     {1, 2, 4},
     sparse3x3::kScalarVectorPixels,
     [](int ob) { return sparse3x3::max_pixel_vecs_scalar(ob); },
     [](int ob, int pv, bool s) { return sparse3x3::accumulate_quad_scalar(ob, pv, s); },
     Isa::kAvx2,
     true},
    {Isa::kAvx2,
     LaneLayout::kF32,
     VectorAxis::kPixels,
     {1, 2, 4},
     8,
     [](int ob) { return sparse3x3::max_pixel_vecs_avx2(ob); },
     [](int ob, int pv, bool) { return sparse3x3::accumulate_f32_avx2(ob, pv); },
     Isa::kAvx512,
     true},
    {Isa::kAvx512,
     LaneLayout::kF32,
     VectorAxis::kPixels,
     {1, 2, 4},
     16,
     [](int ob) { return sparse3x3::max_pixel_vecs_avx512(ob); },
     [](int ob, int pv, bool) { return sparse3x3::accumulate_f32_avx512(ob, pv); },
     kNeverSuperseded,
     true},
    {Isa::kVnni,
     LaneLayout::kQuad,
     VectorAxis::kPixels,
     {1, 2, 4},
     16,
     [](int ob) { return sparse3x3::max_pixel_vecs_avx512(ob); },
     [](int ob, int pv, bool) { return sparse3x3::accumulate_quad_vnni(ob, pv); },
     kNeverSuperseded,
     false},
    // 16, 32, 48 or 64 output channels x a segment of one output row.
    {Isa::kVnni,
     LaneLayout::kQuad,
     VectorAxis::kOutputChannels,
     {16, 32, 48, 64},
     1,
     [](int ob) { return sparse3x3::max_pixels_channels_avx512(ob / 16); },
     [](int ob, int pv, bool) { return sparse3x3::accumulate_quad_channels_vnni(ob / 16, pv); },
     kNeverSuperseded,
     false},
    // AMX tile program: 16 to 64 output channels x 16 to 48 grid pixels.
    {Isa::kAmx,
     LaneLayout::kQuad,
     VectorAxis::kPixels,
     {16, 32, 48, 64},
     16,
     [](int ob) { return sparse3x3::max_pixel_vecs_amx(ob / 16); },
     [](int ob, int pv, bool) { return sparse3x3::accumulate_quad_tiles_amx(ob / 16, pv); },
     kNeverSuperseded,
     false},
};

const PathFamily* family_of(const Sparse3x3Path& path) {
  for (const PathFamily& family : kPathFamilies) {
    if (family.isa == path.isa && family.layout == path.layout && family.axis == path.axis) {
      return &family;
    }
  }
  return nullptr;
}

bool offers_block(const PathFamily& family, int out_block) {
  for (int ob : family.out_block_sizes) {
    if (ob != 0 && ob == out_block) return true;
  }
  return false;
}

}  // namespace

namespace sparse3x3 {
AccumulateFn accumulate_for(const Sparse3x3Path& path, bool signed_input) {
  const PathFamily* family = family_of(path);
  if (family == nullptr || !offers_block(*family, path.out_block)) return nullptr;
  if (!family->signed_input_ok && signed_input) return nullptr;
  return family->accumulate(path.out_block, path.pixel_vecs, signed_input);
}
}  // namespace sparse3x3

namespace {

Sparse3x3Geometry make_geometry(const Sparse3x3Problem& p, const Sparse3x3Path& path) {
  Sparse3x3Geometry g;
  const int s = p.stride;
  const int out_h = p.out_height(), out_w = p.out_width();
  g.lanes = path.layout == LaneLayout::kF32 ? p.in_channels : (p.in_channels + 3) / 4;
  // Stride 1: one padded plane. Stride 2: four phase planes, so that each tap
  // still reads consecutive pixels. Either way a plane needs out + 2/s rows
  // and columns.
  g.pitch = out_w + 2 / s;
  g.plane_rows = out_h + 2 / s;
  g.plane_elems = static_cast<int64_t>(g.plane_rows) * g.pitch;
  g.grid_pixels = static_cast<int64_t>(out_h) * g.pitch;
  const int tile = path.tile_pixels();
  if (path.axis == VectorAxis::kOutputChannels) {
    g.row_tiles = (out_w + tile - 1) / tile;
    g.tiles = out_h * g.row_tiles;
  } else {
    g.tiles = static_cast<int>((g.grid_pixels + tile - 1) / tile);
  }
  // Slack after the planes: the last tile reads up to one tile past the grid.
  const int64_t used = static_cast<int64_t>(s) * s * g.plane_elems + tile + 16;
  g.lane_stride = (used + 15) / 16 * 16;  // 64-byte aligned lanes
  for (int q = 0; q < 9; ++q) {
    const int ky = q / 3, kx = q % 3;
    const int plane = (ky % s) * s + kx % s;
    g.tap_offset[q] = plane * g.plane_elems + static_cast<int64_t>(ky / s) * g.pitch + kx / s;
  }
  return g;
}

// Pixel vectors per tile: as many as the register block allows, then evened
// out so the last tile wastes as little as possible.
int choose_pixel_vecs(int64_t grid_pixels, int vector_pixels, int max_vecs) {
  const int64_t vecs_needed = (grid_pixels + vector_pixels - 1) / vector_pixels;
  const int64_t tiles = (vecs_needed + max_vecs - 1) / max_vecs;
  return static_cast<int>(std::clamp<int64_t>((vecs_needed + tiles - 1) / tiles, 1, max_vecs));
}

// Checks the problem and the operands, and expands the taps (checking them:
// the only check of the taps a kernel's creation makes) to dense
// [O][I][9] s8 weights.
std::vector<int8_t> checked_dense_taps(const Sparse3x3Problem& p, std::span<const uint8_t> taps,
                                       std::span<const float> weight_scales,
                                       std::span<const float> bias) {
  auto fail = [](const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument, "sparse 3x3 kernel: " + what);
  };
  if (p.in_channels < 1 || p.out_channels < 1) fail("channel counts must be positive");
  if (p.height < 1 || p.width < 1) fail("input height and width must be positive");
  if (p.stride != 1 && p.stride != 2) fail("stride must be 1 or 2");
  if (p.density < 1 || p.density > 9) fail("density must be 1..9");
  if (weight_scales.size() != static_cast<size_t>(p.out_channels)) {
    fail("weight_scales has " + std::to_string(weight_scales.size()) + " values, expected " +
         std::to_string(p.out_channels));
  }
  if (bias.size() != static_cast<size_t>(p.out_channels)) {
    fail("bias has " + std::to_string(bias.size()) + " values, expected " +
         std::to_string(p.out_channels));
  }
  try {
    return unpack_taps(taps, p.out_channels, p.in_channels, p.density);
  } catch (const Error& e) {
    fail(e.what());
  }
  return {};
}

}  // namespace

namespace sparse3x3 {

// Per (output channel, lane), bit q set when the weight at tap q is nonzero:
// the statistics every path's cost is computed from. kF32 lanes are input
// channels; kQuad lanes 4 of them.
struct TapStatistics {
  int out_channels = 0;
  int f32_lanes = 0, quad_lanes = 0;
  std::vector<uint16_t> f32;   // [O][f32_lanes]
  std::vector<uint16_t> quad;  // [O][quad_lanes]

  TapStatistics(std::span<const int8_t> dense, int O, int I)
      : out_channels(O), f32_lanes(I), quad_lanes((I + 3) / 4) {
    f32.assign(static_cast<size_t>(O) * f32_lanes, 0);
    quad.assign(static_cast<size_t>(O) * quad_lanes, 0);
    for (int o = 0; o < O; ++o) {
      for (int i = 0; i < I; ++i) {
        uint16_t taps = 0;
        for (int q = 0; q < 9; ++q) {
          if (dense[(static_cast<size_t>(o) * I + i) * 9 + static_cast<size_t>(q)] != 0) {
            taps = static_cast<uint16_t>(taps | (1u << q));
          }
        }
        f32[static_cast<size_t>(o) * f32_lanes + i] = taps;
        quad[static_cast<size_t>(o) * quad_lanes + i / 4] |= taps;
      }
    }
  }

  // Per lane of `layout`, the taps any of output channels [first, end) keeps.
  void block_taps(LaneLayout layout, int first, int end, std::vector<uint16_t>& out) const {
    const int lanes = layout == LaneLayout::kF32 ? f32_lanes : quad_lanes;
    const std::vector<uint16_t>& masks = layout == LaneLayout::kF32 ? f32 : quad;
    out.assign(static_cast<size_t>(lanes), 0);
    for (int o = first; o < std::min(end, out_channels); ++o) {
      const uint16_t* row = masks.data() + static_cast<size_t>(o) * lanes;
      for (int lane = 0; lane < lanes; ++lane) out[static_cast<size_t>(lane)] |= row[lane];
    }
  }
};

// How a path splits a layer: everything packing needs besides the weights,
// and the path's estimated cost.
struct PathPlan {
  Sparse3x3Geometry geometry;
  int lanes_per_chunk = 1;
  int chunks = 0;
  int block_count = 0;
  int blocks_per_task = 1;
  double cost = 0;
};

PathPlan plan_path(const Sparse3x3Problem& problem, const Sparse3x3Path& path,
                   const TapStatistics& stats) {
  PathPlan plan;
  const Sparse3x3Geometry g = make_geometry(problem, path);
  plan.geometry = g;
  if (g.staged_bytes() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw Error(ErrorCode::kUnsupported, "sparse 3x3 kernel: staged input of " +
                                             std::to_string(g.staged_bytes()) +
                                             " bytes exceeds the 2 GiB the kernel can address");
  }
  const int O = problem.out_channels;
  const int OB = path.out_block;
  const int T = path.tile_pixels();
  const int s = problem.stride;
  plan.block_count = (O + OB - 1) / OB;
  const int64_t window_elems =
      static_cast<int64_t>(s) * s * (T + static_cast<int64_t>(2 / s) * g.pitch + 2 / s);
  const bool tile_program = path.isa == Isa::kAmx;
  plan.lanes_per_chunk =
      static_cast<int>(std::clamp<int64_t>(kChunkInputBytes / (window_elems * 4), 1, g.lanes));
  // The tile program's entries hold 16 lanes: chunks of whole entries.
  if (tile_program) {
    plan.lanes_per_chunk =
        std::min(g.lanes, std::max(kTileRows, plan.lanes_per_chunk / kTileRows * kTileRows));
  }
  plan.chunks = (g.lanes + plan.lanes_per_chunk - 1) / plan.lanes_per_chunk;
  plan.blocks_per_task = std::min(std::max(1, kTaskOutputChannels / OB), plan.block_count);

  const int pv = path.pixel_vecs;
  const bool by_channels = path.axis == VectorAxis::kOutputChannels;
  // Tiles that run the entries of tap row ky: an output-channel tile is one
  // output row and skips the tap rows that read its padding rows (zeros);
  // a pixel tile spans rows and runs them all.
  int64_t tiles_reading[3];
  for (int ky = 0; ky < 3; ++ky) {
    int rows = problem.out_height();
    if (by_channels) {
      rows = 0;
      for (int oy = 0; oy < problem.out_height(); ++oy) {
        const auto [begin, end] = problem.tap_rows(oy);
        rows += ky >= begin && ky < end ? 1 : 0;
      }
    }
    tiles_reading[ky] = by_channels ? int64_t{rows} * g.row_tiles : g.tiles;
  }
  // Registers of the block: OB weights x PV inputs (kOutputChannels: OB / 16
  // weight vectors, split-loaded, x PV broadcast pixels).
  const int weight_regs = by_channels ? OB / 16 : OB;
  const double op_cycles = weight_regs * pv / 2.0;
  const double load_cycles = by_channels ? (kSplitLoadFactor * weight_regs + pv + 1) / 2.0
                                         : (kSplitLoadFactor * pv + OB + 1) / 2.0;
  const double entry_cycles =
      (path.isa == Isa::kScalar ? 4.0 * OB * T
                                : std::max(op_cycles, load_cycles) + kEntryOverheadCycles) *
      (path.isa == Isa::kAvx2 ? 2.0 : 1.0);  // avx2: half-width vectors, same tile count model

  // An entry is one (lane, tap) any of the block's weights keeps; sums of
  // integers, exact in double.
  double entry_runs = 0;  // sum over entries of the tiles that run them
  double call_cycles_per_tile = 0;
  double tile_program_cycles_per_tile = 0;
  std::vector<uint16_t> lane_taps;
  for (int b = 0; b < plan.block_count; ++b) {
    stats.block_taps(path.layout, b * OB, b * OB + OB, lane_taps);
    if (tile_program) {
      const int channel_tiles = OB / 16;
      for (int c = 0; c < plan.chunks; ++c) {
        const int lane_begin = c * plan.lanes_per_chunk;
        const int lane_end = std::min(g.lanes, lane_begin + plan.lanes_per_chunk);
        const sparse3x3::TileEntryCounts counts =
            sparse3x3::count_tile_entries(sparse3x3::tile_rows(lane_taps, lane_begin, lane_end), g);
        tile_program_cycles_per_tile +=
            static_cast<double>(counts.entries) *
                (kTileDotCycles * channel_tiles * pv + kTileLoadCycles * (channel_tiles + pv)) +
            static_cast<double>(counts.gathered) * kTileGatherCycles * pv;
        // The first chunk's accumulators start from zero (tilezero), so
        // they are stored but not loaded.
        call_cycles_per_tile +=
            kTileCallCycles + kTileAccumulatorCycles * (c == 0 ? 1 : 2) * channel_tiles * pv;
      }
      continue;
    }
    for (int ky = 0; ky < 3; ++ky) {
      const unsigned row_taps = 7u << (3 * ky);
      int64_t row_entries = 0;
      for (uint16_t taps : lane_taps) row_entries += std::popcount(taps & row_taps);
      entry_runs += static_cast<double>(row_entries) * tiles_reading[ky];
    }
    call_cycles_per_tile += plan.chunks * (2.0 * weight_regs * pv + kCallOverheadCycles);
  }
  plan.cost =
      entry_runs * entry_cycles + (tile_program_cycles_per_tile + call_cycles_per_tile) * g.tiles;
  // The output-channel epilogue transposes blocks of 16 channels x 16
  // pixels (AVX-512): about 0.5 cycles per output element (fitted like the
  // constants above; 0.6 when it gathered each channel's pixels, 2.0 when it
  // stored each output with a scalar chain).
  if (by_channels) plan.cost += kChannelEpilogueCycles * plan.block_count * OB * T * g.tiles;
  return plan;
}

}  // namespace sparse3x3

namespace {

using sparse3x3::PathPlan;
using sparse3x3::TapStatistics;

std::string path_label(const Sparse3x3Path& path) {
  return std::string(layout_name(path)) + "_ob" + std::to_string(path.out_block) + "x" +
         std::to_string(path.tile_pixels());
}

}  // namespace

const char* layout_name(const Sparse3x3Path& path) {
  if (path.layout == LaneLayout::kF32) return "f32";
  if (path.isa == Isa::kAmx) return "quadtile";
  return path.axis == VectorAxis::kOutputChannels ? "quadoc" : "quad";
}

std::vector<Sparse3x3Path> SparseConv3x3Kernel::candidate_paths(const Sparse3x3Problem& problem,
                                                                Isa isa) {
  std::vector<Sparse3x3Path> paths;
  const int64_t grid =
      static_cast<int64_t>(problem.out_height()) * (problem.out_width() + 2 / problem.stride);
  // Table order; the three-block (pixel-vector) families interleave their
  // blocks (ob 1 of each, then ob 2, then ob 4): the first of equal costs
  // wins, so the order is part of the choice.
  auto add = [&](const PathFamily& family, int out_block) {
    if (family.isa > isa || !isa_supported(family.isa)) return;
    if (!family.signed_input_ok && problem.signed_input) return;
    Sparse3x3Path path;
    path.isa = family.isa;
    path.layout = family.layout;
    path.axis = family.axis;
    path.out_block = out_block;
    path.vector_pixels = family.vector_pixels;
    const int max_vecs = family.max_pixel_vecs(out_block);
    path.pixel_vecs = family.axis == VectorAxis::kOutputChannels
                          ? choose_pixel_vecs(problem.out_width(), 1, max_vecs)
                          : choose_pixel_vecs(grid, family.vector_pixels, max_vecs);
    paths.push_back(path);
  };
  auto interleaved = [](const PathFamily& family) { return family.out_block_sizes[3] == 0; };
  for (int slot = 0; slot < 3; ++slot) {
    for (const PathFamily& family : kPathFamilies) {
      if (interleaved(family)) add(family, family.out_block_sizes[slot]);
    }
  }
  for (const PathFamily& family : kPathFamilies) {
    if (interleaved(family)) continue;
    for (int out_block : family.out_block_sizes) add(family, out_block);
  }
  return paths;
}

SparseConv3x3Kernel SparseConv3x3Kernel::create(const Sparse3x3Problem& problem,
                                                std::span<const uint8_t> taps,
                                                std::span<const float> weight_scales,
                                                std::span<const float> bias, Activation activation,
                                                Isa isa) {
  const std::vector<int8_t> dense = checked_dense_taps(problem, taps, weight_scales, bias);
  std::vector<Sparse3x3Path> paths = candidate_paths(problem, isa);
  // A family superseded by a path of a higher level runs only where none can.
  Isa top = Isa::kScalar;
  for (const Sparse3x3Path& path : paths) top = std::max(top, path.isa);
  std::erase_if(paths,
                [&](const Sparse3x3Path& path) { return family_of(path)->superseded_at <= top; });
  if (paths.empty()) {
    throw Error(ErrorCode::kUnsupported,
                "sparse 3x3 kernel: no path for ISA " + std::string(isa_name(isa)));
  }
  // Plan, then pack: every path is scored from the tap statistics, and only
  // the cheapest (the first of equals) is packed.
  const TapStatistics stats(dense, problem.out_channels, problem.in_channels);
  size_t best = 0;
  PathPlan best_plan;
  for (size_t p = 0; p < paths.size(); ++p) {
    PathPlan plan = plan_path(problem, paths[p], stats);
    if (p == 0 || plan.cost < best_plan.cost) {
      best = p;
      best_plan = plan;
    }
  }
  return pack(problem, dense, stats, weight_scales, bias, activation, paths[best], best_plan,
              sparse3x3::accumulate_for(paths[best], problem.signed_input), false);
}

SparseConv3x3Kernel SparseConv3x3Kernel::create_on_path(const Sparse3x3Problem& problem,
                                                        std::span<const uint8_t> taps,
                                                        std::span<const float> weight_scales,
                                                        std::span<const float> bias,
                                                        Activation activation,
                                                        const Sparse3x3Path& path) {
  const std::vector<int8_t> dense = checked_dense_taps(problem, taps, weight_scales, bias);
  const sparse3x3::AccumulateFn accumulate =
      isa_supported(path.isa) ? sparse3x3::accumulate_for(path, problem.signed_input) : nullptr;
  if (accumulate == nullptr) {
    throw Error(ErrorCode::kUnsupported, "sparse 3x3 kernel: path " + path_label(path) + "__" +
                                             isa_name(path.isa) +
                                             " cannot run this problem on this CPU");
  }
  const TapStatistics stats(dense, problem.out_channels, problem.in_channels);
  return pack(problem, dense, stats, weight_scales, bias, activation, path,
              plan_path(problem, path, stats), accumulate, false);
}

SparseConv3x3Kernel SparseConv3x3Kernel::create_emulating_tiles(
    const Sparse3x3Problem& problem, std::span<const uint8_t> taps,
    std::span<const float> weight_scales, std::span<const float> bias, Activation activation,
    const Sparse3x3Path& path) {
  const std::vector<int8_t> dense = checked_dense_taps(problem, taps, weight_scales, bias);
  // The emulated tile unit needs only the AVX-512 staging and epilogue.
  const bool runs = path.isa == Isa::kAmx && isa_supported(Isa::kAvx512) &&
                    sparse3x3::accumulate_for(path, problem.signed_input) != nullptr;
  if (!runs) {
    throw Error(ErrorCode::kUnsupported, "sparse 3x3 kernel: path " + path_label(path) + "__" +
                                             isa_name(path.isa) +
                                             " has no emulated tile program on this CPU");
  }
  const TapStatistics stats(dense, problem.out_channels, problem.in_channels);
  return pack(
      problem, dense, stats, weight_scales, bias, activation, path, plan_path(problem, path, stats),
      sparse3x3::accumulate_quad_tiles_emulated(path.out_block / 16, path.pixel_vecs), true);
}

SparseConv3x3Kernel SparseConv3x3Kernel::pack(
    const Sparse3x3Problem& problem, std::span<const int8_t> dense, const TapStatistics& stats,
    std::span<const float> weight_scales, std::span<const float> bias, Activation activation,
    const Sparse3x3Path& path, const PathPlan& plan, sparse3x3::AccumulateFn accumulate,
    bool emulated_tiles) {
  SparseConv3x3Kernel k;
  k.problem_ = problem;
  k.path_ = path;
  k.accumulate_ = accumulate;
  k.emulated_tiles_ = emulated_tiles;
  k.activation_ = activation;
  k.weight_scales_.assign(weight_scales.begin(), weight_scales.end());
  k.bias_.assign(bias.begin(), bias.end());
  const Sparse3x3Geometry& g = plan.geometry;
  k.geometry_ = g;
  k.block_count_ = plan.block_count;
  k.chunks_ = plan.chunks;
  k.blocks_per_task_ = plan.blocks_per_task;
  k.cost_ = plan.cost;

  const int O = problem.out_channels, I = problem.in_channels;
  auto weight = [&](int o, int i) -> const int8_t* {
    return &dense[(static_cast<size_t>(o) * I + i) * 9];
  };
  const int OB = path.out_block;
  const bool tile_program = path.isa == Isa::kAmx;
  const bool f32 = path.layout == LaneLayout::kF32;
  const int64_t max_abs_input = max_abs_byte_activation(problem.signed_input);
  k.starts_.reserve(static_cast<size_t>(k.chunks_) * k.block_count_ * 3 + 1);
  k.flush_after_chunk_.assign(static_cast<size_t>(k.chunks_), 0);
  std::vector<int64_t> bound_since_flush(static_cast<size_t>(O), 0);
  std::vector<int64_t> bound_chunk(static_cast<size_t>(O), 0);
  std::vector<uint16_t> lane_taps;
  int64_t entries = 0;

  for (int c = 0; c < k.chunks_; ++c) {
    const int lane_begin = c * plan.lanes_per_chunk;
    const int lane_end = std::min(g.lanes, lane_begin + plan.lanes_per_chunk);
    std::fill(bound_chunk.begin(), bound_chunk.end(), 0);
    for (int b = 0; b < k.block_count_; ++b) {
      if (tile_program) {
        // Pixel tiles run every tap row: one range (rows 1 and 2 empty).
        k.starts_.push_back(static_cast<int64_t>(k.entries_.size()));
        stats.block_taps(LaneLayout::kQuad, b * OB, b * OB + OB, lane_taps);
        const std::vector<sparse3x3::TileRow> rows =
            sparse3x3::tile_rows(lane_taps, lane_begin, lane_end);
        sparse3x3::append_tile_entries(rows, dense, O, I, g, b * OB, OB / 16, k.entries_);
        k.starts_.push_back(static_cast<int64_t>(k.entries_.size()));
        k.starts_.push_back(static_cast<int64_t>(k.entries_.size()));
        entries += static_cast<int64_t>(rows.size());
        continue;
      }
      // Grouped by tap row, so a tile runs one contiguous range of them.
      for (int ky = 0; ky < 3; ++ky) {
        k.starts_.push_back(static_cast<int64_t>(k.entries_.size()));
        for (int lane = lane_begin; lane < lane_end; ++lane) {
          for (int q = 3 * ky; q < 3 * ky + 3; ++q) {
            int32_t words[64] = {};
            bool any = false;
            for (int ob = 0; ob < OB; ++ob) {
              const int o = b * OB + ob;
              if (o >= O) break;
              if (f32) {
                const int w = weight(o, lane)[q];
                if (w == 0) continue;
                const float wf = static_cast<float>(w);
                std::memcpy(&words[ob], &wf, 4);
                bound_chunk[static_cast<size_t>(o)] += std::abs(w) * max_abs_input;
                any = true;
              } else {
                uint8_t bytes[4] = {0, 0, 0, 0};
                for (int j = 0; j < 4; ++j) {
                  const int i = lane * 4 + j;
                  if (i < I) bytes[j] = static_cast<uint8_t>(weight(o, i)[q]);
                }
                std::memcpy(&words[ob], bytes, 4);
                any = any || words[ob] != 0;
              }
            }
            if (!any) continue;
            const int64_t offset =
                (static_cast<int64_t>(lane) * g.lane_stride + g.tap_offset[q]) * 4;
            k.entries_.push_back(static_cast<int32_t>(offset));
            k.entries_.insert(k.entries_.end(), words, words + OB);
            ++entries;
          }
        }
      }
    }
    if (f32) {
      // Flush before this chunk if it could push a partial sum past 2^24.
      bool overflow = false;
      for (int o = 0; o < O; ++o) {
        const auto ou = static_cast<size_t>(o);
        if (bound_chunk[ou] > kExactF32Limit) {
          throw Error(ErrorCode::kInternal, "sparse 3x3 kernel: one chunk exceeds the fp32 bound");
        }
        overflow = overflow || bound_since_flush[ou] + bound_chunk[ou] > kExactF32Limit;
      }
      if (overflow && c > 0) {
        k.flush_after_chunk_[static_cast<size_t>(c - 1)] = 1;
        k.needs_flush_ = true;
        std::fill(bound_since_flush.begin(), bound_since_flush.end(), 0);
      }
      for (int o = 0; o < O; ++o)
        bound_since_flush[static_cast<size_t>(o)] += bound_chunk[static_cast<size_t>(o)];
    }
  }
  if (k.needs_flush_) k.flush_after_chunk_[static_cast<size_t>(k.chunks_ - 1)] = 1;
  k.entry_count_ = entries;
  k.groups_outer_ = k.entries_.size() * sizeof(int32_t) > kCachedEntryBytes;
  k.starts_.push_back(static_cast<int64_t>(k.entries_.size()));
  return k;
}

std::string SparseConv3x3Kernel::name() const {
  return "sparse3x3_k" + std::to_string(problem_.density) + "_s" + std::to_string(problem_.stride) +
         "_" + path_label(path_) + "__" + isa_name(path_.isa) +
         (emulated_tiles_ ? "_emulated" : "");
}

}  // namespace sparq::kernels
