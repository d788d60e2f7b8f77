// Dense layers of the CPU backend next to oneDNN on the same shapes, in the
// same process: the first-layer convolution (ResNet-18 stem, 3 -> 64, 7x7
// stride 2 at 224x224), 1x1 convolutions (256 -> 256 at 14x14, ResNet-18's
// stride-2 shortcut, MobileNet-v1's 32 -> 64 at 112x112), a depthwise
// 3x3 (256 channels, 28x28), two of MobileNet-v1's depthwise layers with its
// 8-bit weights, the ResNet-18 classifier (512 -> 1000) and pooling (max
// pools on f32 and u8, global average pools).
// One thread each (sparq: ExecContext::threads = 1, oneDNN: OpenMP 1 thread).
// The convolutions run writing f32 (sparq_cpu_int, onednn_int8_f32out) and
// writing u8 through a static output scale (sparq_cpu_int_u8out,
// onednn_int8): a layer writing 3.2 MB of f32 (the stem) is bound by the
// stores, so only the same output on both sides compares the libraries.
// The 1x1 layers also time their input pack alone (sparq_pack): sparq's
// activations are planes, which its 1x1 tiles read as channel quads, so each
// such layer first interleaves its input, inside the timed run; oneDNN's
// input is in its own blocked layout before the timed loop.
// Each benchmark repeats; "best" is the minimum over repetitions: other
// tenants and clock changes only ever slow a run down, so best-of-many is the
// stable figure on a shared machine. The
// GMAC/s counter is MACs of the layer / time.
//
// Run: build-*/bench/dense_ops_bench --benchmark_repetitions=10
//        --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <dnnl.hpp>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/isa/isa.hpp"
#include "sparq/sparq.hpp"

