// Round trips through the .sparq format: every field of every operation,
// weights bit for bit, metadata, byte-identical re-serialization, files on
// disk, and the layout promises of the format (identifier, 64-byte aligned
// weight payloads).
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/model/model_checksum.hpp"
#include "runtime/model/model_format.hpp"
#include "sparq/sparq.hpp"
#include "sparq_model_generated.h"
#include "tests/support/model_samples.hpp"
#include "tests/support/networks.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

using testing::bit_equal;

// Floats compared as bits: a format must not turn -0 into 0 or change a NaN.
::testing::AssertionResult same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << "sizes " << a.size() << " vs " << b.size();
  }
  if (!a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0) {
    return ::testing::AssertionFailure() << "values differ";
  }
  return ::testing::AssertionSuccess();
}

void expect_same_op(const OpAttrs& a, const OpAttrs& b, const std::string& node) {
  SCOPED_TRACE("node " + node);
  ASSERT_EQ(a.index(), b.index());
  if (const auto* x = std::get_if<QuantizeOp>(&a)) {
    const auto& y = std::get<QuantizeOp>(b);
    EXPECT_EQ(x->bits, y.bits);
    EXPECT_EQ(x->is_signed, y.is_signed);
    EXPECT_TRUE(same_floats({x->scale}, {y.scale}));
  } else if (const auto* x = std::get_if<Conv2dOp>(&a)) {
    const auto& y = std::get<Conv2dOp>(b);
    EXPECT_EQ(x->kernel_h, y.kernel_h);
    EXPECT_EQ(x->kernel_w, y.kernel_w);
    EXPECT_EQ(x->stride_h, y.stride_h);
    EXPECT_EQ(x->stride_w, y.stride_w);
    EXPECT_EQ(x->pad_h, y.pad_h);
    EXPECT_EQ(x->pad_w, y.pad_w);
    EXPECT_EQ(x->groups, y.groups);
    EXPECT_EQ(x->activation, y.activation);
    EXPECT_TRUE(bit_equal(x->weights, y.weights));
    EXPECT_TRUE(same_floats(x->weight_scales, y.weight_scales));
    EXPECT_TRUE(same_floats(x->bias, y.bias));
  } else if (const auto* x = std::get_if<SparseConv3x3Op>(&a)) {
    const auto& y = std::get<SparseConv3x3Op>(b);
    EXPECT_EQ(x->stride, y.stride);
    EXPECT_EQ(x->density, y.density);
    EXPECT_EQ(x->out_channels, y.out_channels);
    EXPECT_EQ(x->in_channels, y.in_channels);
    EXPECT_EQ(x->sharing, y.sharing);
    EXPECT_EQ(x->activation, y.activation);
    EXPECT_EQ(x->taps, y.taps);
    EXPECT_TRUE(same_floats(x->weight_scales, y.weight_scales));
    EXPECT_TRUE(same_floats(x->bias, y.bias));
  } else if (const auto* x = std::get_if<FullyConnectedOp>(&a)) {
    const auto& y = std::get<FullyConnectedOp>(b);
    EXPECT_EQ(x->activation, y.activation);
    EXPECT_TRUE(bit_equal(x->weights, y.weights));
    EXPECT_TRUE(same_floats(x->weight_scales, y.weight_scales));
    EXPECT_TRUE(same_floats(x->bias, y.bias));
  } else if (const auto* x = std::get_if<Pool2dOp>(&a)) {
    const auto& y = std::get<Pool2dOp>(b);
    EXPECT_EQ(x->kind, y.kind);
    EXPECT_EQ(x->kernel_h, y.kernel_h);
    EXPECT_EQ(x->kernel_w, y.kernel_w);
    EXPECT_EQ(x->stride_h, y.stride_h);
    EXPECT_EQ(x->stride_w, y.stride_w);
    EXPECT_EQ(x->pad_h, y.pad_h);
    EXPECT_EQ(x->pad_w, y.pad_w);
    EXPECT_EQ(x->count_include_pad, y.count_include_pad);
  } else if (const auto* x = std::get_if<ChannelAffineOp>(&a)) {
    const auto& y = std::get<ChannelAffineOp>(b);
    EXPECT_TRUE(same_floats(x->scale, y.scale));
    EXPECT_TRUE(same_floats(x->shift, y.shift));
  } else if (const auto* x = std::get_if<BroadcastBinaryOp>(&a)) {
    EXPECT_EQ(x->kind, std::get<BroadcastBinaryOp>(b).kind);
  } else if (const auto* x = std::get_if<ClampOp>(&a)) {
    EXPECT_EQ(x->min, std::get<ClampOp>(b).min);
    EXPECT_EQ(x->max, std::get<ClampOp>(b).max);
  } else if (const auto* x = std::get_if<AddOp>(&a)) {
    EXPECT_EQ(x->activation, std::get<AddOp>(b).activation);
  } else if (const auto* x = std::get_if<ActivationOp>(&a)) {
    EXPECT_EQ(x->activation, std::get<ActivationOp>(b).activation);
  }
  // The remaining operations have no attributes: the index says it all.
}

