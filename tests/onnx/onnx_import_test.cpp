// Imports the models torch.onnx.export wrote (tests/onnx/fixtures) and checks
// the float import reproduces PyTorch's outputs, the per-layer detection of
// pruned 3x3 weights, and that after --quantize the cpu, reference and device
// backends agree bit for bit.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/onnx_import.hpp"
#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

std::string fixture(const std::string& name, const char* suffix) {
  return std::string(SPARQ_ONNX_FIXTURES) + "/" + name + suffix;
}

std::vector<float> read_f32(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(file) << path;
  const auto bytes = static_cast<size_t>(file.tellg());
  std::vector<float> values(bytes / sizeof(float));
  file.seekg(0);
  file.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
  return values;
}

Tensor input_for(const Model& model, const std::string& name) {
  const std::vector<float> x = read_f32(fixture(name, ".input.f32"));
  std::vector<int64_t> dims{1};
  for (int64_t d : model.input().shape.dims()) dims.push_back(d);
  Tensor t(Shape(dims), DType::kF32);
  EXPECT_EQ(static_cast<int64_t>(x.size()), t.shape().elements()) << name;
  std::copy(x.begin(), x.end(), t.span<float>().begin());
  return t;
}

Tensor run(const std::shared_ptr<const Model>& model, const Tensor& input,
           std::vector<std::string> backends) {
  Session session(model, testing::session_options(std::move(backends), 1));
  return session.run(input).at(0);
}

class FloatImport : public ::testing::TestWithParam<std::string> {};

// max |sparq - pytorch| / max |pytorch| <= 1e-4, on the reference backend and
// on the cpu backend (which hands the operations it lacks to reference).
TEST_P(FloatImport, MatchesPyTorch) {
  const std::string name = GetParam();
  const OnnxImport imported = import_onnx(fixture(name, ".onnx"));
  const std::vector<float> expected = read_f32(fixture(name, ".output.f32"));
  const Tensor input = input_for(*imported.model, name);
  for (const auto& backends :
       {std::vector<std::string>{"reference"}, std::vector<std::string>{"cpu", "reference"}}) {
    const Tensor y = run(imported.model, input, backends);
    ASSERT_EQ(static_cast<size_t>(y.shape().elements()), expected.size()) << name;
    float max_ref = 0.0f, max_diff = 0.0f;
    auto got = y.span<float>();
    for (size_t i = 0; i < expected.size(); ++i) {
      max_ref = std::max(max_ref, std::abs(expected[i]));
      max_diff = std::max(max_diff, std::abs(got[i] - expected[i]));
    }
    ASSERT_GT(max_ref, 0.0f);
    EXPECT_LE(max_diff / max_ref, 1e-4f) << name << " on " << backends[0];
  }
}

// The float import keeps every supported operation: no node is dropped that
// changes values, and the ONNX BatchNorms fold into their convolutions.
TEST(OnnxImport, FoldsBatchNormAndFusesActivations) {
  for (const char* name : {"resnet20_bn_unfolded_op11", "resnet20_bn_unfolded_op13"}) {
    const OnnxImport imported = import_onnx(fixture(name, ".onnx"));
    int convs = 0;
    for (const auto& layer : imported.layers) {
      EXPECT_NE(layer.sparq_op, "channel_affine") << name << ": " << layer.name;
      if (layer.sparq_op == "conv2d") {
        ++convs;
        EXPECT_NE(layer.onnx_op.find("Conv+BatchNormalization"), std::string::npos) << layer.name;
      }
    }
    EXPECT_EQ(convs, 21) << name;
  }
}

const std::vector<std::string> kFixtures = {
    "small_cnn", "resnet18",    "resnet20",  "resnet20_bn_unfolded", "mobilenet_v1",
    "vgg11_bn",  "head_idioms", "pruned_k3", "pruned_k4_shared16x4"};

std::vector<std::string> all_opsets(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    out.push_back(n + "_op11");
    out.push_back(n + "_op13");
  }
  // Opset 17, the newest sparq imports, on three of them.
  for (const char* n : {"small_cnn_op17", "mobilenet_v1_op17", "head_idioms_op17"})
    out.push_back(n);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FloatImport, ::testing::ValuesIn(all_opsets(kFixtures)),
                         [](const auto& info) { return info.param; });

