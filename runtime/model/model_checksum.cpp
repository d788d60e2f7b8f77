#include "runtime/model/model_checksum.hpp"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "sparq/error.hpp"
#include "sparq_model_generated.h"

namespace sparq::model_format {
namespace {

namespace fbs = flatbuffers;

// Offset of the checksum field from the start of the buffer, or 0 when the
// root table does not have it. The buffer has been verified (root offset
// and vtable inside it).
size_t checksum_offset(std::span<const uint8_t> bytes) {
  const auto* root = fbs::GetSizePrefixedRoot<fbs::Table>(bytes.data());
  const fbs::voffset_t field = root->GetOptionalFieldOffset(fb::Model::VT_CHECKSUM);
  if (field == 0) return 0;
  const auto offset =
      static_cast<size_t>(reinterpret_cast<const uint8_t*>(root) - bytes.data()) + field;
  if (offset + sizeof(uint32_t) > bytes.size()) {
    throw Error(ErrorCode::kInvalidModel, "model file: the checksum field lies outside the file");
  }
  return offset;
}

// CRC-32 of `bytes` with [offset, offset + 4) read as zero. zlib takes
// uInt lengths: a .sparq buffer (< 2^31 bytes) fits.
uint32_t crc_without_field(std::span<const uint8_t> bytes, size_t offset) {
  static constexpr uint8_t kZeros[sizeof(uint32_t)] = {};
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, bytes.data(), static_cast<uInt>(offset));
  crc = crc32(crc, kZeros, sizeof kZeros);
  const size_t rest = offset + sizeof kZeros;
  crc = crc32(crc, bytes.data() + rest, static_cast<uInt>(bytes.size() - rest));
  return static_cast<uint32_t>(crc);
}

std::string hex(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

}  // namespace

void seal_checksum(std::vector<uint8_t>& bytes) {
  const size_t offset = checksum_offset(bytes);
  if (offset == 0) throw Error(ErrorCode::kInternal, "model writer: no checksum field to seal");
  const uint32_t crc = crc_without_field(bytes, offset);
  std::memcpy(bytes.data() + offset, &crc, sizeof crc);  // little endian, like every field
}

ChecksumState verify_checksum(std::span<const uint8_t> bytes) {
  const size_t offset = checksum_offset(bytes);
  if (offset == 0) return ChecksumState::kAbsent;
  uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + offset, sizeof stored);
  const uint32_t actual = crc_without_field(bytes, offset);
  if (stored != actual) {
    throw Error(ErrorCode::kInvalidModel,
                "model file is damaged: its checksum is " + hex(stored) + " but its bytes give " +
                    hex(actual) + " (a changed byte: the file was corrupted or edited)");
  }
  return ChecksumState::kVerified;
}

}  // namespace sparq::model_format
