// Dense convolution on the CPU. Chooses one of four paths at compile time:
//  - depthwise (groups == input channels == output channels): per-plane
//    vector loops over output columns;
//  - first layer (fewer than 4 input channels per group, quantized): window
//    quads, so the few channels do not waste 3/4 of each vpdpbusd lane;
//  - 1x1 and general (grouped) convolutions: channel quads; where the tiles
//    write the output planes themselves and a plane is small (at most
//    kLanePlanePixels, where whole 16-pixel vectors waste the most), in
//    channel-lane tiles of any pixel count (kernels/conv2d/direct_conv.hpp).
// On AMX the quantized first-layer, 1x1 and general paths run matrix tiles
// on the tile unit instead: 16 steps per instruction.
// Float convolutions use f32 planes and the reference summation order, so
// every path is bit-identical to the reference backend. A fused static
// quantize (Conv2dOp::output_quantization) quantizes each tile's f32 rows
// while they are still in the worker's cache (the staging of the channel-quad
// paths, a plane buffer on the depthwise path) with the quantize kernels, and
// writes u8/s8 planes. Quantized layers writing f32 (depthwise planes, and
// tiles that write the output planes) find each sample's range as they
// store it, for a dynamic quantize that reads it (writes_ranges): each
// worker widens its own RangeLanes per sample, folded once after the run.
// A fused max pool (Conv2dOp::pool) computes the layer in bands of rows into
// the worker's buffer, each band's rows those of a band of pooled rows, and
// pools them there with the pool kernels: the full-size map never reaches
// memory. Such a node's ranges are widened by the pooled values.
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/common/thread_work.hpp"
#include "kernels/conv2d/depthwise.hpp"
#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/matrix_tiles/tile_program.hpp"
#include "kernels/matrix_tiles/tile_unit_scope.hpp"
#include "kernels/pool/pool.hpp"
#include "kernels/quantize/quantize.hpp"
#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/cpu/cpu_common.hpp"
#include "runtime/backends/cpu/cpu_nodes.hpp"
#include "runtime/backends/integer_weights.hpp"
#include "sparq/error.hpp"