namespace {

using dnnl::memory;

struct ConvShape {
  const char* name;
  int64_t in_c, out_c, h, w, groups;
  int k, stride, pad;
  sparq::DType input;  // u8 or s8 (the stem's mean-subtracted image is signed)
  // sparq's weights: s4 (sparq's 4-bit layers) or s8 (layers the importer
  // keeps at 8 bits, such as MobileNet-v1's depthwise convolutions).
  sparq::DType weights = sparq::DType::kS4;
  int64_t out_h() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t out_w() const { return (w + 2 * pad - k) / stride + 1; }
  int64_t macs() const { return out_c * out_h() * out_w() * (in_c / groups) * k * k; }
};

const ConvShape kConvShapes[] = {
    {"first_layer_3x224_7x7s2", 3, 64, 224, 224, 1, 7, 2, 3, sparq::DType::kS8},
    {"1x1_256x14", 256, 256, 14, 14, 1, 1, 1, 0, sparq::DType::kU8},
    // MobileNet-v1's first pointwise layer: 8 channel quads per output.
    {"1x1_32x112", 32, 64, 112, 112, 1, 1, 1, 0, sparq::DType::kU8},
    // ResNet-18's first downsample shortcut: 1x1 stride 2, 64 -> 128.
    {"1x1s2_64x56", 64, 128, 56, 56, 1, 1, 2, 0, sparq::DType::kU8},
    {"depthwise3x3_256x28", 256, 256, 28, 28, 256, 3, 1, 1, sparq::DType::kU8},
    // MobileNet-v1's depthwise layers as imported (8-bit weights): stride 2
    // at 112x112 and stride 1 on 14x14 planes.
    {"depthwise3x3s2_64x112_w8", 64, 64, 112, 112, 64, 3, 2, 1, sparq::DType::kU8,
     sparq::DType::kS8},
    {"depthwise3x3_512x14_w8", 512, 512, 14, 14, 512, 3, 1, 1, sparq::DType::kU8,
     sparq::DType::kS8},
};

// Pooling: the ResNet-18 stem's 3x3 stride-2 max pool, VGG-11's first 2x2
// pool and the global average pools before ResNet-18's and MobileNet-v1's
// classifiers. Max pools read a ReLU's output, on f32 planes (the dynamic
// rule's networks) and on u8 (a static scale's: the pool moved behind the
// quantize); the global pools read f32.
enum class PoolAlgo { kMax, kGlobalAverage };
struct PoolShape {
  const char* name;
  PoolAlgo algo;
  int64_t channels, h, w;
  int k, stride, pad;
  sparq::DType dtype;
  // The global pools are windows of the whole plane: 1 x 1.
  int64_t out_h() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t out_w() const { return (w + 2 * pad - k) / stride + 1; }
};

const PoolShape kPoolShapes[] = {
    {"maxpool3x3s2_64x112", PoolAlgo::kMax, 64, 112, 112, 3, 2, 1, sparq::DType::kF32},
    {"maxpool3x3s2_64x112", PoolAlgo::kMax, 64, 112, 112, 3, 2, 1, sparq::DType::kU8},
    {"maxpool2x2_64x32", PoolAlgo::kMax, 64, 32, 32, 2, 2, 0, sparq::DType::kF32},
    {"maxpool2x2_64x32", PoolAlgo::kMax, 64, 32, 32, 2, 2, 0, sparq::DType::kU8},
    {"global_avg_pool_512x7", PoolAlgo::kGlobalAverage, 512, 7, 7, 7, 1, 0, sparq::DType::kF32},
    {"global_avg_pool_1024x7", PoolAlgo::kGlobalAverage, 1024, 7, 7, 7, 1, 0, sparq::DType::kF32},
};

struct FcShape {
  const char* name;
  int64_t in, out;
};
const FcShape kFcShape{"fc_512x1000", 512, 1000};

void set_gmacs(benchmark::State& state, int64_t macs) {
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(macs) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// ---- sparq ----------------------------------------------------------------------

// One node compiled on the "cpu" backend, run with one thread. With
// `after_relu`, the node reads a ReLU's output (an f32 input of no NaN and
// no -0, which the max pools take with plain maximums): the graph holds the
// ReLU, only the node is compiled and run, on non-negative inputs.
struct SparqLayer {
  sparq::Graph graph;
  std::unique_ptr<sparq::CompiledNode> node;
  sparq::Tensor input, output;
  std::vector<uint8_t> scratch;

  SparqLayer(sparq::Shape in_shape, sparq::DType in_dtype, sparq::OpAttrs op, std::mt19937& gen,
             bool after_relu = false) {
    sparq::ModelBuilder b;
    sparq::ValueId x = b.input(in_shape, in_dtype);
    if (after_relu) x = b.add_node(sparq::ActivationOp{sparq::Activation::kRelu}, {x}, "relu");
    const sparq::ValueId y = b.add_node(std::move(op), {x}, "layer");
    b.mark_output(y);
    graph = b.graph();
    node = sparq::BackendRegistry::get("cpu")->compile(graph, graph.nodes.back());
    input = sparq::Tensor(in_shape.with_batch(1), in_dtype);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> real(after_relu ? 0.0f : -1.0f, 1.0f);
    if (in_dtype == sparq::DType::kF32) {
      for (float& v : input.span<float>()) v = real(gen);
    } else {
      for (uint8_t& v : input.span<uint8_t>()) v = static_cast<uint8_t>(byte(gen));
      input.scales()[0] = 0.0213f;
    }
    const sparq::Value& out = graph.value(y);
    output = sparq::Tensor(out.shape.with_batch(1), out.dtype);
    scratch.resize(node->scratch_bytes(1, 1) + 64);
  }

  void run() {
    sparq::ExecContext ctx;
    ctx.threads = 1;
    ctx.scratch = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
    const sparq::ConstTensorView in[] = {input.view()};
    node->run(in, output.view(), ctx);
  }
};

// What a convolution writes: f32 (what the dynamic rule's next quantize
// reads) or u8 (a static output scale: sparq's fused quantize, oneDNN's
// output scale), the same on both sides of a comparison.
enum class ConvOutput { kF32, kU8 };

sparq::Conv2dOp sparq_conv(const ConvShape& s, ConvOutput output, std::mt19937& gen) {
  sparq::Conv2dOp op;
  op.kernel_h = op.kernel_w = s.k;
  op.stride_h = op.stride_w = s.stride;
  op.pad_h = op.pad_w = s.pad;
  op.groups = static_cast<int>(s.groups);
  op.activation = sparq::Activation::kRelu;
  op.weights = sparq::Tensor(sparq::Shape{s.out_c, s.in_c / s.groups, s.k, s.k}, s.weights);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& v : op.weights.span<uint8_t>()) v = static_cast<uint8_t>(byte(gen));
  // Scales and biases of no particular pattern, as calibration gives them:
  // round decimals (0.02 x 0.01 / 0.05) put many outputs on exact
  // half-integers, which the quantize rule's ties make rare in real layers
  // and which take its exact, slower rounding.
  std::uniform_real_distribution<float> weight_scale(0.004f, 0.012f), bias(-0.2f, 0.3f);
  for (int64_t o = 0; o < s.out_c; ++o) {
    op.weight_scales.push_back(weight_scale(gen));
    op.bias.push_back(bias(gen));
  }
  if (output == ConvOutput::kU8) op.output_quantization.scale = 0.0473f;
  return op;
}

void BM_SparqConv(benchmark::State& state, ConvShape s, ConvOutput output) {
  std::mt19937 gen(1);
  SparqLayer layer(sparq::Shape{s.in_c, s.h, s.w}, s.input, sparq_conv(s, output, gen), gen);
  for (auto _ : state) layer.run();
  state.SetLabel(layer.node->kernel_name());
  set_gmacs(state, s.macs());
}

// The first step of a 1x1 layer's run on its own: its u8 input planes packed
// into channel quads, as the node packs them (the active ISA's row copy).
void BM_SparqPack(benchmark::State& state, ConvShape s) {
  std::mt19937 gen(4);
  const sparq::kernels::ConvGeometry g = sparq::kernels::conv_geometry(
      sparq_conv(s, ConvOutput::kF32, gen), sparq::Shape{s.in_c, s.h, s.w},
      sparq::Shape{s.out_c, s.out_h(), s.out_w()});
  const sparq::kernels::DirectLayout layout =
      sparq::kernels::make_direct_layout(g, sparq::kernels::DirectLayoutKind::kChannelQuads);
  const sparq::kernels::DirectConvKernels k =
      sparq::kernels::direct_conv_kernels(sparq::kernels::active_isa());
  const int64_t tile = k.tile_pixels;  // sizes the zeroed slack only
  std::vector<uint8_t> input(static_cast<size_t>(s.in_c * s.h * s.w));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& v : input) v = static_cast<uint8_t>(byte(gen));
  std::vector<uint8_t> packed(static_cast<size_t>(layout.buffer_elements(tile) * 4));
  for (auto _ : state) {
    sparq::kernels::pack_direct_input_u8(input.data(), g, layout, 0, tile, k.quad_rows,
                                         packed.data());
    benchmark::DoNotOptimize(packed.data());
  }
  state.SetLabel(std::string("pack_channel_quads__") +
                 sparq::kernels::isa_name(sparq::kernels::active_isa()));
}

