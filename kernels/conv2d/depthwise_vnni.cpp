// Depthwise planes of u8 activations on AVX512-VNNI, straight from the input
// plane (no phase copy): a kernel row of up to 4 columns is one quad of
// bytes per output pixel, so one vpdpbusd sums that kernel row for 16 output
// pixels, exactly in int32 (u8 x s8 products, 4 per lane). The quads are
// built in registers from a masked 64-byte load of the input row: vpermd
// gives each 128-bit lane the dwords its 4 pixels read, vpshufb picks each
// pixel's bytes. A quad's 4th byte (and those past kernel_w) meet zero
// weights; a column left of the plane gets a zeroing index, columns right of
// it are zero from the load mask. The weights come as one int32 quad per
// kernel row, packed once per layer (depthwise_row_quads), and the planes in
// runs of consecutive channels (DepthwiseQuantRun). Other geometries, and
// the planes of s8 inputs, take the AVX-512 path. The dequantization is the
// reference's dequantize_accumulator, one FMA per lane.
//
// Building the phase planes cost 65 % of a 64-channel 112x112 stride-2 layer
// on that path (a 16-bit or fp32 copy of every input byte before any MAC).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "kernels/common/dequantize_simd.hpp"
#include "kernels/common/lane_masks.hpp"
#include "kernels/common/simd_arch.hpp"
#include "kernels/conv2d/depthwise.hpp"
#include "kernels/quantize/store_quantized.hpp"