void expect_same_model(const Model& a, const Model& b) {
  const Graph& x = a.graph();
  const Graph& y = b.graph();
  ASSERT_EQ(x.values.size(), y.values.size());
  for (size_t i = 0; i < x.values.size(); ++i) {
    EXPECT_EQ(x.values[i].name, y.values[i].name) << "value " << i;
    EXPECT_EQ(x.values[i].shape, y.values[i].shape) << "value " << i;
    EXPECT_EQ(x.values[i].dtype, y.values[i].dtype) << "value " << i;
  }
  ASSERT_EQ(x.nodes.size(), y.nodes.size());
  for (size_t i = 0; i < x.nodes.size(); ++i) {
    EXPECT_EQ(x.nodes[i].name, y.nodes[i].name);
    EXPECT_EQ(x.nodes[i].inputs, y.nodes[i].inputs) << x.nodes[i].name;
    EXPECT_EQ(x.nodes[i].output, y.nodes[i].output) << x.nodes[i].name;
    expect_same_op(x.nodes[i].op, y.nodes[i].op, x.nodes[i].name);
  }
  EXPECT_EQ(x.input, y.input);
  EXPECT_EQ(x.outputs, y.outputs);

  const ModelMetadata& m = a.metadata();
  const ModelMetadata& n = b.metadata();
  EXPECT_EQ(m.name, n.name);
  EXPECT_EQ(m.preprocessing.height, n.preprocessing.height);
  EXPECT_EQ(m.preprocessing.width, n.preprocessing.width);
  EXPECT_EQ(m.preprocessing.channels, n.preprocessing.channels);
  EXPECT_TRUE(same_floats({m.preprocessing.scale}, {n.preprocessing.scale}));
  EXPECT_TRUE(same_floats(m.preprocessing.mean, n.preprocessing.mean));
  EXPECT_TRUE(same_floats(m.preprocessing.std, n.preprocessing.std));
  EXPECT_EQ(m.labels, n.labels);
  EXPECT_EQ(m.provenance, n.provenance);
}

// Serializes, reads back, compares, and checks that writing the loaded model
// gives the same bytes again.
void expect_round_trip(const Model& model) {
  const std::vector<uint8_t> bytes = model.to_bytes();
  std::shared_ptr<const Model> loaded = Model::from_bytes(bytes);
  expect_same_model(model, *loaded);
  EXPECT_EQ(loaded->to_bytes(), bytes) << "re-serialization changed the bytes";
}

struct CnnCase {
  int density;
  PatternSharing sharing;
};

class FiveLayerRoundTrip : public ::testing::TestWithParam<CnnCase> {};

