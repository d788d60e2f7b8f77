// AVX512-VNNI tiles: one vpdpbusd sums a quad of u8 x s8 products into each
// int32 lane, exactly (no saturation: this is vpdpbusd, not vpdpbusds).
// Pixel-vector tile: 8 rows x 3 vectors of pixels = 24 accumulators; its
// f32 epilogue works on them in place (register_epilogue_avx512.hpp).
// Channel-lane tile: up to 14 pixels x 2 vectors of output channels = 28.
#include <algorithm>
#include <array>
#include <utility>

#include "kernels/common/dot_quads_vnni.hpp"
#include "kernels/common/transpose_avx512.hpp"
#include "kernels/conv2d/direct_conv_quant_epilogue.hpp"
#include "kernels/conv2d/interleave_quads.hpp"
#include "kernels/conv2d/register_epilogue_avx512.hpp"

namespace sparq::kernels {
namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kVectors = 3;
constexpr int64_t kTile = kLanes * kVectors;

// V pixel vectors of one tile at `first_pixel` for each of the block's
// rows, summed over the steps (the last tile of a plane computes only the
// vectors holding its valid pixels).
template <int V>
[[gnu::always_inline]] inline void accumulate_vectors(const QuantTileArgs& a, int64_t first_pixel,
                                                      __m512i (&acc)[kOutBlock][V]) {
#pragma GCC unroll 32
  for (auto& row : acc) {
    for (auto& v : row) v = _mm512_setzero_si512();
  }
  for (int64_t s = 0; s < a.steps; ++s) {
    const uint8_t* x = a.input + (a.step_offsets[s] + first_pixel) * 4;
    __m512i xv[V];
#pragma GCC unroll 32
    for (int64_t v = 0; v < V; ++v) xv[v] = _mm512_loadu_si512(x + v * 64);
    const int32_t* w = reinterpret_cast<const int32_t*>(a.weights + s * kOutBlock * 4);
#pragma GCC unroll 32
    for (int64_t r = 0; r < kOutBlock; ++r) {
      const __m512i wq = _mm512_set1_epi32(w[r]);
#pragma GCC unroll 32
      for (int64_t v = 0; v < V; ++v) dpbusd_in_place(acc[r][v], xv[v], wq);
    }
  }
}

// accumulate_vectors, stored to rows[r][p] for the span's epilogue.
template <int V>
[[gnu::always_inline]] inline void quant_vectors(const QuantTileArgs& a, int64_t first_pixel,
                                                 int32_t (&rows)[kOutBlock][kTile]) {
  __m512i acc[kOutBlock][V];
  accumulate_vectors<V>(a, first_pixel, acc);
#pragma GCC unroll 32
  for (int64_t r = 0; r < kOutBlock; ++r) {
#pragma GCC unroll 32
    for (int64_t v = 0; v < V; ++v) _mm512_store_si512(&rows[r][v * kLanes], acc[r][v]);
  }
}

// What a register span writes: f32, f32 and the maxima of its range (after
// a ReLU or ReLU6), or bytes through the fused quantize's saturating form
// (QuantizedStore::saturating).
enum class RegisterOutput { kF32, kF32Maxima, kBytes };

// The operands a register span reads: per row, and for bytes the
// quantize's (`exact`: the rule for rows with a lane near a half-integer,
// null for f32 spans, which need neither it nor the reciprocal).
struct RegisterSpan {
  RegisterRow row[kOutBlock];
  ActivationBounds bounds;
  const QuantizedStore<ArchAvx512>* exact;
  RegisterQuantize quantize{0.0f};
  int64_t count;  // rows stored

