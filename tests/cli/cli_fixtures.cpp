#include "tests/cli/cli_fixtures.hpp"

#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "tests/support/networks.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace sparq::cli_test {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kFashionLabels = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};

std::vector<float> random_floats(std::mt19937& gen, size_t n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

SparseConv3x3Op pruned_conv(std::mt19937& gen, int out, int in, int density) {
  std::vector<float> weights = random_floats(gen, static_cast<size_t>(out * in * 9), 0.3f);
  std::vector<uint8_t> mask(weights.size(), 1);
  prune_to_density(weights, mask, out, in, density);
  const std::vector<float> bias = random_floats(gen, static_cast<size_t>(out), 0.05f);
  return make_sparse_conv3x3(weights, mask, bias, out, in, density, 1, {}, Activation::kRelu);
}

ModelMetadata fashion_metadata(const std::string& name) {
  ModelMetadata meta;
  meta.name = name;
  meta.preprocessing.height = 28;
  meta.preprocessing.width = 28;
  meta.preprocessing.channels = 1;
  meta.preprocessing.mean = {0.2860f};
  meta.preprocessing.std = {0.3530f};
  meta.labels = kFashionLabels;
  meta.provenance["dataset"] = "none (random weights, for tests)";
  return meta;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void append(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

std::vector<uint8_t> pattern(int width, int height, int channels, int seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width * height * channels));
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<uint8_t>((i * 37 + seed * 11) % 256);
  return pixels;
}

void write_idx(const fs::path& path, uint32_t magic, const std::vector<uint32_t>& dims,
               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> bytes;
  auto be32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(v >> s));
  };
  be32(magic);
  for (uint32_t d : dims) be32(d);
  bytes.insert(bytes.end(), data.begin(), data.end());
  write_bytes(path, bytes);
}

}  // namespace

Model make_classifier(int density, uint32_t seed, int conv2_activation_bits) {
  std::mt19937 gen(seed);
  ModelBuilder b;
  ValueId x = b.input({1, 28, 28}, DType::kF32, "image");
  x = b.quantize(x, 8, true, "quant1");
  x = b.sparse_conv3x3(x, pruned_conv(gen, 8, 1, density), "conv1");
  x = b.pool2d(x, Pool2dOp{}, "pool1");
  x = b.quantize(x, conv2_activation_bits, false, "quant2");
  x = b.sparse_conv3x3(x, pruned_conv(gen, 16, 8, density), "conv2");
  x = b.pool2d(x, Pool2dOp{}, "pool2");
  x = b.flatten(x, "flatten");
  FullyConnectedOp fc;
  fc.weights = Tensor::from_floats(Shape{10, 16 * 7 * 7}, random_floats(gen, 10 * 784, 0.05f));
  fc.bias = random_floats(gen, 10, 0.1f);
  x = b.fully_connected(x, std::move(fc), "fc");
  x = b.softmax(x, "probs");
  b.mark_output(x);
  return b.build(fashion_metadata("test classifier k=" + std::to_string(density)));
}

Model make_feature_extractor() {
  std::mt19937 gen(5);
  ModelBuilder b;
  ValueId x = b.input({1, 28, 28}, DType::kF32, "image");
  x = b.quantize(x, 8, true, "quant");
  x = b.sparse_conv3x3(x, pruned_conv(gen, 8, 1, 3), "conv");
  b.mark_output(x);
  return b.build(fashion_metadata("features"));
}

Model make_fused_features() {
  std::mt19937 gen(7);
  ModelBuilder b;
  ValueId x = b.input({1, 28, 28}, DType::kF32, "image");
  x = b.quantize_static(x, 1.0f / 127.0f, 8, true, "quant1");
  x = b.sparse_conv3x3(x, pruned_conv(gen, 8, 1, 3), "conv1");
  x = b.quantize_static(x, 0.0625f, 8, false, "quant2");
  x = b.sparse_conv3x3(x, pruned_conv(gen, 8, 8, 3), "conv2");
  b.mark_output(b.global_avg_pool(x, "pool"));
  const Model plain = b.build(fashion_metadata("fused features"));
  return Model(fold_static_quantize(plain.graph()), plain.metadata());
}