void BM_SparqFc(benchmark::State& state, FcShape s, bool quantized) {
  std::mt19937 gen(2);
  sparq::FullyConnectedOp op;
  std::uniform_int_distribution<int> byte(0, 255);
  if (quantized) {
    op.weights = sparq::Tensor(sparq::Shape{s.out, s.in}, sparq::DType::kS8);
    for (uint8_t& v : op.weights.span<uint8_t>()) v = static_cast<uint8_t>(byte(gen));
    op.weight_scales.assign(static_cast<size_t>(s.out), 0.01f);
  } else {
    op.weights = sparq::Tensor(sparq::Shape{s.out, s.in}, sparq::DType::kF32);
    for (float& v : op.weights.span<float>()) v = 0.01f * static_cast<float>(byte(gen) - 128);
  }
  op.bias.assign(static_cast<size_t>(s.out), 0.0f);
  SparqLayer layer(sparq::Shape{s.in}, quantized ? sparq::DType::kU8 : sparq::DType::kF32,
                   std::move(op), gen);
  for (auto _ : state) layer.run();
  state.SetLabel(layer.node->kernel_name());
  set_gmacs(state, s.in * s.out);
}

void BM_SparqPool(benchmark::State& state, PoolShape s) {
  std::mt19937 gen(3);
  sparq::OpAttrs op = sparq::GlobalAvgPoolOp{};
  if (s.algo == PoolAlgo::kMax) {
    sparq::Pool2dOp pool;
    pool.kernel_h = pool.kernel_w = s.k;
    pool.stride_h = pool.stride_w = s.stride;
    pool.pad_h = pool.pad_w = s.pad;
    op = pool;
  }
  SparqLayer layer(sparq::Shape{s.channels, s.h, s.w}, s.dtype, std::move(op), gen,
                   s.dtype == sparq::DType::kF32 && s.algo == PoolAlgo::kMax);
  for (auto _ : state) layer.run();
  state.SetLabel(layer.node->kernel_name());
}

// ---- oneDNN -------------------------------------------------------------------------

// A primitive with its memories, layouts of oneDNN's choice (format any),
// inputs reordered once outside the timed loop.
struct OneDnnLayer {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::primitive primitive;
  std::unordered_map<int, memory> args;
  std::string impl;

