// The direct convolution's channel-quad input packing (kernels/conv2d/
// direct_conv.hpp): every pixel of every phase plane against the layout's
// definition (input byte of channel 4 q + d at the plane's row and column,
// zero outside the input, XORed with the flip), and the AVX-512 row path
// (interleave_quads.hpp: whole planes in one call, short rows two to a
// shuffle network) against the baseline copy byte for byte over the whole
// buffer, gaps and slack included. Random layers: 1-13 channels (partial
// last quads), kernels 1 and 3, strides 1 and 2, padding 0 and 1, rows of
// 1-80 pixels (both sides of the 32-pixel pairing), odd and even heights,
// u8 and s8 input.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/conv2d/interleave_quads.hpp"
#include "kernels/isa/isa.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::ConvGeometry;
using kernels::DirectLayout;
using kernels::DirectLayoutKind;

ConvGeometry random_geometry(std::mt19937& gen) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen);
  };
  ConvGeometry g;
  g.in_channels = pick(1, 13);
  g.out_channels = 4;
  g.kernel_h = g.kernel_w = pick(0, 1) ? 3 : 1;
  g.stride_h = g.stride_w = pick(1, 2);
  g.pad_h = g.pad_w = g.kernel_h == 3 ? pick(0, 1) : 0;
  g.in_h = pick(g.kernel_h, 20);
  g.in_w = pick(g.kernel_w, 80);
  g.out_h = (g.in_h + 2 * g.pad_h - g.kernel_h) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - g.kernel_w) / g.stride_w + 1;
  return g;
}

std::string describe(const ConvGeometry& g, uint8_t flip) {
  return "ic" + std::to_string(g.in_channels) + " " + std::to_string(g.in_h) + "x" +
         std::to_string(g.in_w) + " k" + std::to_string(g.kernel_h) + " s" +
         std::to_string(g.stride_h) + " p" + std::to_string(g.pad_h) + " flip " +
         std::to_string(flip);
}

// Packs into a buffer pre-filled with `fill`, so that a byte the packer
// leaves unwritten shows as a difference between two fills or paths.
std::vector<uint8_t> pack(const std::vector<uint8_t>& input, const ConvGeometry& g,
                          const DirectLayout& l, uint8_t flip, kernels::QuadRowsFn quad_rows,
                          uint8_t fill) {
  constexpr int64_t kTile = 48;
  std::vector<uint8_t> out(static_cast<size_t>(l.buffer_elements(kTile) * 4), fill);
  kernels::pack_direct_input_u8(input.data(), g, l, flip, kTile, quad_rows, out.data());
  return out;
}

TEST(DirectConvPack, ChannelQuadsMatchTheLayoutAndTheWideRowsTheBaseline) {
  const bool wide = kernels::active_isa() >= kernels::Isa::kAvx512;
  std::mt19937 gen = testing::rng(731);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 300 && !HasFailure(); ++trial) {
    const ConvGeometry g = random_geometry(gen);
    const uint8_t flip = trial % 2 ? 0x80 : 0x00;
    const DirectLayout l = kernels::make_direct_layout(g, DirectLayoutKind::kChannelQuads);
    std::vector<uint8_t> input(static_cast<size_t>(g.in_channels * g.in_h * g.in_w));
    for (uint8_t& v : input) v = static_cast<uint8_t>(byte(gen));
    const std::string what = describe(g, flip);

    const std::vector<uint8_t> baseline = pack(input, g, l, flip, nullptr, 0xA5);
    // The definition, pixel by pixel.
    for (int64_t q = 0; q * 4 < g.in_channels; ++q) {
      for (int64_t rp = 0; rp < l.row_phases; ++rp) {
        for (int64_t cp = 0; cp < l.col_phases; ++cp) {
          const int64_t plane = (q * l.row_phases + rp) * l.col_phases + cp;
          for (int64_t y = 0; y < l.plane_h; ++y) {
            for (int64_t x = 0; x < l.plane_w; ++x) {
              for (int64_t d = 0; d < 4; ++d) {
                const int64_t c = 4 * q + d;
                const int64_t iy = y * g.stride_h + rp - g.pad_h;
                const int64_t ix = x * g.stride_w + cp - g.pad_w;
                const bool inside =
                    c < g.in_channels && iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
                const uint8_t want =
                    (inside ? input[static_cast<size_t>((c * g.in_h + iy) * g.in_w + ix)] : 0) ^
                    flip;
                const size_t at =
                    static_cast<size_t>(((plane * l.plane_stride) + y * l.plane_w + x) * 4 + d);
                ASSERT_EQ(baseline[at], want) << what << ": quad " << q << " phase " << rp << ","
                                              << cp << " pixel " << y << "," << x << " byte " << d;
              }
            }
          }
        }
      }
    }
    ASSERT_EQ(pack(input, g, l, flip, nullptr, 0x5A), baseline) << what << ": unwritten bytes";
    if (wide) {
      ASSERT_EQ(pack(input, g, l, flip, &kernels::interleave_quads_avx512, 0x5A), baseline)
          << what << ": AVX-512 rows";
    }
  }
  if (!wide) GTEST_SKIP() << "checked the baseline only: this CPU has no AVX-512";
}

}  // namespace
}  // namespace sparq
