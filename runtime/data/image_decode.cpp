// Image decoding: the container checks of image_format, then stb_image (PNG,
// JPEG, BMP) or the small binary PNM reader below. stb is compiled here with
// static linkage, so an application that links its own copy of stb_image next
// to libsparq.a gets no duplicate symbols.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <memory>

#include "runtime/data/image_format.hpp"
#include "runtime/data/pnm_header.hpp"
#include "sparq/error.hpp"
#include "sparq/image.hpp"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_MAX_DIMENSIONS sparq::kMaxImageSide
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace sparq {
namespace {

Error bad_image(const std::string& source, const std::string& problem) {
  return Error(ErrorCode::kInvalidArgument, "image '" + source + "': " + problem);
}

// The declared size, checked before any pixel is decoded or allocated.
void check_size(const std::string& source, uint64_t width, uint64_t height) {
  if (width > kMaxImageSide || height > kMaxImageSide) {
    throw bad_image(source, std::to_string(width) + "x" + std::to_string(height) +
                                " pixels exceeds the limit of " + std::to_string(kMaxImageSide) +
                                " per side");
  }
  if (width * height > static_cast<uint64_t>(kMaxImagePixels)) {
    throw bad_image(source, std::to_string(width) + "x" + std::to_string(height) + " is " +
                                std::to_string(width * height) +
                                " pixels, more than the limit of " +
                                std::to_string(kMaxImagePixels));
  }
}

// Binary PGM/PPM; samples are rescaled from 0..maxval to 0..255 so a 4-bit or
// 16-bit file means the same brightness as an 8-bit one.
Image decode_pnm(std::span<const uint8_t> bytes, const std::string& source) {
  const image_format::PnmHeader h = image_format::parse_pnm_header(bytes);
  check_size(source, h.width, h.height);
  Image image;
  image.width = static_cast<int>(h.width);
  image.height = static_cast<int>(h.height);
  image.channels = h.channels;
  const size_t samples = static_cast<size_t>(h.width * h.height) * h.channels;
  image.pixels.resize(samples);
  const uint8_t* data = bytes.data() + h.data_offset;
  const bool wide = h.max_value > 255;
  for (size_t i = 0; i < samples; ++i) {
    uint32_t v = wide ? (static_cast<uint32_t>(data[2 * i]) << 8 | data[2 * i + 1]) : data[i];
    v = std::min(v, h.max_value);
    image.pixels[i] = static_cast<uint8_t>((v * 255 + h.max_value / 2) / h.max_value);
  }
  return image;
}

Image decode_with_stb(std::span<const uint8_t> bytes, const std::string& source,
                      image_format::Format format) {
  const int length = static_cast<int>(bytes.size());
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(bytes.data(), length, &width, &height, &channels)) {
    throw bad_image(source, std::string("cannot read the ") + image_format::to_string(format) +
                                " header: " + stbi_failure_reason());
  }
  // stb reports a BMP stored top-down (the header's height negative) with
  // that negative height; the decoder itself flips it the right way up.
  if (format == image_format::Format::kBmp && height < 0 && height != INT_MIN) height = -height;
  if (width <= 0 || height <= 0) {
    throw bad_image(source, "the header declares an empty size " + std::to_string(width) + "x" +
                                std::to_string(height));
  }
  check_size(source, static_cast<uint64_t>(width), static_cast<uint64_t>(height));
  struct StbFree {
    void operator()(stbi_uc* p) const { stbi_image_free(p); }
  };
  std::unique_ptr<stbi_uc, StbFree> pixels(
      stbi_load_from_memory(bytes.data(), length, &width, &height, &channels, 0));
  if (!pixels) {
    throw bad_image(source, std::string("cannot decode the ") + image_format::to_string(format) +
                                " data: " + stbi_failure_reason());
  }
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  const size_t count = static_cast<size_t>(width) * static_cast<size_t>(height) * channels;
  image.pixels.assign(pixels.get(), pixels.get() + count);
  return image;
}

}  // namespace

Image decode_image(std::span<const uint8_t> encoded, const std::string& source) {
  if (encoded.empty()) throw bad_image(source, "the file is empty");
  if (encoded.size() > static_cast<size_t>(INT_MAX)) throw bad_image(source, "larger than 2 GiB");
  const image_format::Format format = image_format::detect(encoded);
  if (format == image_format::Format::kUnknown) {
    throw bad_image(source, "not a supported image (PNG, JPEG, binary PGM/PPM or BMP expected)");
  }
  if (std::string problem = image_format::check_complete(format, encoded); !problem.empty()) {
    throw bad_image(source, problem);
  }
  if (format == image_format::Format::kPnm) return decode_pnm(encoded, source);
  return decode_with_stb(encoded, source, format);
}

Image load_image(const std::filesystem::path& path) {
  // Regular files only: a FIFO would block forever and /dev/zero would be
  // read until memory runs out. The size is known, and bounded, up front.
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw Error(ErrorCode::kIo, "cannot open image '" + path.string() +
                                    "': " + (ec ? ec.message() : std::string("no such file")));
  }
  if (std::filesystem::is_directory(status)) {
    throw Error(ErrorCode::kIo, "image '" + path.string() + "' is a directory, not a file");
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw Error(ErrorCode::kIo,
                "image '" + path.string() + "' is not a regular file (a device, FIFO or socket)");
  }
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot read the size of image '" + path.string() + "'");
  if (size > kMaxImageFileBytes) {
    throw bad_image(path.string(), "the file has " + std::to_string(size) +
                                       " bytes, more than the limit of " +
                                       std::to_string(kMaxImageFileBytes));
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw Error(ErrorCode::kIo,
                "cannot open image '" + path.string() + "': " + std::strerror(errno));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  file.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<uintmax_t>(file.gcount()) != size) {
    throw Error(ErrorCode::kIo, "cannot read image '" + path.string() + "': read " +
                                    std::to_string(file.gcount()) + " of " + std::to_string(size) +
                                    " bytes");
  }
  return decode_image(bytes, path.string());
}

Image image_from_pixels(int width, int height, int channels, std::span<const uint8_t> pixels) {
  if (width <= 0 || height <= 0 || channels < 1 || channels > 4) {
    throw Error(ErrorCode::kInvalidArgument,
                "image_from_pixels: size " + std::to_string(width) + "x" + std::to_string(height) +
                    "x" + std::to_string(channels) + " is not a valid image (channels 1..4)");
  }
  const size_t expected = static_cast<size_t>(width) * static_cast<size_t>(height) * channels;
  if (pixels.size() != expected) {
    throw Error(ErrorCode::kInvalidArgument,
                "image_from_pixels: " + std::to_string(pixels.size()) + " bytes given, " +
                    std::to_string(width) + "x" + std::to_string(height) + "x" +
                    std::to_string(channels) + " needs " + std::to_string(expected));
  }
  return Image{width, height, channels, {pixels.begin(), pixels.end()}};
}

}  // namespace sparq