TEST_P(FiveLayerRoundTrip, PrunedQuantizedCnnSurvivesTheFile) {
  testing::NetworkOptions options;
  options.density = GetParam().density;
  options.sharing = GetParam().sharing;
  options.seed = 7u + static_cast<uint32_t>(options.density);
  expect_round_trip(testing::build_five_layer_cnn(options));
}

TEST_P(FiveLayerRoundTrip, TinyCnnWithMetadataSurvivesTheFile) {
  expect_round_trip(testing::build_tiny_sparse_cnn(3, GetParam().density, GetParam().sharing));
}

INSTANTIATE_TEST_SUITE_P(Densities, FiveLayerRoundTrip,
                         ::testing::Values(CnnCase{9, {}}, CnnCase{7, {}}, CnnCase{5, {4, 1}},
                                           CnnCase{3, {1, 4}}, CnnCase{2, {16, 4}}, CnnCase{1, {}},
                                           CnnCase{1, {8, 2}}),
                         [](const auto& info) {
                           std::string name = "k";
                           name += std::to_string(info.param.density);
                           name += "_share";
                           name += std::to_string(info.param.sharing.out_group);
                           name += "x";
                           name += std::to_string(info.param.sharing.in_group);
                           return name;
                         });

TEST(ModelFile, ResidualFloatAndFourBitVariantsRoundTrip) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    expect_round_trip(testing::build_op_zoo_model(seed));
  }
}

TEST(ModelFile, ImportedOperationsRoundTrip) {
  for (uint32_t seed : {1u, 2u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    expect_round_trip(testing::build_imported_ops_model(seed));
  }
}

// Static scales (one per quantize node, each a different float) survive
// the file bit for bit; dynamic nodes stay dynamic.
TEST(ModelFile, StaticQuantizeScalesRoundTrip) {
  const Model dynamic = testing::build_tiny_sparse_cnn(5, 3);
  Graph graph = dynamic.graph();
  const float scales[] = {0.0123f, 1.0f / 255.0f, 3.5e-5f, 0.0f, 1e6f};
  size_t next = 0;
  for (Node& node : graph.nodes) {
    if (auto* q = std::get_if<QuantizeOp>(&node.op)) q->scale = scales[next++ % 5];
  }
  ASSERT_GE(next, 4u) << "the sample network has fewer quantize nodes than this test assumes";
  const Model model(std::move(graph), dynamic.metadata());
  expect_round_trip(model);
  const auto loaded = Model::from_bytes(model.to_bytes());
  next = 0;
  for (const Node& node : loaded->graph().nodes) {
    if (const auto* q = std::get_if<QuantizeOp>(&node.op)) {
      EXPECT_EQ(q->scale, scales[next++ % 5]);
    }
  }
}

// The shipped models were written before quantize nodes had a scale field:
// they read back as dynamic.
TEST(ModelFile, FilesWithoutTheScaleFieldLoadAsDynamic) {
  int quantize_nodes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(SPARQ_SOURCE_DIR) / "examples/models")) {
    if (entry.path().extension() != ".sparq") continue;
    SCOPED_TRACE(entry.path().string());
    const auto model = Model::load(entry.path());
    for (const Node& node : model->graph().nodes) {
      if (const auto* q = std::get_if<QuantizeOp>(&node.op)) {
        EXPECT_EQ(q->scale, 0.0f) << node.name;
        ++quantize_nodes;
      }
    }
  }
  EXPECT_GT(quantize_nodes, 0);
}

TEST(ModelFile, EmptyMetadataRoundTrips) {
  ModelBuilder b;
  ValueId x = b.input(Shape{3});
  b.mark_output(b.softmax(x));
  Model model = b.build();
  expect_round_trip(model);
  EXPECT_TRUE(Model::from_bytes(model.to_bytes())->metadata().labels.empty());
}

