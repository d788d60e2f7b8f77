// A table of damaged .sparq files, each expected to fail with its own error
// code and message. Files are damaged two ways: bytes of a valid file are
// overwritten (header, offsets), or a valid file is unpacked with the
// FlatBuffers object API, one field is changed and it is packed again (every
// other field stays valid, so the message must name exactly that field).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/model/model_format.hpp"
#include "sparq/sparq.hpp"
#include "sparq_model_generated.h"
#include "tests/support/model_samples.hpp"

namespace sparq {
namespace {

using Bytes = std::vector<uint8_t>;

// The model every case starts from: pruned layers at k = 3 with 4 x 2
// sharing in conv2. Nodes: quantize_image, conv1, quantize2, conv2, pool2,
// quantize3, conv3, quantize4, conv4, flatten, quantize_fc, fc, softmax.
const Bytes& valid_file() {
  static const Bytes bytes = testing::build_tiny_sparse_cnn(21, 3, {4, 2}).to_bytes();
  return bytes;
}

Bytes edit_bytes(const std::function<void(Bytes&)>& edit) {
  Bytes bytes = valid_file();
  edit(bytes);
  return bytes;
}

Bytes edit_model(const std::function<void(fb::ModelT&)>& edit) {
  std::unique_ptr<fb::ModelT> model = fb::UnPackSizePrefixedModel(valid_file().data());
  // Without its checksum (a file from before checksums), so the damage is
  // reported by the check of the field itself, not as a checksum mismatch.
  model->checksum = 0;
  edit(*model);
  flatbuffers::FlatBufferBuilder fbb;
  fb::FinishSizePrefixedModelBuffer(fbb, fb::Model::Pack(fbb, model.get()));
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

fb::NodeT& node_named(fb::ModelT& model, const std::string& name) {
  for (auto& node : model.graph->nodes) {
    if (node->name == name) return *node;
  }
  throw std::runtime_error("test model has no node " + name);
}

fb::SparseConv3x3OpT& sparse(fb::ModelT& model, const std::string& name) {
  return *node_named(model, name).op.AsSparseConv3x3Op();
}

fb::Conv2dOpT& conv(fb::ModelT& model, const std::string& name) {
  return *node_named(model, name).op.AsConv2dOp();
}

fb::QuantizeOpT& quantize(fb::ModelT& model, const std::string& name) {
  return *node_named(model, name).op.AsQuantizeOp();
}

Bytes with_static_scale(const std::string& node, float scale) {
  return edit_model([&](fb::ModelT& m) { quantize(m, node).scale = scale; });
}

void put_u32(Bytes& bytes, size_t at, uint32_t value) {
  std::memcpy(&bytes[at], &value, 4);
}

uint32_t get_u32(const Bytes& bytes, size_t at) {
  uint32_t value = 0;
  std::memcpy(&value, &bytes[at], 4);
  return value;
}

struct CorruptCase {
  std::string name;
  std::function<Bytes()> make;
  ErrorCode code;
  std::string message;  // must appear in the error text
};

std::vector<CorruptCase> corrupt_cases() {
  const ErrorCode bad = ErrorCode::kInvalidModel;
  return {
      {"EmptyFile", [] { return Bytes{}; }, bad, "model file is empty"},
      {"ShorterThanHeader",
       [] {
         return Bytes{1, 2, 3};
       },
       bad, "truncated: 3 bytes, the .sparq header alone needs 12"},
      {"TruncatedToHalf", [] { return edit_bytes([](Bytes& b) { b.resize(b.size() / 2); }); }, bad,
       "model file is truncated: its header declares"},
      {"TrailingGarbage", [] { return edit_bytes([](Bytes& b) { b.insert(b.end(), 7, 0xAB); }); },
       bad, "7 unexpected bytes after the end of the model"},
      {"WrongIdentifier",
       [] { return edit_bytes([](Bytes& b) { std::memcpy(&b[8], "ONNX", 4); }); }, bad,
       "not a .sparq model file: identifier is 'ONNX', expected 'SPRQ'"},
      {"BinaryIdentifierIsPrintedEscaped",
       [] {
         return edit_bytes([](Bytes& b) {
           b[8] = 0;
           b[9] = 0xFF;
         });
       },
       bad, "identifier is '\\x00\\xffRQ'"},
      {"FutureVersion", [] { return edit_model([](fb::ModelT& m) { m.format_version = 4; }); }, bad,
       "format_version 4 is newer than this sparq reads (up to 3)"},
      {"MissingVersion", [] { return edit_model([](fb::ModelT& m) { m.format_version = 0; }); },
       bad, "format_version is missing"},
      {"RootOffsetOutsideFile",
       [] { return edit_bytes([](Bytes& b) { put_u32(b, 4, 0x7FFFFF00u); }); }, bad,
       "failed FlatBuffers verification"},
      {"VtableOffsetOutsideFile",
       [] {
         return edit_bytes([](Bytes& b) {
           const size_t root_table = 4 + get_u32(b, 4);
           put_u32(b, root_table, 0x7FFFFFF0u);  // soffset to the vtable
         });
       },
       bad, "failed FlatBuffers verification"},
      {"NoGraph", [] { return edit_model([](fb::ModelT& m) { m.graph.reset(); }); }, bad,
       "model file has no graph"},
      {"UnknownOpType",
       [] {
         return edit_model([](fb::ModelT& m) {
           auto& op = node_named(m, "pool2").op;
           op.Reset();
           op.type = static_cast<fb::Op>(42);
         });
       },
       bad, "node 'pool2': unknown op type 42 (this sparq knows 1..17)"},
      {"NoOperation",
       [] { return edit_model([](fb::ModelT& m) { node_named(m, "flatten").op.Reset(); }); }, bad,
       "node 'flatten': has no operation"},
      {"UnknownValueDType",
       [] {
         return edit_model(
             [](fb::ModelT& m) { m.graph->values[0]->dtype = static_cast<fb::DType>(9); });
       },
       bad, "value 0 ('input'): dtype 9 is not a known type"},
      {"UnknownWeightDType",
       [] {
         return edit_model(
             [](fb::ModelT& m) { conv(m, "conv1").weights->dtype = static_cast<fb::DType>(200); });
       },
       bad, "node 'conv1' (conv2d): weights: dtype 200 is not a known type"},
      {"UnknownActivation",
       [] {
         return edit_model(
             [](fb::ModelT& m) { sparse(m, "conv3").activation = static_cast<fb::Activation>(3); });
       },
       bad, "node 'conv3' (sparse_conv3x3): activation 3 is not a known activation"},
      {"UnknownPoolKind",
       [] {
         return edit_model([](fb::ModelT& m) {
           node_named(m, "pool2").op.AsPool2dOp()->kind = static_cast<fb::PoolKind>(2);
         });
       },
       bad, "node 'pool2' (pool2d): pool kind 2 is not a known kind"},
      {"NegativeValueDimension",
       [] { return edit_model([](fb::ModelT& m) { m.graph->values[2]->shape[1] = -4; }); }, bad,
       "value 2 ('conv1'): shape dimension 1 is negative (-4)"},
      {"OverflowingValueShape",
       [] {
         return edit_model([](fb::ModelT& m) {
           m.graph->values[2]->shape = {int64_t{1} << 30, int64_t{1} << 30, int64_t{1} << 30};
         });
       },
       bad, "value 2 ('conv1'): shape [1073741824, 1073741824, 1073741824] has more than"},
      {"HugeDimension",
       [] { return edit_model([](fb::ModelT& m) { m.graph->values[0]->shape[0] = INT64_MAX; }); },
       bad, "value 0 ('input'): shape dimension 0 is 9223372036854775807, more than the limit"},
      {"RankTooHigh",
       [] { return edit_model([](fb::ModelT& m) { m.graph->values[0]->shape.assign(9, 1); }); },
       bad, "value 0 ('input'): shape has rank 9, at most 8"},
      {"NegativeWeightDimension",
       [] { return edit_model([](fb::ModelT& m) { conv(m, "conv1").weights->shape[0] = -8; }); },
       bad, "node 'conv1' (conv2d): weights: shape dimension 0 is negative (-8)"},
      {"WeightBytesShort",
       [] { return edit_model([](fb::ModelT& m) { conv(m, "conv1").weights->data.pop_back(); }); },
       bad, "node 'conv1' (conv2d): weights has 71 bytes, expected 72 for s8 [8, 1, 3, 3]"},
      {"FcWeightBytesLong",
       [] {
         return edit_model([](fb::ModelT& m) {
           node_named(m, "fc").op.AsFullyConnectedOp()->weights->data.push_back(0);
         });
       },
       bad, "node 'fc' (fully_connected): weights has 1441 bytes, expected 1440"},
      {"WeightsMissing",
       [] { return edit_model([](fb::ModelT& m) { conv(m, "conv1").weights.reset(); }); }, bad,
       "node 'conv1' (conv2d): weights is missing"},
      {"WeightShapeDisagreesWithInput",
       [] {
         return edit_model([](fb::ModelT& m) {
           conv(m, "conv1").weights->shape = {4, 2, 3, 3};  // same 72 bytes
         });
       },
       bad, "node 'conv1' (conv2d): weights shape [4, 2, 3, 3] does not match input channels 1"},
      {"Symmetric8BitWeightIsMinus128",
       [] { return edit_model([](fb::ModelT& m) { conv(m, "conv1").weights->data[5] = 0x80; }); },
       bad, "node 'conv1': weights[5] is -128"},
      {"TapBytesShort",
       [] { return edit_model([](fb::ModelT& m) { sparse(m, "conv3").taps.resize(100); }); }, bad,
       "node 'conv3' (sparse_conv3x3): taps has 100 bytes, expected 768 (16 out x 16 in x "
       "density 3)"},
      {"TapCountOverflows64Bits",  // found by the fuzzer: out x in x density > 2^63
       [] {
         return edit_model([](fb::ModelT& m) {
           sparse(m, "conv3").out_channels = 2147483647;
           sparse(m, "conv3").in_channels = 2147483647;
         });
       },
       bad,
       "node 'conv3' (sparse_conv3x3): taps has 768 bytes, expected 13835058042397261827 "
       "(2147483647 out x 2147483647 in x density 3)"},
      {"TapsMissing",
       [] { return edit_model([](fb::ModelT& m) { sparse(m, "conv4").taps.clear(); }); }, bad,
       "node 'conv4' (sparse_conv3x3): taps is missing"},
      {"TapPositionNine",
       [] {
         return edit_model([](fb::ModelT& m) {
           auto& taps = sparse(m, "conv3").taps;
           taps[5] = make_tap(9, 1);  // kernel (0, 1), last tap
         });
       },
       bad, "node 'conv3': taps: kernel (0, 1)"},
      {"TapPositionsNotIncreasing",
       [] {
         return edit_model([](fb::ModelT& m) {
           auto& taps = sparse(m, "conv4").taps;
           std::swap(taps[3], taps[5]);  // kernel (0, 1): first and last tap
         });
       },
       bad, "positions not strictly increasing"},
      {"SharingGroupBroken",
       [] {
         return edit_model([](fb::ModelT& m) {
           // conv2 shares positions over 4 output x 2 input channels; give
           // kernel (1, 0) its own pattern.
           auto& taps = sparse(m, "conv2").taps;
           const int in = 8, k = 3;
           uint8_t* kernel = &taps[(1 * in + 0) * k];
           const bool starts_at_zero = tap_position(kernel[0]) == 0 &&
                                       tap_position(kernel[1]) == 1 && tap_position(kernel[2]) == 2;
           const int first = starts_at_zero ? 6 : 0;
           for (int t = 0; t < k; ++t) kernel[t] = make_tap(first + t, 1);
         });
       },
       bad, "group pattern mismatch"},
      {"SharingGroupZero",
       [] { return edit_model([](fb::ModelT& m) { sparse(m, "conv2").sharing_in_group = 0; }); },
       bad, "node 'conv2': sharing groups must be >= 1"},
      {"DensityZero",
       [] { return edit_model([](fb::ModelT& m) { sparse(m, "conv3").density = 0; }); }, bad,
       "node 'conv3' (sparse_conv3x3): density must be 1..9, is 0"},
      {"DensityTen",
       [] { return edit_model([](fb::ModelT& m) { sparse(m, "conv3").density = 10; }); }, bad,
       "node 'conv3' (sparse_conv3x3): density must be 1..9, is 10"},
      {"StrideThree",
       [] { return edit_model([](fb::ModelT& m) { sparse(m, "conv3").stride = 3; }); }, bad,
       "node 'conv3' (sparse_conv3x3): stride must be 1 or 2, is 3"},
      {"NanScale",
       [] {
         return edit_model([](fb::ModelT& m) {
           sparse(m, "conv2").weight_scales[0] = std::numeric_limits<float>::quiet_NaN();
         });
       },
       bad, "node 'conv2': weight_scales[0] is nan; a scale must be finite, positive"},
      {"ZeroScale",
       [] { return edit_model([](fb::ModelT& m) { conv(m, "conv1").weight_scales[3] = 0.0f; }); },
       bad, "node 'conv1': weight_scales[3] is 0; a scale must be finite, positive"},
      {"InfiniteBias",
       [] {
         return edit_model([](fb::ModelT& m) {
           sparse(m, "conv4").bias[2] = std::numeric_limits<float>::infinity();
         });
       },
       bad, "node 'conv4': bias[2] is inf; it must be finite"},
      {"NegativeStaticScale", [] { return with_static_scale("quantize2", -0.5f); }, bad,
       "node 'quantize2': static scale is -0.5; a scale must be finite, positive"},
      {"NanStaticScale",
       [] { return with_static_scale("quantize3", std::numeric_limits<float>::quiet_NaN()); }, bad,
       "node 'quantize3': static scale is nan; a scale must be finite, positive"},
      {"InfiniteStaticScale",
       [] { return with_static_scale("quantize_fc", std::numeric_limits<float>::infinity()); }, bad,
       "node 'quantize_fc': static scale is inf; a scale must be finite, positive"},
      {"StaticScaleAboveTheBound", [] { return with_static_scale("quantize4", 2e6f); }, bad,
       "node 'quantize4': static scale is 2e+06; a scale must be finite, positive, at least "
       "1.17549e-38 and at most 1e+06"},
      {"SubnormalStaticScale", [] { return with_static_scale("quantize_image", 1e-40f); }, bad,
       "node 'quantize_image': static scale is 9.99995e-41"},
      {"ScalesMissing",
       [] { return edit_model([](fb::ModelT& m) { sparse(m, "conv2").weight_scales.clear(); }); },
       bad, "node 'conv2' (sparse_conv3x3): weight_scales is missing"},
      {"OutputIsUnknownValue",
       [] { return edit_model([](fb::ModelT& m) { m.graph->outputs = {999}; }); }, bad,
       "graph output refers to unknown value 999"},
      {"InputIsUnknownValue", [] { return edit_model([](fb::ModelT& m) { m.graph->input = -3; }); },
       bad, "graph input refers to an unknown value"},
      {"NodeInputIsUnknownValue",
       [] { return edit_model([](fb::ModelT& m) { node_named(m, "pool2").inputs = {77}; }); }, bad,
       "node 'pool2': input refers to unknown value 77"},
      {"ValueUsedBeforeProduced",
       [] {
         return edit_model([](fb::ModelT& m) {
           std::swap(m.graph->nodes[1], m.graph->nodes[2]);  // quantize2 before conv1
         });
       },
       bad, "node 'quantize2': input 'conv1' is used before it is produced"},
      {"DuplicateNodeName",
       [] { return edit_model([](fb::ModelT& m) { node_named(m, "conv3").name = "conv2"; }); }, bad,
       "node name 'conv2' is used twice"},
      {"DeclaredShapeDisagrees",
       [] { return edit_model([](fb::ModelT& m) {
              m.graph->values[5]->shape = {16, 5, 6};
            }); },
       bad,
       "node 'pool2': output 'pool2' is declared f32 [16, 5, 6] but the operation gives f32 "
       "[16, 6, 6]"},
      {"QuantizeBitsThree",
       [] {
         return edit_model(
             [](fb::ModelT& m) { node_named(m, "quantize3").op.AsQuantizeOp()->bits = 3; });
       },
       bad, "node 'quantize3' (quantize): bits must be 8 or 4, is 3"},
      {"DuplicateProvenanceKey",
       [] {
         return edit_model([](fb::ModelT& m) {
           auto entry = std::make_unique<fb::KeyValueT>();
           entry->key = "dataset";
           entry->value = "other";
           m.metadata->provenance.push_back(std::move(entry));
         });
       },
       bad, "metadata.provenance: key 'dataset' appears twice"},
      {"PreprocessingMeanPerChannel",
       [] {
         return edit_model([](fb::ModelT& m) { m.metadata->preprocessing->mean = {0.1f, 0.2f}; });
       },
       bad, "metadata.preprocessing.mean has 2 entries, expected none or one per channel (1)"},
      {"PreprocessingStdZero",
       [] { return edit_model([](fb::ModelT& m) { m.metadata->preprocessing->std = {0.0f}; }); },
       bad, "metadata.preprocessing.std[0] must be finite and non-zero"},
  };
}

class CorruptFile : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptFile, IsRejectedWithItsOwnMessage) {
  const CorruptCase& c = GetParam();
  const Bytes bytes = c.make();
  try {
    Model::from_bytes(bytes);
    FAIL() << "the damaged file loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), c.code) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
        << "expected: " << c.message << "\n     got: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Table, CorruptFile, ::testing::ValuesIn(corrupt_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(CorruptFile, TheUnmodifiedStartingFileLoads) {
  EXPECT_NO_THROW(Model::from_bytes(valid_file()));
  // Unpacking and packing again without a change must also load: the cases
  // above differ from a valid file only by their edit.
  EXPECT_NO_THROW(Model::from_bytes(edit_model([](fb::ModelT&) {})));
}

// Every proper prefix of a valid file fails cleanly (no crash, a named error).
TEST(CorruptFile, EveryTruncationIsAnError) {
  const Bytes& full = valid_file();
  for (size_t size = 0; size < full.size(); size += 1 + size / 16) {
    Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_THROW(Model::from_bytes(prefix), Error) << size << " bytes";
  }
}

// Flipping any single byte never crashes: it either still loads (a changed
// weight is still a valid weight) or fails with a sparq::Error.
TEST(CorruptFile, SingleByteFlipsNeverCrash) {
  const Bytes& full = valid_file();
  for (size_t at = 0; at < full.size(); at += 3) {
    Bytes damaged = full;
    damaged[at] ^= static_cast<uint8_t>(0x5A + at);
    try {
      Model::from_bytes(damaged);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
    }
  }
}

class ModelPath : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sparq_corruption_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void expect_error(const std::filesystem::path& path, ErrorCode code,
                           const std::string& message) {
    try {
      Model::load(path);
      FAIL() << "loaded " << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      const std::string what = e.what();
      EXPECT_NE(what.find(path.string()), std::string::npos) << "path not named: " << what;
      EXPECT_NE(what.find(message), std::string::npos)
          << "expected: " << message << "\n got: " << what;
    }
  }

  std::filesystem::path dir_;
};

TEST_F(ModelPath, MissingFileIsAnIoErrorNamingThePath) {
  expect_error(dir_ / "no_such_model.sparq", ErrorCode::kIo, "cannot open");
}

TEST_F(ModelPath, DirectoryIsAnIoError) {
  expect_error(dir_, ErrorCode::kIo, "is a directory, not a model file");
}

TEST_F(ModelPath, DamagedFileOnDiskNamesPathAndField) {
  const auto path = dir_ / "bad.sparq";
  const Bytes bytes = edit_model([](fb::ModelT& m) { sparse(m, "conv3").density = 0; });
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  expect_error(path, ErrorCode::kInvalidModel, "density must be 1..9, is 0");
}

TEST_F(ModelPath, EmptyFileOnDisk) {
  const auto path = dir_ / "empty.sparq";
  { std::ofstream out(path, std::ios::binary); }
  expect_error(path, ErrorCode::kInvalidModel, "model file is empty");
}

}  // namespace
}  // namespace sparq
