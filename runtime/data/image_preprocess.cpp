// From a decoded image to model input: channel conversion, resize, then the
// affine normalisation x = (p * scale - mean[c]) / std[c], written CHW.
// stb_image_resize is compiled here with static linkage (see image_decode.cpp).
#include <algorithm>
#include <string>
#include <vector>

#include "sparq/error.hpp"
#include "sparq/image.hpp"

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

namespace sparq {
namespace {

Error bad_model(const std::string& message) {
  return Error(ErrorCode::kInvalidModel, message);
}

// Fills an unset field from the input shape; a set field must agree with it.
void reconcile(int& field, int64_t from_shape, const char* what, const std::string& input) {
  if (field == 0) {
    field = static_cast<int>(from_shape);
  } else if (field != from_shape) {
    throw bad_model("model preprocessing says " + std::string(what) + " " + std::to_string(field) +
                    " but input '" + input + "' has " + std::to_string(from_shape));
  }
}

void check_per_channel(std::vector<float>& values, int channels, const char* what) {
  if (values.size() == 1 && channels > 1) values.assign(static_cast<size_t>(channels), values[0]);
  if (!values.empty() && values.size() != static_cast<size_t>(channels)) {
    throw bad_model("model preprocessing has " + std::to_string(values.size()) + " " + what +
                    " values for " + std::to_string(channels) + " channels");
  }
}

// Per-pixel conversion to the model's channel count, in 0..255 float.
std::vector<float> convert_channels(const Image& image, int channels) {
  const size_t pixels = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  std::vector<float> out(pixels * static_cast<size_t>(channels));
  const int in_channels = image.channels;
  const bool in_color = in_channels >= 3;  // 2 and 4 carry alpha, which is dropped
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* p = image.pixels.data() + i * static_cast<size_t>(in_channels);
    float* o = out.data() + i * static_cast<size_t>(channels);
    if (channels == 1) {
      o[0] = in_color ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
    } else {
      for (int c = 0; c < 3; ++c) o[c] = in_color ? p[c] : p[0];
    }
  }
  return out;
}

void check_image(const Image& image) {
  if (image.width <= 0 || image.height <= 0 || image.channels < 1 || image.channels > 4) {
    throw Error(ErrorCode::kInvalidArgument,
                "preprocess: image of " + std::to_string(image.width) + "x" +
                    std::to_string(image.height) + "x" + std::to_string(image.channels) +
                    " is empty or has an unsupported channel count (1..4)");
  }
  const size_t expected = static_cast<size_t>(image.width) * static_cast<size_t>(image.height) *
                          static_cast<size_t>(image.channels);
  if (image.pixels.size() != expected) {
    throw Error(ErrorCode::kInvalidArgument,
                "preprocess: image holds " + std::to_string(image.pixels.size()) +
                    " bytes, its size needs " + std::to_string(expected));
  }
}

void check_preprocessing(const Preprocessing& p) {
  if (p.height <= 0 || p.width <= 0 || (p.channels != 1 && p.channels != 3)) {
    throw Error(ErrorCode::kInvalidArgument,
                "preprocess: target " + std::to_string(p.channels) + "x" +
                    std::to_string(p.height) + "x" + std::to_string(p.width) +
                    " needs a positive size and 1 or 3 channels (use image_preprocessing(model))");
  }
  if ((!p.mean.empty() && p.mean.size() != static_cast<size_t>(p.channels)) ||
      (!p.std.empty() && p.std.size() != static_cast<size_t>(p.channels))) {
    throw Error(ErrorCode::kInvalidArgument, "preprocess: mean/std need one value per channel (" +
                                                 std::to_string(p.channels) + ")");
  }
}

}  // namespace

Preprocessing image_preprocessing(const Model& model) {
  const Value& input = model.input();
  if (input.dtype != DType::kF32) {
    throw bad_model("model input '" + input.name + "' is " + to_string(input.dtype) +
                    "; an image model takes f32 [C, H, W]");
  }
  if (input.shape.rank() != 3 || (input.shape[0] != 1 && input.shape[0] != 3)) {
    throw bad_model("model input '" + input.name + "' has shape " + input.shape.to_string() +
                    "; an image model takes [C, H, W] with C = 1 (gray) or 3 (RGB)");
  }
  Preprocessing p = model.metadata().preprocessing;
  reconcile(p.channels, input.shape[0], "channels", input.name);
  reconcile(p.height, input.shape[1], "height", input.name);
  reconcile(p.width, input.shape[2], "width", input.name);
  check_per_channel(p.mean, p.channels, "mean");
  check_per_channel(p.std, p.channels, "std");
  for (float s : p.std) {
    if (!(s > 0.0f)) throw bad_model("model preprocessing has a std that is not positive");
  }
  if (!(p.scale > 0.0f)) throw bad_model("model preprocessing scale is not positive");
  return p;
}

void preprocess_into(const Image& image, const Preprocessing& p, std::span<float> out) {
  check_image(image);
  check_preprocessing(p);
  const size_t plane = static_cast<size_t>(p.height) * static_cast<size_t>(p.width);
  const size_t channels = static_cast<size_t>(p.channels);
  if (out.size() != plane * channels) {
    throw Error(ErrorCode::kInvalidArgument,
                "preprocess: output holds " + std::to_string(out.size()) + " floats, " +
                    std::to_string(p.channels) + "x" + std::to_string(p.height) + "x" +
                    std::to_string(p.width) + " needs " + std::to_string(plane * channels));
  }
  std::vector<float> hwc = convert_channels(image, p.channels);
  if (image.width != p.width || image.height != p.height) {
    std::vector<float> resized(plane * channels);
    if (!stbir_resize_float(hwc.data(), image.width, image.height, 0, resized.data(), p.width,
                            p.height, 0, p.channels)) {
      throw Error(ErrorCode::kInternal, "preprocess: resizing failed");
    }
    // The default filters ring slightly past the input range near edges.
    for (float& v : resized) v = std::clamp(v, 0.0f, 255.0f);
    hwc.swap(resized);
  }
  for (size_t c = 0; c < channels; ++c) {
    const float mean = p.mean.empty() ? 0.0f : p.mean[c];
    const float std = p.std.empty() ? 1.0f : p.std[c];
    for (size_t i = 0; i < plane; ++i)
      out[c * plane + i] = (hwc[i * channels + c] * p.scale - mean) / std;
  }
}

Tensor preprocess(const Image& image, const Preprocessing& preprocessing) {
  check_preprocessing(preprocessing);
  Tensor tensor(Shape{1, preprocessing.channels, preprocessing.height, preprocessing.width},
                DType::kF32);
  preprocess_into(image, preprocessing, tensor.span<float>());
  return tensor;
}

}  // namespace sparq
