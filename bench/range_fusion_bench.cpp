// What the producer-reported range (the dynamic-quantization max fused into
// the producer) saves: a producer node followed by a u8 quantize node, run by
// a one-thread CPU session in two ways, interleaved in one process:
//   fused:   the producer reports each sample's SampleRange, the quantize
//            node skips its range pass (what a CPU session runs);
//   unfused: the same producer wrapped so that it reports nothing, the
//            quantize node makes its own range pass.
// Batch 1 (the tensor stays in cache) and batch 32 (it does not). Run with
// MALLOC_MMAP_THRESHOLD_=4294967296 so batch-32 outputs are not mapped and
// unmapped (page faults) on every run.
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sparq/sparq.hpp"

namespace {

using namespace sparq;

// A backend that runs every node but quantize through the CPU backend with
// range reporting switched off.
class SilentCpuBackend : public Backend {
 public:
  std::string name() const override { return "cpu_silent"; }
  bool supports(const Graph& g, const Node& n) const override {
    return !std::holds_alternative<QuantizeOp>(n.op) && cpu_->supports(g, n);
  }
  std::unique_ptr<CompiledNode> compile(const Graph& g, const Node& n) const override {
    return std::make_unique<Silent>(cpu_->compile(g, n));
  }

 private:
  class Silent : public CompiledNode {
   public:
    explicit Silent(std::unique_ptr<CompiledNode> inner) : inner_(std::move(inner)) {}
    void run(std::span<const ConstTensorView> inputs, const TensorView& output,
             const ExecContext& ctx) const override {
      TensorView plain = output;
      plain.ranges = nullptr;
      inner_->run(inputs, plain, ctx);
    }
    size_t scratch_bytes(int64_t batch, int threads) const override {
      return inner_->scratch_bytes(batch, threads);
    }
    std::string kernel_name() const override { return inner_->kernel_name(); }

   private:
    std::unique_ptr<CompiledNode> inner_;
  };
  std::shared_ptr<const Backend> cpu_ = BackendRegistry::get("cpu");
};

struct Producer {
  const char* name;
  Shape input;  // per sample, f32
  std::function<ValueId(ModelBuilder&, ValueId, std::mt19937&)> add;
};

const std::vector<Producer>& producers() {
  static const std::vector<Producer> list = {
      {"add_relu_64x56", Shape{64, 56, 56},
       [](ModelBuilder& b, ValueId x, std::mt19937&) {
         return b.add(x, x, Activation::kRelu, "producer");
       }},
      {"relu_64x56", Shape{64, 56, 56},
       [](ModelBuilder& b, ValueId x, std::mt19937&) {
         return b.activation(x, Activation::kRelu, "producer");
       }},
  };
  return list;
}

void bench_pair(benchmark::State& state, const Producer& p, int batch, bool fused) {
  std::mt19937 gen(5);
  ModelBuilder b;
  ValueId x = b.input(p.input, DType::kF32);
  ValueId y = p.add(b, x, gen);
  y = b.quantize(y, 8, false, "quantize_output");
  b.mark_output(y);
  auto model = std::make_shared<Model>(b.build());
  SessionOptions options;
  options.threads = 1;
  options.backends = {"cpu"};
  if (!fused) options.backend_objects = {std::make_shared<SilentCpuBackend>()};
  Session session(model, options);
  Tensor input = Tensor(p.input.with_batch(batch), DType::kF32);
  std::uniform_real_distribution<float> real(-1.0f, 3.0f);
  for (float& v : input.span<float>()) v = real(gen);
  for (auto _ : state) benchmark::DoNotOptimize(session.run(input));
}

const bool kRegistered = [] {
  for (const Producer& p : producers()) {
    for (int batch : {1, 32}) {
      for (bool fused : {false, true}) {
        const std::string name = std::string(p.name) + "/batch" + std::to_string(batch) +
                                 (fused ? "/fused" : "/unfused");
        benchmark::RegisterBenchmark(name.c_str(), bench_pair, p, batch, fused)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
