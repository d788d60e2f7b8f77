// The N-of-9 pruned 3x3 convolution (pad 1, stride 1 or 2) over raw buffers.
//
// How the chip maps onto the CPU here:
// - The aligner becomes addressing. The input of one sample is staged once into
//   zero-padded planes ("lanes"); for stride 2 each lane is split into its four
//   row/column phases. Output pixels are numbered on a grid whose row pitch is
//   the plane's, so the input of tap (ky, kx) for output pixel p is always
//   lane_base + tap_offset[ky*3+kx] + p: one fixed address offset per tap.
// - The array step becomes an outer product: a block of OB output channels x
//   a tile of pixels is accumulated in registers; each "entry" is one (lane,
//   tap) with OB weights, applied as broadcast weight x vector of pixels.
// - Vector axis (VectorAxis): registers hold pixels (weights broadcast) or,
//   on VNNI, 16 output channels (input quads broadcast).
// - Lane layouts: kF32 stages one channel per lane as exact fp32 integers
//   (FMA is exact while partial sums stay below 2^24; the plan proves the
//   bound per layer and flushes to int32 where it cannot); kQuad interleaves 4
//   channels per lane as bytes so one vpdpbusd element sums the 4 channels of one
//   tap: a quad's entry covers the union of its 4 channels' tap positions,
//   which costs nothing extra when input channels share patterns (in_group%4==0).
// - AMX (isa kAmx, "quadtile"): the quad lanes and pixel-form accumulators,
//   with 16 (lane, tap) pairs per tile instruction; only the pairs a block of
//   16 to 64 output channels keeps are multiplied (kernels/matrix_tiles/tile_program.hpp).
// Every entry list is a subset of the densified layer's entries run by the same
// code, so a pruned layer never costs more than the same layer dense on the
// same path; the plan picks the cheapest path for the ISA (docs/BREAK_EVEN.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common/window_geometry.hpp"
#include "kernels/isa/isa.hpp"
#include "kernels/quantize/quantize.hpp"
#include "sparq/ops.hpp"