namespace sparq::kernels {
namespace {

constexpr int64_t kLanes = 16;          // output pixels per vector
constexpr int64_t kMaxKernelRows = 16;  // weight quads held per plane

// The two shuffles that turn 64 input bytes, starting at column `first`, into
// the quads of 16 output pixels: pixel p (lane p) reads columns
// first - shift + stride * p + t for t = 0..3. shift is 1 for the block at
// the left edge of a padded row (its first column, -1, is not loaded; the
// shuffle writes a zero there) and 0 elsewhere.
struct QuadShuffle {
  alignas(64) std::array<int32_t, 16> dwords;  // vpermd: 4 source dwords per 128-bit lane
  alignas(64) std::array<int8_t, 64> bytes;    // vpshufb within each lane; -128: zero
};

constexpr QuadShuffle make_quad_shuffle(int stride, int shift) {
  QuadShuffle s{};
  for (int lane = 0; lane < 4; ++lane) {
    // The first dword holding a byte this lane reads (its first pixel's
    // first column, or column 0 where that is the zeroed -1).
    const int first_byte = stride * 4 * lane - shift;
    const int base = first_byte < 0 ? 0 : first_byte / 4;
    for (int j = 0; j < 4; ++j) s.dwords[4 * lane + j] = base + j;
    for (int pixel = 0; pixel < 4; ++pixel) {
      for (int t = 0; t < 4; ++t) {
        const int position = stride * (4 * lane + pixel) + t - shift;
        s.bytes[16 * lane + 4 * pixel + t] =
            static_cast<int8_t>(position < 0 ? -128 : position - 4 * base);
      }
    }
  }
  return s;
}

// [stride - 1][shift]
constexpr QuadShuffle kShuffles[2][2] = {
    {make_quad_shuffle(1, 0), make_quad_shuffle(1, 1)},
    {make_quad_shuffle(2, 0), make_quad_shuffle(2, 1)},
};

// Byte offsets reached: the last pixel's last column, stride * 15 + 3, lies
// inside one 64-byte load.
static_assert(2 * (kLanes - 1) + 3 < 64);

bool takes_window_quads(const ConvGeometry& g) {
  return g.kernel_w <= 4 && g.kernel_h <= kMaxKernelRows && (g.stride_w == 1 || g.stride_w == 2) &&
         g.pad_w <= 1;
}

// One vector of 16 output columns [ox, ox + lanes) of every row: where its
// load starts and which of its bytes are inside the row, and its shuffles.
struct ColumnBlock {
  int64_t ox = 0, lanes = 0;
  __mmask16 store = 0;  // the vector's lanes inside the row: [0, lanes)
  int64_t first = 0;    // input column of the load
  __mmask64 load = 0;   // the bytes of the load inside the row
  __m512i dwords, bytes;
};

// Always inlined: out of line its two shuffle vectors came back through
// memory for every plane (on a Xeon core the 256-channel 28x28 layer took
// 56-59 us that way, 52-54 us inlined; 512 channels at 14x14 29-30 -> 27-28).
[[gnu::always_inline]] inline ColumnBlock column_block(const ConvGeometry& g, int64_t ox) {
  ColumnBlock c;
  c.ox = ox;
  c.lanes = std::min(kLanes, g.out_w - ox);
  c.store = static_cast<__mmask16>(first_lanes16(c.lanes));
  const int64_t window = ox * g.stride_w - g.pad_w;  // >= -1: pad_w <= 1
  const int shift = window < 0 ? 1 : 0;
  c.first = window + shift;
  c.load = inside_lanes(c.first, g.in_w, 64);
  const QuadShuffle& s = kShuffles[g.stride_w - 1][shift];
  c.dwords = _mm512_load_si512(s.dwords.data());
  c.bytes = _mm512_load_si512(s.bytes.data());
  return c;
}

using Floats = xsimd::batch<float, ArchAvx512>;

// The epilogue of one vector of sums: dequantize_activate (with
// act_scale * weight_scale rounded once).
struct Dequantize {
  Floats scale, bias;
  Activation activation;
  Floats operator()(__m512i sums) const {
    return dequantize_activate<ArchAvx512>(sums, scale, bias, activation);
  }
};

// The output planes run_blocks stores to: store_block() takes all R x B
// vectors of sums of a call (output rows oy .. oy + R - 1) into the plane
// that starts `at` elements past `out`; finish() once after the run. What a
// block's stores need is read into locals first: a vector store may alias
// anything, so the compiler would reload the plane's fields, the column
// blocks' offsets and masks after each of them.

// The R x B vectors of a block dequantized, each passed to
// put(y, destination, lanes) for row r, block b at rows + r * stride + ox,
// with the blocks' offsets and masks read into locals first.
template <int R, int B, class Put>
inline void put_floats(const __m512i (&acc)[R][B], const Dequantize& d, const ColumnBlock* cols,
                       float* rows, int64_t stride, Put put) {
  int64_t ox[B];
  __mmask16 lanes[B];
  for (int b = 0; b < B; ++b) {
    ox[b] = cols[b].ox;
    lanes[b] = cols[b].store;
  }
  for (int r = 0; r < R; ++r) {
    for (int b = 0; b < B; ++b) put(d(acc[r][b]), rows + r * stride + ox[b], lanes[b]);
  }
}

// f32 output planes, each vector dequantized just before its store.
struct FloatPlane {
  float* out;
  int64_t width;
  int64_t at = 0;
  template <int R, int B>
  void store_block(const __m512i (&acc)[R][B], const Dequantize& d, int64_t oy,
                   const ColumnBlock* cols) const {
    put_floats(acc, d, cols, out + at + oy * width, width,
               [](Floats y, float* to, __mmask16 m) { _mm512_mask_storeu_ps(to, m, y); });
  }
  void finish() const {}
};

// f32 output planes whose stored values also widen a range, held in
// registers over the run (mutable: the walk's steps take their output by
// const reference; in locals over a block) and written back by finish().
template <Activation A>
struct RangedFloatPlane {
  float* out;
  int64_t width;
  RangeLanes* range;
  int64_t at = 0;
  mutable Floats high = Floats::load_aligned(range->high), low = Floats::load_aligned(range->low);
  template <int R, int B>
  void store_block(const __m512i (&acc)[R][B], const Dequantize& d, int64_t oy,
                   const ColumnBlock* cols) const {
    Floats h = high, l = low;
    put_floats(acc, d, cols, out + at + oy * width, width, [&](Floats y, float* to, __mmask16 m) {
      _mm512_mask_storeu_ps(to, m, y);
      Quantize<ArchAvx512>::widen_stored(_mm512_maskz_mov_ps(m, y), h, l, A != Activation::kNone);
    });
    high = h;
    low = l;
  }
  void finish() const {
    high.store_aligned(range->high);
    low.store_aligned(range->low);
  }
};

// The bytes of a fused static quantize, rounded and clamped in registers by
// the quantize kernels' rule: a call's R x B vectors through one rounding
// check (QuantizedStore::store_n; one check per vector took a 256-channel
// 28x28 layer from 48 us with f32 output to 104 us, 77 us this way).
struct BytePlane {
  uint8_t* out;
  int64_t width;
  QuantizedStore<ArchAvx512> quantize;
  int64_t at = 0;
  template <int R, int B>
  void store_block(const __m512i (&acc)[R][B], const Dequantize& d, int64_t oy,
                   const ColumnBlock* cols) const {
    Floats y[R * B];
    uint8_t* dst[R * B];
    int64_t lanes[R * B];
#pragma GCC unroll 32
    for (int i = 0; i < R * B; ++i) {
      y[i] = d(acc[i / B][i % B]);
      dst[i] = out + at + (oy + i / B) * width + cols[i % B].ox;
      lanes[i] = cols[i % B].lanes;
    }
    quantize.store_n(y, dst, lanes);
  }
  void finish() const {}
};

// The quads of input row `row` for B column blocks (zero where the row is
// padding: a load mask of 0).
template <int B>
inline void row_quads(const uint8_t* row, bool inside, const ColumnBlock* cols, __m512i* quads) {
#pragma GCC unroll 4
  for (int b = 0; b < B; ++b) {
    const __m512i bytes = _mm512_maskz_loadu_epi8(inside ? cols[b].load : 0, row + cols[b].first);
    quads[b] = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(cols[b].dwords, bytes), cols[b].bytes);
  }
}

// Output rows [oy, oy + R) of B column blocks: R x B accumulators. Input
// rows are walked once each: a row's quads (one load and two shuffles per
// block) feed every output row whose window holds it (3 of them at stride 1,
// kernel 3), one vpdpbusd each. KH and SH, where not 0, are the kernel
// height and row stride as constants: the walk is then unrolled whole (no
// test per row and output row), padding rows loaded as zeros; otherwise
// they are read from g and padding rows skipped.
template <int R, int B, int KH, int SH, class Out>
void run_blocks(const uint8_t* in, const ConvGeometry& g, const __m512i* weight_rows,
                const ColumnBlock* cols, int64_t oy, const Dequantize& d, const Out& out) {
  __m512i acc[R][B];
  for (int r = 0; r < R; ++r) {
    for (int b = 0; b < B; ++b) acc[r][b] = _mm512_setzero_si512();
  }
  const int64_t kernel_h = KH > 0 ? KH : g.kernel_h, stride_h = SH > 0 ? SH : g.stride_h;
  const int64_t top = oy * stride_h - g.pad_h;  // input row of ky = 0 in output row oy
  const int64_t span = (R - 1) * stride_h + kernel_h;
  // Adds row j's quads to the output rows whose window holds it.
  auto accumulate = [&](int64_t j, const __m512i* quads) {
  // Unrolled, so that the accumulators stay in registers.
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int64_t ky = j - r * stride_h;
      if (ky < 0 || ky >= kernel_h) continue;
#pragma GCC unroll 4
      for (int b = 0; b < B; ++b)
        acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], quads[b], weight_rows[ky]);
    }
  };
  if constexpr (KH > 0 && SH > 0) {
#pragma GCC unroll 16
    for (int64_t j = 0; j < (R - 1) * SH + KH; ++j) {
      const int64_t iy = top + j;
      const bool inside = iy >= 0 && iy < g.in_h;
      __m512i quads[B];
      row_quads<B>(in + (inside ? iy : 0) * g.in_w, inside, cols, quads);
      accumulate(j, quads);
    }
  } else {
    const int64_t first = std::max<int64_t>(0, -top), end = std::min(span, g.in_h - top);
    const uint8_t* row = in + (top + first) * g.in_w;
    for (int64_t j = first; j < end; ++j, row += g.in_w) {
      __m512i quads[B];
      row_quads<B>(row, true, cols, quads);
      accumulate(j, quads);
    }
  }
  out.template store_block<R, B>(acc, d, oy, cols);
}

