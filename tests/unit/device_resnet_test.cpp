// The chip model on a ResNet-18-shaped network at 224 x 224 (random weights,
// 3x3 layers pruned to k = 9, 3, 1 with random per-kernel patterns; dense
// 8-bit 7x7 first layer; dense 4-bit 1x1 shortcuts; float classifier on the
// host). Checks the whole-network trends the dataflow predicts and that the
// offloaded run is bit-exact with the reference. Set SPARQ_DEVICE_REPORT=<dir> to
// print the full reports (docs/DEVICE_MODEL.md quotes them)
// and write them as JSON into the directory it names.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<float> he_uniform(std::mt19937& gen, size_t count, int fan_in) {
  const float a = std::sqrt(6.0f / static_cast<float>(fan_in));
  return testing::random_floats(gen, count, -a, a);
}

// Random mask keeping exactly `density` positions of every 3x3 kernel.
std::vector<uint8_t> random_mask(std::mt19937& gen, int out, int in, int density) {
  std::vector<uint8_t> mask(static_cast<size_t>(out) * in * 9, 0);
  std::vector<int> positions(9);
  for (size_t kernel = 0; kernel < static_cast<size_t>(out) * in; ++kernel) {
    std::iota(positions.begin(), positions.end(), 0);
    std::shuffle(positions.begin(), positions.end(), gen);
    for (int t = 0; t < density; ++t) mask[kernel * 9 + static_cast<size_t>(positions[t])] = 1;
  }
  return mask;
}

Tensor quantized_dense(std::mt19937& gen, int out, int in, int kernel, int bits,
                       std::vector<float>& scales) {
  const auto w =
      he_uniform(gen, static_cast<size_t>(out) * in * kernel * kernel, in * kernel * kernel);
  const QuantizedWeights q = quantize_weights_per_channel(w, out, bits);
  scales = q.scales;
  const Shape shape{out, in, kernel, kernel};
  if (bits == 8) {
    std::vector<uint8_t> bytes(q.values.size());
    for (size_t e = 0; e < bytes.size(); ++e) bytes[e] = static_cast<uint8_t>(q.values[e]);
    return Tensor::from_bytes(shape, DType::kS8, bytes);
  }
  std::vector<uint8_t> bytes((q.values.size() + 1) / 2, 0);
  for (size_t e = 0; e < q.values.size(); ++e) {
    const auto nibble = static_cast<uint8_t>(q.values[e] & 0x0F);
    bytes[e / 2] |= static_cast<uint8_t>(e % 2 == 0 ? nibble : nibble << 4);
  }
  return Tensor::from_bytes(shape, DType::kS4, bytes);
}

