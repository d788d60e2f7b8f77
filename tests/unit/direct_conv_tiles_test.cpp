// The direct convolution's matrix tiles (AMX tile program, kernels/conv2d/
// direct_conv.hpp) against its scalar pixel-vector tiles, tile by tile over
// whole layers: every register block (16-64 output channels x 16-48
// pixels), K-tiles loaded in place (groups of 64k input channels) and
// gathered (window quads, other channel counts, short last K-tiles), partial
// blocks and tiles, calls of one tile and of a run of tiles (the kernel
// computes each tile while storing the one before), every activation, fused
// quantize and range outputs. The scalar tiles are
// the readable statement of the rule; the layers through the CPU backend are
// checked against the reference backend in cpu_ops_test. Runs the portable
// model of the tile unit where the CPU has AVX-512 (its epilogue), and the
// tile unit itself where it has AMX.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/isa/isa.hpp"
#include "kernels/matrix_tiles/tile_program.hpp"
#include "kernels/matrix_tiles/tile_unit_scope.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using kernels::ConvGeometry;
using kernels::DirectLayout;
using kernels::DirectLayoutKind;
using kernels::QuantTileArgs;
using kernels::QuantTileFn;

struct Layer {
  ConvGeometry g;
  bool window_quads = false;
  Activation activation = Activation::kNone;
};

std::string describe(const Layer& l) {
  const ConvGeometry& g = l.g;
  return "ic" + std::to_string(g.in_channels) + " oc" + std::to_string(g.out_channels) + " " +
         std::to_string(g.in_h) + "x" + std::to_string(g.in_w) + " k" + std::to_string(g.kernel_h) +
         "x" + std::to_string(g.kernel_w) + " s" + std::to_string(g.stride_h) + " p" +
         std::to_string(g.pad_h) + " g" + std::to_string(g.groups) +
         (l.window_quads ? " window quads" : "");
}

Layer make_layer(int64_t in_c, int64_t out_c, int64_t h, int64_t w, int64_t k, int64_t stride,
                 int64_t pad, int64_t groups, bool window_quads) {
  Layer l;
  ConvGeometry& g = l.g;
  g.in_channels = in_c;
  g.out_channels = out_c;
  g.in_h = h;
  g.in_w = w;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = pad;
  g.groups = groups;
  g.out_h = (h + 2 * pad - k) / stride + 1;
  g.out_w = (w + 2 * pad - k) / stride + 1;
  l.window_quads = window_quads;
  return l;
}

// One group's flat output as [out_per_group][pixels] f32 values (or, with a
// fused quantize, bytes) and the range its tiles widened.
struct TiledOutput {
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  kernels::RangeLanes range;
};