// Column blocks per group, and output rows per run_blocks call: 8 / B (at
// least 2), so narrow planes (one block per row) keep as many sums in flight
// and walk fewer input rows twice.
constexpr int kBlockVectors = 4;
constexpr int rows_per_call(int blocks) {
  return blocks == 1 ? 8 : blocks == 2 ? 4 : 2;
}

// Every output row of B column blocks: in calls of rows_per_call(B) rows
// (of 7 for one-block planes whose height is a multiple of 7), the last rows
// in calls of 4, 2 and 1 where they fit (a lone row's sums are one dependent
// chain per vector).
template <int B, int KH, int SH, class Out>
void run_columns(const uint8_t* in, const ConvGeometry& g, const __m512i* weight_rows,
                 const ColumnBlock* cols, const Dequantize& d, const Out& out) {
  int64_t oy = 0;
  auto rows = [&]<int R>() {
    for (; oy + R <= g.out_h; oy += R) {
      run_blocks<R, B, KH, SH>(in, g, weight_rows, cols, oy, d, out);
    }
  };
  constexpr int kRows = rows_per_call(B);
  if constexpr (B == 1) {
    // 7x7 and 14x14 planes in calls of 7 rows, not 8 + 4 + 2 (+ 1): no
    // latency-bound short calls and fewer input rows walked twice (512
    // planes of 14x14: 25.3-26.0 -> 23.1-24.7 us on a Zen 5 core). 14 rows
    // in one call spill (2.4x slower).
    if (g.out_h % 7 == 0) rows.template operator()<7>();
  }
  rows.template operator()<kRows>();
  if constexpr (kRows > 4) rows.template operator()<4>();
  if constexpr (kRows > 2) rows.template operator()<2>();
  rows.template operator()<1>();
}

