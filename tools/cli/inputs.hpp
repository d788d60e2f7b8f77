// Turning files named on the command line into model input: images (decoded
// and preprocessed as the model file says), raw float32 tensors, and IDX
// datasets (MNIST / Fashion-MNIST), given as files or as a folder.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "sparq/idx.hpp"
#include "sparq/sparq.hpp"

namespace sparq::cli {

// True for names that `run` reads as raw little-endian float32 (.f32, .raw, .bin).
bool is_raw_tensor_path(const std::string& path);

// A raw float32 file holding one or more samples of the model input; throws
// Error(kInvalidArgument) when its size is not a whole number of samples.
Tensor load_raw_tensor(const Model& model, const std::string& path);

// Decodes and preprocesses the images into one batch [N, C, H, W].
Tensor load_image_batch(const Model& model, const std::vector<std::string>& paths);

// `batch` samples of the model input, each value uniform in [0, 1) drawn from
// `gen` (bench's inputs, and calibrate's --random); the model must take f32.
Tensor random_input(const Model& model, int64_t batch, std::mt19937& gen);

struct Dataset {
  std::string images_path;
  std::string labels_path;
  IdxImages images;
  std::vector<uint8_t> labels;
};

// The idx3 image file `path` names: `path` itself, or in a folder the file
// `<split>-images-idx3-ubyte[.gz]` (split "test" -> "t10k", "train" ->
// "train"). Throws Error(kIo) when it does not exist, UsageError for an
// unknown split.
std::string dataset_images_path(const std::string& path, const std::string& split);

// `path` is an idx3 image file (labels beside it, with "images-idx3" in the
// name replaced by "labels-idx1", unless `labels_path` is given) or a folder
// holding `<split>-images-idx3-ubyte[.gz]` with split "t10k" for test and
// "train" for train. Throws UsageError when the labels cannot be found.
Dataset load_dataset(const std::string& path, const std::string& labels_path,
                     const std::string& split, int classes);

// Samples [first, first + count) of the dataset, preprocessed for the model.
Tensor dataset_batch(const IdxImages& images, size_t first, size_t count,
                     const Preprocessing& preprocessing);

}  // namespace sparq::cli
