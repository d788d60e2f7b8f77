#include "runtime/data/image_format.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <string>
#include <tuple>

#include "runtime/data/pnm_header.hpp"

namespace sparq::image_format {
namespace {

uint32_t read_le32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 |
         static_cast<uint32_t>(b[at + 2]) << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}
uint16_t read_le16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] | b[at + 1] << 8);
}

uint32_t read_be32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
         static_cast<uint32_t>(b[at + 2]) << 8 | static_cast<uint32_t>(b[at + 3]);
}

// Walks the chunks as stb_image does (length, type, data, CRC) up to IEND,
// the last thing a PNG writer emits. Every chunk must fit in the file: stb
// grows its IDAT buffer to the declared length before reading the data, so a
// few hundred bytes declaring a 1 GiB chunk made it allocate 2 GiB (found by
// tests/fuzz/image_decode_fuzz). With this check its buffer stays within
// twice the file size.
std::string check_png(std::span<const uint8_t> b) {
  constexpr size_t kSignature = 8, kFraming = 12;  // length + type + CRC
  size_t at = kSignature;
  while (at + kFraming <= b.size()) {
    const uint64_t length = read_be32(b, at);
    std::string type(reinterpret_cast<const char*>(b.data() + at + 4), 4);
    for (char& c : type) c = std::isalpha(static_cast<unsigned char>(c)) ? c : '?';
    const uint64_t available = b.size() - at - kFraming;
    if (length > available) {
      return "PNG ends before its IEND chunk: chunk '" + type + "' at byte " + std::to_string(at) +
             " declares " + std::to_string(length) + " data bytes, the file has " +
             std::to_string(available) + " after its header (truncated or corrupt file?)";
    }
    if (type == "IEND") return {};
    at += kFraming + length;
  }
  return "PNG ends before its IEND chunk (truncated file?)";
}

// The Huffman tables a JPEG has defined so far: [class (0 DC, 1 AC)][id].
using HuffmanTables = std::array<std::array<bool, 4>, 2>;

// One DHT segment's tables, read as stb_image reads them: each is a class /
// id byte, 16 code counts and as many symbols, until the segment length is
// used up. Marks the tables it defines; returns where reading stopped.
size_t check_dht(std::span<const uint8_t> b, size_t start, int64_t length, HuffmanTables& defined,
                 std::string& problem) {
  size_t at = start;
  while (length > 0 && at < b.size()) {
    // stb reads zeros past the end of the data, so a table cut short by the
    // end of the file still counts what is there.
    int codes = 0;
    for (size_t i = 1; i <= 16 && at + i < b.size(); ++i) codes += b[at + i];
    if (codes > 256) {
      problem = "JPEG Huffman table at byte " + std::to_string(at) + " declares " +
                std::to_string(codes) + " codes, at most 256 exist (corrupt file)";
      return at;
    }
    const int table_class = b[at] >> 4, id = b[at] & 15;
    if (table_class <= 1 && id <= 3) defined[table_class][id] = true;
    at += 17 + static_cast<size_t>(codes);
    length -= 17 + codes;
  }
  return at;
}

// A scan's header (after its length): the component count, each component's
// DC / AC table ids, then the spectral selection and the approximation. The
// tables the decoder will read must have been defined: stb_image leaves an
// undefined table uninitialized and indexes its symbols with it (an out of
// bounds read found by tests/fuzz/image_decode_fuzz). It reads, as the
// decoder does, both tables in a sequential scan, in a progressive one the DC
// table in a first DC scan and the AC table in an AC scan.
std::string check_scan_tables(std::span<const uint8_t> b, size_t start, size_t end,
                              bool progressive, const HuffmanTables& defined) {
  if (start >= end) return {};  // the decoder refuses a header this short itself
  const size_t components = b[start];
  const size_t selection = start + 1 + 2 * components;
  if (selection + 2 >= end) return {};
  const bool dc_scan = b[selection] == 0;
  const bool first_pass = (b[selection + 2] >> 4) == 0;
  const bool uses_dc = !progressive || (dc_scan && first_pass);
  const bool uses_ac = !progressive || !dc_scan;
  for (size_t c = 0; c < components; ++c) {
    const int dc = b[start + 2 + 2 * c] >> 4, ac = b[start + 2 + 2 * c] & 15;
    for (const auto& [used, table_class, id] : {std::tuple{uses_dc, 0, dc}, {uses_ac, 1, ac}}) {
      if (!used || id > 3) continue;  // id > 3: the decoder refuses the scan
      if (!defined[table_class][id]) {
        return std::string("JPEG scan at byte ") + std::to_string(start) + " uses " +
               (table_class == 0 ? "DC" : "AC") + " Huffman table " + std::to_string(id) +
               ", which no table segment before it defines (corrupt file)";
      }
    }
  }
  return {};
}