std::shared_ptr<const Model> resnet18(int density, int size, uint32_t seed) {
  std::mt19937 gen = testing::rng(seed);
  ModelBuilder b;
  ValueId x = b.input(Shape{3, size, size});
  ValueId q = b.quantize(x, 8, /*is_signed=*/true, "quantize_image");
  Conv2dOp stem;
  stem.kernel_h = stem.kernel_w = 7;
  stem.stride_h = stem.stride_w = 2;
  stem.pad_h = stem.pad_w = 3;
  stem.activation = Activation::kRelu;
  stem.weights = quantized_dense(gen, 64, 3, 7, 8, stem.weight_scales);
  stem.bias.assign(64, 0.0f);
  ValueId f = b.conv2d(q, std::move(stem), "conv1");
  f = b.pool2d(f, Pool2dOp{PoolKind::kMax, 3, 3, 2, 2, 1, 1}, "maxpool");

  auto sparse = [&](ValueId in, int in_ch, int out_ch, int stride, Activation act,
                    const std::string& name) {
    const auto w = he_uniform(gen, static_cast<size_t>(out_ch) * in_ch * 9, in_ch * density);
    const auto mask = random_mask(gen, out_ch, in_ch, density);
    const std::vector<float> bias(static_cast<size_t>(out_ch), 0.01f);
    return b.sparse_conv3x3(
        in,
        make_sparse_conv3x3(w, mask, bias, out_ch, in_ch, density, stride, PatternSharing{}, act),
        name);
  };
  int channels = 64;
  const int widths[4] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    for (int block = 0; block < 2; ++block) {
      const int out_ch = widths[stage];
      const int stride = (stage > 0 && block == 0) ? 2 : 1;
      const std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(block);
      ValueId qin = b.quantize(f, 4, false, name + ".quantize_in");
      ValueId a = sparse(qin, channels, out_ch, stride, Activation::kRelu, name + ".conv1");
      ValueId qa = b.quantize(a, 4, false, name + ".quantize_mid");
      ValueId c = sparse(qa, out_ch, out_ch, 1, Activation::kNone, name + ".conv2");
      ValueId shortcut = f;
      if (stride != 1 || channels != out_ch) {
        Conv2dOp down;
        down.kernel_h = down.kernel_w = 1;
        down.stride_h = down.stride_w = stride;
        down.weights = quantized_dense(gen, out_ch, channels, 1, 4, down.weight_scales);
        down.bias.assign(static_cast<size_t>(out_ch), 0.0f);
        shortcut = b.conv2d(qin, std::move(down), name + ".downsample");
      }
      f = b.add(c, shortcut, Activation::kRelu, name + ".add");
      channels = out_ch;
    }
  }
  f = b.global_avg_pool(f, "avgpool");
  FullyConnectedOp fc;
  fc.weights = Tensor::from_floats(Shape{1000, 512}, he_uniform(gen, 512000, 512));
  fc.bias.assign(1000, 0.0f);
  b.mark_output(b.fully_connected(f, std::move(fc), "fc"));
  ModelMetadata meta;
  meta.name = "resnet18-k" + std::to_string(density);
  return std::make_shared<const Model>(b.build(meta));
}

std::string host_backend() {
  for (const std::string& n : BackendRegistry::names()) {
    if (n == "cpu") return "cpu";
  }
  return "reference";
}

bool print_reports() {
  return std::getenv("SPARQ_DEVICE_REPORT") != nullptr;
}

const LayerReport& row(const DeviceReport& r, const std::string& name) {
  for (const LayerReport& l : r.layers) {
    if (l.name == name) return l;
  }
  throw Error(ErrorCode::kInternal, "no row " + name);
}

TEST(DeviceResnet18, DenseEquivalentEfficiencyRisesAsKFallsButBelowNineTimes) {
  const DeviceConfig efficient = DeviceConfig{}.at_point("efficient");
  double previous_dense_tops_per_watt = 0;
  double k9_dense_tops_per_watt = 0;
  for (int k : {9, 3, 1}) {
    const auto model = resnet18(k, 224, 42);
    const auto t0 = Clock::now();
    const DeviceReport nominal = simulate(*model, DeviceConfig{}, 1);
    const DeviceReport r = simulate(*model, efficient, 1);
    const double analytic_seconds = seconds_since(t0) / 2;
    const LayerReport& t = r.total;
    std::printf(
        "k=%d: %.3f ms at 534 MHz (%.3f dense TOPS); at 234 MHz %.2f dense TOPS/W chip "
        "(%.2f with off-chip), %.2f actual TOPS/W, utilization %.1f%%; analytic %.1f ms\n",
        k, nominal.total.seconds * 1e3, nominal.total.dense_tops(), t.dense_tops_per_watt(),
        t.dense_tops_per_watt_with_offchip(), t.tops_per_watt(), 100 * t.utilization,
        analytic_seconds * 1e3);
    if (print_reports()) {
      std::printf("%s\n%s\n", report_text(nominal).c_str(), report_text(r).c_str());
      const std::string path =
          std::string(std::getenv("SPARQ_DEVICE_REPORT")) + "/resnet18_k" + std::to_string(k);
      std::ofstream(path + "_534MHz.json") << report_json(nominal);
      std::ofstream(path + "_234MHz.json") << report_json(r);
      // The whole offloaded inference: outputs plus the analytic figures.
      std::mt19937 gen = testing::rng(1);
      const Tensor image = testing::random_f32(gen, Shape{1, 3, 224, 224}, -2.0f, 2.0f);
      const auto s0 = Clock::now();
      Session session(model, testing::session_options({"device", host_backend()}, 0));
      session.run(image);
      std::printf("k=%d: device session (%s kernels) compile + run: %.2f s\n", k,
                  host_backend().c_str(), seconds_since(s0));
    }
    // ResNet-18's convolutions: about 1.81 G dense MACs at 224 x 224.
    EXPECT_NEAR(static_cast<double>(t.dense_macs), 1.814e9, 0.01e9);
    // The 8-bit first layer needs four nibble passes whatever k is.
    EXPECT_EQ(row(r, "conv1").operand_passes, 4);
    EXPECT_EQ(row(r, "layer2.0.conv1").taps_per_kernel, k);
    EXPECT_EQ(row(r, "fc").placement, "host");
    EXPECT_GT(t.dense_tops_per_watt(), previous_dense_tops_per_watt);
    previous_dense_tops_per_watt = t.dense_tops_per_watt();
    if (k == 9) {
      k9_dense_tops_per_watt = t.dense_tops_per_watt();
      // Dense work on the whole network stays below the single-layer 5.30.
      EXPECT_LT(t.dense_tops_per_watt(), 5.30);
    }
    if (k == 1) {
      // Pruning gains less than the ideal 9x: the dense first layer,
      // activation traffic, leakage and fill do not shrink with k.
      EXPECT_LT(t.dense_tops_per_watt(), 9 * k9_dense_tops_per_watt);
      EXPECT_GT(t.dense_tops_per_watt(), 2 * k9_dense_tops_per_watt);
    }
  }
}

