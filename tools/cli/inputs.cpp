#include "tools/cli/inputs.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "sparq/image.hpp"
#include "tools/cli/cli_common.hpp"

namespace sparq::cli {
namespace fs = std::filesystem;

bool is_raw_tensor_path(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  return ext == ".f32" || ext == ".raw" || ext == ".bin";
}

Tensor load_raw_tensor(const Model& model, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file || fs::is_directory(path)) {
    throw Error(ErrorCode::kIo,
                "cannot open input '" + path +
                    "': " + (fs::is_directory(path) ? "is a directory" : std::strerror(errno)));
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const Value& input = model.input();
  if (input.dtype != DType::kF32) {
    throw Error(ErrorCode::kUnsupported, "raw input '" + path + "': the model input '" +
                                             input.name + "' is " + to_string(input.dtype) +
                                             "; raw files hold float32");
  }
  const size_t per_sample = static_cast<size_t>(input.shape.elements());
  const size_t floats = bytes.size() / sizeof(float);
  if (bytes.empty() || bytes.size() % sizeof(float) != 0 || floats % per_sample != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "raw input '" + path + "' has " + std::to_string(bytes.size()) +
                    " bytes; the model input " + input.shape.to_string() + " needs a multiple of " +
                    std::to_string(per_sample * sizeof(float)) + " (float32, little-endian)");
  }
  const auto batch = static_cast<int64_t>(floats / per_sample);
  Tensor tensor(input.shape.with_batch(batch), DType::kF32);
  std::memcpy(tensor.raw(), bytes.data(), bytes.size());
  return tensor;
}

Tensor random_input(const Model& model, int64_t batch, std::mt19937& gen) {
  if (model.input().dtype != DType::kF32) {
    throw Error(ErrorCode::kUnsupported, "random inputs are f32; this model takes " +
                                             std::string(to_string(model.input().dtype)));
  }
  Tensor t(model.input().shape.with_batch(batch), DType::kF32);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  for (float& v : t.span<float>()) v = dist(gen);
  return t;
}

Tensor load_image_batch(const Model& model, const std::vector<std::string>& paths) {
  const Preprocessing preprocessing = image_preprocessing(model);
  const auto batch = static_cast<int64_t>(paths.size());
  Tensor tensor(model.input().shape.with_batch(batch), DType::kF32);
  const size_t per_sample = static_cast<size_t>(model.input().shape.elements());
  auto values = tensor.span<float>();
  for (size_t i = 0; i < paths.size(); ++i) {
    preprocess_into(load_image(paths[i]), preprocessing,
                    values.subspan(i * per_sample, per_sample));
  }
  return tensor;
}

namespace {

std::string existing(const fs::path& base) {
  if (fs::exists(base)) return base.string();
  if (fs::exists(base.string() + ".gz")) return base.string() + ".gz";
  return {};
}

std::string split_prefix(const std::string& split) {
  if (split != "test" && split != "train") {
    throw UsageError("--split must be 'test' or 'train', not '" + split + "'");
  }
  return split == "test" ? "t10k" : "train";
}

}  // namespace

std::string dataset_images_path(const std::string& path, const std::string& split) {
  if (fs::is_directory(path)) {
    const std::string prefix = split_prefix(split);
    std::string images = existing(fs::path(path) / (prefix + "-images-idx3-ubyte"));
    if (images.empty()) {
      throw Error(ErrorCode::kIo,
                  "dataset folder '" + path + "' has no " + prefix + "-images-idx3-ubyte[.gz]");
    }
    return images;
  }
  if (!fs::exists(path)) throw Error(ErrorCode::kIo, "dataset '" + path + "' does not exist");
  return path;
}

Dataset load_dataset(const std::string& path, const std::string& labels_path,
                     const std::string& split, int classes) {
  Dataset dataset;
  dataset.images_path = dataset_images_path(path, split);
  if (fs::is_directory(path)) {
    dataset.labels_path = existing(fs::path(path) / (split_prefix(split) + "-labels-idx1-ubyte"));
  } else {
    const fs::path p(path);
    std::string name = p.filename().string();
    if (const size_t at = name.find("images-idx3"); at != std::string::npos) {
      name.replace(at, 11, "labels-idx1");
      if (fs::exists(p.parent_path() / name))
        dataset.labels_path = (p.parent_path() / name).string();
    }
  }
  if (!labels_path.empty()) dataset.labels_path = labels_path;
  if (dataset.labels_path.empty()) {
    throw UsageError("no labels found for dataset '" + path +
                     "': pass the idx1 label file with --labels");
  }
  IdxDataset idx = read_idx_dataset(dataset.images_path, dataset.labels_path, classes);
  dataset.images = std::move(idx.images);
  dataset.labels = std::move(idx.labels);
  return dataset;
}

Tensor dataset_batch(const IdxImages& images, size_t first, size_t count,
                     const Preprocessing& preprocessing) {
  const size_t pixels = static_cast<size_t>(images.rows) * static_cast<size_t>(images.cols);
  const size_t per_sample = static_cast<size_t>(preprocessing.channels) *
                            static_cast<size_t>(preprocessing.height) *
                            static_cast<size_t>(preprocessing.width);
  Tensor tensor(Shape{static_cast<int64_t>(count), preprocessing.channels, preprocessing.height,
                      preprocessing.width},
                DType::kF32);
  auto values = tensor.span<float>();
  for (size_t i = 0; i < count; ++i) {
    const std::span<const uint8_t> sample(images.pixels.data() + (first + i) * pixels, pixels);
    preprocess_into(image_from_pixels(images.cols, images.rows, 1, sample), preprocessing,
                    values.subspan(i * per_sample, per_sample));
  }
  return tensor;
}

}  // namespace sparq::cli
