// The header of a binary PGM (P5) or PPM (P6) file: "P5", width, height and
// the maximum value, separated by whitespace and '#' comments, then exactly
// one whitespace byte before the pixels. Parsed here because stb_image leaves
// the pixels of a short file unset and ignores maxval (a 4-bit PGM with
// maxval 15 would decode almost black).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace sparq::image_format {

struct PnmHeader {
  int channels = 0;  // 1 (P5) or 3 (P6)
  uint64_t width = 0;
  uint64_t height = 0;
  uint32_t max_value = 0;  // 1..65535; above 255 samples are 16-bit big-endian
  uint64_t data_offset = 0;
  std::string problem;  // non-empty when the header is malformed or unsupported

  uint64_t data_bytes() const {
    return width * height * static_cast<uint64_t>(channels) * (max_value > 255 ? 2 : 1);
  }
};

PnmHeader parse_pnm_header(std::span<const uint8_t> bytes);

}  // namespace sparq::image_format
