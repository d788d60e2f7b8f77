// The .sparq file format (runtime/model/sparq_model.fbs) as seen by the rest
// of the runtime: its version, the limits a reader enforces on untrusted
// files, and the two conversions between bytes and (Graph, ModelMetadata).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sparq/graph.hpp"
#include "sparq/model.hpp"

namespace sparq::model_format {

// The newest version this build reads and writes. Version 1 is the first
// published layout; version 2 added the operations of imported models and
// Pool2dOp.count_include_pad (a version 1 reader would silently ignore
// count_include_pad = false, so the version says the meaning changed);
// version 3 added static activation scales (QuantizeOp.scale and the fused
// output quantization of Conv2dOp / SparseConv3x3Op), which a version 2
// reader would silently run as dynamic scales and f32 outputs.
inline constexpr uint32_t kFormatVersion = 3;

// The oldest version whose readers run `graph` as written: a file is written
// with it, so a model that uses nothing new stays readable by older sparq.
uint32_t required_format_version(const Graph& graph);
inline constexpr char kFileIdentifier[] = "SPRQ";

// Limits on untrusted files, far above any real network but low enough that
// no element count, byte count or MAC count derived from them overflows int64.
inline constexpr int kMaxRank = 8;
inline constexpr int64_t kMaxDimension = (int64_t{1} << 31) - 1;  // fits an int
inline constexpr int64_t kMaxElements = int64_t{1} << 31;         // per tensor (per sample)
// FlatBuffers offsets are 32-bit: a buffer must stay below 2^31 - 1 bytes.
inline constexpr size_t kMaxFileBytes = (size_t{1} << 31) - 2;

struct ModelParts {
  Graph graph;
  ModelMetadata metadata;
  bool checksum_verified = false;  // false: a file written before checksums
};

// Verifies and converts a .sparq buffer. Checks everything the FlatBuffers
// schema cannot express (enum ranges, shapes, byte counts, required fields);
// the semantic graph checks are left to sparq::validate (run by Model).
// Throws Error(kInvalidModel) naming the offending field.
ModelParts read_model(std::span<const uint8_t> bytes);

// Serializes a graph and its metadata. Deterministic: equal inputs give equal
// bytes. Throws Error(kInvalidModel) for what a reader would reject.
std::vector<uint8_t> write_model(const Graph& graph, const ModelMetadata& metadata);

// Rules on metadata shared by reader and writer (a saved file always loads).
void check_metadata(const ModelMetadata& metadata);

}  // namespace sparq::model_format
