// Writes the starting corpora of the fuzzers (scripts/fuzz.sh) into
// <dir>/models, <dir>/images and <dir>/idx. Small files on purpose: libFuzzer
// mutates them faster. The models together use every operation; all but one
// are written without a checksum (like files from before checksums), so that
// mutations reach the field checks and the run instead of stopping at the
// checksum, which the one sealed model keeps covered.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sparq/sparq.hpp"
#include "sparq_model_generated.h"
#include "tests/support/model_samples.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void write(const fs::path& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// The model's file packed again without its checksum field.
Bytes without_checksum(const sparq::Model& model) {
  const Bytes sealed = model.to_bytes();
  auto unpacked = sparq::fb::UnPackSizePrefixedModel(sealed.data());
  unpacked->checksum = 0;
  flatbuffers::FlatBufferBuilder fbb;
  sparq::fb::FinishSizePrefixedModelBuffer(fbb, sparq::fb::Model::Pack(fbb, unpacked.get()));
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

void append(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

// The tiny CNN with a static scale on every quantize node (scale field set).
sparq::Model with_static_scales(const sparq::Model& model) {
  sparq::Graph graph = model.graph();
  float scale = 0.01f;
  for (sparq::Node& node : graph.nodes) {
    if (auto* q = std::get_if<sparq::QuantizeOp>(&node.op)) q->scale = scale *= 1.5f;
  }
  return sparq::Model(std::move(graph), model.metadata());
}

void write_models(const fs::path& dir) {
  fs::create_directories(dir);
  using sparq::testing::build_op_zoo_model;
  using sparq::testing::build_tiny_sparse_cnn;
  build_tiny_sparse_cnn(1, 1).save(dir / "tiny_cnn_k1_sealed.sparq");
  write(dir / "tiny_cnn_k1.sparq", without_checksum(build_tiny_sparse_cnn(1, 1)));
  write(dir / "tiny_cnn_k3_shared.sparq", without_checksum(build_tiny_sparse_cnn(2, 3, {4, 2})));
  write(dir / "tiny_cnn_k9.sparq", without_checksum(build_tiny_sparse_cnn(3, 9)));
  write(dir / "tiny_cnn_k3_static.sparq",
        without_checksum(with_static_scales(build_tiny_sparse_cnn(6, 3))));
  // The same after fold_static_quantize: layers carrying the fused output
  // fields, so mutations reach them and their checks.
  const sparq::Model statics = with_static_scales(build_tiny_sparse_cnn(7, 3));
  write(dir / "tiny_cnn_k3_fused.sparq",
        without_checksum(
            sparq::Model(sparq::fold_static_quantize(statics.graph()), statics.metadata())));
  write(dir / "op_zoo.sparq", without_checksum(build_op_zoo_model(4)));
  write(dir / "imported_ops.sparq", without_checksum(sparq::testing::build_imported_ops_model(5)));
  sparq::ModelBuilder b;
  b.mark_output(b.softmax(b.input(sparq::Shape{3})));
  write(dir / "softmax_only.sparq", without_checksum(b.build()));
  sparq::ModelBuilder p;
  sparq::Pool2dOp pool;
  pool.kind = sparq::PoolKind::kAverage;
  pool.kernel_h = pool.kernel_w = 3;
  pool.pad_h = pool.pad_w = 1;
  p.mark_output(p.pool2d(p.input(sparq::Shape{2, 6, 6}), pool));
  write(dir / "avg_pool.sparq", without_checksum(p.build()));
}

void write_images(const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<uint8_t> pixels(12 * 10 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 29);
  Bytes png, jpg, bmp;
  stbi_write_png_to_func(append, &png, 12, 10, 3, pixels.data(), 12 * 3);
  stbi_write_jpg_to_func(append, &jpg, 12, 10, 3, pixels.data(), 80);
  stbi_write_bmp_to_func(append, &bmp, 12, 10, 3, pixels.data());
  write(dir / "rgb.png", png);
  write(dir / "rgb.jpg", jpg);
  write(dir / "rgb.bmp", bmp);
  Bytes top_down = bmp;  // the same pixels stored top-down: negative height
  const int32_t height = -10;
  std::memcpy(&top_down[22], &height, 4);
  write(dir / "rgb_top_down.bmp", top_down);
  const std::string pgm = "P5\n4 3\n255\n";
  Bytes gray(pgm.begin(), pgm.end());
  for (int i = 0; i < 12; ++i) gray.push_back(static_cast<uint8_t>(i * 20));
  write(dir / "gray.pgm", gray);
  const std::string ppm = "P6 2 2 65535\n";
  Bytes wide(ppm.begin(), ppm.end());
  wide.resize(wide.size() + 2 * 2 * 3 * 2, 0x7f);
  write(dir / "wide.ppm", wide);
}

void write_idx(const fs::path& dir) {
  fs::create_directories(dir);
  auto header = [](std::initializer_list<uint32_t> words) {
    Bytes bytes;
    for (uint32_t v : words) {
      for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(v >> s));
    }
    return bytes;
  };
  Bytes images = header({0x803, 3, 4, 5});
  for (int i = 0; i < 60; ++i) images.push_back(static_cast<uint8_t>(i * 7));
  write(dir / "images.idx3", images);
  Bytes labels = header({0x801, 5});
  for (int i = 0; i < 5; ++i) labels.push_back(static_cast<uint8_t>(i));
  write(dir / "labels.idx1", labels);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const fs::path dir = argv[1];
  try {
    write_models(dir / "models");
    write_images(dir / "images");
    write_idx(dir / "idx");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_seed_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