// Where the chip's energy and time go, by part of the network.
struct PartTotals {
  int64_t cycles = 0;
  double seconds = 0;
  EnergyBreakdown energy;
  int64_t dense_macs = 0;
};

std::string part_of(const LayerReport& r) {
  if (r.placement == "transfer") return "transfers";
  if (r.name == "conv1") return "conv1";
  if (r.op == "sparse_conv3x3") return "sparse 3x3";
  if (r.op == "conv2d") return "1x1 shortcuts";
  return "post-processing";
}

void add(PartTotals& p, const LayerReport& r) {
  p.cycles += r.cycles;
  p.seconds += r.seconds;
  p.energy.mac += r.energy.mac;
  p.energy.aligner += r.energy.aligner;
  p.energy.sram += r.energy.sram;
  p.energy.vector += r.energy.vector;
  p.energy.leakage += r.energy.leakage;
  p.energy.offchip += r.energy.offchip;
  p.dense_macs += r.dense_macs;
}

double dense_tops_per_watt(const PartTotals& p) {
  return 2.0 * static_cast<double>(p.dense_macs) / p.energy.chip() / 1e12;
}

std::map<std::string, PartTotals> parts(const DeviceReport& r) {
  std::map<std::string, PartTotals> out;
  for (const LayerReport& l : r.layers) {
    if (l.placement != "host") add(out[part_of(l)], l);
  }
  return out;
}

void print_parts(int k, const DeviceReport& r) {
  const double chip = r.total.energy.chip();
  std::printf(
      "k=%d at 234 MHz: part, cycles, time %%, chip uJ (MAC / aligner / SRAM / vector / "
      "leakage), energy %%, dTOPS/W\n",
      k);
  for (const auto& [name, p] : parts(r)) {
    std::printf(
        "  %-16s %9lld %5.1f%% %7.1f (%5.1f / %5.1f / %5.1f / %4.1f / %5.1f) %5.1f%% %6.2f\n",
        name.c_str(), static_cast<long long>(p.cycles), 100 * p.seconds / r.total.seconds,
        p.energy.chip() * 1e6, p.energy.mac * 1e6, p.energy.aligner * 1e6, p.energy.sram * 1e6,
        p.energy.vector * 1e6, p.energy.leakage * 1e6, 100 * p.energy.chip() / chip,
        p.dense_macs > 0 ? dense_tops_per_watt(p) : 0.0);
  }
}

