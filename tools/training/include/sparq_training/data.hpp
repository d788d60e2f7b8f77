// Data sets as raw uint8 image tensors plus labels, normalized per batch:
// x = (pixel * scale - mean[c]) / std[c], the formula the sparq model's
// Preprocessing records, so the runtime sees what training saw.
// Formats: IDX (MNIST, Fashion-MNIST; .gz or plain), the CIFAR-10/100
// binary format and image folders (image_folder.hpp).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace sparq::training {

struct Dataset {
  torch::Tensor images;  // uint8 [N, C, H, W]
  torch::Tensor labels;  // int64 [N]
  int classes = 0;
  std::vector<std::string> class_names;
  std::string name;  // "fashion-mnist", "mnist", "cifar10", "cifar100"

  int64_t size() const { return images.size(0); }
  int channels() const { return static_cast<int>(images.size(1)); }
  int height() const { return static_cast<int>(images.size(2)); }
  int width() const { return static_cast<int>(images.size(3)); }
};

struct Normalization {
  float scale = 1.0f / 255.0f;
  std::vector<float> mean;  // per channel
  std::vector<float> std;   // per channel
};

enum class Split { kTrain, kTest };

// format: "idx" (files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in
// `dir`), "cifar10" (data_batch_1..5.bin, test_batch.bin) or "cifar100"
// (train.bin, test.bin, fine labels) or "folder" (ROOT/{train,test}/<class>/).
// `limit` > 0 keeps the first `limit` samples. Throws sparq::Error naming the file on anything
// malformed.
Dataset load_dataset(const std::string& format, const std::filesystem::path& dir, Split split,
                     int64_t limit = 0);

// Per-channel mean and standard deviation of pixel * scale over the data set.
Normalization compute_normalization(const Dataset& data);

// uint8 [B, C, H, W] -> normalized float, the Preprocessing formula.
torch::Tensor normalize(const torch::Tensor& images, const Normalization& norm);

// Random crop after zero padding by `padding` pixels, and a random horizontal
// flip, per image (on uint8 images, before normalization).
torch::Tensor augment(const torch::Tensor& images, int padding, bool flip, std::mt19937& gen);

}  // namespace sparq::training