namespace sparq::cpu {
namespace {

using kernels::ConvGeometry;
using kernels::DirectLayout;
using kernels::DirectLayoutKind;
using kernels::kOutBlock;

enum class ConvPath { kDepthwise, kFirstLayer, kPointwise, kGeneral };

// Output planes up to 16x16 take the channel-lane tiles, when a group has at
// least one block of their output channels: in MobileNet-v1 on a Zen 5 core
// the 1x1 layers at 7x7 ran 20-22 % faster in them than in pixel-vector
// tiles, at 14x14 7 % faster, and at 28x28 and 56x56 1-4 % slower.
constexpr int64_t kLanePlanePixels = 256;

// The matrix tiles' register block: 32 output channels x 32 pixels, which
// loads the fewest tiles per tdpbsud (on a Xeon core the ResNet-18 stem took
// 311 us in it, 345-385 us in 64 x 16, 16 x 48 and 32 x 16, although its
// gathered K-tiles are gathered twice); 16 x 48 for groups of at most 16
// output channels, which would leave half of each 32-row block empty.
struct MatrixBlock {
  int channel_tiles, pixel_tiles;
};
MatrixBlock matrix_block(const ConvGeometry& g) {
  return g.out_per_group() <= 16 ? MatrixBlock{1, 3} : MatrixBlock{2, 2};
}

// Matrix tiles per kernel call (a run of pixels of one block): the kernel
// computes each tile while its epilogue stores the one before. On a Xeon
// core, 2 / 4 / 8 tiles per call: ResNet-18's 64 -> 128 stride-2 1x1 took
// 26.9 / 24.1-26.6 / 22.6-25.7 us (31-34 one tile per call), the 256 -> 256
// 1x1 at 14x14 19.6-20.4 / 17.4-18.4 / 15.7-17.0 us.
constexpr int64_t kMatrixSpanTiles = 8;

// Tiles per kernel call where the kernels take spans
// (DirectConvKernels::takes_spans): the call's setup and the index's
// decomposition are paid once per span. On a Zen 5 core, with 10 rounds of
// alternated processes, 8 pixel-vector tiles per call took the short-K 1x1
// layers (MobileNet-v1's 32 -> 64 at 112x112, ResNet-18's 64 -> 128
// stride-2 shortcut) 6-14 % less time by best times, the stem 3-6 %; 4
// tiles about half of that. Channel-lane tiles (planes of at most 256
// pixels) take 14 of them, a 14x14 plane: the 256 -> 256 1x1 at 14x14 ran
// 2-5 % faster than one tile per call, 2 % with 4.
constexpr int64_t kVectorSpanTiles = 8;
constexpr int64_t kLaneSpanTiles = 14;

// Where the input quads one span reads over all its steps take at most this
// many bytes (L1 holds them), a worker runs its whole weight blocks span
// after span, every block over one span, instead of block after block over
// every span: the span's quads are then read from L2 once instead of once per
// block (a block's weights are a few hundred bytes and stay in L1 either
// way). On a Zen 5 core, MobileNet-v1's 32 -> 64 1x1 at 112x112 (eight
// blocks over 33 spans of 12 KiB) took 6 % less time writing f32, 1 % less
// writing bytes (their epilogue is the bound). Wider inputs keep block after
// block: their spans outgrow L1, and a block's weights are then what stays
// in cache.
constexpr int64_t kSpansOuterInputBytes = 32 * 1024;

// Calls tile(ng, b, t) for the indices [begin, end) of ((ng * blocks) + b) *
// spans + t, a worker's contiguous share: in index order, or with
// `spans_outer` its whole blocks of each ng span after span (the share's
// partial first and last blocks in index order, before and after them).
template <class Tile>
void walk_tiles(int64_t begin, int64_t end, int64_t blocks, int64_t spans, bool spans_outer,
                const Tile& tile) {
  const int64_t per_ng = blocks * spans;
  for (int64_t index = begin; index < end;) {
    const int64_t ng = index / per_ng;
    const int64_t stop = std::min(end, (ng + 1) * per_ng);
    // The index's (b, t) within ng, decomposed once and then stepped: a
    // division per span costs as much as a small tile's setup.
    auto in_order = [&](int64_t from, int64_t to) {
      int64_t b = from / spans, t = from % spans;
      for (int64_t i = from; i < to; ++i) {
        tile(ng, b, t);
        if (++t == spans) {
          t = 0;
          ++b;
        }
      }
    };
    const int64_t first = index - ng * per_ng, last = stop - ng * per_ng;
    const int64_t whole_begin = (first + spans - 1) / spans, whole_end = last / spans;
    if (!spans_outer || whole_begin >= whole_end) {
      in_order(first, last);
    } else {
      in_order(first, whole_begin * spans);
      for (int64_t t = 0; t < spans; ++t) {
        for (int64_t b = whole_begin; b < whole_end; ++b) tile(ng, b, t);
      }
      in_order(whole_end * spans, last);
    }
    index = stop;
  }
}

// Pooled rows per band of a fused max pool: as many as keep the band's
// layer rows of one block of output channels within 512 KiB (in L2 while
// they are pooled), at least one. Each band computes the rows its windows
// share with the next band's again: on a Xeon core the ResNet-18 stem and
// its pool took 410-430 us in bands of 128 KiB (4 pooled rows, 9 layer
// rows), 380-387 us in 512 KiB and 1 MiB ones, 440 us unfused.
int64_t pool_band_rows(const kernels::PoolGeometry& p, int64_t block_rows) {
  constexpr int64_t kBandFloats = 512 * 1024 / 4;
  const int64_t rows = kBandFloats / std::max<int64_t>(1, block_rows * p.in_w);
  return std::clamp<int64_t>((rows - p.kernel_h) / p.stride_h + 1, 1, p.out_h);
}

const char* path_name(ConvPath path) {
  switch (path) {
    case ConvPath::kDepthwise:
      return "depthwise";
    case ConvPath::kFirstLayer:
      return "first_layer";
    case ConvPath::kPointwise:
      return "1x1";
    case ConvPath::kGeneral:
      return "direct";
  }
  return "direct";
}

class Conv2dNode : public CompiledNode {
 public:
  Conv2dNode(const Graph& graph, const Node& node)
      : name_(node.name),
        op_(std::get<Conv2dOp>(node.op)),
        input_(layout_of(graph, node.inputs[0])),
        output_(layout_of(graph, node.output)) {
    g_ = kernels::conv_geometry(op_, input_.shape, output_.shape);
    quantized_ = op_.weights.dtype() != DType::kF32;
    const kernels::Isa active = kernels::active_isa();
    fused_ = op_.output_quantization.enabled();
    pooled_ = op_.pool.enabled;
    rectified_ = output_is_rectified(node.op);
    if (pooled_) {
      pool_ = kernels::fused_pool_geometry(op_.pool, g_);
      pool_kernels_ = kernels::pool_kernels(active);
      quantize_ = kernels::quantize_kernels(active);
    }
    if (fused_) {
      quantize_ = kernels::quantize_kernels(active);
      fused_format_ = kernels::fused_quantize(op_.output_quantization);
    }

    if (g_.groups == g_.in_channels && g_.groups == g_.out_channels) {
      path_ = ConvPath::kDepthwise;
    } else if (quantized_ && g_.in_per_group() < 4) {
      path_ = ConvPath::kFirstLayer;
    } else if (g_.kernel_h == 1 && g_.kernel_w == 1) {
      path_ = ConvPath::kPointwise;
    } else {
      path_ = ConvPath::kGeneral;
    }

    std::vector<int8_t> values;
    if (quantized_) {
      values = decode_integer_weights(op_.weights);
      check_int32_accumulator(graph, node);
    }
    if (path_ == ConvPath::kDepthwise) {
      depthwise_ = kernels::depthwise_kernels(active, g_);
      isa_ = depthwise_.isa;
      if (quantized_) depthwise_weights_.assign(values.begin(), values.end());
      depthwise_runs_ = quantized_ && input_.dtype == DType::kU8 && depthwise_.takes_runs &&
                        depthwise_.takes_runs(g_);
      if (depthwise_runs_) {
        depthwise_quads_ =
            kernels::depthwise_row_quads(depthwise_weights_.data(), g_.in_channels, g_);
      }
      ranged_ = quantized_ && !fused_;
      if (ranged_) quantize_ = kernels::quantize_kernels(active);
      return;
    }
    if (quantized_) {
      layout_ = kernels::make_direct_layout(g_, path_ == ConvPath::kFirstLayer
                                                    ? DirectLayoutKind::kWindowQuads
                                                    : DirectLayoutKind::kChannelQuads);
      quant_ = kernels::direct_conv_kernels(active);
      isa_ = quant_.isa;
      tile_ = quant_.tile_pixels;
      if (quant_.matrix_tile != nullptr) {
        const MatrixBlock shape = matrix_block(g_);
        matrix_tile_ = quant_.matrix_tile(shape.channel_tiles, shape.pixel_tiles);
        tile_ = 16 * shape.pixel_tiles;
        block_rows_ = 16 * shape.channel_tiles;
        tile_entries_ = kernels::pack_direct_weights_tiles(values.data(), g_, layout_,
                                                           compensation_, shape.channel_tiles);
      } else {
        lanes_ = quant_.lane_tile != nullptr && path_ != ConvPath::kFirstLayer &&
                 layout_.plane_w == g_.out_w && g_.out_h * g_.out_w <= kLanePlanePixels &&
                 g_.out_per_group() >= kernels::kLaneBlock;
        if (lanes_) {
          tile_ = quant_.lane_tile_pixels;
          block_rows_ = kernels::kLaneBlock;
        }
        packed_s8_ =
            kernels::pack_direct_weights_s8(values.data(), g_, layout_, compensation_, block_rows_);
      }
      // Tiles whose flat pixels are output pixels store only output values;
      // a fused pool widens by what it writes.
      ranged_ = pooled_ || (!fused_ && layout_.plane_w == g_.out_w);
      if (ranged_) quantize_ = kernels::quantize_kernels(active);
      // u8 inputs are read as they are: no correction.
      if (input_.dtype == DType::kU8) std::fill(compensation_.begin(), compensation_.end(), 0);
    } else {
      layout_ = kernels::make_direct_layout(g_, DirectLayoutKind::kF32Planes);
      float_ = kernels::float_conv_kernels(active);
      isa_ = float_.isa;
      tile_ = float_.tile_pixels;
      packed_f32_ = kernels::pack_direct_weights_f32(op_.weights.data<float>(), g_, layout_);
    }
    span_ = tile_;
    if (matrix_tile_ != nullptr) {
      span_ = tile_ * kMatrixSpanTiles;
    } else if (quantized_ && quant_.takes_spans) {
      span_ = tile_ * (lanes_ ? kLaneSpanTiles : kVectorSpanTiles);
    }
    // The matrix tiles keep block after block: blocks innermost made the
    // tile unit load back rows its own stores had just written (the
    // ResNet-18 stem took 530 us instead of 300 on one Xeon thread).
    const auto span_input_bytes =
        static_cast<int64_t>(layout_.step_offsets.size()) * span_ * layout_.element_bytes;
    spans_outer_ =
        quantized_ && matrix_tile_ == nullptr && span_input_bytes <= kSpansOuterInputBytes;
    const int64_t group_input_bytes = group_elements() * (quantized_ ? 1 : sizeof(float));
    replicating_pack_ = group_buffer_bytes() >= 2 * group_input_bytes;
    // Padded copies so every block reads block_rows_ entries.
    const int64_t padded = g_.groups * kernels::out_blocks(g_, block_rows_) * block_rows_;
    block_bias_.assign(static_cast<size_t>(padded), 0.0f);
    block_scale_.assign(static_cast<size_t>(padded), 0.0f);
    block_compensation_.assign(static_cast<size_t>(padded), 0);
    for (int64_t o = 0; o < g_.out_channels; ++o) {
      const auto slot = static_cast<size_t>(padded_slot(o));
      block_bias_[slot] = op_.bias[static_cast<size_t>(o)];
      if (quantized_) {
        block_scale_[slot] = op_.weight_scales[static_cast<size_t>(o)];
        block_compensation_[slot] = compensation_[static_cast<size_t>(o)];
      }
    }
  }

