// libFuzzer target for the image readers (PNG, JPEG, BMP through stb; PGM/PPM
// through sparq's own reader): any bytes must decode or throw sparq::Error.
// A decoded image must have the size its header declared within the limits,
// and (up to a megapixel) must preprocess into a model input (the next thing
// a tool does).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sparq/sparq.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sparq::Image image;
  try {
    image = sparq::decode_image(std::span<const uint8_t>(data, size), "fuzz");
  } catch (const sparq::Error&) {
    return 0;  // refused with a message
  }
  const auto pixels = static_cast<int64_t>(image.width) * image.height;
  if (image.width <= 0 || image.height <= 0 || pixels > sparq::kMaxImagePixels ||
      image.channels < 1 || image.channels > 4 ||
      image.pixels.size() != static_cast<size_t>(pixels * image.channels)) {
    __builtin_trap();
  }
  // Preprocessing is linear in the pixels and has no branch that depends on
  // the size, so only images up to a megapixel are resized here: a 40 Mpx
  // BMP (valid, within the limits) took 11 s under the sanitizers, past
  // libFuzzer's per-input timeout.
  constexpr int64_t kPreprocessedPixels = int64_t{1} << 20;
  if (pixels > kPreprocessedPixels) return 0;
  sparq::Preprocessing preprocessing;
  preprocessing.height = 8;
  preprocessing.width = 8;
  preprocessing.channels = 1;
  const sparq::Tensor input = sparq::preprocess(image, preprocessing);
  if (input.shape() != sparq::Shape{1, 1, 8, 8}) __builtin_trap();
  return 0;
}