class DirectConvTiles : public ::testing::Test {
 protected:
  // Checks every register block of the matrix tiles on `layer` against the
  // scalar tiles, one group at a time (the packed input of group 0 and the
  // weights of every group: blocks never cross groups).
  void check(const Layer& layer, std::mt19937& gen, int fused_mode) {
    const ConvGeometry& g = layer.g;
    const DirectLayout l = kernels::make_direct_layout(
        g, layer.window_quads ? DirectLayoutKind::kWindowQuads : DirectLayoutKind::kChannelQuads);
    const int64_t ig = g.in_per_group(), og = g.out_per_group();
    Tensor input = testing::random_s8(gen, Shape{ig, g.in_h, g.in_w});
    Tensor weights = testing::random_s8(gen, Shape{g.out_channels, ig, g.kernel_h, g.kernel_w});
    const auto* w = weights.data<int8_t>();
    const int64_t max_tile = 48;
    std::vector<uint8_t> packed(static_cast<size_t>(l.buffer_elements(max_tile) * 4));
    kernels::pack_direct_input_u8(input.data<uint8_t>(), g, l, 0x80, max_tile, nullptr,
                                  packed.data());
    std::uniform_real_distribution<float> unit(0.001f, 0.01f);
    std::vector<float> scale(static_cast<size_t>(og + 64)), bias(static_cast<size_t>(og + 64));
    for (float& s : scale) s = unit(gen);
    for (float& b : bias) b = unit(gen) * 100.0f - 0.5f;
    const float act_scale = unit(gen);
    kernels::FusedQuantize fused;
    fused.scale = 0.05f;
    fused.is_signed = fused_mode == 2;
    fused.qmax = fused.is_signed ? 127 : 255;
    const int64_t pixels = l.pixels;
    const auto steps = static_cast<int64_t>(l.step_offsets.size());

    for (int64_t grp = 0; grp < g.groups; ++grp) {
      // The scalar tiles: 8 rows x 16 pixels.
      std::vector<int32_t> compensation;
      const std::vector<int8_t> scalar_weights =
          kernels::pack_direct_weights_s8(w, g, l, compensation, kernels::kOutBlock);
      // This group's per-row arrays, with room past the last block's rows.
      std::vector<int32_t> comp_padded(compensation.begin() + grp * og,
                                       compensation.begin() + (grp + 1) * og);
      comp_padded.resize(static_cast<size_t>(og + 64), 0);
      auto tiled = [&](int64_t rows, int64_t tile, auto&& run) {
        TiledOutput out;
        out.values.assign(static_cast<size_t>(og * pixels), -1.0f);
        out.bytes.assign(static_cast<size_t>(og * pixels), 0xEE);
        for (int64_t b = 0; b * rows < og; ++b) {
          for (int64_t first = 0; first < pixels; first += tile) {
            QuantTileArgs a;
            a.input = packed.data();
            a.step_offsets = l.step_offsets.data();
            a.steps = steps;
            a.first_pixel = first;
            a.compensation = comp_padded.data() + b * rows;
            a.act_scale = act_scale;
            a.weight_scale = scale.data() + b * rows;
            a.bias = bias.data() + b * rows;
            a.activation = layer.activation;
            a.out = out.values.data() + b * rows * pixels + first;
            a.out_stride = pixels;
            a.rows = std::min(rows, og - b * rows);
            a.valid = std::min(tile, pixels - first);
            if (fused_mode != 0) {
              a.out_bytes = out.bytes.data() + b * rows * pixels + first;
              a.out_quantization = fused;
            } else {
              a.range = &out.range;
            }
            run(a, b);
          }
        }
        return out;
      };
      const TiledOutput expected = tiled(kernels::kOutBlock, 16, [&](QuantTileArgs& a, int64_t b) {
        a.weights =
            scalar_weights.data() + ((grp * ((og + 7) / 8) + b) * steps * kernels::kOutBlock * 4);
        kernels::direct_conv_kernels_scalar().quant_tile(a);
      });
      for (int cv = 1; cv <= 4; ++cv) {
        std::vector<int32_t> tile_compensation;
        const std::vector<int32_t> entries =
            kernels::pack_direct_weights_tiles(w, g, l, tile_compensation, cv);
        ASSERT_EQ(tile_compensation, compensation);
        const int64_t blocks = (og + 16 * cv - 1) / (16 * cv);
        const int64_t per_block = kernels::matrix_tile_entries(l) * kernels::tile_entry_words(cv);
        for (int pv = 1; pv <= kernels::max_pixel_tiles(cv); ++pv) {
          std::vector<std::pair<QuantTileFn, const char*>> fns = {
              {kernels::direct_conv_matrix_tile_emulated(cv, pv), "emulated"}};
          if (kernels::active_isa() == kernels::Isa::kAmx) {
            fns.push_back({kernels::direct_conv_kernels_amx().matrix_tile(cv, pv), "amx"});
          }
          for (const auto& [fn, name] : fns) {
            for (const int64_t span : {1, 3}) {
              ASSERT_NE(fn, nullptr);
              const kernels::TileUnitScope tile_unit(std::string(name) == "amx");
              const TiledOutput got =
                  tiled(16 * cv, 16 * pv * span, [&](QuantTileArgs& a, int64_t b) {
                    a.tile_entries = entries.data() + (grp * blocks + b) * per_block;
                    a.tile_entry_count = kernels::matrix_tile_entries(l);
                    fn(a);
                  });
              const std::string what = describe(layer) + " group " + std::to_string(grp) + " " +
                                       name + " " + std::to_string(cv) + "x" + std::to_string(pv) +
                                       " tiles per call " + std::to_string(span) +
                                       (fused_mode ? " fused" : "");
              if (fused_mode != 0) {
                ASSERT_EQ(got.bytes, expected.bytes) << what;
                continue;
              }
              for (size_t i = 0; i < got.values.size(); ++i) {
                ASSERT_EQ(std::memcmp(&got.values[i], &expected.values[i], 4), 0)
                    << what << " value " << i << ": " << got.values[i] << " vs "
                    << expected.values[i];
              }
              // The same range once folded (the lanes may hold it differently).
              SampleRange got_range, expected_range;
              kernels::fold_lanes(got.range, got_range);
              kernels::fold_lanes(expected.range, expected_range);
              ASSERT_EQ(got_range.max, expected_range.max) << what;
              ASSERT_EQ(got_range.min, expected_range.min) << what;
            }
          }
        }
      }
    }
  }
};

TEST_F(DirectConvTiles, EveryBlockMatchesTheScalarTiles) {
  if (kernels::active_isa() < kernels::Isa::kAvx512) {
    GTEST_SKIP() << "the matrix tiles' epilogue is AVX-512; this CPU runs "
                 << kernels::isa_name(kernels::active_isa());
  }
  std::mt19937 gen = testing::rng(2301);
  const Layer layers[] = {
      make_layer(64, 40, 7, 9, 1, 1, 0, 1, false),          // in place, 1 K-tile
      make_layer(128, 70, 6, 6, 1, 2, 0, 1, false),         // in place, stride 2
      make_layer(64, 33, 5, 7, 3, 1, 1, 1, false),          // tap-major: 9 in-place K-tiles
      make_layer(20, 17, 9, 5, 1, 1, 0, 1, false),          // 5 steps: one short K-tile
      make_layer(72, 48, 4, 11, 3, 2, 1, 1, false),         // 18 quads x 9 taps, gathered
      make_layer(3, 64, 23, 21, 7, 2, 3, 1, true),          // the stem's window quads
      make_layer(1, 16, 12, 12, 3, 1, 1, 1, true),          // one channel
      make_layer(2 * 64, 2 * 24, 5, 5, 1, 1, 0, 2, false),  // two groups
  };
  int i = 0;
  for (Layer layer : layers) {
    const Activation activations[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};
    layer.activation = activations[i % 3];
    ++i;
    check(layer, gen, 0);
    check(layer, gen, 1 + i % 2);  // u8, s8
  }
}

}  // namespace
}  // namespace sparq