// run_columns with the kernel height and row stride as constants for the
// 3x3 layers (stride 1 and 2) of narrow planes, one block per row (14x14:
// 0.68 of the time of the loop with tests); with more blocks the loop was
// faster (28x28, two blocks: 0.71 of the unrolled time), so other planes
// read them from g.
template <int B, class Out>
void run_columns_of(const uint8_t* in, const ConvGeometry& g, const __m512i* weight_rows,
                    const ColumnBlock* cols, const Dequantize& d, const Out& out) {
  if constexpr (B == 1) {
    if (g.kernel_h == 3 && g.stride_h == 1) {
      run_columns<B, 3, 1>(in, g, weight_rows, cols, d, out);
      return;
    }
    if (g.kernel_h == 3 && g.stride_h == 2) {
      run_columns<B, 3, 2>(in, g, weight_rows, cols, d, out);
      return;
    }
  }
  run_columns<B, 0, 0>(in, g, weight_rows, cols, d, out);
}

// The planes [first, end) of a run through one column group of B blocks.
template <int B, class Out>
void run_group(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantRun& r,
               const ColumnBlock* cols, int64_t first, int64_t end, Out& out) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  for (int64_t i = first; i < end; ++i) {
    __m512i weight_rows[kMaxKernelRows];
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      weight_rows[ky] = _mm512_set1_epi32(r.row_quads[i * g.kernel_h + ky]);
    }
    const Dequantize d{Floats(r.act_scale * r.weight_scales[i]), Floats(r.bias[i]), r.activation};
    out.at = i * out_plane;
    run_columns_of<B>(in + i * in_plane, g, weight_rows, cols, d, out);
  }
}

