// Every implementation path of the sparse 3x3 kernel on the ResNet-18 and
// ResNet-20 layers, single thread, at each density and pattern kind, next to
// the cost the planner estimates for it. This is the measurement behind the
// planner's cost model and docs/BREAK_EVEN.md: a path whose measured time
// ranks differently from its estimate means the model needs recalibrating.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "sparq/sparse_format.hpp"

namespace {

using sparq::kernels::Sparse3x3Path;
using sparq::kernels::Sparse3x3Problem;
using sparq::kernels::SparseConv3x3Kernel;

struct Layer {
  const char* name;
  int channels;
  int size;
};
constexpr Layer kLayers[] = {{"r18_64x56", 64, 56},   {"r18_128x28", 128, 28},
                             {"r18_256x14", 256, 14}, {"r18_512x7", 512, 7},
                             {"r20_16x32", 16, 32},   {"r20_64x8", 64, 8}};

std::vector<uint8_t> make_taps(std::mt19937& gen, int channels, int density, int out_group,
                               int in_group) {
  std::vector<uint8_t> taps(static_cast<size_t>(channels) * channels * density);
  std::uniform_int_distribution<int> value(1, 7);
  std::vector<int> positions(9);
  for (int og = 0; og < channels; og += out_group) {
    for (int ig = 0; ig < channels; ig += in_group) {
      std::iota(positions.begin(), positions.end(), 0);
      std::shuffle(positions.begin(), positions.end(), gen);
      std::sort(positions.begin(), positions.begin() + density);
      for (int o = og; o < std::min(channels, og + out_group); ++o) {
        for (int i = ig; i < std::min(channels, ig + in_group); ++i) {
          for (int t = 0; t < density; ++t) {
            taps[(static_cast<size_t>(o) * channels + i) * density + t] =
                sparq::make_tap(positions[t], value(gen));
          }
        }
      }
    }
  }
  return taps;
}

struct Case {
  Sparse3x3Problem problem;
  std::vector<uint8_t> taps;
  std::vector<float> scales, bias;
};

Case make_case(const Layer& layer, int density, bool shared) {
  Case c;
  c.problem.in_channels = c.problem.out_channels = layer.channels;
  c.problem.height = c.problem.width = layer.size;
  c.problem.density = density;
  std::mt19937 gen(99 + density);
  c.taps = make_taps(gen, layer.channels, density, shared ? 16 : 1, shared ? 4 : 1);
  c.scales.assign(static_cast<size_t>(layer.channels), 0.01f);
  c.bias.assign(static_cast<size_t>(layer.channels), 0.0f);
  return c;
}

// A sample of f32 output at activation scale 0.01, the rest defaulted.
sparq::kernels::Sparse3x3Sample sample_of(const uint8_t* input, float* output) {
  sparq::kernels::Sparse3x3Sample sample;
  sample.input = input;
  sample.act_scale = 0.01f;
  sample.output = output;
  return sample;
}

void bench_path(benchmark::State& state, Layer layer, int density, bool shared,
                Sparse3x3Path path) {
  const Case c = make_case(layer, density, shared);
  const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create_on_path(
      c.problem, c.taps, c.scales, c.bias, sparq::Activation::kRelu, path);
  const SparseConv3x3Kernel chosen = SparseConv3x3Kernel::create(
      c.problem, c.taps, c.scales, c.bias, sparq::Activation::kRelu, sparq::kernels::active_isa());
  std::vector<uint8_t> input(static_cast<size_t>(layer.channels) * layer.size * layer.size, 200);
  std::vector<float> output(input.size());
  // One worker: the kernel's whole work on the calling thread, as the node
  // runs a sample there.
  const sparq::kernels::Sparse3x3Sample sample = sample_of(input.data(), output.data());
  auto* scratch = static_cast<uint8_t*>(
      ::operator new (kernel.worker_scratch_bytes() + 64, std::align_val_t{64}));
  for (auto _ : state) {
    kernel.run_samples({&sample, 1}, scratch);
    benchmark::DoNotOptimize(output.data());
  }
  ::operator delete (scratch, std::align_val_t{64});
  const double dense = 9.0 * layer.channels * layer.channels * layer.size * layer.size;
  state.counters["dense_gmacs"] =
      benchmark::Counter(dense * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["est_cost_mcycles"] = kernel.estimated_cost() * 1e-6;
  state.counters["chosen"] = chosen.name() == kernel.name() ? 1 : 0;
  // Inputs of the planner's cost model, for refitting its constants.
  state.counters["entries_per_tile"] = static_cast<double>(kernel.entry_count());
  state.counters["out_block"] = kernel.path().out_block;
  state.counters["pixel_vecs"] = kernel.path().pixel_vecs;
  state.SetLabel(kernel.name());
}

// VGG-11's (32x32 input) wide layers on small planes, whose entries outgrow
// L2: the planner's path run on `samples` samples one after another (passes
// of one, as batch 1 runs them) or in one pass (as a batch runs them on one
// thread). Time per sample.
constexpr Layer kPassLayers[] = {
    {"vgg_256x8", 256, 8}, {"vgg_512x4", 512, 4}, {"vgg_512x2", 512, 2}};

void bench_pass(benchmark::State& state, Layer layer, int samples, bool in_one_pass) {
  const Case c = make_case(layer, 9, false);
  const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create(
      c.problem, c.taps, c.scales, c.bias, sparq::Activation::kRelu, sparq::kernels::active_isa());
  if (in_one_pass && kernel.samples_per_pass(samples) != samples) {
    state.SkipWithError("the planner runs this layer without passes");
    return;
  }
  const size_t plane = static_cast<size_t>(layer.channels) * layer.size * layer.size;
  std::vector<uint8_t> inputs(plane * samples);
  std::mt19937 gen(7);
  for (uint8_t& v : inputs) v = static_cast<uint8_t>(gen() % 256);
  std::vector<float> outputs(plane * samples);
  std::vector<sparq::kernels::Sparse3x3Sample> batch(static_cast<size_t>(samples));
  for (int i = 0; i < samples; ++i) {
    batch[i] = sample_of(inputs.data() + i * plane, outputs.data() + i * plane);
  }
  const size_t scratch_bytes = kernel.worker_scratch_bytes() * samples;
  auto* scratch = static_cast<uint8_t*>(::operator new (scratch_bytes, std::align_val_t{64}));
  for (auto _ : state) {
    if (in_one_pass) {
      kernel.run_samples(batch, scratch);
    } else {
      for (const auto& sample : batch) kernel.run_samples({&sample, 1}, scratch);
    }
    benchmark::DoNotOptimize(outputs.data());
  }
  ::operator delete (scratch, std::align_val_t{64});
  state.counters["seconds_per_sample"] = benchmark::Counter(
      samples, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetLabel(kernel.name());
}

// Reports the minimum over repetitions next to the mean and median.
void with_min(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMicrosecond)->ComputeStatistics("min", [](const std::vector<double>& v) {
    return *std::min_element(v.begin(), v.end());
  });
}

}  // namespace

int main(int argc, char** argv) {
  for (const Layer& layer : kPassLayers) {
    for (bool in_one_pass : {false, true}) {
      const std::string name = std::string("pass/") + layer.name + "/k9/random/samples6/" +
                               (in_one_pass ? "one_pass" : "one_by_one");
      with_min(benchmark::RegisterBenchmark(name.c_str(), bench_pass, layer, 6, in_one_pass));
    }
  }
  for (const Layer& layer : kLayers) {
    for (int density : {9, 5, 3, 2, 1}) {
      for (bool shared : {false, true}) {
        Sparse3x3Problem problem;
        problem.in_channels = problem.out_channels = layer.channels;
        problem.height = problem.width = layer.size;
        problem.density = density;
        for (const Sparse3x3Path& path :
             SparseConv3x3Kernel::candidate_paths(problem, sparq::kernels::active_isa())) {
          if (path.isa == sparq::kernels::Isa::kScalar) continue;
          const std::string name =
              std::string("path/") + layer.name + "/k" + std::to_string(density) +
              (shared ? "/shared/" : "/random/") + sparq::kernels::isa_name(path.isa) + "_" +
              sparq::kernels::layout_name(path) + "_ob" + std::to_string(path.out_block);
          with_min(
              benchmark::RegisterBenchmark(name.c_str(), bench_path, layer, density, shared, path));
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
