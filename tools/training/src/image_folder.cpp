#include "sparq_training/image_folder.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <numeric>
#include <random>
#include <set>

#include "sparq/error.hpp"
#include "sparq/image.hpp"

namespace sparq::training {
namespace fs = std::filesystem;
namespace {

const char* split_name(Split split) {
  return split == Split::kTrain ? "train" : "test";
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".pgm" ||
         ext == ".ppm";
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (directories ? entry.is_directory() : (entry.is_regular_file() && is_image_file(entry))) {
      entries.push_back(entry.path());
    }
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Appends the image as `channels` (1 or 3) planes of uint8.
void append_planes(const Image& image, int channels, std::vector<uint8_t>& out) {
  const size_t pixels = static_cast<size_t>(image.width) * image.height;
  const size_t base = out.size();
  out.resize(base + pixels * channels);
  const bool colour = image.channels >= 3;
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* px = &image.pixels[p * image.channels];
    if (channels == 1) {
      out[base + p] =
          colour ? static_cast<uint8_t>(std::lround(0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]))
                 : px[0];
    } else {
      for (int c = 0; c < 3; ++c) out[base + c * pixels + p] = colour ? px[c] : px[0];
    }
  }
}

std::string folder_safe(const std::string& name) {
  std::string safe = name;
  for (char& c : safe) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  }
  if (safe.empty() || safe == "." || safe == "..") safe = "_" + safe;
  return safe;
}

}  // namespace

Dataset load_image_folder(const fs::path& root, Split split) {
  const fs::path train_dir = root / "train";
  const fs::path dir = root / split_name(split);
  for (const fs::path& d : {train_dir, dir}) {
    if (!fs::is_directory(d)) {
      throw Error(ErrorCode::kIo, "image folder '" + root.string() + "' has no '" +
                                      d.filename().string() +
                                      "' subfolder (expected ROOT/train/<class>/ and "
                                      "ROOT/test/<class>/)");
    }
  }
  std::vector<std::string> classes;
  for (const auto& p : sorted_entries(train_dir, true)) classes.push_back(p.filename().string());
  if (classes.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument, "image folder '" + train_dir.string() + "' has " +
                                                 std::to_string(classes.size()) +
                                                 " class subfolders; at least 2 are needed");
  }
  std::vector<std::string> here;
  for (const auto& p : sorted_entries(dir, true)) here.push_back(p.filename().string());
  if (here != classes) {
    throw Error(ErrorCode::kInvalidArgument, "image folder '" + dir.string() +
                                                 "' does not have the same class subfolders as '" +
                                                 train_dir.string() + "'");
  }
  Dataset data;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  int width = 0, height = 0, channels = 0;
  for (size_t c = 0; c < classes.size(); ++c) {
    const std::vector<fs::path> files = sorted_entries(dir / classes[c], false);
    if (files.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "class folder '" + (dir / classes[c]).string() + "' has no images");
    }
    for (const auto& file : files) {
      const Image image = load_image(file);
      if (channels == 0) {
        width = image.width;
        height = image.height;
        channels = image.channels >= 3 ? 3 : 1;
      } else if (image.width != width || image.height != height) {
        throw Error(ErrorCode::kInvalidArgument,
                    "image '" + file.string() + "' is " + std::to_string(image.width) + "x" +
                        std::to_string(image.height) + ", the data set's first image " +
                        std::to_string(width) + "x" + std::to_string(height) +
                        " (resize the images to one size first)");
      }
      append_planes(image, channels, pixels);
      labels.push_back(static_cast<int64_t>(c));
    }
  }
  const auto n = static_cast<int64_t>(labels.size());
  // Files come sorted by class; a fixed shuffle makes the first N samples
  // (--train-limit, --test-limit) a mix of classes, the same on every run.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(12345));
  torch::Tensor index = torch::from_blob(order.data(), {n}, torch::kInt64);
  data.images = torch::from_blob(pixels.data(), {n, channels, height, width}, torch::kUInt8)
                    .index_select(0, index);
  data.labels = torch::from_blob(labels.data(), {n}, torch::kInt64).index_select(0, index);
  data.classes = static_cast<int>(classes.size());
  data.class_names = classes;
  data.name = "folder:" + fs::absolute(root).lexically_normal().filename().string();
  return data;
}

int64_t write_image_folder(const Dataset& data, const fs::path& root, Split split) {
  const int channels = data.channels();
  if (channels != 1 && channels != 3) {
    throw Error(ErrorCode::kInvalidArgument,
                "only 1- or 3-channel data sets can be written as images");
  }
  const fs::path dir = root / split_name(split);
  std::vector<fs::path> class_dirs;
  for (const auto& name : data.class_names) {
    class_dirs.push_back(dir / folder_safe(name));
    fs::create_directories(class_dirs.back());
  }
  const int h = data.height(), w = data.width();
  std::vector<uint8_t> interleaved(static_cast<size_t>(h) * w * channels);
  torch::Tensor images = data.images.contiguous();
  for (int64_t i = 0; i < data.size(); ++i) {
    const auto* planes = images[i].data_ptr<uint8_t>();
    for (int p = 0; p < h * w; ++p) {
      for (int c = 0; c < channels; ++c) interleaved[p * channels + c] = planes[c * h * w + p];
    }
    const auto label = data.labels[i].item<int64_t>();
    const fs::path file = class_dirs.at(static_cast<size_t>(label)) / (std::to_string(i) + ".png");
    if (stbi_write_png(file.c_str(), w, h, channels, interleaved.data(), w * channels) == 0) {
      throw Error(ErrorCode::kIo, "cannot write '" + file.string() + "'");
    }
  }
  return data.size();
}

}  // namespace sparq::training