namespace sparq::kernels {

namespace sparse3x3 {
struct PathPlan;
struct TapStatistics;
using AccumulateFn = void (*)(const uint8_t* tile_input, const int32_t* entries,
                              const int32_t* entries_end, void* acc, bool fresh);
}  // namespace sparse3x3

struct Sparse3x3Problem {
  int in_channels = 0;
  int out_channels = 0;
  int height = 0;  // input
  int width = 0;
  int stride = 1;  // 1 or 2; pad is always 1
  int density = 9;
  bool signed_input = false;  // s8 activations (else u8)
  int out_height() const { return static_cast<int>(window_output_size(height, 3, stride, 1)); }
  // The tap rows ky in [first, second) whose input row oy * stride + ky - 1
  // of output row oy lies inside the input; the others read only padding.
  std::pair<int, int> tap_rows(int oy) const {
    int begin = 0, end = 3;
    while (oy * stride + begin - 1 < 0) ++begin;
    while (end > begin && oy * stride + end - 2 >= height) --end;
    return {begin, end};
  }
  int out_width() const { return static_cast<int>(window_output_size(width, 3, stride, 1)); }
};

enum class LaneLayout : uint8_t { kF32, kQuad };

// What one vector register holds. kPixels: 16 (or 8) consecutive grid pixels
// of one output channel, weights broadcast; tiles are runs of the padded grid.
// kOutputChannels (quad, VNNI): 16 output channels of one pixel, input quads
// broadcast; tiles are segments of one output row, so no grid padding is
// computed (the better layout for small planes).
enum class VectorAxis : uint8_t { kPixels, kOutputChannels };

// One concrete implementation: ISA, lane layout, register block.
struct Sparse3x3Path {
  Isa isa = Isa::kScalar;
  LaneLayout layout = LaneLayout::kQuad;
  VectorAxis axis = VectorAxis::kPixels;
  // The register block: out_block (OB) output channels x pixel_vecs (PV)
  // pixel vectors of vector_pixels consecutive grid pixels each. The
  // output-channel form broadcasts one pixel per "vector" (vector_pixels 1)
  // and holds 16 output channels per register instead.
  int out_block = 1;
  int pixel_vecs = 1;
  int vector_pixels = 16;
  int tile_pixels() const { return pixel_vecs * vector_pixels; }
};

// "f32", "quad" or "quadoc" (quad lanes, output-channel vectors): the layout
// part of kernel names.
const char* layout_name(const Sparse3x3Path& path);

// Where the staged ("aligned") input lives and how taps address it.
struct Sparse3x3Geometry {
  // Staged lanes (one zero-padded plane set each): channels (kF32) or
  // ceil(channels / 4) (kQuad). A "lane" is always one of these, never a
  // vector element (those are pixels: vector_pixels).
  int lanes = 0;
  int pitch = 0;  // row pitch of a plane and of the output grid
  int plane_rows = 0;
  int64_t plane_elems = 0;
  int64_t lane_stride = 0;  // elements (4 bytes each) between lanes, incl. slack
  int64_t grid_pixels = 0;  // out_height * pitch (columns >= out_width are discarded)
  int tiles = 0;
  int row_tiles = 0;           // kOutputChannels: tiles per output row (tile t: row t / row_tiles)
  int64_t tap_offset[9] = {};  // elements, relative to a lane's base
  size_t staged_bytes() const { return static_cast<size_t>(lanes) * lane_stride * 4; }
};

// One sample's operands: `input` [C, H, W] u8 (or s8), its activation
// scale, and `output` [O, Hout, Wout]: f32, or, with a fused static quantize
// (output_quantization.scale > 0), u8 (s8 when signed) holding the quantize
// rule's bytes of those f32 values with that fixed scale.
struct Sparse3x3Sample {
  const void* input = nullptr;
  float act_scale = 1.0f;
  void* output = nullptr;
  OutputQuantization output_quantization;
  // f32 output only: every value written also widens the RangeLanes in the
  // scratch of the worker that writes it (worker_range).
  bool widen_range = false;
  // f32 output only, a fused residual add (FusedResidual, enabled): f32
  // [O, Hout, Wout] values joining the output's by the add's rule.
  const float* residual = nullptr;
  FusedResidual residual_add;
};

// A sample's work as items for the operator's workers, which run them through
// SparseConv3x3Kernel::run_items, `grain` consecutive items at a time.
struct Sparse3x3Work {
  enum class Item : uint8_t {
    // (pixel tile, output-block group) tasks on the whole staged input (one
    // worker: staged into its scratch; several: shared_staging), in the
    // planned order, or group-major (groups_major).
    kTasks,
    // Row bands of tiles, each staging the plane rows it reads (its share
    // plus the 2 / stride rows below, which the next band stages too) into
    // the worker's scratch: no barrier between staging and computing, and no
    // core reads rows another core wrote.
    kBands,
  };
  Item item = Item::kTasks;
  // kTasks on several workers: task t is (tile t % tiles, group t / tiles),
  // so that a worker's contiguous share of the tasks is a share of the
  // output channels.
  bool groups_major = false;
  // kTasks on several workers: the operator first stages the input once,
  // each worker a share of the lanes (stage_lanes), into one buffer that
  // every worker's tasks then read.
  bool shared_staging = false;
  int64_t items = 0;
  int64_t grain = 1;
};

// The most samples one pass of SparseConv3x3Kernel::run_samples runs.
inline constexpr int kMaxPassSamples = 16;

class SparseConv3x3Kernel {
 public:
  // Repacks `taps` (sparse_format.hpp) for the cheapest path available at
  // `isa`. Throws Error(kInvalidArgument) on inconsistent sizes or taps.
  static SparseConv3x3Kernel create(const Sparse3x3Problem& problem, std::span<const uint8_t> taps,
                                    std::span<const float> weight_scales,
                                    std::span<const float> bias, Activation activation, Isa isa);
  // Same on an explicitly chosen path (tests and benchmarks); throws
  // Error(kUnsupported) when the path cannot run this problem or this CPU.
  static SparseConv3x3Kernel create_on_path(const Sparse3x3Problem& problem,
                                            std::span<const uint8_t> taps,
                                            std::span<const float> weight_scales,
                                            std::span<const float> bias, Activation activation,
                                            const Sparse3x3Path& path);
  // A kAmx path's tile program on a portable model of the tile unit instead
  // of the unit itself (tests on CPUs without AMX; much slower). Needs
  // AVX-512 for the staging and epilogue the real path uses; throws
  // Error(kUnsupported) otherwise or for another path.
  static SparseConv3x3Kernel create_emulating_tiles(const Sparse3x3Problem& problem,
                                                    std::span<const uint8_t> taps,
                                                    std::span<const float> weight_scales,
                                                    std::span<const float> bias,
                                                    Activation activation,
                                                    const Sparse3x3Path& path);
  // Every path this CPU can run for the problem (for tests and benchmarks).
  static std::vector<Sparse3x3Path> candidate_paths(const Sparse3x3Problem& problem, Isa isa);