TEST(ModelFile, SaveAndLoadThroughADirectory) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sparq_model_file_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "tiny.sparq";
  Model model = testing::build_tiny_sparse_cnn(11, 2, {2, 2});
  model.save(path);
  std::shared_ptr<const Model> loaded = Model::load(path);
  expect_same_model(model, *loaded);

  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> on_disk((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
  EXPECT_EQ(on_disk, model.to_bytes());

  // Saving over an existing file replaces it completely.
  testing::build_op_zoo_model(5).save(path);
  expect_same_model(testing::build_op_zoo_model(5), *Model::load(path));
  std::filesystem::remove_all(dir);
}

TEST(ModelFile, SaveToAnUnwritablePathIsAnIoError) {
  Model model = testing::build_op_zoo_model(1);
  try {
    model.save("/nonexistent-dir-for-sparq/model.sparq");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-for-sparq/model.sparq"),
              std::string::npos)
        << e.what();
  }
}

TEST(ModelFile, SerializationIsDeterministic) {
  EXPECT_EQ(testing::build_op_zoo_model(4).to_bytes(), testing::build_op_zoo_model(4).to_bytes());
}

TEST(ModelFile, HeaderCarriesSizeIdentifierAndVersion) {
  const std::vector<uint8_t> bytes = testing::build_tiny_sparse_cnn(1, 4).to_bytes();
  ASSERT_GE(bytes.size(), 12u);
  uint32_t size_prefix = 0;
  std::memcpy(&size_prefix, bytes.data(), 4);
  EXPECT_EQ(size_prefix, bytes.size() - 4);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()) + 8, 4), "SPRQ");
  // Nothing of version 3 in it: written as version 2, readable by older sparq.
  EXPECT_EQ(fb::GetSizePrefixedModel(bytes.data())->format_version(), 2u);
}

// A file says version 3 exactly when it uses static activation scales (a
// static QuantizeOp, or a layer fused with one), which a version 2 reader
// would silently run as dynamic scales and f32 outputs; older readers then
// refuse it instead.
TEST(ModelFile, StaticScalesRaiseTheFormatVersion) {
  auto version_of = [](const Model& model) {
    const std::vector<uint8_t> bytes = model.to_bytes();
    return fb::GetSizePrefixedModel(bytes.data())->format_version();
  };
  auto build = [](bool static_scale) {
    ModelBuilder b;
    const ValueId x = b.input(Shape{1, 4, 4});
    const ValueId q = static_scale ? b.quantize_static(x, 0.5f) : b.quantize(x);
    b.mark_output(b.dequantize(q));
    return b.build();
  };
  EXPECT_EQ(version_of(build(false)), 2u);
  const Model static_model = build(true);
  EXPECT_EQ(version_of(static_model), 3u);
  EXPECT_EQ(model_format::kFormatVersion, 3u);
  // Read back: a version 3 file loads in this build with its scale.
  const auto reread = Model::from_bytes(static_model.to_bytes());
  EXPECT_EQ(std::get<QuantizeOp>(reread->graph().nodes[0].op).scale, 0.5f);
  // A fused layer alone also needs version 3.
  Graph fused = testing::build_tiny_sparse_cnn(1, 4).graph();
  bool marked = false;
  for (Node& node : fused.nodes) {
    if (auto* sparse = std::get_if<SparseConv3x3Op>(&node.op); sparse && !marked) {
      sparse->output_quantization.scale = 0.25f;
      marked = true;
    }
  }
  ASSERT_TRUE(marked);
  EXPECT_EQ(model_format::required_format_version(fused), 3u);
}