  // Depthwise: one plane buffer per worker. Otherwise: the packed input of
  // every (sample, group), then each worker's tile staging; or, where the
  // workers share a sample (packs_per_worker), each worker's tile staging
  // and its own packed input.
  size_t scratch_bytes(int64_t batch, int threads) const override {
    const size_t ranges = range_lanes_bytes(batch, threads);
    if (path_ == ConvPath::kDepthwise) {
      return ranges + worker_slots_bytes(depthwise_worker_bytes(), threads);
    }
    const bool own = packs_per_worker(batch, threads);
    return ranges + (own ? 0 : packed_bytes(batch)) +
           worker_slots_bytes(tile_slot_bytes(own), threads);
  }

  bool writes_ranges() const override { return ranged_; }

  std::string kernel_name() const override {
    return kernel_label(std::string("conv2d_") + (quantized_ ? "q8_" : "f32_") + path_name(path_) +
                            (lanes_ ? "_lanes" : "") + (matrix_tile_ != nullptr ? "_tiles" : "") +
                            (fused_ ? std::string("_to_") + to_string(output_.dtype) : "") +
                            (pooled_ ? "_max_pool" : ""),
                        isa_);
  }

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    const int64_t batch = check_views(name_, inputs, {&input_, 1}, output, output_);
    auto* scratch = static_cast<uint8_t*>(ctx.scratch);
    if (scratch == nullptr) {
      throw Error(ErrorCode::kInvalidArgument,
                  "node '" + name_ + "': run without the scratch buffer it asked for");
    }
    if (fused_) {
      for (int64_t n = 0; n < batch; ++n) output.scales[n] = op_.output_quantization.scale;
    }
    // Worker w's lanes of sample n: range_lanes[w * batch + n].
    kernels::RangeLanes* range_lanes = nullptr;
    if (ranged_ && output.ranges != nullptr) {
      range_lanes = std::construct_at(reinterpret_cast<kernels::RangeLanes*>(scratch));
      for (int64_t i = 1; i < batch * std::max(ctx.threads, 1); ++i) {
        std::construct_at(range_lanes + i);
      }
    }
    scratch += range_lanes_bytes(batch, ctx.threads);
    // The scratch is laid out for ctx.threads workers; the regions use the
    // first `workers` of them.
    const int workers = useful_threads(batch, ctx.threads);
    if (path_ == ConvPath::kDepthwise) {
      run_depthwise(inputs[0], output, batch, workers, scratch, range_lanes);
    } else {
      const bool own = packs_per_worker(batch, ctx.threads);
      if (!own) pack_inputs(inputs[0], batch, workers, scratch);
      compute_tiles(inputs[0], output, batch, workers, own, scratch, range_lanes);
    }
    if (range_lanes != nullptr) fold_ranges(range_lanes, output, batch, ctx.threads);
  }

 private:
  // Each sample's range from its workers' lanes (fold_range_lanes).
  void fold_ranges(const kernels::RangeLanes* range_lanes, const TensorView& output, int64_t batch,
                   int threads) const {
    const int64_t sample = output_.shape.elements();
    for (int64_t n = 0; n < batch; ++n) {
      output.ranges[n] = fold_range_lanes(
          std::max(threads, 1), [&](int w) -> const auto& { return range_lanes[w * batch + n]; },
          output.as<float>() + n * sample, sample, quantize_);
    }
  }