// The column blocks of the group of output columns from ox on (up to
// kBlockVectors of them); returns how many.
[[gnu::always_inline]] inline int column_group(const ConvGeometry& g, int64_t ox,
                                               ColumnBlock* cols) {
  int blocks = 0;
  for (; blocks < kBlockVectors && ox + blocks * kLanes < g.out_w; ++blocks) {
    cols[blocks] = column_block(g, ox + blocks * kLanes);
  }
  return blocks;
}

// `out` by value, finished here: a plane held by reference keeps its range
// in memory wherever the walk is not inlined into the plane's owner (every
// store then reloads and stores it: MobileNet-v1's ReLU6 planes took
// 515 -> 620-730 us in the network that way). Planes one vector wide (14x14,
// 7x7) share their block and dispatch, set up once for the run: per plane,
// that setup was a fifth of a 512-channel 14x14 layer. Wider planes go one at
// a time, a column group after the other: walking a run of them in one loop
// made GCC shuffle the accumulators between registers (256 channels at 28x28:
// 39 -> 48 us).
template <class Out>
void window_quad_run(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantRun& r,
                     Out out) {
  ColumnBlock cols[kBlockVectors];
  if (g.out_w <= kLanes) {
    column_group(g, 0, cols);
    run_group<1>(in, g, r, cols, 0, r.count, out);
    out.finish();
    return;
  }
  for (int64_t i = 0; i < r.count; ++i) {
    for (int64_t ox = 0; ox < g.out_w; ox += kBlockVectors * kLanes) {
      switch (column_group(g, ox, cols)) {
        case 4:
          run_group<4>(in, g, r, cols, i, i + 1, out);
          break;
        case 3:
          run_group<3>(in, g, r, cols, i, i + 1, out);
          break;
        case 2:
          run_group<2>(in, g, r, cols, i, i + 1, out);
          break;
        default:
          run_group<1>(in, g, r, cols, i, i + 1, out);
          break;
      }
    }
  }
  out.finish();
}

void run_u8_window_quads(const uint8_t* in, const ConvGeometry& g, const DepthwiseQuantRun& r,
                         float* out) {
  window_quad_run(in, g, r, FloatPlane{out, g.out_w});
}

void run_u8_window_quads_ranged(const uint8_t* in, const ConvGeometry& g,
                                const DepthwiseQuantRun& r, float* out, RangeLanes& range) {
  switch (r.activation) {
    case Activation::kNone:
      return window_quad_run(in, g, r, RangedFloatPlane<Activation::kNone>{out, g.out_w, &range});
    case Activation::kRelu:
      return window_quad_run(in, g, r, RangedFloatPlane<Activation::kRelu>{out, g.out_w, &range});
    case Activation::kRelu6:
      return window_quad_run(in, g, r, RangedFloatPlane<Activation::kRelu6>{out, g.out_w, &range});
  }
}

void run_u8_window_quads_to_bytes(const uint8_t* in, const ConvGeometry& g,
                                  const DepthwiseQuantRun& r, const FusedQuantize& q,
                                  uint8_t* out) {
  window_quad_run(
      in, g, r,
      BytePlane{out, g.out_w, QuantizedStore<ArchAvx512>(q, r.activation != Activation::kNone)});
}

}  // namespace

DepthwiseKernels depthwise_kernels_vnni() {
  DepthwiseKernels table = depthwise_kernels_avx512();
  table.isa = Isa::kVnni;
  table.takes_runs = &takes_window_quads;
  table.run_u8 = &run_u8_window_quads;
  table.run_u8_to_bytes = &run_u8_window_quads_to_bytes;
  table.run_u8_ranged = &run_u8_window_quads_ranged;
  return table;
}

}  // namespace sparq::kernels