  RegisterSpan(const QuantTileArgs& a, const QuantizedStore<ArchAvx512>* bytes_rule)
      : exact(bytes_rule), count(std::min<int64_t>(a.rows, kOutBlock)) {
    for (int64_t r = 0; r < kOutBlock; ++r) {
      // dequantize_accumulator's scale product, rounded once.
      row[r] = {a.compensation[r], a.act_scale * a.weight_scale[r], a.bias[r]};
    }
    if (exact != nullptr) {
      quantize.reciprocal = Quantize<ArchAvx512>::Quotient::reciprocal_of(a.out_quantization.scale);
    }
  }
};

// A row's V vectors of bytes where some lane of their estimates lies near a
// half-integer: QuantizedStore::store of each, from the values y0, y1, y2
// (rare: a lane in 2^11 for values spread over the levels). The values come
// by value, in registers: by reference, every row stored them first.
template <int V>
[[gnu::noinline, gnu::cold]] void store_bytes_exactly(const QuantizedStore<ArchAvx512>& exact,
                                                      uint8_t* out, int64_t left, __m512 y0,
                                                      __m512 y1, __m512 y2) {
  const __m512 y[kVectors] = {y0, y1, y2};
  for (int64_t v = 0; v < V; ++v) {
    exact.store(xsimd::batch<float, ArchAvx512>(y[v]), out + v * kLanes, left - v * kLanes);
  }
}

// accumulate_vectors, then the epilogue on the accumulators themselves
// (register_epilogue_avx512.hpp): pixels [done, valid) of the span's first
// `count` rows, the first 16 * V of them, and for kF32Maxima their maxima
// into the chains high[r % 2] (locals of the caller, not members of the
// span: the span's rows are asm memory operands, which keeps the whole
// object in memory, and chains there were loaded and stored per vector).
template <int V, Activation kActivation, RegisterOutput kOutput>
[[gnu::always_inline]] inline void register_vectors(const QuantTileArgs& a,
                                                    const RegisterSpan& span, int64_t done,
                                                    __m512 (&high)[2]) {
  __m512i acc[kOutBlock][V];
  accumulate_vectors<V>(a, a.first_pixel + done, acc);
  const int64_t left = a.valid - done;
#pragma GCC unroll 32
  for (int64_t r = 0; r < kOutBlock; ++r) {
    if (r >= span.count) break;
    const __m512 bias = broadcast_bias(span.row[r]);
    __m512 y[V];
#pragma GCC unroll 32
    for (int64_t v = 0; v < V; ++v) {
      y[v] = dequantize_activate_in_place<kActivation>(acc[r][v], span.row[r], bias, span.bounds);
    }
    if constexpr (kOutput == RegisterOutput::kBytes) {
      uint8_t* const out = a.out_bytes + r * a.out_stride + done;
      __m512 estimate[V], fraction[V];
#pragma GCC unroll 32
      for (int64_t v = 0; v < V; ++v) {
        fraction[v] = estimate_fraction(y[v], span.quantize, estimate[v]);
      }
      if (near_half<V>(fraction, span.quantize) != 0) [[unlikely]] {
        store_bytes_exactly<V>(*span.exact, out, left, y[0], y[V > 1 ? 1 : 0], y[V - 1]);
        continue;
      }
#pragma GCC unroll 32
      for (int64_t v = 0; v < V; ++v) {
        // round_saturating_n: the estimate rounded, narrowed with unsigned
        // saturation.
        const __m128i bytes = QuantizedStore<ArchAvx512>::bytes(
            round_to_int(xsimd::batch<float, ArchAvx512>(estimate[v])), true);
        const int64_t valid = std::min(left - v * kLanes, kLanes);
        if (valid == kLanes) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + v * kLanes), bytes);
        } else {
          _mm_mask_storeu_epi8(out + v * kLanes, static_cast<__mmask16>(first_lanes16(valid)),
                               bytes);
        }
      }
    } else {
      float* const out = a.out + r * a.out_stride + done;
#pragma GCC unroll 32
      for (int64_t v = 0; v < V; ++v) {
        const int64_t valid = std::min(left - v * kLanes, kLanes);
        const auto lanes = static_cast<__mmask16>(first_lanes16(valid));
        if (valid == kLanes) {
          _mm512_storeu_ps(out + v * kLanes, y[v]);
        } else {
          _mm512_mask_storeu_ps(out + v * kLanes, lanes, y[v]);
        }
        if constexpr (kOutput == RegisterOutput::kF32Maxima) {
          widen_high_in_place(high[r % 2], y[v], lanes);
        }
      }
    }
  }
}

// A span through register_vectors, tile after tile.
template <Activation kActivation, RegisterOutput kOutput>
[[gnu::noinline]] void register_span(const QuantTileArgs& a,
                                     const QuantizedStore<ArchAvx512>* bytes_rule) {
  const RegisterSpan span(a, bytes_rule);
  // kF32Maxima's chains; they start at +0, which every range holds.
  __m512 high[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t done = 0; done < a.valid; done += kTile) {
    const int64_t pixels = a.valid - done;
    if (pixels <= kLanes) {
      register_vectors<1, kActivation, kOutput>(a, span, done, high);
    } else if (pixels <= 2 * kLanes) {
      register_vectors<2, kActivation, kOutput>(a, span, done, high);
    } else {
      register_vectors<kVectors, kActivation, kOutput>(a, span, done, high);
    }
  }
  if constexpr (kOutput == RegisterOutput::kF32Maxima) {
    const __m512 chains = _mm512_max_ps(high[0], _mm512_load_ps(a.range->high));
    _mm512_store_ps(a.range->high, _mm512_max_ps(high[1], chains));
  }
}

