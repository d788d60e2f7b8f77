#include "tests/cli/hostile_fixtures.hpp"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <vector>

#include "runtime/model/model_checksum.hpp"
#include "sparq/sparq.hpp"
#include "sparq_model_generated.h"
#include "tests/cli/cli_fixtures.hpp"

namespace sparq::cli_test {
namespace fs = std::filesystem;
namespace {

using Bytes = std::vector<uint8_t>;

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// `model`'s file with `edit` applied field by field, packed again. With
// `seal` the file gets a fresh, matching checksum (it is intact: only the
// edited rule is broken); without, it has none, like a file from before
// checksums.
Bytes edited(const Model& model, const std::function<void(fb::ModelT&)>& edit, bool seal = true) {
  const Bytes original = model.to_bytes();
  std::unique_ptr<fb::ModelT> m = fb::UnPackSizePrefixedModel(original.data());
  m->checksum = 0;
  edit(*m);
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(seal);  // the checksum field must be present to be sealed
  fb::FinishSizePrefixedModelBuffer(fbb, fb::Model::Pack(fbb, m.get()));
  Bytes bytes(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  if (seal) model_format::seal_checksum(bytes);
  return bytes;
}

Model single_op_model(const Shape& input,
                      const std::function<ValueId(ModelBuilder&, ValueId)>& body) {
  ModelBuilder b;
  b.mark_output(body(b, b.input(input, DType::kF32, "image")));
  return b.build();
}

Model pool_model(int kernel, int stride, int pad, PoolKind kind) {
  return single_op_model({1, 28, 28}, [&](ModelBuilder& b, ValueId x) {
    Pool2dOp op;
    op.kind = kind;
    op.kernel_h = op.kernel_w = kernel;
    op.stride_h = op.stride_w = stride;
    op.pad_h = op.pad_w = pad;
    return b.pool2d(x, op, "pool");
  });
}

// Every score is ~1e39 (inf in f32): inputs scaled by 1/std = 1e30, times
// weights of 1e6 over 784 pixels. Each number passes the load rules; only
// the run shows the overflow, and softmax(inf) is NaN.
Model nan_classifier() {
  ModelBuilder b;
  ValueId x = b.flatten(b.input({1, 28, 28}, DType::kF32, "image"), "flatten");
  FullyConnectedOp fc;
  fc.weights = Tensor::from_floats(Shape{10, 784}, std::vector<float>(7840, 1e6f));
  fc.bias = std::vector<float>(10, 0.0f);
  b.mark_output(b.softmax(b.fully_connected(x, std::move(fc), "fc"), "probs"));
  ModelMetadata meta;
  meta.name = "overflowing classifier";
  meta.preprocessing = {28, 28, 1, 1.0f / 255.0f, {-1.0f}, {1e-30f}};
  for (int c = 0; c < 10; ++c) meta.labels.push_back("class " + std::to_string(c));
  return b.build(meta);
}

void write_idx_header(Bytes& bytes, std::initializer_list<uint32_t> words) {
  for (uint32_t v : words) {
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(v >> s));
  }
}

void write_gz(const fs::path& path, const Bytes& bytes) {
  gzFile f = gzopen(path.string().c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// A 24-bit BMP of `pixel(x, y)` (gray), rows stored top-down or bottom-up.
Bytes gray_bmp(int width, int height, bool top_down) {
  const int row_bytes = (width * 3 + 3) / 4 * 4;
  const uint32_t data_bytes = static_cast<uint32_t>(row_bytes * height);
  Bytes b(54 + data_bytes, 0);
  auto le32 = [&](size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); };
  b[0] = 'B', b[1] = 'M';
  le32(2, static_cast<uint32_t>(b.size()));
  le32(10, 54);
  le32(14, 40);
  le32(18, static_cast<uint32_t>(width));
  le32(22, static_cast<uint32_t>(top_down ? -height : height));
  b[26] = 1;   // planes
  b[28] = 24;  // bits per pixel
  le32(34, data_bytes);
  for (int y = 0; y < height; ++y) {
    const int stored_row = top_down ? y : height - 1 - y;
    for (int x = 0; x < width; ++x) {
      const auto v = static_cast<uint8_t>((x * 9 + y * 5) % 256);
      const size_t at = 54 + static_cast<size_t>(stored_row * row_bytes + x * 3);
      b[at] = b[at + 1] = b[at + 2] = v;
    }
  }
  return b;
}

}  // namespace

void write_hostile_fixtures(const fs::path& dir) {
  fs::create_directories(dir);
  pool_model(14000, 1, 13999, PoolKind::kMax).save(dir / "wide_pool.sparq");
  constexpr int kMaxInt = 2147483647;
  pool_model(kMaxInt, kMaxInt, kMaxInt - 1, PoolKind::kAverage).save(dir / "huge_window.sparq");
  single_op_model({1, 46340, 46340}, [](ModelBuilder& b, ValueId x) {
    return b.activation(x, Activation::kRelu, "relu");
  }).save(dir / "big_input.sparq");
  single_op_model({kMaxInt, 1, 1}, [](ModelBuilder& b, ValueId x) {
    return b.softmax(b.flatten(x, "flatten"), "probs");
  }).save(dir / "many_classes.sparq");

  const Model classifier = make_classifier(3, 42);
  write_bytes(dir / "huge_scales.sparq", edited(classifier, [](fb::ModelT& m) {
                for (auto& node : m.graph->nodes) {
                  if (node->name == "conv1") node->op.AsSparseConv3x3Op()->weight_scales[0] = 3e38f;
                }
              }));
  write_bytes(dir / "output_is_input.sparq",
              edited(classifier, [](fb::ModelT& m) { m.graph->outputs = {m.graph->input}; }));
  write_bytes(dir / "output_twice.sparq", edited(classifier, [](fb::ModelT& m) {
                m.graph->outputs.push_back(m.graph->outputs[0]);
              }));
  write_bytes(dir / "unchecked.sparq", edited(
                                           classifier, [](fb::ModelT&) {}, /*seal=*/false));
  Bytes flipped = classifier.to_bytes();
  flipped[flipped.size() / 2] ^= 0x10;
  write_bytes(dir / "flipped.sparq", flipped);
  nan_classifier().save(dir / "nan_classifier.sparq");
  ModelMetadata odd = classifier.metadata();
  odd.labels[0] = "T-shirt \xff\xfe";
  Model(classifier.graph(), odd).save(dir / "bad_utf8_label.sparq");

  // 5,000,000 images of 28x28: 3.9 GB declared, none present.
  Bytes header;
  write_idx_header(header, {0x803, 5'000'000, 28, 28});
  write_bytes(dir / "huge-images-idx3-ubyte", header);
  Bytes labels;
  write_idx_header(labels, {0x801, 5'000'000});
  write_bytes(dir / "huge-labels-idx1-ubyte", labels);
  header.resize(header.size() + 1000, 7);
  write_gz(dir / "hugegz-images-idx3-ubyte.gz", header);
  write_gz(dir / "hugegz-labels-idx1-ubyte.gz", labels);

  // shirt.png (write_fixtures) with a header that says 16384x16384; stb
  // checks no CRCs, so only the declared size can stop the decode.
  std::ifstream shirt(dir / "shirt.png", std::ios::binary);
  Bytes png((std::istreambuf_iterator<char>(shirt)), std::istreambuf_iterator<char>());
  const uint8_t side[4] = {0x00, 0x00, 0x40, 0x00};  // 16384, big endian
  std::memcpy(&png.at(16), side, 4);
  std::memcpy(&png.at(20), side, 4);
  write_bytes(dir / "huge.png", png);
  write_bytes(dir / "topdown.bmp", gray_bmp(28, 28, true));
  write_bytes(dir / "bottomup.bmp", gray_bmp(28, 28, false));
}

}  // namespace sparq::cli_test