  memory filled(const memory::desc& md, memory::data_type dt) {
    memory m(md, engine);
    const size_t bytes = md.get_size();
    auto* p = static_cast<uint8_t*>(m.get_data_handle());
    if (dt == memory::data_type::f32) {
      auto* f = reinterpret_cast<float*>(p);
      for (size_t i = 0; i < bytes / 4; ++i) f[i] = 0.001f * static_cast<float>(i % 97);
    } else {
      // Small values are valid for u8 and s8 alike.
      for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(i % 7);
    }
    return m;
  }

  void run() {
    primitive.execute(stream, args);
    stream.wait();
  }
};

std::unique_ptr<OneDnnLayer> onednn_conv(const ConvShape& s, bool int8, ConvOutput output) {
  auto l = std::make_unique<OneDnnLayer>();
  const auto src_dt = int8 ? memory::data_type::u8 : memory::data_type::f32;
  const auto wei_dt = int8 ? memory::data_type::s8 : memory::data_type::f32;
  const auto dst_dt = output == ConvOutput::kU8 ? memory::data_type::u8 : memory::data_type::f32;
  const memory::desc src({1, s.in_c, s.h, s.w}, src_dt, memory::format_tag::any);
  memory::dims wdims = {s.out_c, s.in_c / s.groups, s.k, s.k};
  if (s.groups > 1) wdims = {s.groups, s.out_c / s.groups, s.in_c / s.groups, s.k, s.k};
  const memory::desc wei(wdims, wei_dt, memory::format_tag::any);
  const memory::desc bias({s.out_c}, memory::data_type::f32, memory::format_tag::x);
  const memory::desc dst({1, s.out_c, s.out_h(), s.out_w()}, dst_dt, memory::format_tag::any);
  dnnl::primitive_attr attr;
  if (int8) attr.set_output_scales(0, {0.05f});
  dnnl::post_ops relu;
  relu.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(relu);
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, wei, bias, dst,
      {s.stride, s.stride}, {s.pad, s.pad}, {s.pad, s.pad});
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, l->engine);
  l->impl = pd.impl_info_str();
  l->primitive = dnnl::convolution_forward(pd);
  l->args = {{DNNL_ARG_SRC, l->filled(pd.src_desc(), src_dt)},
             {DNNL_ARG_WEIGHTS, l->filled(pd.weights_desc(), wei_dt)},
             {DNNL_ARG_BIAS, l->filled(pd.bias_desc(), memory::data_type::f32)},
             {DNNL_ARG_DST, memory(pd.dst_desc(), l->engine)}};
  return l;
}

std::unique_ptr<OneDnnLayer> onednn_fc(const FcShape& s, bool int8) {
  auto l = std::make_unique<OneDnnLayer>();
  const auto src_dt = int8 ? memory::data_type::u8 : memory::data_type::f32;
  const auto wei_dt = int8 ? memory::data_type::s8 : memory::data_type::f32;
  const memory::desc src({1, s.in}, src_dt, memory::format_tag::any);
  const memory::desc wei({s.out, s.in}, wei_dt, memory::format_tag::any);
  const memory::desc bias({s.out}, memory::data_type::f32, memory::format_tag::x);
  const memory::desc dst({1, s.out}, memory::data_type::f32, memory::format_tag::any);
  dnnl::primitive_attr attr;
  if (int8) attr.set_output_scales(0, {0.05f});
  const dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src, wei, bias,
                                               dst);
  const dnnl::inner_product_forward::primitive_desc pd(desc, attr, l->engine);
  l->impl = pd.impl_info_str();
  l->primitive = dnnl::inner_product_forward(pd);
  l->args = {{DNNL_ARG_SRC, l->filled(pd.src_desc(), src_dt)},
             {DNNL_ARG_WEIGHTS, l->filled(pd.weights_desc(), wei_dt)},
             {DNNL_ARG_BIAS, l->filled(pd.bias_desc(), memory::data_type::f32)},
             {DNNL_ARG_DST, memory(pd.dst_desc(), l->engine)}};
  return l;
}

// oneDNN's pooling on its preferred layouts: f32 in 16-channel blocks
// (nChw16c), u8 channels-last (nhwc); the global average as a 7x7 average.
std::unique_ptr<OneDnnLayer> onednn_pool(const PoolShape& s) {
  auto l = std::make_unique<OneDnnLayer>();
  const bool f32 = s.dtype == sparq::DType::kF32;
  const auto dt = f32 ? memory::data_type::f32 : memory::data_type::u8;
  const auto tag = f32 ? memory::format_tag::nChw16c : memory::format_tag::nhwc;
  const memory::desc src({1, s.channels, s.h, s.w}, dt, tag);
  const memory::desc dst({1, s.channels, s.out_h(), s.out_w()}, dt, memory::format_tag::any);
  const auto algo = s.algo == PoolAlgo::kMax ? dnnl::algorithm::pooling_max
                                             : dnnl::algorithm::pooling_avg_exclude_padding;
  const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, algo, src, dst,
                                         {s.stride, s.stride}, {s.k, s.k}, {s.pad, s.pad},
                                         {s.pad, s.pad});
  const dnnl::pooling_forward::primitive_desc pd(desc, l->engine);
  l->impl = pd.impl_info_str();
  l->primitive = dnnl::pooling_forward(pd);
  l->args = {{DNNL_ARG_SRC, l->filled(pd.src_desc(), dt)},
             {DNNL_ARG_DST, memory(pd.dst_desc(), l->engine)}};
  return l;
}

