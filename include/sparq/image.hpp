// Images in, model input out: decoding PNG / JPEG / PGM-PPM / BMP files and
// turning a raw image into the [1, C, H, W] f32 tensor a model expects, using
// the preprocessing stored in the model file (size, channels, scale, mean/std),
// so applications pass raw images and never hard-code a model's conventions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "sparq/model.hpp"
#include "sparq/tensor.hpp"

namespace sparq {

// A decoded 8-bit image, row-major with interleaved channels:
// pixel (y, x) channel c is pixels[(y * width + x) * channels + c].
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA
  std::vector<uint8_t> pixels;
};

// Largest accepted width or height; larger files are refused before decoding
// so an untrusted header cannot make sparq allocate gigabytes.
inline constexpr int kMaxImageSide = 16384;
// Largest accepted pixel count (width x height, 8192 x 8192): at 4 channels
// 256 MiB decoded. Checked on the declared size, before decoding.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;
// Largest accepted image file (its bytes are read whole before decoding).
inline constexpr uint64_t kMaxImageFileBytes = uint64_t{1} << 30;

// Reads and decodes an image file (regular files only: not a FIFO or a
// device). Throws Error(kIo) when the file cannot be read and Error(kInvalidArgument) naming the
// file when it is not a supported image (PNG, JPEG, binary PGM/PPM, BMP), is truncated or is too
// large.
Image load_image(const std::filesystem::path& path);

// Decodes an encoded image held in memory; `source` names it in errors.
Image decode_image(std::span<const uint8_t> encoded, const std::string& source = "<memory>");

// Wraps raw 8-bit pixels (e.g. one sample of an IDX file) as an Image.
// Throws Error(kInvalidArgument) when the byte count does not match.
Image image_from_pixels(int width, int height, int channels, std::span<const uint8_t> pixels);

// The preprocessing a model's input needs: the model's metadata with unset
// fields (height, width, channels = 0) taken from the input shape [C, H, W].
// Throws Error(kInvalidModel) when the model does not take images: its input
// is not f32 [C, H, W] with C = 1 or 3, or the metadata contradicts the shape,
// or mean/std have the wrong length or a zero std.
Preprocessing image_preprocessing(const Model& model);

// Converts to preprocessing.channels (gray = 0.299 R + 0.587 G + 0.114 B,
// gray -> RGB by replication, alpha dropped), resizes to height x width when
// the size differs (stb's default filter), then x = (p * scale - mean) / std.
// Returns [1, C, H, W] f32. Throws Error(kInvalidArgument) for an empty image
// or a preprocessing without a size.
Tensor preprocess(const Image& image, const Preprocessing& preprocessing);

// Same, writing the C * H * W values of one sample into `out` (a slice of a
// batch tensor). Throws Error(kInvalidArgument) when `out` has another size.
void preprocess_into(const Image& image, const Preprocessing& preprocessing, std::span<float> out);

}  // namespace sparq