  // How one sample's work splits for `threads` workers, and the items' order.
  Sparse3x3Work work(int threads) const;
  // Scratch one worker needs (a multiple of 64 bytes; 64-byte aligned by the
  // caller): its staged input, its accumulators, then its RangeLanes.
  size_t worker_scratch_bytes() const;
  // The RangeLanes in a worker's scratch: the caller zeroes them (a fresh
  // RangeLanes) before a sample with widen_range, and folds every worker's
  // after it (after a ReLU or ReLU6 only the maxima are widened, infinities
  // included: QuantizeKernels::widen_lanes_nonnegative).
  RangeLanes* worker_range(void* worker_scratch) const;
  // Runs items [begin, end) of `work` for one sample on the calling thread,
  // with `worker_scratch` private to it. kTasks items run on the sample's
  // whole staged input: `staged` (staged_input_bytes(), by stage_lanes for
  // every lane: a shared buffer, or this worker's own scratch from an
  // earlier call), or, when null, staged into the worker's scratch first.
  // Every output element is written by exactly one item, the same way
  // whichever worker runs it, so the result does not depend on the workers
  // or the order.
  void run_items(const Sparse3x3Sample& sample, const Sparse3x3Work& work, int64_t begin,
                 int64_t end, void* worker_scratch, const uint8_t* staged) const;
  // Samples worth running in one pass of run_samples, at most `batch`: 1
  // unless the entries outgrow L2 (groups_outer_), where a pass runs group
  // by group over every sample's tiles, so a group's entries come from memory
  // once per pass instead of once per sample (the batch's weight reuse:
  // VGG-11's 512-channel 3x3 layers on a 2x2 plane, 35 instead of 46 us per
  // sample in passes of 6 on a Zen 5 core), as many as keep the samples'
  // staged inputs and a group's entries within L2.
  int samples_per_pass(int64_t batch) const;
  // Runs whole samples on the calling thread in the planned task order (every
  // output value the same as run_items gives it): where the entries outgrow
  // L2, group by group over every sample's tiles, else sample after sample.
  // `scratch` holds samples.size()
  // worker scratches back to back (worker_scratch_bytes() each, 64-byte
  // aligned): sample i stages into the i-th and widens its RangeLanes
  // (worker_range), which the caller zeroes before and folds after.
  void run_samples(std::span<const Sparse3x3Sample> samples, void* scratch) const;
  // Stages lanes [lane_begin, lane_end) of the sample's input back to back
  // from `out` (64-byte aligned): lane l at out + (l - lane_begin) *
  // lane_bytes(). All lanes from 0 make a whole staged input; a run of them,
  // a share of shared_staging.
  void stage_lanes(const void* input, int lane_begin, int lane_end, uint8_t* out) const;
  // Lanes of the staged input (channels, or channel quads).
  int lanes() const { return geometry_.lanes; }
  // Bytes of one staged lane (a multiple of 64).
  size_t lane_bytes() const { return static_cast<size_t>(geometry_.lane_stride) * 4; }
  // Bytes of one staged input (a multiple of 64), the start of a worker's
  // scratch.
  size_t staged_input_bytes() const;
  // How many of `threads` are worth using for one sample: below about 7 us
  // of work per thread (the planner's estimate plus staging and epilogue),
  // waking another costs more than it saves (ResNet-20 layers ran 1.2-3.6x
  // slower on 2 threads than on 1).
  int useful_threads(int threads) const;

