#include "runtime/data/pnm_header.hpp"

#include <cctype>

namespace sparq::image_format {
namespace {

bool is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Skips whitespace and comments, then reads a decimal number of at most 9
// digits (anything longer is not a plausible size). Returns false on failure.
bool read_number(std::span<const uint8_t> b, size_t& at, uint64_t& value) {
  while (at < b.size()) {
    if (is_space(b[at])) {
      ++at;
    } else if (b[at] == '#') {
      while (at < b.size() && b[at] != '\n' && b[at] != '\r') ++at;
    } else {
      break;
    }
  }
  size_t digits = 0;
  value = 0;
  while (at < b.size() && std::isdigit(b[at]) && digits < 10) {
    value = value * 10 + static_cast<uint64_t>(b[at] - '0');
    ++at, ++digits;
  }
  return digits > 0 && digits <= 9;
}

}  // namespace

PnmHeader parse_pnm_header(std::span<const uint8_t> b) {
  PnmHeader h;
  if (b.size() < 2 || b[0] != 'P') {
    h.problem = "not a PNM file";
    return h;
  }
  if (b[1] == '5') {
    h.channels = 1;
  } else if (b[1] == '6') {
    h.channels = 3;
  } else {
    h.problem = std::string("PNM type P") + static_cast<char>(b[1]) +
                " is not supported (binary P5 gray or P6 RGB expected)";
    return h;
  }
  size_t at = 2;
  uint64_t max_value = 0;
  if (!read_number(b, at, h.width) || !read_number(b, at, h.height) ||
      !read_number(b, at, max_value)) {
    h.problem = "PNM header is truncated or malformed (width, height, maxval expected)";
    return h;
  }
  if (h.width == 0 || h.height == 0) {
    h.problem = "PNM header has an empty size";
    return h;
  }
  if (max_value == 0 || max_value > 65535) {
    h.problem = "PNM maxval " + std::to_string(max_value) + " is out of range 1..65535";
    return h;
  }
  if (at >= b.size() || !is_space(b[at])) {
    h.problem = "PNM header is truncated (no whitespace after maxval)";
    return h;
  }
  h.max_value = static_cast<uint32_t>(max_value);
  h.data_offset = at + 1;
  return h;
}

}  // namespace sparq::image_format
