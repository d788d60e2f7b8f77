// A quantized convolution followed by a static quantize, run by a session
// as two steps (f32 written, then read and quantized) and as the one fused
// step fold_static_quantize makes (u8 written by the layer's epilogue), on
// ResNet-18 and ResNet-20 3x3 layers: sparse at k=9 (per-kernel taps) and
// k=1 (16x4 shared patterns), and the same shapes dense (Conv2dOp, s8
// weights). Batch 1 (and 8 on the largest plane), one thread. Run with
// --benchmark_enable_random_interleaving=true --benchmark_repetitions=N so
// the two variants alternate.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "sparq/sparq.hpp"

namespace {

using namespace sparq;

struct Layer {
  const char* name;
  int channels;
  int size;
};

constexpr Layer kLayers[] = {
    {"r18_64x56", 64, 56}, {"r18_128x28", 128, 28}, {"r18_256x14", 256, 14}, {"r20_16x32", 16, 32}};

// Random N-of-9 taps (values -7..7, never 0): shared per 16 out x 4 in
// groups, or chosen per kernel.
std::vector<uint8_t> random_taps(std::mt19937& gen, int channels, int density, bool shared) {
  std::vector<uint8_t> taps(static_cast<size_t>(channels) * channels * density);
  std::uniform_int_distribution<int> value(1, 7), sign(0, 1);
  std::vector<int> positions = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  for (int o = 0; o < channels; ++o) {
    for (int i = 0; i < channels; ++i) {
      if (!shared || (o % 16 == 0 && i % 4 == 0)) {
        std::shuffle(positions.begin(), positions.end(), gen);
        std::sort(positions.begin(), positions.begin() + density);
      }
      // Shared: kernel (o, i) reuses its group leader's positions.
      const auto first = (static_cast<size_t>(o) * channels + i) * density;
      for (int t = 0; t < density; ++t) {
        const int v = value(gen) * (sign(gen) ? -1 : 1);
        taps[first + t] = static_cast<uint8_t>(positions[t] << 4 | (v & 0xF));
      }
      if (shared && (o % 16 != 0 || i % 4 != 0)) {
        const size_t leader = (static_cast<size_t>(o / 16 * 16) * channels + i / 4 * 4) * density;
        for (int t = 0; t < density; ++t) {
          taps[first + t] =
              static_cast<uint8_t>((taps[leader + t] & 0xF0) | (taps[first + t] & 0xF));
        }
      }
    }
  }
  return taps;
}

// u8 input -> layer (ReLU) -> static quantize -> u8 output.
std::shared_ptr<const Model> layer_then_quantize(const Layer& l, int density, bool dense) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> scale(0.005f, 0.02f), bias(-0.5f, 0.5f);
  ModelBuilder b;
  const ValueId x = b.input(Shape{l.channels, l.size, l.size}, DType::kU8);
  ValueId y;
  if (dense) {
    Conv2dOp op;
    op.pad_h = op.pad_w = 1;
    op.activation = Activation::kRelu;
    op.weights = Tensor(Shape{l.channels, l.channels, 3, 3}, DType::kS8);
    std::uniform_int_distribution<int> w(-127, 127);
    for (int8_t& v : op.weights.span<int8_t>()) v = static_cast<int8_t>(w(gen));
    for (int o = 0; o < l.channels; ++o) {
      op.weight_scales.push_back(scale(gen) / 16);
      op.bias.push_back(bias(gen));
    }
    y = b.conv2d(x, op, "layer");
  } else {
    SparseConv3x3Op op;
    op.in_channels = op.out_channels = l.channels;
    op.density = density;
    const bool shared = density < 9;
    if (shared) op.sharing = {16, 4};
    op.activation = Activation::kRelu;
    op.taps = random_taps(gen, l.channels, density, shared);
    for (int o = 0; o < l.channels; ++o) {
      op.weight_scales.push_back(scale(gen));
      op.bias.push_back(bias(gen));
    }
    y = b.sparse_conv3x3(x, op, "layer");
  }
  b.mark_output(b.quantize_static(y, 0.05f, 8, false, "quantize"));
  return std::make_shared<const Model>(b.build());
}

void run_layer(benchmark::State& state, const Layer& l, int density, bool dense, bool fused,
               int64_t batch) {
  SessionOptions options;
  options.backends = {"cpu"};
  options.threads = 1;
  options.fold_static_quantize = fused;
  const Session session(layer_then_quantize(l, density, dense), options);
  Tensor input(Shape{batch, l.channels, l.size, l.size}, DType::kU8);
  std::mt19937 gen(3);
  std::uniform_int_distribution<int> value(0, 255);
  for (uint8_t& v : input.span<uint8_t>()) v = static_cast<uint8_t>(value(gen));
  for (float& s : input.scales()) s = 0.02f;
  for (auto _ : state) {
    auto outputs = session.run(input);
    benchmark::DoNotOptimize(outputs);
  }
  state.SetLabel(std::to_string(session.placements().size()) + " steps, " +
                 session.placements().front().kernel);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Layer& l : kLayers) {
    for (const auto& [kind, density, dense] :
         {std::tuple{"sparse_k9", 9, false}, std::tuple{"sparse_k1_shared", 1, false},
          std::tuple{"dense_s8", 9, true}}) {
      // Batch 8 where one sample's f32 output (0.8 MB) already fills L2.
      for (const int64_t batch : {int64_t{1}, int64_t{8}}) {
        if (batch > 1 && l.size < 56) continue;
        for (const bool fused : {false, true}) {
          const std::string name = std::string(l.name) + "/" + kind + "/b" + std::to_string(batch) +
                                   "/" + (fused ? "fused_u8" : "f32_then_quantize");
          benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
            run_layer(s, l, density, dense, fused, batch);
          })->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