  const Sparse3x3Problem& problem() const { return problem_; }
  const Sparse3x3Path& path() const { return path_; }
  // e.g. "sparse3x3_k3_s1_quad_ob4x96__vnni".
  std::string name() const;
  // Estimated cost (arbitrary units, comparable across paths of one problem).
  double estimated_cost() const { return cost_; }
  int64_t entry_count() const { return entry_count_; }

 private:
  SparseConv3x3Kernel() = default;
  // Repacks the dense taps for `path` as `plan` splits the layer.
  static SparseConv3x3Kernel pack(const Sparse3x3Problem& problem, std::span<const int8_t> dense,
                                  const sparse3x3::TapStatistics& stats,
                                  std::span<const float> weight_scales, std::span<const float> bias,
                                  Activation activation, const Sparse3x3Path& path,
                                  const sparse3x3::PathPlan& plan,
                                  sparse3x3::AccumulateFn accumulate, bool emulated_tiles);
  // Rows [row_begin, row_end) of every (phase) plane of staged lane `lane`,
  // whose bytes start at `lane_out`.
  void stage_rows(const void* input, int lane, int row_begin, int row_end, uint8_t* lane_out) const;
  // The grid pixel tile `tile` starts at (a run of the grid, or a segment of
  // one output row in the output-channel form).
  int64_t tile_first_pixel(int tile) const;
  // The last element tiles up to `tile_last` read, from a plane's start.
  int64_t last_element_read(int tile_last) const;
  // The plane rows [first, second) tiles [tile_begin, tile_end) read.
  std::pair<int, int> plane_rows_read(int tile_begin, int tile_end) const;
  // Output-block groups (tasks per tile).
  int groups() const { return (block_count_ + blocks_per_task_ - 1) / blocks_per_task_; }
  // Bytes of the accumulators of one (tile, group) task.
  size_t accumulator_bytes() const;
  // The accumulators in a worker's scratch, after its staged input.
  int32_t* worker_accumulators(void* worker_scratch) const;
  void compute_task(const uint8_t* staged, int32_t* acc, int tile, int group,
                    const Sparse3x3Sample& sample) const;

  Sparse3x3Problem problem_;
  Sparse3x3Path path_;
  Sparse3x3Geometry geometry_;
  sparse3x3::AccumulateFn accumulate_ = nullptr;  // the path's microkernel
  bool emulated_tiles_ = false;
  Activation activation_ = Activation::kNone;
  std::vector<float> weight_scales_;
  std::vector<float> bias_;
  // Entries of out-block b, chunk c, tap row ky: words [starts_[3 * slot + ky],
  // starts_[3 * slot + ky + 1]) for slot = c * blocks + b,
  // each entry = 1 + OB int32 words: byte offset, then OB weights (f32 bits or
  // 4 packed s8).
  std::vector<int32_t> entries_;
  std::vector<int64_t> starts_;
  int block_count_ = 0;
  int chunks_ = 0;
  // kF32 only: flush the fp32 accumulators into int32 after chunk c (keeps
  // every fp32 partial sum below 2^24).
  std::vector<uint8_t> flush_after_chunk_;
  bool needs_flush_ = false;
  int blocks_per_task_ = 1;
  // Task order: tile by tile (each tile's staged input stays in L1 while
  // every block group runs on it), or, when the entries outgrow L2, group by
  // group (each group's entries stay in L2 across the tiles).
  bool groups_outer_ = false;
  double cost_ = 0;
  int64_t entry_count_ = 0;
};

}  // namespace sparq::kernels
