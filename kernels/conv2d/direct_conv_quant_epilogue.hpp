// The quantized tiles' epilogue on vectors: dequantize_activate of
// acc - comp (sparq::dequantize_accumulator, then the activation), and with
// a fused quantize the quantize kernels' rounding and clamping of that value;
// with a range, the f32 values stored widen it (Quantize::widen; after a
// ReLU or ReLU6, whose values are never NaN nor below +0, only the maxima:
// see QuantizeKernels::widen_lanes_nonnegative).
#pragma once

#include "kernels/common/dequantize_simd.hpp"
#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/quantize/store_quantized.hpp"

namespace sparq::kernels {
namespace {

// The epilogue of one kernel call: a tile, or a span of tiles (pixels
// [0, valid) from the call's first pixel, each tile's rows handed over with
// their offset `first`). Everything it reads from the arguments is copied
// here first: the stores go through pointers that, as far as the compiler
// knows, may alias the argument arrays, so it would otherwise reload the
// row's compensation, scales and bias (and the output fields) for every
// vector, which costs a short-K tile (the 7x7 stem: 42 steps) as much as a
// sixth of its time. Rows: the tile's output channels (the per-row arrays'
// length).
template <class Arch, int64_t Rows = kOutBlock>
class TileEpilogue {
 public:
  using Batch = xsimd::batch<float, Arch>;
  using Ints = xsimd::batch<int32_t, Arch>;

  explicit TileEpilogue(const QuantTileArgs& a)
      : rows_(a.rows),
        valid_(a.valid),
        stride_(a.out_stride),
        out_(a.out),
        out_bytes_(a.out_bytes),
        activation_(a.activation),
        to_bytes_(a.out_quantization, a.activation != Activation::kNone),
        range_(a.range) {
    if (range_ != nullptr) {
      high_ = Batch::load_aligned(range_->high);
      low_ = Batch::load_aligned(range_->low);
    }
    for (int64_t r = 0; r < Rows; ++r) {
      compensation_[r] = a.compensation[r];
      // dequantize_accumulator's scale product, rounded once.
      scale_[r] = a.act_scale * a.weight_scale[r];
      bias_[r] = a.bias[r];
    }
  }

  // Row `row`'s pixels [first, first + lanes) of the tile: stored when the
  // row is one of the tile's rows, the first valid - first lanes of them
  // (masked).
  void store(Ints acc, int64_t row, int64_t first) {
    const int64_t count = valid_ - first;
    if (row >= rows_ || count <= 0) return;
    const Batch result = dequantize_activate<Arch>(
        acc - Ints(compensation_[row]), Batch(scale_[row]), Batch(bias_[row]), activation_);
    if (out_bytes_ != nullptr) {
      to_bytes_.store(result, out_bytes_ + row * stride_ + first, count);
      return;
    }
    float* out = out_ + row * stride_ + first;
    if (count >= static_cast<int64_t>(Batch::size)) {
      result.store_unaligned(out);
      if (range_ != nullptr) widen(result);
    } else {
      store_first(result, out, count);
      if (range_ != nullptr) widen(first_lanes_of(result, count));
    }
  }

  // Rows [0, rows) of the tile, 16 * Vectors pixels each from `first` on,
  // from int32 rows acc[r * acc_stride + p]: store() of each vector. Rows of
  // whole vectors take a loop with the activation and the output's kind
  // chosen once for the block and the range widened in 2 * Vectors chains
  // (one chain ran the 1x1 layers' epilogue at the latency of its maxps, 4
  // cycles a vector).
  template <int Vectors>
  void store_rows(const int32_t* acc, int64_t acc_stride, int64_t rows, int64_t first) {
    if (valid_ - first < 16 * Vectors) {
      for (int64_t r = 0; r < rows; ++r) {
        for (int v = 0; v < Vectors; ++v) {
          store(Ints::load_aligned(acc + r * acc_stride + v * 16), r, first + v * 16);
        }
      }
      return;
    }
    if (out_bytes_ != nullptr) return whole_rows_for<Vectors, true>(acc, acc_stride, rows, first);
    whole_rows_for<Vectors, false>(acc, acc_stride, rows, first);
  }

  // Writes the widened range back (call once, after the last store).
  void finish() const {
    if (range_ == nullptr) return;
    high_.store_aligned(range_->high);
    low_.store_aligned(range_->low);
  }

 private:
  void widen(Batch v) {
    Quantize<Arch>::widen_stored(v, high_, low_, activation_ != Activation::kNone);
  }

  // whole_rows (or, writing bytes on AVX-512, byte_rows) for the layer's
  // activation.
  template <int Vectors, bool kBytes>
  void whole_rows_for(const int32_t* acc, int64_t acc_stride, int64_t rows, int64_t first) {
#if defined(__AVX512F__)
    if constexpr (kBytes && std::is_same_v<Arch, ArchAvx512>) {
      switch (activation_) {
        case Activation::kNone:
          return byte_rows<Activation::kNone, Vectors>(acc, acc_stride, rows, first);
        case Activation::kRelu:
          return byte_rows<Activation::kRelu, Vectors>(acc, acc_stride, rows, first);
        case Activation::kRelu6:
          return byte_rows<Activation::kRelu6, Vectors>(acc, acc_stride, rows, first);
      }
    }
#endif
    if (!kBytes && range_ != nullptr) {
      return rows_for_activation<Vectors, kBytes, true>(acc, acc_stride, rows, first);
    }
    rows_for_activation<Vectors, kBytes, false>(acc, acc_stride, rows, first);
  }

