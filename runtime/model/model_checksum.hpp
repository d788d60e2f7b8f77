// The integrity check of a .sparq file: a CRC-32 (zlib's) over the whole
// size-prefixed buffer, with the 4 bytes of the root table's `checksum`
// field counted as zero. A flipped bit anywhere else changes the CRC, so a
// damaged file is an error instead of a silently different model.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sparq::model_format {

enum class ChecksumState { kAbsent, kVerified };

// Stores the checksum into `bytes` (a finished size-prefixed buffer whose
// root table has the field written, with value 0).
void seal_checksum(std::vector<uint8_t>& bytes);

// For a buffer that passed the FlatBuffers verifier: kAbsent for a file
// written before checksums, kVerified when it matches; throws
// Error(kInvalidModel) giving both values when it does not.
ChecksumState verify_checksum(std::span<const uint8_t> bytes);

}  // namespace sparq::model_format