TEST(DeviceResnet18, SparsePredictionAsTheConstantsGiveIt) {
  // The published 26.5 dense-equivalent TOPS/W at 88 % random pruning (5.0x
  // the dense 5.30) is held out: these are the model's predictions, golden
  // figures of the constants as they stand (docs/DEVICE_MODEL.md section 6).
  const DeviceConfig efficient = DeviceConfig{}.at_point("efficient");
  const auto dense = resnet18(9, 224, 42);
  const auto pruned = resnet18(1, 224, 42);
  const DeviceReport r9 = simulate(*dense, efficient, 1);
  const DeviceReport r1 = simulate(*pruned, efficient, 1);
  print_parts(9, r9);
  print_parts(1, r1);
  const auto p9 = parts(r9);
  const auto p1 = parts(r1);
  const double whole9 = r9.total.dense_tops_per_watt();
  const double whole1 = r1.total.dense_tops_per_watt();
  const double sparse9 = dense_tops_per_watt(p9.at("sparse 3x3"));
  const double sparse1 = dense_tops_per_watt(p1.at("sparse 3x3"));
  PartTotals rest1;
  for (const LayerReport& l : r1.layers) {
    if (l.placement != "host" && l.name != "conv1") add(rest1, l);
  }
  std::printf(
      "predicted dTOPS/W at 234 MHz / 0.8 V: whole network k=9 %.2f, k=1 %.2f (%.2fx); "
      "sparse 3x3 layers k=9 %.2f, k=1 %.2f (%.2fx); k=1 without conv1 %.2f\n",
      whole9, whole1, whole1 / whole9, sparse9, sparse1, sparse1 / sparse9,
      dense_tops_per_watt(rest1));
  EXPECT_NEAR(whole9, 3.950, 0.01 * 3.950);
  EXPECT_NEAR(whole1, 10.676, 0.01 * 10.676);
  EXPECT_NEAR(sparse9, 4.993, 0.01 * 4.993);
  EXPECT_NEAR(sparse1, 36.08, 0.01 * 36.08);
  // The prediction follows the held-out inputs: a dearer aligner (registers
  // and multiplexers, paid per tap and per load whatever k is) narrows the
  // gain from pruning even with the factor refitted to the same power.
  DeviceConfig dear = DeviceConfig{};
  dear.register_joules_per_bit *= 2;
  dear.mux_joules_per_bit *= 2;
  dear = fit_overhead_factor(dear).at_point("efficient");
  const double ratio = simulate(*pruned, dear, 1).total.dense_tops_per_watt() /
                       simulate(*dense, dear, 1).total.dense_tops_per_watt();
  EXPECT_NE(ratio, whole1 / whole9);
}

TEST(DeviceResnet18, SensitivityOfTheHeadlineFigures) {
  const auto dense = resnet18(9, 224, 42);
  const auto pruned = resnet18(1, 224, 42);
  const std::vector<SensitivityRow> rows = sensitivity(DeviceConfig{}, {dense.get(), pruned.get()});
  std::printf(
      "| constant | value | low .. high | factor | TOPS/W @0.8 V (5.30) | ResNet-18 k=9 | "
      "k=1 | k=1 / k=9 |\n");
  for (const SensitivityRow& r : rows) {
    const SensitivityFigures& a = r.at_low;
    const SensitivityFigures& b = r.at_high;
    std::printf(
        "| %s | %g %s | %g .. %g | %.3f .. %.3f | %.2f .. %.2f | %.2f .. %.2f | %.2f .. %.2f "
        "| %.2f .. %.2f |\n",
        r.constant.c_str(), r.value, r.unit.c_str(), r.low, r.high, a.overhead_factor,
        b.overhead_factor, a.efficient_tops_per_watt, b.efficient_tops_per_watt,
        a.model_dense_tops_per_watt[0], b.model_dense_tops_per_watt[0],
        a.model_dense_tops_per_watt[1], b.model_dense_tops_per_watt[1],
        a.model_dense_tops_per_watt[1] / a.model_dense_tops_per_watt[0],
        b.model_dense_tops_per_watt[1] / b.model_dense_tops_per_watt[0]);
    ASSERT_EQ(a.model_dense_tops_per_watt.size(), 2u);
    // Whatever a constant does within its range, pruning still pays.
    EXPECT_GT(a.model_dense_tops_per_watt[1], a.model_dense_tops_per_watt[0]) << r.constant;
    EXPECT_GT(b.model_dense_tops_per_watt[1], b.model_dense_tops_per_watt[0]) << r.constant;
  }
}

