// Recognising the image formats sparq decodes and checking that a file is
// complete before it reaches the decoder. stb_image is lenient by design: it
// pads a truncated JPEG, BMP or PNM with zeros (or leaves memory unset), so a
// cut-off download would silently classify as garbage. These checks read only
// the container structure (magic, headers, end markers, JPEG Huffman table
// sizes, which the decoder trusts), never the pixels.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace sparq::image_format {

enum class Format { kUnknown, kPng, kJpeg, kPnm, kBmp };

const char* to_string(Format format);

// From the leading magic bytes only.
Format detect(std::span<const uint8_t> bytes);

// Empty when the container is structurally complete, otherwise what is
// missing or unsupported (e.g. "JPEG ends before its end-of-image marker").
std::string check_complete(Format format, std::span<const uint8_t> bytes);

}  // namespace sparq::image_format
