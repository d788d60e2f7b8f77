#include "sparq_training/data.hpp"

#include <cmath>
#include <fstream>

#include "sparq/error.hpp"
#include "sparq/idx.hpp"
#include "sparq_training/image_folder.hpp"

namespace sparq::training {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> fashion_mnist_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}
std::vector<std::string> cifar10_names() {
  return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}
std::vector<std::string> numbered_names(int classes) {
  std::vector<std::string> names;
  for (int c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

// The IDX file `stem` in `dir`, compressed or not.
fs::path idx_file(const fs::path& dir, const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    fs::path p = dir / (stem + suffix);
    if (fs::exists(p)) return p;
  }
  throw Error(ErrorCode::kIo, "data set file '" + (dir / stem).string() +
                                  "[.gz]' not found (expected an IDX data set in '" + dir.string() +
                                  "')");
}

Dataset load_idx(const fs::path& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  IdxDataset raw = read_idx_dataset(idx_file(dir, prefix + "-images-idx3-ubyte"),
                                    idx_file(dir, prefix + "-labels-idx1-ubyte"), 10);
  Dataset data;
  data.images =
      torch::from_blob(raw.images.pixels.data(),
                       {raw.images.count, 1, raw.images.rows, raw.images.cols}, torch::kUInt8)
          .clone();
  data.labels =
      torch::from_blob(raw.labels.data(), {static_cast<int64_t>(raw.labels.size())}, torch::kUInt8)
          .to(torch::kInt64);
  data.classes = 10;
  const bool fashion = dir.string().find("fashion") != std::string::npos;
  data.name = fashion ? "fashion-mnist" : "mnist";
  data.class_names = fashion ? fashion_mnist_names() : numbered_names(10);
  return data;
}

// CIFAR binary records: label byte(s), then 3 x 32 x 32 pixels (R, G, B planes).
void append_cifar_file(const fs::path& path, int label_bytes, int classes,
                       std::vector<uint8_t>& pixels, std::vector<int64_t>& labels) {
  constexpr size_t kPixels = 3 * 32 * 32;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "CIFAR file '" + path.string() + "' cannot be opened");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t record = label_bytes + kPixels;
  if (bytes.empty() || bytes.size() % record != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "CIFAR file '" + path.string() + "' has " + std::to_string(bytes.size()) +
                    " bytes, not a whole number of " + std::to_string(record) + "-byte records");
  }
  for (size_t r = 0; r < bytes.size() / record; ++r) {
    const auto* rec = reinterpret_cast<const uint8_t*>(bytes.data() + r * record);
    const int label = rec[label_bytes - 1];  // CIFAR-100: coarse, then fine label
    if (label >= classes) {
      throw Error(ErrorCode::kInvalidArgument, "CIFAR file '" + path.string() + "': record " +
                                                   std::to_string(r) + " has label " +
                                                   std::to_string(label) + ", expected 0.." +
                                                   std::to_string(classes - 1));
    }
    labels.push_back(label);
    pixels.insert(pixels.end(), rec + label_bytes, rec + record);
  }
}

Dataset load_cifar(const fs::path& dir, Split split, bool hundred) {
  std::vector<fs::path> files;
  if (hundred) {
    files.push_back(dir / (split == Split::kTrain ? "train.bin" : "test.bin"));
  } else if (split == Split::kTrain) {
    for (int i = 1; i <= 5; ++i)
      files.push_back(dir / ("data_batch_" + std::to_string(i) + ".bin"));
  } else {
    files.push_back(dir / "test_batch.bin");
  }
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  const int classes = hundred ? 100 : 10;
  for (const auto& f : files) append_cifar_file(f, hundred ? 2 : 1, classes, pixels, labels);
  Dataset data;
  const auto n = static_cast<int64_t>(labels.size());
  data.images = torch::from_blob(pixels.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
  data.labels = torch::from_blob(labels.data(), {n}, torch::kInt64).clone();
  data.classes = classes;
  data.class_names = hundred ? numbered_names(100) : cifar10_names();
  data.name = hundred ? "cifar100" : "cifar10";
  return data;
}

}  // namespace

Dataset load_dataset(const std::string& format, const fs::path& dir, Split split, int64_t limit) {
  if (!fs::is_directory(dir)) {
    throw Error(ErrorCode::kIo, "--data '" + dir.string() + "' is not a directory");
  }
  Dataset data;
  if (format == "idx") {
    data = load_idx(dir, split);
  } else if (format == "cifar10" || format == "cifar100") {
    data = load_cifar(dir, split, format == "cifar100");
  } else if (format == "folder") {
    data = load_image_folder(dir, split);
  } else {
    throw Error(ErrorCode::kInvalidArgument,
                "unknown --format '" + format + "' (known: idx, cifar10, cifar100, folder)");
  }
  if (limit < 0) {
    throw Error(ErrorCode::kInvalidArgument, "a sample limit must not be negative");
  }
  if (limit > 0 && limit < data.size()) {
    data.images = data.images.narrow(0, 0, limit).clone();
    data.labels = data.labels.narrow(0, 0, limit).clone();
  }
  return data;
}

Normalization compute_normalization(const Dataset& data) {
  Normalization norm;
  torch::Tensor x = data.images.to(torch::kFloat64) * (1.0 / 255.0);
  for (int c = 0; c < data.channels(); ++c) {
    torch::Tensor plane = x.select(1, c);
    norm.mean.push_back(static_cast<float>(plane.mean().item<double>()));
    norm.std.push_back(static_cast<float>(plane.std().item<double>()));
  }
  return norm;
}

torch::Tensor normalize(const torch::Tensor& images, const Normalization& norm) {
  const int64_t channels = images.size(1);
  if (static_cast<int64_t>(norm.mean.size()) != channels ||
      static_cast<int64_t>(norm.std.size()) != channels) {
    throw Error(ErrorCode::kInvalidArgument,
                "normalization has " + std::to_string(norm.mean.size()) + " channels, the images " +
                    std::to_string(channels));
  }
  auto mean = torch::tensor(norm.mean).view({1, channels, 1, 1});
  auto std = torch::tensor(norm.std).view({1, channels, 1, 1});
  return (images.to(torch::kFloat32) * norm.scale - mean) / std;
}

torch::Tensor augment(const torch::Tensor& images, int padding, bool flip, std::mt19937& gen) {
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  torch::Tensor padded =
      padding > 0 ? torch::constant_pad_nd(images, {padding, padding, padding, padding}, 0)
                  : images;
  torch::Tensor out = torch::empty_like(images);
  std::uniform_int_distribution<int> offset(0, 2 * padding);
  std::bernoulli_distribution coin(0.5);
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor crop = padded[i].narrow(1, offset(gen), h).narrow(2, offset(gen), w);
    if (flip && coin(gen)) crop = crop.flip({2});
    out[i].copy_(crop);
  }
  return out;
}

}  // namespace sparq::training