  // How many of `threads` the layer is worth: all when every thread gets
  // samples of its own, else as many as one sample's estimated cycles pay
  // for (kernels/common/thread_work.hpp). Splitting ResNet-20's 3 -> 16 stem
  // at 32x32 (8 us on one Xeon core) over 2 threads took it to 13 us, and
  // its 1x1 downsamples from 2 to 5 us.
  int useful_threads(int64_t batch, int threads) const {
    if (threads <= 1 || batch >= threads) return std::max(threads, 1);
    const double outputs = static_cast<double>(g_.out_channels) * g_.out_h * g_.out_w;
    const double inputs = static_cast<double>(g_.in_channels) * g_.in_h * g_.in_w;
    const double macs =
        outputs * static_cast<double>(g_.in_per_group()) * g_.kernel_h * g_.kernel_w;
    const double cycles = static_cast<double>(batch) *
                          (macs / macs_per_cycle() + kernels::kStagingCyclesPerByte * inputs +
                           kernels::kEpilogueCyclesPerOutput * outputs);
    return kernels::threads_worth(cycles, threads);
  }

  // Products per cycle the layer's path sustains on one core, roughly: the
  // tile unit; else the vector lanes, each a product of floats or a dot of
  // byte quads at about half its four products per cycle.
  double macs_per_cycle() const {
    if (matrix_tile_ != nullptr) return 128;
    const double lanes = isa_ >= kernels::Isa::kAvx512 ? 16 : isa_ == kernels::Isa::kAvx2 ? 8 : 1;
    return quantized_ ? 2 * lanes : lanes;
  }

  // The range lanes at the start of the scratch: one per worker and sample.
  size_t range_lanes_bytes(int64_t batch, int threads) const {
    if (!ranged_) return 0;
    return static_cast<size_t>(batch * std::max(threads, 1)) * sizeof(kernels::RangeLanes);
  }

  // The fused max pool over layer rows `rows` (geometry g: a band of them,
  // or a whole plane) into `out`, by the pool node's rule and kernels.
  void pool_rows(const float* rows, const kernels::PoolGeometry& g, float* out,
                 float* scratch) const {
    (rectified_ ? pool_kernels_.max_plane_relu : pool_kernels_.max_plane)(rows, out, g, scratch);
  }

  // Widens `lanes` by f32 values this node stored (after a ReLU or ReLU6
  // the maxima only).
  void widen(const float* values, int64_t count, kernels::RangeLanes& lanes) const {
    (op_.activation == Activation::kNone
         ? quantize_.widen_lanes
         : quantize_.widen_lanes_nonnegative)(values, static_cast<size_t>(count), lanes);
  }

  // The fused static quantize of f32 values src[0, count) into bytes
  // dst[0, count): the quantize kernels' rule.
  void quantize_row(const float* src, int64_t count, uint8_t* dst) const {
    const auto n = static_cast<size_t>(count);
    if (fused_format_.is_signed) {
      quantize_.to_s8(src, n, fused_format_.scale, reinterpret_cast<int8_t*>(dst));
    } else {
      quantize_.to_u8(src, n, fused_format_.scale, fused_format_.qmax, dst);
    }
  }

  // Depthwise worker: the kernel's plane scratch, then (fused, where the
  // kernel does not write the bytes itself, or pooled) the f32 plane it
  // quantizes or pools, then (pooled) the pool kernel's scratch.
  size_t depthwise_worker_bytes() const {
    const bool buffered = (fused_ && !depthwise_runs_) || pooled_;
    const auto plane = static_cast<size_t>(buffered ? g_.out_h * g_.out_w : 0);
    return (kernels::depthwise_scratch_elements(g_) + plane) * sizeof(float) + pool_scratch_bytes();
  }

  int64_t padded_slot(int64_t o) const {
    const int64_t og = g_.out_per_group();
    return (o / og) * kernels::out_blocks(g_, block_rows_) * block_rows_ + o % og;
  }

  size_t packed_bytes(int64_t batch) const {
    return static_cast<size_t>(batch * g_.groups * group_buffer_bytes());
  }

  // Whether each worker packs the input its tiles read into its own scratch
  // (where the scratch is laid out for `threads` workers): where the workers
  // share a sample and packing replicates the input (a first layer's window
  // quads, about 4x its bytes). Packed together into one buffer, each worker
  // read the half the other packed and wrote lines the other had read in the
  // run before; on a 2-vCPU Zen 5 guest whose cores share no cache,
  // ResNet-18's stem (604 KiB packed from 147 KiB) ran 387-408 us on 2
  // threads that way and 316-365 us packing privately. A 1x1 layer's pack is
  // as large as its input, so each worker packing all of it only doubles the
  // work (the 56x56 stride-2 shortcut 25 -> 30 us); workers with samples of
  // their own pack them together, each mostly its own.
  bool packs_per_worker(int64_t batch, int threads) const {
    return threads > 1 && batch < threads && replicating_pack_;
  }

  // A worker's slot: its tile staging, then (own packing) one packed group
  // from own_packed_offset().
  size_t tile_slot_bytes(bool own_packing) const {
    return own_packed_offset() + (own_packing ? static_cast<size_t>(group_buffer_bytes()) : 0);
  }
  size_t own_packed_offset() const { return worker_slot_bytes(tile_staging_bytes()); }

