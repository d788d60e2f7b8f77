// The pruned 3x3 convolutions of ResNet-18 (224x224) and ResNet-20 (32x32)
// on sparq's sparse kernels at k in {9,7,5,3,2,1}, random and shared (16 out x
// 4 in) tap patterns, 1 and 2 threads, next to oneDNN dense fp32 and dense
// u8 x s8 int8 on the same shape, all registered in one process so Google
// Benchmark's random interleaving gives every contender the same machine
// conditions. oneDNN int8 uses its best ISA here; run the
// binary again under ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI with
// --benchmark_filter=onednn_int8 for the VNNI-pinned figures (oneDNN reads
// its ISA cap once per process). scripts/bench.sh does both and writes
// bench/RESULTS.md.
//
// Counters: dense_gmacs = MACs the dense layer needs / time; actual_gmacs =
// MACs of the kept taps / time; dense_macs = per-call dense MACs (for the
// post-processing).
#include <benchmark/benchmark.h>
#include <omp.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa/isa.hpp"
#include "kernels/sparse_conv3x3/sparse_conv3x3.hpp"
#include "runtime/backends/cpu/sparse_conv3x3_workers.hpp"
#include "runtime/backends/cpu/spin_team.hpp"
#include "sparq/sparse_format.hpp"

namespace {

using sparq::kernels::Sparse3x3Problem;
using sparq::kernels::SparseConv3x3Kernel;

struct Layer {
  const char* name;
  int channels;
  int size;
};

constexpr Layer kLayers[] = {
    {"r18_64x56", 64, 56}, {"r18_128x28", 128, 28}, {"r18_256x14", 256, 14}, {"r18_512x7", 512, 7},
    {"r20_16x32", 16, 32}, {"r20_32x16", 32, 16},   {"r20_64x8", 64, 8},
};
constexpr int kDensities[] = {9, 7, 5, 3, 2, 1};
constexpr int kThreadCounts[] = {1, 2};

int64_t dense_macs(const Layer& l) {
  return int64_t{l.channels} * l.channels * 9 * l.size * l.size;
}

struct AlignedBytes {
  struct Free {
    void operator()(void* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  std::unique_ptr<void, Free> data;
  explicit AlignedBytes(size_t bytes)
      : data(::operator new (std::max<size_t>(bytes, 64), std::align_val_t{64})) {
    std::memset(data.get(), 0, std::max<size_t>(bytes, 64));
  }
  void* get() const { return data.get(); }
};

std::vector<uint8_t> make_taps(std::mt19937& gen, int out_channels, int in_channels, int density,
                               int out_group, int in_group) {
  std::vector<uint8_t> taps(static_cast<size_t>(out_channels) * in_channels * density);
  std::uniform_int_distribution<int> value(-7, 7);
  std::vector<int> positions(9);
  for (int og = 0; og < out_channels; og += out_group) {
    for (int ig = 0; ig < in_channels; ig += in_group) {
      std::iota(positions.begin(), positions.end(), 0);
      std::shuffle(positions.begin(), positions.end(), gen);
      std::sort(positions.begin(), positions.begin() + density);
      for (int o = og; o < std::min(out_channels, og + out_group); ++o) {
        for (int i = ig; i < std::min(in_channels, ig + in_group); ++i) {
          for (int t = 0; t < density; ++t) {
            int v = value(gen);
            if (v == 0) v = 1;  // a kept tap is non-zero after pruning
            taps[(static_cast<size_t>(o) * in_channels + i) * density + t] =
                sparq::make_tap(positions[t], v);
          }
        }
      }
    }
  }
  return taps;
}

void set_counters(benchmark::State& state, int64_t dense, int64_t actual) {
  state.counters["dense_gmacs"] = benchmark::Counter(static_cast<double>(dense) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
  state.counters["actual_gmacs"] = benchmark::Counter(
      static_cast<double>(actual) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["dense_macs"] = static_cast<double>(dense);
}

void bench_sparq(benchmark::State& state, Layer layer, int density, bool shared, int threads) {
  std::mt19937 gen(1234 + density);
  Sparse3x3Problem problem;
  problem.in_channels = problem.out_channels = layer.channels;
  problem.height = problem.width = layer.size;
  problem.stride = 1;
  problem.density = density;
  const int C = layer.channels;
  const auto taps = make_taps(gen, C, C, density, shared ? 16 : 1, shared ? 4 : 1);
  std::vector<float> scales(static_cast<size_t>(C), 0.01f), bias(static_cast<size_t>(C), 0.1f);
  const SparseConv3x3Kernel kernel = SparseConv3x3Kernel::create(
      problem, taps, scales, bias, sparq::Activation::kRelu, sparq::kernels::active_isa());
  std::vector<uint8_t> input(static_cast<size_t>(C) * layer.size * layer.size);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& v : input) v = static_cast<uint8_t>(byte(gen));
  std::vector<float> output(static_cast<size_t>(C) * layer.size * layer.size);
  tbb::task_arena arena(threads);
  // As the CPU node runs it: a layer too small to gain from a second thread
  // uses one (the threads_used counter says so).
  const int used = kernel.useful_threads(threads);
  AlignedBytes scratch(sparq::cpu::sparse_conv3x3_sample_scratch(kernel, used));
  arena.execute([&] {
    // Several threads run as a session runs one sample on them: a SpinTeam
    // keeps the helper awake between runs and gives each thread the same
    // share of every run (runtime/backends/cpu/spin_team.hpp), as oneDNN's
    // OpenMP threads spin between its runs.
    std::optional<sparq::cpu::SpinTeam> team;
    if (used > 1) team.emplace(used);
    for (auto _ : state) {
      sparq::cpu::run_sparse_conv3x3_sample(kernel, {input.data(), 0.02f, output.data()},
                                            scratch.get(), used);
      benchmark::DoNotOptimize(output.data());
    }
  });
  set_counters(state, dense_macs(layer), dense_macs(layer) * density / 9);
  state.counters["threads_used"] = used;
  state.SetLabel(kernel.name());
}

// oneDNN dense 3x3 stride-1 pad-1 convolution, fp32 or u8 x s8 -> u8.
void bench_onednn(benchmark::State& state, Layer layer, bool int8, int threads) {
  using dnnl::memory;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  omp_set_num_threads(threads);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const int C = layer.channels, S = layer.size;
  const memory::dims src{1, C, S, S}, wei{C, C, 3, 3}, dst{1, C, S, S};
  const memory::dims strides{1, 1}, pad{1, 1};
  const dt act = int8 ? dt::u8 : dt::f32;
  const dt w = int8 ? dt::s8 : dt::f32;
  const memory::desc src_md(src, act, tag::any), wei_md(wei, w, tag::any),
      dst_md(dst, act, tag::any), bias_md({C}, dt::f32, tag::a);
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                             dnnl::algorithm::convolution_direct, src_md, wei_md,
                                             bias_md, dst_md, strides, pad, pad);
  dnnl::primitive_attr attr;
  if (int8) attr.set_output_scales(0, {0.001f});
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(ops);
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, engine);
  memory src_m(pd.src_desc(), engine), wei_m(pd.weights_desc(), engine),
      bias_m(pd.bias_desc(), engine), dst_m(pd.dst_desc(), engine);
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (memory* m : {&src_m, &wei_m}) {
    auto* bytes = static_cast<uint8_t*>(m->get_data_handle());
    const size_t size = m->get_desc().get_size();
    if (int8) {
      for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(byte(gen) & 0x77);
    } else {
      auto* f = reinterpret_cast<float*>(bytes);
      for (size_t i = 0; i < size / 4; ++i) f[i] = static_cast<float>(byte(gen) % 16) * 0.1f;
    }
  }
  std::memset(bias_m.get_data_handle(), 0, pd.bias_desc().get_size());
  const dnnl::convolution_forward conv(pd);
  const std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_m},
                                             {DNNL_ARG_WEIGHTS, wei_m},
                                             {DNNL_ARG_BIAS, bias_m},
                                             {DNNL_ARG_DST, dst_m}};
  for (auto _ : state) {
    conv.execute(stream, args);
    stream.wait();
  }
  set_counters(state, dense_macs(layer), dense_macs(layer));
  state.SetLabel(pd.impl_info_str());
}

double min_of(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

void configure(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMicrosecond)->ComputeStatistics("min", min_of);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Layer& layer : kLayers) {
    for (int threads : kThreadCounts) {
      const std::string suffix = std::string(layer.name) + "/t" + std::to_string(threads);
      configure(benchmark::RegisterBenchmark(("onednn_f32/" + suffix).c_str(), bench_onednn, layer,
                                             false, threads));
      configure(benchmark::RegisterBenchmark(("onednn_int8/" + suffix).c_str(), bench_onednn, layer,
                                             true, threads));
      for (int density : kDensities) {
        for (bool shared : {false, true}) {
          const std::string name = "sparq/" + std::string(layer.name) + "/k" +
                                   std::to_string(density) + (shared ? "/shared" : "/random") +
                                   "/t" + std::to_string(threads);
          configure(benchmark::RegisterBenchmark(name.c_str(), bench_sparq, layer, density, shared,
                                                 threads));
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