// Whether register_span takes the span, and which: f32 without a range, or
// with one after a ReLU or ReLU6; bytes after a ReLU or ReLU6 where the
// quantize saturates.
bool register_span_for(const QuantTileArgs& a) {
  const bool rectified = a.activation != Activation::kNone;
  auto run = [&]<RegisterOutput kOutput>(const QuantizedStore<ArchAvx512>* bytes_rule) {
    switch (a.activation) {
      case Activation::kNone:
        if constexpr (kOutput == RegisterOutput::kF32) {
          register_span<Activation::kNone, kOutput>(a, bytes_rule);
        }
        return;
      case Activation::kRelu:
        return register_span<Activation::kRelu, kOutput>(a, bytes_rule);
      case Activation::kRelu6:
        return register_span<Activation::kRelu6, kOutput>(a, bytes_rule);
    }
  };
  if (a.out_bytes != nullptr) {
    if (!rectified) return false;
    const QuantizedStore<ArchAvx512> rule(a.out_quantization, true);
    if (!rule.saturating) return false;
    run.template operator()<RegisterOutput::kBytes>(&rule);
  } else if (a.range == nullptr) {
    run.template operator()<RegisterOutput::kF32>(nullptr);
  } else if (rectified) {
    run.template operator()<RegisterOutput::kF32Maxima>(nullptr);
  } else {
    return false;
  }
  return true;
}

// A span of pixels, tile after tile: through register_span where it takes
// the span. Otherwise (bytes of other quantizes, a range of values with
// both signs) the epilogue's operands are read once for the span (a
// short-K tile's setup cost a sixth of its epilogue) and each tile's rows
// go through it out of line from memory, so that the tile's loop keeps
// every accumulator in a register (GCC spills them to the stack on every
// step when any other vector code shares the loop: an epilogue interleaved
// between the steps ran 2x slower).
void quant_tile(const QuantTileArgs& a) {
  if (register_span_for(a)) return;
  TileEpilogue<ArchAvx512> epilogue(a);
  alignas(64) int32_t rows[kOutBlock][kTile];
  const int64_t count = std::min<int64_t>(a.rows, kOutBlock);
  for (int64_t done = 0; done < a.valid; done += kTile) {
    const int64_t pixels = a.valid - done;
    if (pixels <= kLanes) {
      quant_vectors<1>(a, a.first_pixel + done, rows);
      epilogue_rows<1>(epilogue, &rows[0][0], kTile, count, done);
    } else if (pixels <= 2 * kLanes) {
      quant_vectors<2>(a, a.first_pixel + done, rows);
      epilogue_rows<2>(epilogue, &rows[0][0], kTile, count, done);
    } else {
      quant_vectors<kVectors>(a, a.first_pixel + done, rows);
      epilogue_rows<kVectors>(epilogue, &rows[0][0], kTile, count, done);
    }
  }
  epilogue.finish();
}

// A channel-lane span (takes_spans): run(tile) for each run of at most
// `pixels` of them, the arguments moved to that run's first pixel (each
// lane tile's epilogue is its own: it transposes in registers).
template <class Run>
void each_tile(const QuantTileArgs& a, int64_t pixels, const Run& run) {
  if (a.valid <= pixels) return run(a);
  QuantTileArgs tile = a;
  for (int64_t done = 0; done < a.valid; done += pixels) {
    tile.first_pixel = a.first_pixel + done;
    tile.valid = std::min(pixels, a.valid - done);
    if (a.out != nullptr) tile.out = a.out + done;
    if (a.out_bytes != nullptr) tile.out_bytes = a.out_bytes + done;
    run(tile);
  }
}

constexpr int64_t kLaneVectors = kLaneBlock / kLanes;
constexpr int kLanePixels = 14;  // 14 x 2 accumulators, 2 weight vectors, 1 broadcast