void BM_OneDnnPool(benchmark::State& state, PoolShape s) {
  auto layer = onednn_pool(s);
  for (auto _ : state) layer->run();
  state.SetLabel(layer->impl);
}

void BM_OneDnnConv(benchmark::State& state, ConvShape s, bool int8, ConvOutput output) {
  auto layer = onednn_conv(s, int8, output);
  for (auto _ : state) layer->run();
  state.SetLabel(layer->impl);
  set_gmacs(state, s.macs());
}

void BM_OneDnnFc(benchmark::State& state, FcShape s, bool int8) {
  auto layer = onednn_fc(s, int8);
  for (auto _ : state) layer->run();
  state.SetLabel(layer->impl);
  set_gmacs(state, s.in * s.out);
}

double best(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

// sparq and oneDNN registered shape by shape, so their repetitions run side by side.
void register_benchmarks() {
  for (const ConvShape& s : kConvShapes) {
    const std::string n = s.name;
    benchmark::RegisterBenchmark(("sparq_cpu_int/" + n).c_str(), BM_SparqConv, s, ConvOutput::kF32)
        ->ComputeStatistics("best", best);
    benchmark::RegisterBenchmark(("onednn_int8_f32out/" + n).c_str(), BM_OneDnnConv, s, true,
                                 ConvOutput::kF32)
        ->ComputeStatistics("best", best);
    benchmark::RegisterBenchmark(("sparq_cpu_int_u8out/" + n).c_str(), BM_SparqConv, s,
                                 ConvOutput::kU8)
        ->ComputeStatistics("best", best);
    benchmark::RegisterBenchmark(("onednn_int8/" + n).c_str(), BM_OneDnnConv, s, true,
                                 ConvOutput::kU8)
        ->ComputeStatistics("best", best);
    benchmark::RegisterBenchmark(("onednn_f32/" + n).c_str(), BM_OneDnnConv, s, false,
                                 ConvOutput::kF32)
        ->ComputeStatistics("best", best);
    if (s.k == 1 && s.groups == 1) {
      benchmark::RegisterBenchmark(("sparq_pack/" + n).c_str(), BM_SparqPack, s)
          ->ComputeStatistics("best", best);
    }
  }
  // Pooling: sparq_pool_<dtype> / onednn_pool_<dtype>, the dtype of the
  // input (and of the output).
  for (const PoolShape& s : kPoolShapes) {
    const std::string n = s.name, dtype = sparq::to_string(s.dtype);
    benchmark::RegisterBenchmark(("sparq_pool_" + dtype + "/" + n).c_str(), BM_SparqPool, s)
        ->ComputeStatistics("best", best);
    benchmark::RegisterBenchmark(("onednn_pool_" + dtype + "/" + n).c_str(), BM_OneDnnPool, s)
        ->ComputeStatistics("best", best);
  }
  const std::string n = kFcShape.name;
  benchmark::RegisterBenchmark(("sparq_cpu_int/" + n).c_str(), BM_SparqFc, kFcShape, true)
      ->ComputeStatistics("best", best);
  benchmark::RegisterBenchmark(("sparq_cpu_f32/" + n).c_str(), BM_SparqFc, kFcShape, false)
      ->ComputeStatistics("best", best);
  // int8 weights and input, f32 logits: named like the convolutions writing f32.
  benchmark::RegisterBenchmark(("onednn_int8_f32out/" + n).c_str(), BM_OneDnnFc, kFcShape, true)
      ->ComputeStatistics("best", best);
  benchmark::RegisterBenchmark(("onednn_f32/" + n).c_str(), BM_OneDnnFc, kFcShape, false)
      ->ComputeStatistics("best", best);
}

}  // namespace

int main(int argc, char** argv) {
  omp_set_num_threads(1);  // oneDNN's threads; sparq runs with ExecContext::threads = 1
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