Model make_vector_classifier() {
  std::mt19937 gen(6);
  ModelBuilder b;
  ValueId x = b.input({784}, DType::kF32, "vector");
  FullyConnectedOp fc;
  fc.weights = Tensor::from_floats(Shape{10, 784}, random_floats(gen, 7840, 0.05f));
  fc.bias = std::vector<float>(10, 0.0f);
  x = b.fully_connected(x, std::move(fc), "fc");
  b.mark_output(b.softmax(x, "probs"));
  ModelMetadata meta;
  meta.name = "vector classifier";
  meta.labels = kFashionLabels;
  return b.build(meta);
}

void write_fixtures(const fs::path& dir) {
  fs::create_directories(dir);
  for (int k : {9, 3, 1}) {
    make_classifier(k, 42).save(dir / ("classifier_k" + std::to_string(k) + ".sparq"));
  }
  // The same network at k = 1 with 4-bit activations into conv2: another
  // variant for sweep's plot to tell apart from classifier_k1.
  make_classifier(1, 43, 4).save(dir / "classifier_k1_a4.sparq");
  make_feature_extractor().save(dir / "features.sparq");
  // A ResNet-18 at 112x112 with enough multiply-adds (113 M,
  // kThreadedChunkMinMacs) that batch 1 on 2 threads runs on a team of threads.
  testing::NetworkOptions resnet;
  resnet.density = 1;
  resnet.sharing = {16, 4};
  testing::build_resnet18(resnet, 112, 32, 10).save(dir / "resnet18_112.sparq");
  make_vector_classifier().save(dir / "vector.sparq");
  std::vector<uint8_t> corrupt = make_classifier(3, 42).to_bytes();
  corrupt.resize(corrupt.size() / 2);
  write_bytes(dir / "corrupt.sparq", corrupt);

  std::vector<uint8_t> png, jpg, bmp;
  const auto gray = pattern(28, 28, 1, 1);
  stbi_write_png_to_func(append, &png, 28, 28, 1, gray.data(), 28);
  write_bytes(dir / "shirt.png", png);
  const auto rgb = pattern(64, 48, 3, 2);
  stbi_write_jpg_to_func(append, &jpg, 64, 48, 3, rgb.data(), 90);
  write_bytes(dir / "big.jpg", jpg);
  const auto tile = pattern(30, 30, 3, 3);
  stbi_write_bmp_to_func(append, &bmp, 30, 30, 3, tile.data());
  write_bytes(dir / "tile.bmp", bmp);
  std::vector<uint8_t> pgm{'P', '5', ' ', '2', '0', ' ', '2', '0', ' ', '2', '5', '5', '\n'};
  const auto small = pattern(20, 20, 1, 4);
  pgm.insert(pgm.end(), small.begin(), small.end());
  write_bytes(dir / "small.pgm", pgm);
  const std::string text = "these are notes, not an image\n";
  write_bytes(dir / "notes.txt", {text.begin(), text.end()});
  write_bytes(dir / "truncated.png",
              {png.begin(), png.begin() + static_cast<ptrdiff_t>(png.size() / 2)});
  write_bytes(dir / "truncated.jpg",
              {jpg.begin(), jpg.begin() + static_cast<ptrdiff_t>(jpg.size() * 3 / 4)});
  write_bytes(dir / "empty.png", {});

  std::vector<uint8_t> raw(784 * sizeof(float));
  std::vector<float> values(784, 0.25f);
  std::memcpy(raw.data(), values.data(), raw.size());
  write_bytes(dir / "input.f32", raw);
  raw.resize(raw.size() - sizeof(float));
  write_bytes(dir / "short.f32", raw);

  std::vector<uint8_t> images, labels;
  for (int n = 0; n < 20; ++n) {
    const auto sample = pattern(28, 28, 1, n);
    images.insert(images.end(), sample.begin(), sample.end());
    labels.push_back(static_cast<uint8_t>(n % 10));
  }
  write_idx(dir / "tiny-images-idx3-ubyte", 0x803, {20, 28, 28}, images);
  write_idx(dir / "tiny-labels-idx1-ubyte", 0x801, {20}, labels);
  write_idx(dir / "lonely-images-idx3-ubyte", 0x803, {20, 28, 28}, images);
}

}  // namespace sparq::cli_test
