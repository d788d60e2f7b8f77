// The direct convolution's input packing (kernels/conv2d/direct_conv.hpp),
// both quantized layouts: every pixel of every plane against the layout's
// definition (zero outside the input, XORed with the flip), and the AVX-512
// channel-quad rows (interleave_quads.hpp: whole planes in one call, short
// rows two to a shuffle network) against the baseline copy byte for byte
// over the whole buffer, gaps and slack included. Random layers:
// channel quads with 1-13 channels (partial last quads), kernels 1 and 3;
// window quads with 1-4 channels, kernels 3, 5 and 7 (one and two quads a
// row), padding up to half the kernel (quads hanging over either edge);
// strides 1 and 2, rows of 1-80 pixels (both sides of the 32-pixel
// pairing), odd and even heights, u8 and s8.
#include <gtest/gtest.h>

#include <array>
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

ConvGeometry random_geometry(std::mt19937& gen, bool window_quads) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen);
  };
  ConvGeometry g;
  g.out_channels = 4;
  if (window_quads) {
    // First layers: few channels, kernels up to 7 wide (two quads a row).
    g.in_channels = pick(1, 4);
    g.kernel_h = g.kernel_w = std::array<int64_t, 3>{3, 5, 7}[static_cast<size_t>(pick(0, 2))];
    g.stride_h = g.stride_w = pick(1, 2);
    g.pad_h = g.pad_w = pick(0, g.kernel_h / 2);
  } else {
    g.in_channels = pick(1, 13);
    g.kernel_h = g.kernel_w = pick(0, 1) ? 3 : 1;
    g.stride_h = g.stride_w = pick(1, 2);
    g.pad_h = g.pad_w = g.kernel_h == 3 ? pick(0, 1) : 0;
  }
  g.in_h = pick(g.kernel_h, 20);
  g.in_w = pick(g.kernel_w, 80);
  g.out_h = (g.in_h + 2 * g.pad_h - g.kernel_h) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - g.kernel_w) / g.stride_w + 1;
  return g;
}

std::string describe(const ConvGeometry& g, bool window_quads, uint8_t flip) {
  return std::string(window_quads ? "window quads " : "channel quads ") + "ic" +
         std::to_string(g.in_channels) + " " + std::to_string(g.in_h) + "x" +
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

// Byte d of the packed element at (row y, column x) of plane `plane`, by the
// layout's definition: channel quads put channel 4 q + d of the phase
// plane's pixel there, window quads the byte d columns on in the window
// quad's row.
uint8_t expected_byte(const std::vector<uint8_t>& input, const ConvGeometry& g,
                      const DirectLayout& l, int64_t plane, int64_t y, int64_t x, int64_t d) {
  int64_t c = 0, rp = 0, cp = 0, column = 0;
  if (l.kind == DirectLayoutKind::kChannelQuads) {
    cp = plane % l.col_phases;
    rp = plane / l.col_phases % l.row_phases;
    c = 4 * (plane / (l.col_phases * l.row_phases)) + d;
    column = x * g.stride_w + cp - g.pad_w;
  } else {
    const int64_t quads_per_row = (g.kernel_w + 3) / 4;
    rp = plane % l.row_phases;
    const int64_t j = plane / l.row_phases % quads_per_row;
    c = plane / (l.row_phases * quads_per_row);
    column = x * g.stride_w + 4 * j + d - g.pad_w;
  }
  const int64_t row = y * g.stride_h + rp - g.pad_h;
  const bool inside =
      c < g.in_channels && row >= 0 && row < g.in_h && column >= 0 && column < g.in_w;
  return inside ? input[static_cast<size_t>((c * g.in_h + row) * g.in_w + column)] : 0;
}

TEST(DirectConvPack, EveryLayoutMatchesItsDefinitionAndTheWideRowsTheBaseline) {
  const bool wide = kernels::active_isa() >= kernels::Isa::kAvx512;
  std::mt19937 gen = testing::rng(731);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 600 && !HasFailure(); ++trial) {
    const bool window_quads = trial % 4 >= 2;
    const ConvGeometry g = random_geometry(gen, window_quads);
    const uint8_t flip = trial % 2 ? 0x80 : 0x00;
    const DirectLayout l = kernels::make_direct_layout(
        g, window_quads ? DirectLayoutKind::kWindowQuads : DirectLayoutKind::kChannelQuads);
    std::vector<uint8_t> input(static_cast<size_t>(g.in_channels * g.in_h * g.in_w));
    for (uint8_t& v : input) v = static_cast<uint8_t>(byte(gen));
    const std::string what = describe(g, window_quads, flip);

    const std::vector<uint8_t> baseline = pack(input, g, l, flip, nullptr, 0xA5);
    for (int64_t plane = 0; plane < l.planes; ++plane) {
      for (int64_t y = 0; y < l.plane_h; ++y) {
        for (int64_t x = 0; x < l.plane_w; ++x) {
          for (int64_t d = 0; d < 4; ++d) {
            const size_t at =
                static_cast<size_t>((plane * l.plane_stride + y * l.plane_w + x) * 4 + d);
            ASSERT_EQ(baseline[at], expected_byte(input, g, l, plane, y, x, d) ^ flip)
                << what << ": plane " << plane << " pixel " << y << "," << x << " byte " << d;
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