// P pixels x kLaneBlock output channels: per step, the block's weights as
// two vectors (16 channels' dwords each) and each pixel's input quad
// broadcast. The epilogue dequantizes while a vector still holds channels
// (the per-channel compensation, scale and bias are vectors, the same
// dequantize_activate of the same operands as the pixel tiles' epilogue),
// and with a fused quantize rounds them to the bytes' integers there too,
// then turns each vector of channels into 16 rows of pixel lanes
// (transpose_16x16; lanes past P are not stored). A range is widened by the
// channel vectors: their lanes past the block's rows hold +0 (zero weights,
// compensation, scale and bias), which every range holds.
template <int P>
void lane_vectors(const QuantTileArgs& a) {
  __m512i acc[P][kLaneVectors];
#pragma GCC unroll 32
  for (auto& pixel : acc) {
    for (auto& v : pixel) v = _mm512_setzero_si512();
  }
  for (int64_t s = 0; s < a.steps; ++s) {
    const auto* x =
        reinterpret_cast<const int32_t*>(a.input + (a.step_offsets[s] + a.first_pixel) * 4);
    const int8_t* w = a.weights + s * kLaneBlock * 4;
    __m512i wv[kLaneVectors];
#pragma GCC unroll 4
    for (int64_t v = 0; v < kLaneVectors; ++v) wv[v] = _mm512_loadu_si512(w + v * 64);
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) {
      const __m512i xq = _mm512_set1_epi32(x[p]);
#pragma GCC unroll 4
      for (int64_t v = 0; v < kLaneVectors; ++v) dpbusd_in_place(acc[p][v], xq, wv[v]);
    }
  }
  using Batch = xsimd::batch<float, ArchAvx512>;
  using Ints = xsimd::batch<int32_t, ArchAvx512>;
  const QuantizedStore<ArchAvx512> to_bytes(a.out_quantization, a.activation != Activation::kNone);
  const bool saturate = to_bytes.saturating;
  const auto lanes = static_cast<__mmask16>(first_lanes16(P));
  Batch high(0.0f), low(0.0f);
  if (a.range != nullptr) {
    high = Batch::load_aligned(a.range->high);
    low = Batch::load_aligned(a.range->low);
  }
  const int64_t vectors = std::min(kLaneVectors, (a.rows + kLanes - 1) / kLanes);
#pragma GCC unroll 4
  for (int64_t v = 0; v < vectors; ++v) {
    const int64_t first_row = v * kLanes;
    const Ints compensation = Ints::load_unaligned(a.compensation + first_row);
    // dequantize_accumulator's scale product, rounded once per lane.
    const Batch scale = Batch(a.act_scale) * Batch::load_unaligned(a.weight_scale + first_row);
    const Batch bias = Batch::load_unaligned(a.bias + first_row);
    __m512i rows[kLanes];
#pragma GCC unroll 16
    for (int p = 0; p < kLanes; ++p) {
      if (p >= P) {
        rows[p] = _mm512_setzero_si512();
        continue;
      }
      const Batch y = dequantize_activate<ArchAvx512>(Ints(acc[p][v]) - compensation, scale, bias,
                                                      a.activation);
      if (a.range != nullptr) {
        Quantize<ArchAvx512>::widen_stored(y, high, low, a.activation != Activation::kNone);
      }
      rows[p] = _mm512_castps_si512(y);
    }
    if (a.out_bytes != nullptr) {
      // The fused quantize while the vectors still hold channels: the rule
      // is per value, so these are the bytes of the transposed values, and
      // 16 vectors take one rounding check.
      Batch values[kLanes];
      Ints integers[kLanes];
#pragma GCC unroll 16
      for (int p = 0; p < kLanes; ++p) values[p] = Batch(_mm512_castsi512_ps(rows[p]));
      to_bytes.round_n(values, integers);
#pragma GCC unroll 16
      for (int p = 0; p < kLanes; ++p) rows[p] = integers[p];
    }
    transpose_16x16(rows);
    const int64_t count = std::min<int64_t>(kLanes, a.rows - first_row);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t at = (first_row + r) * a.out_stride;
      if (a.out_bytes != nullptr) {
        _mm_mask_storeu_epi8(a.out_bytes + at, lanes,
                             QuantizedStore<ArchAvx512>::bytes(rows[r], saturate));
      } else {
        _mm512_mask_storeu_ps(a.out + at, lanes, _mm512_castsi512_ps(rows[r]));
      }
    }
  }
  if (a.range != nullptr) {
    high.store_aligned(a.range->high);
    low.store_aligned(a.range->low);
  }
}

template <int... P>
constexpr std::array<void (*)(const QuantTileArgs&), sizeof...(P)> lane_table(
    std::integer_sequence<int, P...>) {
  return {&lane_vectors<P + 1>...};
}

void lane_tile(const QuantTileArgs& a) {
  static constexpr auto kByPixels = lane_table(std::make_integer_sequence<int, kLanePixels>());
  each_tile(a, kLanePixels, [](const QuantTileArgs& tile) {
    kByPixels[static_cast<size_t>(tile.valid - 1)](tile);
  });
}

}  // namespace

DirectConvKernels direct_conv_kernels_vnni() {
  DirectConvKernels k{Isa::kVnni, kTile, &quant_tile};
  k.takes_spans = true;
  k.lane_tile_pixels = kLanePixels;
  k.lane_tile = &lane_tile;
  k.quad_rows = &interleave_quads_avx512;
  return k;
}

}  // namespace sparq::kernels