// Debian's stb_image trusts a JPEG's Huffman tables: more than 256 codes in
// one overrun its arrays, and a scan may use one never defined (both found
// by tests/fuzz/image_decode_fuzz). Every DHT and scan header is checked here
// first, found as the decoder finds markers: a 0xFF (runs of them are fill),
// then the marker byte; segments are skipped by their length, other bytes one
// at a time (as entropy-coded data, where FF 00 is an escaped 0xFF).
std::string check_jpeg_tables(std::span<const uint8_t> b) {
  HuffmanTables defined{};
  bool progressive = false;
  size_t i = 2;  // after SOI
  while (i + 1 < b.size()) {
    if (b[i] != 0xFF) {
      ++i;
      continue;
    }
    while (i + 1 < b.size() && b[i + 1] == 0xFF) ++i;
    if (i + 1 >= b.size()) break;
    const uint8_t marker = b[i + 1];
    i += 2;
    const bool standalone = marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9);
    if (standalone || i + 2 > b.size()) continue;
    const int64_t length = b[i] << 8 | b[i + 1];
    if (marker == 0xC4) {
      std::string problem;
      i = check_dht(b, i + 2, length - 2, defined, problem);
      if (!problem.empty()) return problem;
      continue;
    }
    if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) progressive = marker == 0xC2;
    if (marker == 0xDA) {
      const size_t end = std::min(b.size(), i + static_cast<size_t>(std::max<int64_t>(length, 2)));
      if (std::string problem = check_scan_tables(b, i + 2, end, progressive, defined);
          !problem.empty()) {
        return problem;
      }
    }
    i += static_cast<size_t>(std::max<int64_t>(length, 2));
  }
  return {};
}

// Markers are 0xFF followed by a non-zero, non-RSTn byte; entropy-coded data
// escapes 0xFF as FF 00, so FF DA (start of scan) and FF D9 (end of image)
// only occur as markers. An embedded EXIF thumbnail has its own pair, which is
// why the end marker is required after the LAST start of scan.
std::string check_jpeg(std::span<const uint8_t> b) {
  size_t last_sos = 0;
  bool have_sos = false;
  for (size_t i = 0; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] == 0xDA) last_sos = i, have_sos = true;
  }
  if (!have_sos) return "JPEG has no start-of-scan marker (truncated or not a JPEG image)";
  for (size_t i = last_sos + 2; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] == 0xD9) return check_jpeg_tables(b);
  }
  return "JPEG ends before its end-of-image marker (truncated file?)";
}

std::string check_pnm(std::span<const uint8_t> b) {
  PnmHeader header = parse_pnm_header(b);
  if (!header.problem.empty()) return header.problem;
  const uint64_t need = header.data_offset + header.data_bytes();
  if (b.size() < need) {
    return "PNM pixel data has " + std::to_string(b.size() - header.data_offset) + " of " +
           std::to_string(header.data_bytes()) + " bytes (truncated file?)";
  }
  return {};
}

// Only uncompressed layouts (BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS) have a
// size fixed by the header; the decoder rejects the compressed ones itself.
std::string check_bmp(std::span<const uint8_t> b) {
  if (b.size() < 26) return "BMP header is truncated";
  const uint64_t data_offset = read_le32(b, 10);
  const uint32_t dib_size = read_le32(b, 14);
  int64_t width = 0, height = 0;
  uint32_t bits = 0, compression = 0;
  if (dib_size == 12) {
    width = read_le16(b, 18);
    height = read_le16(b, 20);
    bits = read_le16(b, 24);
  } else {
    if (b.size() < 34) return "BMP header is truncated";
    width = static_cast<int32_t>(read_le32(b, 18));
    height = static_cast<int32_t>(read_le32(b, 22));
    bits = read_le16(b, 28);
    compression = read_le32(b, 30);
  }
  // stb reads the field as a signed int: values past 2^31 would pass as
  // uncompressed and decode missing pixel data as zeros.
  if (compression > 6) {
    return "BMP header declares compression " + std::to_string(compression) +
           ", not a BMP compression method";
  }
  if (compression != 0 && compression != 3 && compression != 6) return {};
  if (width <= 0 || height == 0 || bits == 0) return "BMP header has an empty size or depth";
  height = height < 0 ? -height : height;
  // Beyond these the decoder refuses the file anyway; avoid overflow here.
  if (width > (1 << 24) || height > (1 << 24) || bits > 64) return {};
  const uint64_t row_bytes = (static_cast<uint64_t>(width) * bits + 31) / 32 * 4;
  const uint64_t need = data_offset + row_bytes * static_cast<uint64_t>(height);
  if (b.size() < need) {
    return "BMP pixel data ends after " + std::to_string(b.size()) + " of " + std::to_string(need) +
           " bytes (truncated file?)";
  }
  return {};
}

}  // namespace

const char* to_string(Format format) {
  switch (format) {
    case Format::kPng:
      return "PNG";
    case Format::kJpeg:
      return "JPEG";
    case Format::kPnm:
      return "PGM/PPM";
    case Format::kBmp:
      return "BMP";
    case Format::kUnknown:
      break;
  }
  return "unknown";
}

Format detect(std::span<const uint8_t> b) {
  static constexpr uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (b.size() >= 8 && std::memcmp(b.data(), kPngMagic, 8) == 0) return Format::kPng;
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return Format::kJpeg;
  if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return Format::kBmp;
  if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return Format::kPnm;
  return Format::kUnknown;
}

std::string check_complete(Format format, std::span<const uint8_t> bytes) {
  switch (format) {
    case Format::kPng:
      return check_png(bytes);
    case Format::kJpeg:
      return check_jpeg(bytes);
    case Format::kPnm:
      return check_pnm(bytes);
    case Format::kBmp:
      return check_bmp(bytes);
    case Format::kUnknown:
      break;
  }
  return "not a supported image format";
}

}  // namespace sparq::image_format