TEST(DeviceResnet18, SteppedModeAgreesWithTheAnalyticOnTheWholeNetwork) {
  const auto model = resnet18(3, kSanitized ? 64 : 224, 7);
  const DeviceReport a = simulate(*model, DeviceConfig{}, 1, SimulationMode::kAnalytic);
  const auto t0 = Clock::now();
  const DeviceReport s = simulate(*model, DeviceConfig{}, 1, SimulationMode::kCycleStepped);
  std::printf("cycle-stepped timing of the whole network: %.2f s\n", seconds_since(t0));
  ASSERT_EQ(a.layers.size(), s.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].cycles, s.layers[i].cycles) << a.layers[i].name;
  }
}

TEST(DeviceResnet18, OffloadedRunIsBitExactWithTheReference) {
  // Full size only without sanitizers (the reference run is scalar).
  const int size = kSanitized ? 32 : 224;
  const auto model = resnet18(1, size, 9);
  std::mt19937 gen = testing::rng(10);
  const Tensor image = testing::random_f32(gen, Shape{1, 3, size, size}, -2.0f, 2.0f);

  auto t0 = Clock::now();
  Session offloaded(model, testing::session_options({"device", host_backend()}, 0));
  RunStats stats;
  const auto got = offloaded.run(image, &stats);
  const double device_seconds = seconds_since(t0);
  int64_t device_cycles = 0;
  for (const NodeStats& s : stats.steps) {
    if (const DeviceNodeStats* d = device_stats(s)) device_cycles += d->cycles;
  }
  std::printf("device session (%s kernels), %dx%d k=1: %.2f s host time, %lld device cycles\n",
              host_backend().c_str(), size, size, device_seconds,
              static_cast<long long>(device_cycles));

  Session reference(model, testing::session_options({"reference"}, 1));
  t0 = Clock::now();
  const auto expected = reference.run(image);
  std::printf("reference session: %.2f s\n", seconds_since(t0));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(testing::bit_equal(got[0], expected[0]));
  EXPECT_EQ(device_cycles, simulate(*model, DeviceConfig{}, 1).total.cycles);
}

// Cycle mode: every convolution computed by the stepped array model (aligner,
// per-row taps, nibble passes, 24-bit accumulators) instead of the CPU
// kernels; whole ResNet-18-shaped networks equal the reference bit for bit.
TEST(DeviceResnet18, CycleModeDatapathIsBitExactAtK931) {
  // ResNet-18 at 64 x 64 (maps 32, 16, 8, 4, 2): the stepped model is scalar.
  const int size = 64;
  for (int k : {9, 3, 1}) {
    const auto model = resnet18(k, size, 70 + k);
    std::mt19937 gen = testing::rng(80 + k);
    const Tensor image = testing::random_f32(gen, Shape{2, 3, size, size}, -2.0f, 2.0f);
    Session cycle(model, testing::session_options({"device-cycle", host_backend()}, 0));
    RunStats stats;
    const auto t0 = Clock::now();
    const auto got = cycle.run(image, &stats);
    std::printf("k=%d: cycle-mode datapath, %dx%d, batch 2: %.2f s\n", k, size, size,
                seconds_since(t0));
    int arrays = 0;
    for (const Placement& p : cycle.placements()) {
      if (p.kernel == "device(stepped array)") ++arrays;
    }
    EXPECT_EQ(arrays, 1 + 16 + 3) << "conv1, the sparse convs, the shortcuts";
    Session reference(model, testing::session_options({"reference"}, 1));
    const auto expected = reference.run(image);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(testing::bit_equal(got[0], expected[0])) << "k=" << k;
    int64_t cycles = 0;
    for (const NodeStats& s : stats.steps) {
      if (const DeviceNodeStats* d = device_stats(s)) cycles += d->cycles;
    }
    EXPECT_EQ(cycles,
              simulate(*model, DeviceConfig{}, 2, SimulationMode::kCycleStepped).total.cycles);
  }
}

}  // namespace
}  // namespace sparq