// The pruned fixtures: the stem keeps 9 taps; every later 3x3 layer keeps 3
// per kernel (each kernel its own positions), or 4 shared by groups of 16
// output x 4 input channels.
TEST(OnnxImport, DetectsPrunedKernelsAndSharing) {
  struct Case {
    const char* name;
    int density;
    PatternSharing sharing;
  };
  for (const Case& c :
       {Case{"pruned_k3_op13", 3, {1, 1}}, Case{"pruned_k4_shared16x4_op11", 4, {16, 4}}}) {
    const OnnxImport imported = import_onnx(fixture(c.name, ".onnx"));
    std::vector<int> densities;
    for (const auto& layer : imported.layers) {
      if (layer.density == 0) continue;
      densities.push_back(layer.density);
      if (layer.density != 9) {
        EXPECT_EQ(layer.sharing, c.sharing) << c.name << " " << layer.name;
      }
    }
    EXPECT_EQ(densities, (std::vector<int>{9, c.density, c.density, c.density, c.density}))
        << c.name;
  }
  // An unpruned model: every 3x3 layer dense.
  for (const auto& layer : import_onnx(fixture("resnet20_op13", ".onnx")).layers) {
    if (layer.density != 0) {
      EXPECT_EQ(layer.density, 9) << layer.name;
    }
  }
}

class QuantizedImport
    : public ::testing::TestWithParam<std::tuple<std::string, ImportQuantization>> {};

// After --quantize: the pruned layers are sparse 4-bit convolutions of the
// detected density, and cpu, reference and device give the same bits.
TEST_P(QuantizedImport, BackendsAgreeBitForBit) {
  const auto& [name, quantization] = GetParam();
  OnnxImportOptions options;
  options.quantization = quantization;
  const OnnxImport imported = import_onnx(fixture(name, ".onnx"), options);
  int sparse = 0;
  for (const auto& node : imported.model->graph().nodes) {
    if (const auto* s = std::get_if<SparseConv3x3Op>(&node.op)) {
      ++sparse;
      if (name.rfind("pruned_k3", 0) == 0) {
        EXPECT_EQ(s->density, 3) << node.name;
      }
      if (name.rfind("pruned_k4", 0) == 0) {
        EXPECT_EQ(s->density, 4) << node.name;
        EXPECT_EQ(s->sharing, (PatternSharing{16, 4})) << node.name;
      }
    }
  }
  // Every 3x3, pad 1, ungrouped convolution except the one reading the image:
  // ResNet-20 3 x 3 blocks of two, ResNet-18 4 x 2 blocks of two (7x7 stem);
  // MobileNet's are depthwise and the head model's only 3x3 reads the image.
  const std::map<std::string, int> expected_sparse = {
      {"pruned_k3_op11", 4}, {"pruned_k4_shared16x4_op13", 4}, {"resnet20_op13", 18},
      {"resnet18_op11", 16}, {"mobilenet_v1_op13", 0},         {"head_idioms_op13", 0}};
  EXPECT_EQ(sparse, expected_sparse.at(name)) << name;
  const Tensor input = input_for(*imported.model, name);
  const Tensor reference = run(imported.model, input, {"reference"});
  EXPECT_TRUE(testing::bit_equal(run(imported.model, input, {"cpu", "reference"}), reference))
      << name;
  EXPECT_TRUE(
      testing::bit_equal(run(imported.model, input, {"device", "cpu", "reference"}), reference))
      << name;
  // Quantization error stays moderate: the class PyTorch ranks first is
  // still among the float model's outputs' top values (a sanity bound).
  const std::vector<float> expected = read_f32(fixture(name, ".output.f32"));
  auto got = reference.span<float>();
  float max_ref = 0.0f, max_diff = 0.0f;
  for (size_t i = 0; i < expected.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(expected[i]));
    max_diff = std::max(max_diff, std::abs(got[i] - expected[i]));
  }
  EXPECT_LT(max_diff / max_ref, 0.5f) << name;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, QuantizedImport,
    ::testing::Combine(::testing::Values("pruned_k3_op11", "pruned_k4_shared16x4_op13",
                                         "resnet20_op13", "resnet18_op11", "mobilenet_v1_op13",
                                         "head_idioms_op13"),
                       ::testing::Values(ImportQuantization::kW4A8, ImportQuantization::kW4A4)),
    [](const auto& info) {
      return std::get<0>(info.param) +
             (std::get<1>(info.param) == ImportQuantization::kW4A8 ? "_w4a8" : "_w4a4");
    });

// The imported model survives the .sparq file: save, load, same outputs.
TEST(OnnxImport, SavedModelRunsTheSame) {
  const OnnxImport imported = import_onnx(fixture("head_idioms_op11", ".onnx"));
  const auto reloaded = Model::from_bytes(imported.model->to_bytes());
  const Tensor input = input_for(*imported.model, "head_idioms_op11");
  EXPECT_TRUE(testing::bit_equal(run(reloaded, input, {"reference"}),
                                 run(imported.model, input, {"reference"})));
}

}  // namespace
}  // namespace sparq
