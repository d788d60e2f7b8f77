// The libtorch module built from a float sparq graph (GraphNet) against the
// reference backend, on every model torch.onnx.export wrote for the importer's
// tests: its float forward computes what the reference backend computes; its
// quantized twin computes what the model `quantize_imported` makes of the
// graph computes; checkpoints rebuild the same module.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "importers/onnx/imported_quantization.hpp"
#include "sparq/error.hpp"
#include "sparq/onnx_import.hpp"
#include "sparq/session.hpp"
#include "sparq_training/checkpoint.hpp"
#include "sparq_training/export.hpp"
#include "sparq_training/net.hpp"
#include "sparq_training/prune.hpp"
#include "sparq_training/verify.hpp"

namespace sparq::training {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(SPARQ_ONNX_FIXTURES)) {
    if (entry.path().extension() == ".onnx") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

torch::Tensor fixture_input(const Model& model, const std::string& name) {
  std::ifstream file(std::string(SPARQ_ONNX_FIXTURES) + "/" + name + ".input.f32",
                     std::ios::binary | std::ios::ate);
  std::vector<float> values(static_cast<size_t>(file.tellg()) / sizeof(float));
  file.seekg(0);
  file.read(reinterpret_cast<char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  std::vector<int64_t> dims{1};
  for (int64_t d : model.input().shape.dims()) dims.push_back(d);
  // A second sample (the first, scaled and shifted): per-sample quantization
  // scales must stay per sample.
  torch::Tensor one = torch::tensor(values).view(dims);
  return torch::cat({one, one * 0.5 + 0.25}, 0);
}

torch::Tensor run_reference(const std::shared_ptr<const Model>& model, const torch::Tensor& x) {
  SessionOptions options;
  options.backends = {"reference"};
  options.threads = 1;
  Session session(model, options);
  torch::Tensor c = x.contiguous();
  std::vector<int64_t> dims(c.sizes().begin(), c.sizes().end());
  Tensor input = Tensor::from_floats(Shape(dims), {c.data_ptr<float>(), size_t(c.numel())});
  const Tensor y = session.run(input).at(0);
  std::vector<int64_t> out(y.shape().dims().begin(), y.shape().dims().end());
  return torch::tensor(std::vector<float>(y.span<float>().begin(), y.span<float>().end()))
      .view(out);
}

double relative_error(const torch::Tensor& got, const torch::Tensor& expected) {
  return (got - expected).abs().max().item<double>() /
         std::max(1e-12, expected.abs().max().item<double>());
}

class GraphNetFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(GraphNetFixture, FloatForwardMatchesReferenceBackend) {
  torch::NoGradGuard no_grad;
  const auto model =
      import_onnx(std::string(SPARQ_ONNX_FIXTURES) + "/" + GetParam() + ".onnx").model;
  Net net(model);
  net->eval();
  const torch::Tensor x = fixture_input(*model, GetParam());
  EXPECT_LE(relative_error(net->forward(x), run_reference(model, x)), 1e-5);
}

// The twin against the quantized model on the reference backend, with 8-
// and 4-bit activations. Float steps between quantized layers (average
// pooling, residual sums) may sum in another order than the reference
// backend's loops (differences ~1e-7 relative); a wrong quantization format
// (bits, signedness, weight bits) moves the logits by far more.
TEST_P(GraphNetFixture, QuantizedTwinMatchesQuantizedExport) {
  torch::NoGradGuard no_grad;
  const auto model =
      import_onnx(std::string(SPARQ_ONNX_FIXTURES) + "/" + GetParam() + ".onnx").model;
  Net net(model);
  net->eval();
  const torch::Tensor x = fixture_input(*model, GetParam());
  for (int bits : {8, 4}) {
    auto quantized = std::make_shared<const Model>(
        onnx_import::quantize_imported(net->graph()->float_graph(), bits).graph, ModelMetadata{});
    const double error =
        relative_error(net->forward(x, {true, bits, true}), run_reference(quantized, x));
    EXPECT_LE(error, 1e-5) << "w4a" << bits;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GraphNetFixture, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) { return info.param; });

// Pruned to k = 3, the module's weights and masks survive a checkpoint, and
// its float graph holds exactly the kept taps.
TEST(GraphNet, PrunedCheckpointRebuildsTheSameModule) {
  torch::NoGradGuard no_grad;
  const auto model = import_onnx(std::string(SPARQ_ONNX_FIXTURES) + "/fashion_cnn_op13.onnx").model;
  Net net(model);
  ASSERT_EQ(net->prunable_weights().size(), 2u);
  for (int k = 9; k > 3; --k) prune_one_round(net, {});
  EXPECT_EQ(net->density(), 3);
  CheckpointInfo info;
  info.arch = net->arch().name;
  info.in_channels = 1, info.height = 28, info.width_px = 28, info.classes = 10;
  info.norm = {1.0f / 255.0f, {0.0f}, {1.0f}};
  const fs::path path = fs::temp_directory_path() / "sparq_graph_net_test.pt";
  save_checkpoint(path, net, info);
  LoadedCheckpoint loaded = load_checkpoint(path);
  fs::remove(path);
  net->eval();
  loaded.net->eval();
  const torch::Tensor x = fixture_input(*model, "fashion_cnn_op13");
  EXPECT_TRUE(torch::equal(net->forward(x), loaded.net->forward(x)));
  EXPECT_EQ(loaded.net->density(), 3);
  const Graph g = loaded.net->graph()->float_graph();
  int sparse_layers = 0;
  for (const Node& n : g.nodes) {
    const auto* c = std::get_if<Conv2dOp>(&n.op);
    if (!c || n.inputs[0] == g.input) continue;
    const auto taps = onnx_import::count_taps(c->weights.span<float>(), int(c->weights.shape()[0]),
                                              int(c->weights.shape()[1]));
    EXPECT_EQ(taps.density, 3) << n.name;
    EXPECT_TRUE(taps.uniform) << n.name;
    ++sparse_layers;
  }
  EXPECT_EQ(sparse_layers, 2);
}

// The exported file on the runtime (what `sparq-train verify` runs) predicts
// what the twin predicts, for models with operations only the reference
// backend has (sigmoid gating, concat, log-softmax, channel affine): the cpu
// and device sessions hand those nodes to it. Labels are the twin's own
// predictions, so the runtime must score 100 %.
TEST(GraphNet, ExportOnTheRuntimePredictsWhatTheTwinPredicts) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(14);
  for (const char* name : {"head_idioms_op13", "resnet20_bn_unfolded_op13", "mobilenet_v1_op13"}) {
    const auto model = import_onnx(std::string(SPARQ_ONNX_FIXTURES) + "/" + name + ".onnx").model;
    Net net(model);
    net->eval();
    const ArchSpec& a = net->arch();
    Dataset data;
    data.images = torch::randint(0, 256, {40, a.in_channels, a.height, a.width_px}, torch::kUInt8);
    data.classes = a.classes;
    CheckpointInfo info;
    info.norm = {1.0f / 255.0f, std::vector<float>(size_t(a.in_channels), 0.5f),
                 std::vector<float>(size_t(a.in_channels), 0.25f)};
    data.labels = net->forward(normalize(data.images, info.norm), {true, 8, true}).argmax(1);
    const fs::path path = fs::temp_directory_path() / (std::string(name) + "_graph_net_test.sparq");
    export_model(net, info, 8, {}).save(path);
    for (const char* backend : {"cpu", "device"}) {
      EXPECT_EQ(runtime_accuracy(path.string(), data, backend), 100.0) << name << " " << backend;
    }
    fs::remove(path);
  }
}

TEST(GraphNet, RefusesQuantizedModels) {
  OnnxImportOptions options;
  options.quantization = ImportQuantization::kW4A8;
  const auto model =
      import_onnx(std::string(SPARQ_ONNX_FIXTURES) + "/small_cnn_op13.onnx", options).model;
  try {
    Net net(model);
    FAIL() << "a quantized model was accepted";
  } catch (const sparq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("training needs a float model"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sparq::training