  // A tile's output block (block_rows_ rows of tile_ pixels) and its runs of
  // valid pixels.
  struct Run {
    int64_t dst, src, length;  // output pixel, tile pixel, count
  };
  // Where a fused pool's band of a block goes: base[r * stride + (y -
  // first_row) * out_w + x] holds output channel r's layer value at (y, x).
  // A null base: the output planes.
  struct BandTarget {
    float* base = nullptr;
    int64_t stride = 0;
    int64_t first_row = 0;
  };
  // Staging, the runs, then (fused) the staging's quantized bytes or
  // (pooled) the band of layer rows and the pool kernel's scratch.
  size_t tile_staging_bytes() const {
    if (!pooled_) return band_offset();
    return band_offset() + static_cast<size_t>(block_rows_ * band_stride()) * sizeof(float) +
           pool_scratch_bytes();
  }

  // The band's offset in a worker's slot (after the staging, the runs and
  // the fused bytes), 64-byte aligned like the slot.
  size_t band_offset() const {
    const size_t bytes = static_cast<size_t>(block_rows_ * span_) * sizeof(float) +
                         static_cast<size_t>(span_ + 1) * sizeof(Run) +
                         (fused_ ? static_cast<size_t>(block_rows_ * span_) : 0);
    return (bytes + 63) / 64 * 64;
  }

  // A fused pool's bands: pooled rows per band, and the layer rows (times
  // out_w floats) a band holds for each output channel.
  int64_t pool_band() const { return pooled_ ? pool_band_rows(pool_, block_rows_) : 0; }
  int64_t band_stride() const {
    if (!pooled_) return 0;
    return std::min(g_.out_h, (pool_band() - 1) * pool_.stride_h + pool_.kernel_h) * g_.out_w;
  }
  // The pool kernel's scratch for one band (or a depthwise plane).
  size_t pool_scratch_bytes() const {
    if (!pooled_) return 0;
    kernels::PoolGeometry band = pool_;
    if (path_ != ConvPath::kDepthwise) band.out_h = pool_band();
    return kernels::pool_scratch_floats(band) * sizeof(float);
  }

  int64_t group_buffer_bytes() const {
    // Rounded to a cache line so groups never share one.
    const int64_t bytes = layout_.buffer_elements(tile_) * layout_.element_bytes;
    return (bytes + 63) / 64 * 64;
  }

  // Quantized inputs are packed slot by slot (channel quads, or a first
  // layer's input channels), so that the threads share even one sample's
  // only group: a 1x1 downsample's stride-2 pack is as long as its tiles.
  void pack_inputs(const ConstTensorView& input, int64_t batch, int threads,
                   uint8_t* scratch) const {
    if (!quantized_) {
      parallel_ranges(batch * g_.groups, threads, [&](int64_t begin, int64_t end) {
        for (int64_t ng = begin; ng < end; ++ng) {
          pack_group(input, ng, scratch + ng * group_buffer_bytes());
        }
      });
      return;
    }
    const int64_t slots = kernels::direct_input_slots(g_, layout_);
    parallel_ranges(batch * g_.groups * slots, threads, [&](int64_t begin, int64_t end) {
      // The range's runs of slots within one (sample, group).
      for (int64_t at = begin; at < end;) {
        const int64_t ng = at / slots, first = at % slots;
        const int64_t last = std::min(slots, first + (end - at));
        pack_slots(input, ng, first, last, scratch + ng * group_buffer_bytes());
        at += last - first;
      }
    });
  }

  // Slots [first, last) of (sample, group) ng's quantized input into `dst`
  // (group_buffer_bytes()).
  void pack_slots(const ConstTensorView& input, int64_t ng, int64_t first, int64_t last,
                  uint8_t* dst) const {
    const uint8_t flip = input_.dtype == DType::kS8 ? 0x80 : 0x00;
    const auto* src = static_cast<const uint8_t*>(input.data) + ng * group_elements();
    kernels::pack_direct_input_u8_slots(src, g_, layout_, flip, tile_, quant_.quad_rows, first,
                                        last, dst);
  }

  // The whole input of (sample, group) ng into `dst` (group_buffer_bytes()).
  void pack_group(const ConstTensorView& input, int64_t ng, uint8_t* dst) const {
    if (quantized_) {
      pack_slots(input, ng, 0, kernels::direct_input_slots(g_, layout_), dst);
      return;
    }
    kernels::pack_direct_input_f32(input.as<float>() + ng * group_elements(), g_, layout_, tile_,
                                   reinterpret_cast<float*>(dst));
  }

  // Input elements of one (sample, group).
  int64_t group_elements() const { return g_.in_per_group() * g_.in_h * g_.in_w; }

  // What a worker keeps over the tiles of one call.
  struct TileWorker {
    // Its argument block: a fresh one per tile was zeroed with a rep stos,
    // and a target built per call was read back across its partial stores;
    // both cost as much as a 1x1 tile's epilogue.
    kernels::QuantTileArgs args;
    int64_t packed = -1;  // own packing: the (sample, group) its buffer holds
  };