// Weight payloads start at 64-byte offsets in the file, so a file mapped at a
// page boundary hands kernels aligned weights without a copy.
TEST(ModelFile, WeightPayloadsAre64ByteAligned) {
  for (const Model& model :
       {testing::build_tiny_sparse_cnn(2, 3, {4, 2}), testing::build_op_zoo_model(2)}) {
    const std::vector<uint8_t> bytes = model.to_bytes();
    const fb::Model* root = fb::GetSizePrefixedModel(bytes.data());
    int payloads = 0;
    auto offset = [&](const uint8_t* p) { return static_cast<size_t>(p - bytes.data()); };
    for (const fb::Node* node : *root->graph()->nodes()) {
      const flatbuffers::Vector<uint8_t>* payload = nullptr;
      if (const auto* conv = node->op_as_Conv2dOp()) payload = conv->weights()->data();
      if (const auto* sparse = node->op_as_SparseConv3x3Op()) payload = sparse->taps();
      if (const auto* fc = node->op_as_FullyConnectedOp()) payload = fc->weights()->data();
      if (!payload) continue;
      ++payloads;
      EXPECT_EQ(offset(payload->data()) % 64, 0u) << node->name()->str();
    }
    EXPECT_GE(payloads, 4);
  }
}

// A caller's buffer may start anywhere (a slice of a bigger blob); the reader
// must not depend on its alignment.
TEST(ModelFile, LoadsFromAnUnalignedBuffer) {
  Model model = testing::build_op_zoo_model(3);
  const std::vector<uint8_t> bytes = model.to_bytes();
  for (size_t shift : {1u, 3u, 4u}) {
    std::vector<uint8_t> shifted(bytes.size() + shift);
    std::memcpy(shifted.data() + shift, bytes.data(), bytes.size());
    auto loaded = Model::from_bytes(std::span<const uint8_t>(shifted).subspan(shift));
    expect_same_model(model, *loaded);
  }
}

// The FlatBuffers 2.0 verifier accepts a [long] vector whose elements start
// at 4 mod 8 (it checks only the 4-byte length); the reader must still read
// such a shape without a misaligned load (found by the fuzzer; UBSan checks it
// in the sanitizer build).
TEST(ModelFile, ReadsShapesStoredAtFourModEight) {
  const Model model = testing::build_tiny_sparse_cnn(5, 2);
  std::vector<uint8_t> bytes = model.to_bytes();
  const fb::Value* input = fb::GetSizePrefixedModel(bytes.data())->graph()->values()->Get(0);
  const uint8_t* field =
      reinterpret_cast<const flatbuffers::Table*>(input)->GetAddressOf(fb::Value::VT_SHAPE);
  ASSERT_NE(field, nullptr);
  const size_t field_at = static_cast<size_t>(field - bytes.data());
  const std::vector<int64_t> dims = model.input().shape.dims();

  // Append a copy of the shape whose length sits at 0 mod 8, so its elements
  // start at 4 mod 8, and point the input value at it.
  bytes.resize((bytes.size() + 7) / 8 * 8);
  const size_t vector_at = bytes.size();
  const auto rank = static_cast<uint32_t>(dims.size());
  bytes.resize(vector_at + 4 + dims.size() * 8);
  std::memcpy(&bytes[vector_at], &rank, 4);
  std::memcpy(&bytes[vector_at + 4], dims.data(), dims.size() * 8);
  const auto relative = static_cast<uint32_t>(vector_at - field_at);
  std::memcpy(&bytes[field_at], &relative, 4);
  const auto size_prefix = static_cast<uint32_t>(bytes.size() - 4);
  std::memcpy(bytes.data(), &size_prefix, 4);

  ASSERT_EQ((vector_at + 4) % 8, 4u);
  model_format::seal_checksum(bytes);  // the edit is deliberate: checksum it
  std::shared_ptr<const Model> loaded = Model::from_bytes(bytes);
  EXPECT_EQ(loaded->input().shape, model.input().shape);
}

TEST(ModelFile, SaveRefusesMetadataALoaderWouldReject) {
  ModelBuilder b;
  b.mark_output(b.softmax(b.input(Shape{4})));
  ModelMetadata meta;
  meta.preprocessing.channels = 3;
  meta.preprocessing.mean = {0.5f, 0.5f};
  Model model = b.build(meta);
  try {
    (void)model.to_bytes();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find("metadata.preprocessing.mean has 2 entries"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sparq