  template <int Vectors, bool kBytes, bool kRanged>
  void rows_for_activation(const int32_t* acc, int64_t acc_stride, int64_t rows, int64_t first) {
    switch (activation_) {
      case Activation::kNone:
        return whole_rows<Activation::kNone, Vectors, kBytes, kRanged>(acc, acc_stride, rows,
                                                                       first);
      case Activation::kRelu:
        return whole_rows<Activation::kRelu, Vectors, kBytes, kRanged>(acc, acc_stride, rows,
                                                                       first);
      case Activation::kRelu6:
        return whole_rows<Activation::kRelu6, Vectors, kBytes, kRanged>(acc, acc_stride, rows,
                                                                        first);
    }
  }

  // store_rows' loop over whole vectors, of bytes or of f32 output (kRanged:
  // widening the range; a template argument, so that the loop without one
  // neither zeroes the chains nor tests for them). Rows go in pairs so that
  // each of the 2 * Vectors range chains takes one vector of a pair; the
  // chains start at +0 (which every range holds) and fold into the tile's
  // range at the end, as widen_lanes folds its chains.
  template <Activation kActivation, int Vectors, bool kBytes, bool kRanged>
  void whole_rows(const int32_t* acc, int64_t acc_stride, int64_t rows, int64_t first) {
    constexpr int kChains = kRanged ? 2 * Vectors : 1;
    constexpr bool kMaxOnly = kActivation != Activation::kNone;
    Batch high[kChains], low[kChains];
    for (int c = 0; c < kChains; ++c) high[c] = low[c] = Batch(0.0f);
    auto row = [&](int64_t r, int chain0) {
      const Ints compensation(compensation_[r]);
      const Batch scale(scale_[r]), bias(bias_[r]);
      const int32_t* from = acc + r * acc_stride;
      const int64_t at = r * stride_ + first;
#pragma GCC unroll 3
      for (int v = 0; v < Vectors; ++v) {
        const Batch result = dequantize_activate<Arch>(
            Ints::load_aligned(from + v * 16) - compensation, scale, bias, kActivation);
        if constexpr (kBytes) {
          to_bytes_.store(result, out_bytes_ + at + v * 16, 16);
          continue;
        }
        result.store_unaligned(out_ + at + v * 16);
        if constexpr (kRanged) {
          Quantize<Arch>::widen_stored(result, high[chain0 + v], low[chain0 + v], kMaxOnly);
        }
      }
    };
    int64_t r = 0;
    for (; r + 2 <= rows; r += 2) {
      row(r, 0);
      row(r + 1, Vectors);
    }
    if (r < rows) row(r, 0);
    if constexpr (kRanged) {
      for (int c = 0; c < kChains; ++c) {
        Quantize<Arch>::widen_stored(high[c], high_, low_, kMaxOnly);
        if (!kMaxOnly) Quantize<Arch>::widen_stored(low[c], high_, low_, false);
      }
    }
  }

#if defined(__AVX512F__)
  // whole_rows into bytes on AVX-512: a pair of rows' 2 * Vectors vectors
  // through one rounding check (QuantizedStore::store_n; after a ReLU or
  // ReLU6 unclamped, with a saturating narrowing). The rule is a local copy:
  // the byte stores may alias this object, so its vectors would be loaded
  // again after each of them.
  template <Activation kActivation, int Vectors>
  void byte_rows(const int32_t* acc, int64_t acc_stride, int64_t rows, int64_t first) {
    const QuantizedStore<Arch> rule = to_bytes_;
    uint8_t* const out = out_bytes_;
    const int64_t stride = stride_;
    int64_t r = 0;
    auto pair = [&]<int kRows>(int64_t r0) {
      Batch y[kRows * Vectors];
      uint8_t* dst[kRows * Vectors];
      int64_t count[kRows * Vectors];
#pragma GCC unroll 6
      for (int i = 0; i < kRows * Vectors; ++i) {
        const int64_t row = r0 + i / Vectors, v = i % Vectors;
        y[i] = dequantize_activate<Arch>(
            Ints::load_aligned(acc + row * acc_stride + v * 16) - Ints(compensation_[row]),
            Batch(scale_[row]), Batch(bias_[row]), kActivation);
        dst[i] = out + row * stride + first + v * 16;
        count[i] = 16;
      }
      rule.store_n(y, dst, count);
    };
    for (; r + 2 <= rows; r += 2) pair.template operator()<2>(r);
    if (r < rows) pair.template operator()<1>(r);
  }
#endif

  int64_t rows_, valid_, stride_;
  float* out_;
  uint8_t* out_bytes_;
  Activation activation_;
  QuantizedStore<Arch> to_bytes_;
  RangeLanes* range_;
  Batch high_, low_;
  int32_t compensation_[Rows];
  float scale_[Rows], bias_[Rows];
};

// A register tile's epilogue, out of line so that the tile's loop keeps
// every accumulator in a register (inlined, GCC spilled some of them inside
// the loop): acc[r * acc_stride + p] holds row r's pixel p of the tile
// (Vectors vectors of 16 per row), stored from the registers by the caller,
// and goes out from pixel `first` of the span on, through an epilogue the
// caller built once for the span (and finishes after it). Whole tiles take
// store_rows' loop: the activation and the output's kind chosen once, bytes
// a pair of rows per rounding check, the range in 2 * Vectors chains.
#if defined(__AVX512F__)
template <int Vectors>
[[gnu::noinline]] void epilogue_rows(TileEpilogue<ArchAvx512>& epilogue, const int32_t* acc,
                                     int64_t acc_stride, int64_t rows, int64_t first) {
  epilogue.template store_rows<Vectors>(acc, acc_stride, rows, first);
}
#endif

}  // namespace
}  // namespace sparq::kernels