  // Tiles of every (sample, group) into `output`; with `own_packing`, each
  // worker packs the input its tiles read first, into its own slot.
  void compute_tiles(const ConstTensorView& input, const TensorView& output, int64_t batch,
                     int threads, bool own_packing, uint8_t* scratch,
                     kernels::RangeLanes* range_lanes) const {
    const int64_t blocks = kernels::out_blocks(g_, block_rows_);
    const int64_t spans = (layout_.pixels + span_ - 1) / span_;
    const int64_t og = g_.out_per_group();
    const int64_t out_plane = g_.out_h * g_.out_w;
    const auto steps = static_cast<int64_t>(layout_.step_offsets.size());
    // Matrix tiles: each block's K-tiles and their int32 words.
    const int64_t block_entries = kernels::matrix_tile_entries(layout_);
    const int64_t block_tile_words =
        block_entries * kernels::tile_entry_words(static_cast<int>(block_rows_ / 16));
    // Without discarded columns (1x1 and other pad-free stride-1 rows), flat
    // pixel q is output pixel q: quantized tiles write the output planes
    // themselves (f32, or the fused quantize's bytes).
    const bool direct_output = layout_.plane_w == g_.out_w;
    const size_t worker_slot = worker_slot_bytes(tile_slot_bytes(own_packing));
    const size_t packed_offset = own_packed_offset();
    uint8_t* staging_slots = scratch + (own_packing ? 0 : packed_bytes(batch));
    // Flat pixels [first, last) of block b of (sample, group) ng, into `dst`
    // (a fused pool's band: its rows from dst.first_row on, dst.stride
    // floats per output channel) or, without dst.base, the output planes.
    auto run_tile = [&](TileWorker& w, int worker, int64_t ng, int64_t b, int64_t first,
                        int64_t last, const BandTarget& dst) {
      kernels::QuantTileArgs& a = w.args;
      uint8_t* own = staging_slots + static_cast<size_t>(worker) * worker_slot;
      float* const staging = reinterpret_cast<float*>(own);
      Run* const runs =
          reinterpret_cast<Run*>(own + static_cast<size_t>(block_rows_ * span_) * sizeof(float));
      auto* const block_bytes = reinterpret_cast<uint8_t*>(runs + span_ + 1);
      const int64_t n = ng / g_.groups, grp = ng % g_.groups;
      const int64_t slot = (grp * blocks + b) * block_rows_;
      const uint8_t* packed = scratch + ng * group_buffer_bytes();
      if (own_packing) {
        uint8_t* mine = own + packed_offset;
        if (w.packed != ng) {
          pack_group(input, ng, mine);
          w.packed = ng;
        }
        packed = mine;
      }
      const int64_t rows = std::min(block_rows_, og - b * block_rows_);
      const int64_t block_at = (n * g_.out_channels + grp * og + b * block_rows_) * out_plane;
      // Where the block's rows go: the output planes, or a fused pool's band.
      float* block_out = fused_                ? nullptr
                         : dst.base != nullptr ? dst.base
                                               : output.as<float>() + block_at;
      const int64_t dst_stride = dst.base != nullptr ? dst.stride : out_plane;
      const int64_t dst_first = dst.base != nullptr ? dst.first_row * g_.out_w : 0;
      if (quantized_) {
        a.input = packed;
        a.step_offsets = layout_.step_offsets.data();
        a.steps = steps;
        if (matrix_tile_ != nullptr) {
          a.tile_entries = tile_entries_.data() + (grp * blocks + b) * block_tile_words;
          a.tile_entry_count = block_entries;
        } else {
          a.weights = packed_s8_.data() + (grp * blocks + b) * steps * block_rows_ * 4;
        }
        a.first_pixel = first;
        a.compensation = block_compensation_.data() + slot;
        a.act_scale = input.scales[n];
        a.weight_scale = block_scale_.data() + slot;
        a.bias = block_bias_.data() + slot;
        a.activation = op_.activation;
        // Flat pixels are output pixels: the tile writes the planes itself.
        a.out = direct_output && !fused_ ? block_out + (first - dst_first) : staging;
        a.out_stride = direct_output ? dst_stride : span_;
        a.rows = direct_output ? rows : block_rows_;
        a.valid = last - first;  // the staging scatter below copies no more
        a.out_bytes = nullptr;
        if (direct_output && fused_) {
          a.out_bytes = static_cast<uint8_t*>(output.data) + block_at + first;
          a.out_quantization = fused_format_;
        }
        a.range = nullptr;
        if (range_lanes != nullptr && dst.base == nullptr) {
          a.range = range_lanes + worker * batch + n;
        }
        (matrix_tile_ != nullptr ? matrix_tile_ : lanes_ ? quant_.lane_tile : quant_.quant_tile)(a);
        if (direct_output) return;
      } else {
        kernels::FloatTileArgs a;
        a.input = reinterpret_cast<const float*>(packed);
        a.step_offsets = layout_.step_offsets.data();
        a.steps = steps;
        a.weights = packed_f32_.data() + (grp * blocks + b) * steps * kOutBlock;
        a.first_pixel = first;
        a.bias = block_bias_.data() + slot;
        a.activation = op_.activation;
        a.out = staging;
        float_.float_tile(a);
      }
      // Scatter the valid pixels: flat pixel q = oy * plane_w + ox, and
      // columns ox >= out_w were computed only to keep the runs contiguous.
      // The runs are found once per tile (one division), then copied per row.
      int64_t run_count = 0;
      int64_t oy = first / layout_.plane_w, ox = first % layout_.plane_w, q = first;
      while (q < last) {
        const int64_t length = std::min(last - q, layout_.plane_w - ox);
        const int64_t valid = std::min(length, std::max<int64_t>(0, g_.out_w - ox));
        if (valid > 0) runs[run_count++] = {oy * g_.out_w + ox - dst_first, q - first, valid};
        q += length;
        ++oy;
        ox = 0;
      }
      if (fused_) {
        // The tile's rows in whole quantize calls (the runs are as short
        // as a 7-pixel plane row): a full tile's rows are one contiguous
        // span of the staging, a partial last tile goes row by row.
        const int64_t pixels = last - first;
        if (pixels == span_) {
          quantize_row(staging, rows * span_, block_bytes);
        } else {
          for (int64_t r = 0; r < rows; ++r)
            quantize_row(staging + r * span_, pixels, block_bytes + r * span_);
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = staging + r * span_;
        if (fused_) {
          auto* plane = static_cast<uint8_t*>(output.data) + block_at + r * out_plane;
          const uint8_t* bytes = block_bytes + r * span_;
          for (const Run& run : std::span<const Run>(runs, static_cast<size_t>(run_count))) {
            std::memcpy(plane + run.dst, bytes + run.src, static_cast<size_t>(run.length));
          }
          continue;
        }
        float* plane = block_out + r * dst_stride;
        for (const Run& run : std::span<const Run>(runs, static_cast<size_t>(run_count))) {
          std::memcpy(plane + run.dst, src + run.src,
                      static_cast<size_t>(run.length) * sizeof(float));
        }
      }
    };
    // Own packing: one contiguous share per worker, packed once (balanced
    // ranges would each pack the share's input again).
    auto worker_ranges = [&](int64_t count, const auto& body) {
      if (own_packing) {
        run_capped(count, threads, (count + threads - 1) / threads, body);
      } else {
        parallel_worker_ranges(count, threads, body);
      }
    };
    if (pooled_) {
      // index = ((sample * groups + group) * blocks + block) * bands + band,
      // a band being pool_band() pooled rows: the layer rows they read
      // (those of the band before and after overlap, and are computed
      // twice), then the pool over them, while they are in cache.
      const int64_t band_rows = pool_band(), stride = band_stride();
      const int64_t bands = (pool_.out_h + band_rows - 1) / band_rows;
      const int64_t pooled_plane = pool_.out_h * pool_.out_w;
      worker_ranges(batch * g_.groups * blocks * bands, [&](int worker, int64_t begin,
                                                            int64_t end) {
        uint8_t* own = staging_slots + static_cast<size_t>(worker) * worker_slot;
        auto* const band = reinterpret_cast<float*>(own + band_offset());
        float* const pool_scratch = band + block_rows_ * stride;
        const kernels::TileUnitScope tile_unit(matrix_tile_ != nullptr);
        TileWorker tiles;
        for (int64_t index = begin; index < end; ++index) {
          const int64_t ng = index / (blocks * bands), b = index / bands % blocks;
          const int64_t p0 = index % bands * band_rows;
          const int64_t p1 = std::min(pool_.out_h, p0 + band_rows);
          // Layer rows [r0, r1): the pooled rows' windows, inside the plane.
          const int64_t top = p0 * pool_.stride_h - pool_.pad_h;
          const int64_t r0 = std::max<int64_t>(0, top);
          const int64_t r1 =
              std::min(g_.out_h, (p1 - 1) * pool_.stride_h - pool_.pad_h + pool_.kernel_h);
          const BandTarget target{band, stride, r0};
          for (int64_t first = r0 * layout_.plane_w; first < r1 * layout_.plane_w; first += span_) {
            run_tile(tiles, worker, ng, b, first, std::min(first + span_, r1 * layout_.plane_w),
                     target);
          }
          // The band as a plane of r1 - r0 rows whose first pooled row
          // is p0: padding above it only where the plane's own is.
          kernels::PoolGeometry g = pool_;
          g.in_h = r1 - r0;
          g.out_h = p1 - p0;
          g.pad_h = r0 - top;
          const int64_t n = ng / g_.groups;
          const int64_t channel = ng % g_.groups * og + b * block_rows_;
          const int64_t rows = std::min(block_rows_, og - b * block_rows_);
          for (int64_t r = 0; r < rows; ++r) {
            float* pooled = output.as<float>() +
                            (n * g_.out_channels + channel + r) * pooled_plane + p0 * pool_.out_w;
            pool_rows(band + r * stride, g, pooled, pool_scratch);
            if (range_lanes != nullptr) {
              widen(pooled, (p1 - p0) * pool_.out_w, range_lanes[worker * batch + n]);
            }
          }
        }
      });
      return;
    }
    // index = ((sample * groups + group) * blocks + block) * spans + span
    // (of span_ pixels). A thread's share of the indices (a SpinTeam's
    // contiguous share) is a share of the output channels, the share of
    // channels the nodes after it give that thread (sample_parts.hpp); within
    // it, walk_tiles runs block after block, each block's weights staying in
    // cache over its spans, or (spans_outer_) span after span where a span's
    // input fits L1.
    worker_ranges(batch * g_.groups * blocks * spans, [&](int worker, int64_t begin, int64_t end) {
      const kernels::TileUnitScope tile_unit(matrix_tile_ != nullptr);
      TileWorker tiles;
      const BandTarget planes;
      walk_tiles(begin, end, blocks, spans, spans_outer_, [&](int64_t ng, int64_t b, int64_t t) {
        run_tile(tiles, worker, ng, b, t * span_, std::min((t + 1) * span_, layout_.pixels),
                 planes);
      });
    });
  }

  void run_depthwise(const ConstTensorView& input, const TensorView& output, int64_t batch,
                     int threads, uint8_t* scratch_slots, kernels::RangeLanes* range_lanes) const {
    const size_t slot = worker_slot_bytes(depthwise_worker_bytes());
    parallel_worker_ranges(
        batch * g_.in_channels, threads, [&](int worker, int64_t begin, int64_t end) {
          auto* const scratch =
              reinterpret_cast<float*>(scratch_slots + static_cast<size_t>(worker) * slot);
          kernels::RangeLanes* lanes = range_lanes ? range_lanes + worker * batch : nullptr;
          if (depthwise_runs_ && !pooled_) {
            run_depthwise_runs(input, output, begin, end, lanes);
            return;
          }
          for (int64_t plane = begin; plane < end; ++plane) {
            run_depthwise_plane(input, output, plane, scratch, lanes);
          }
        });
  }

  // Planes [begin, end) of the batch through the kernel's runs: one run per
  // sample they touch. `lanes`: the worker's range lanes, one per sample.
  void run_depthwise_runs(const ConstTensorView& input, const TensorView& output, int64_t begin,
                          int64_t end, kernels::RangeLanes* lanes) const {
    const int64_t in_plane = g_.in_h * g_.in_w, out_plane = g_.out_h * g_.out_w;
    for (int64_t plane = begin; plane < end;) {
      const int64_t n = plane / g_.in_channels;
      const kernels::DepthwiseQuantRun r = depthwise_run(
          input, n, plane % g_.in_channels, std::min(end, (n + 1) * g_.in_channels) - plane);
      const uint8_t* in = input.as<uint8_t>() + plane * in_plane;
      if (fused_) {
        depthwise_.run_u8_to_bytes(in, g_, r, fused_format_,
                                   static_cast<uint8_t*>(output.data) + plane * out_plane);
      } else if (lanes != nullptr) {
        depthwise_.run_u8_ranged(in, g_, r, output.as<float>() + plane * out_plane, lanes[n]);
      } else {
        depthwise_.run_u8(in, g_, r, output.as<float>() + plane * out_plane);
      }
      plane += r.count;
    }
  }

  // Channels [c, c + count) of sample n as a kernel run.
  kernels::DepthwiseQuantRun depthwise_run(const ConstTensorView& input, int64_t n, int64_t c,
                                           int64_t count) const {
    kernels::DepthwiseQuantRun r;
    r.count = count;
    r.row_quads = depthwise_quads_.data() + c * g_.kernel_h;
    r.weight_scales = op_.weight_scales.data() + c;
    r.bias = op_.bias.data() + c;
    r.act_scale = input.scales[n];
    r.activation = op_.activation;
    return r;
  }

  // One plane of the batch, through the worker's scratch where it is fused
  // (and the kernel does not write the bytes itself) or pooled.
  void run_depthwise_plane(const ConstTensorView& input, const TensorView& output, int64_t plane,
                           float* scratch, kernels::RangeLanes* lanes) const {
    const int64_t in_plane = g_.in_h * g_.in_w, out_plane = g_.out_h * g_.out_w;
    const int64_t taps = g_.kernel_h * g_.kernel_w;
    const int64_t n = plane / g_.in_channels, c = plane % g_.in_channels;
    float* out = fused_ || pooled_ ? scratch + kernels::depthwise_scratch_elements(g_)
                                   : output.as<float>() + plane * out_plane;
    const auto ci = static_cast<size_t>(c);
    if (!quantized_) {
      depthwise_.plane_f32(input.as<float>() + plane * in_plane, g_,
                           op_.weights.data<float>() + c * taps, op_.bias[ci], op_.activation, out,
                           scratch);
    } else if (depthwise_runs_) {
      depthwise_.run_u8(input.as<uint8_t>() + plane * in_plane, g_, depthwise_run(input, n, c, 1),
                        out);
    } else {
      kernels::DepthwiseQuantArgs a;
      a.weights = depthwise_weights_.data() + c * taps;
      a.act_scale = input.scales[n];
      a.weight_scale = op_.weight_scales[ci];
      a.bias = op_.bias[ci];
      a.activation = op_.activation;
      if (input_.dtype == DType::kU8) {
        depthwise_.plane_u8(input.as<uint8_t>() + plane * in_plane, g_, a, out, scratch);
      } else {
        depthwise_.plane_s8(input.as<int8_t>() + plane * in_plane, g_, a, out, scratch);
      }
    }
    if (pooled_) {
      const int64_t pooled_plane = pool_.out_h * pool_.out_w;
      float* pooled = output.as<float>() + plane * pooled_plane;
      pool_rows(out, pool_, pooled, out + out_plane);
      if (lanes != nullptr) widen(pooled, pooled_plane, lanes[n]);
      return;
    }
    // The plane is still in this core's cache.
    if (lanes != nullptr) widen(out, out_plane, lanes[n]);
    if (fused_) {
      quantize_row(out, out_plane, static_cast<uint8_t*>(output.data) + plane * out_plane);
    }
  }

  std::string name_;
  Conv2dOp op_;
  ValueLayout input_, output_;
  ConvGeometry g_;
  bool quantized_ = false;
  bool fused_ = false;          // output_quantization: u8/s8 output
  bool pooled_ = false;         // op_.pool: the output is the fused max pool's
  kernels::PoolGeometry pool_;  // pooled_: the pool over the layer's planes (g_)
  kernels::PoolKernels pool_kernels_{};
  bool rectified_ = false;       // a ReLU's output (no NaN, no -0): max_plane_relu pools it
  bool depthwise_runs_ = false;  // u8 planes go through the depthwise kernel's runs, which
                                 // also write a fused quantize's bytes themselves
  bool lanes_ = false;           // channel-lane tiles (quant_.lane_tile)
  bool ranged_ = false;          // quantized, f32 output stored from tiles or planes: writes_ranges
  int64_t block_rows_ = kOutBlock;  // output channels per weight block and tile
  kernels::QuantizeKernels quantize_{};
  kernels::FusedQuantize fused_format_;  // fused_: the bytes the output holds
  ConvPath path_ = ConvPath::kGeneral;
  kernels::Isa isa_ = kernels::Isa::kScalar;
  int64_t tile_ = 16;
  // Flat pixels per kernel call (and per staging row): a tile, or a run of
  // matrix tiles.
  int64_t span_ = 16;
  bool spans_outer_ = false;       // walk_tiles: a worker's whole blocks span after span
  bool replicating_pack_ = false;  // the packed input is at least twice the input's bytes
  DirectLayout layout_;
  kernels::DirectConvKernels quant_{};
  kernels::QuantTileFn matrix_tile_ = nullptr;  // the AMX matrix tile, where it runs
  std::vector<int32_t> tile_entries_;           // its weights (pack_direct_weights_tiles)
  kernels::FloatConvKernels float_{};
  kernels::DepthwiseKernels depthwise_{};
  std::vector<int8_t> packed_s8_;
  std::vector<float> packed_f32_;
  std::vector<int32_t> compensation_;
  std::vector<int32_t> depthwise_weights_;
  std::vector<int32_t> depthwise_quads_;  // depthwise_runs_: kernels::depthwise_row_quads
  std::vector<float> block_bias_, block_scale_;
  std::vector<int32_t> block_compensation_;
};

}  // namespace

std::unique_ptr<CompiledNode> compile_conv2d(const Graph& graph, const Node& node) {
  return std::make_unique<Conv2dNode>(graph, node);
}

}  // namespace sparq::cpu
