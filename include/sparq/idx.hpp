// Reading IDX files, the format of MNIST and Fashion-MNIST (images: magic
// 0x00000803, labels: 0x00000801, big-endian sizes, then raw uint8 data).
// Files ending in ".gz" are decompressed on the fly. Every malformed file
// (wrong magic, zero or absurd sizes, truncated or trailing data) raises
// sparq::Error naming the file and what is wrong: kIo when the file cannot be
// read or decompressed, kInvalidArgument when its contents are malformed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace sparq {

struct IdxImages {
  int count = 0;
  int rows = 0;
  int cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, image-major, row-major
};

// Reads an idx3-ubyte image file (optionally gzip-compressed).
IdxImages read_idx_images(const std::filesystem::path& path);

// Reads an idx1-ubyte label file (optionally gzip-compressed).
std::vector<uint8_t> read_idx_labels(const std::filesystem::path& path);

// Reads the images and labels of one split and checks that they agree in
// count and that every label is below `classes`.
struct IdxDataset {
  IdxImages images;
  std::vector<uint8_t> labels;
};
IdxDataset read_idx_dataset(const std::filesystem::path& images_path,
                            const std::filesystem::path& labels_path, int classes);

}  // namespace sparq
