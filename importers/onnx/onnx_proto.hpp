// Reading the parts of an ONNX protobuf that the importer trusts only after
// checking them: the bounded parse of the file, attributes, and initializer /
// Constant tensors decoded into float or int64 values with their sizes checked
// before anything is allocated.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace sparq::onnx_import {

namespace onnx = ::ONNX_NAMESPACE;

// Limits on untrusted files: far above the CNNs sparq runs.
inline constexpr size_t kMaxFileBytes = size_t{1} << 30;
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 28;
inline constexpr int64_t kMaxDimension = int64_t{1} << 24;
inline constexpr int kMaxRank = 8;

// "node 'name' (OpType)", the prefix of every message about a node.
std::string describe(const onnx::NodeProto& node);

// Parses the bytes; Error(kInvalidModel) when they are not a ModelProto.
onnx::ModelProto parse_model(std::span<const uint8_t> bytes, const std::string& source);

// A constant: an initializer, a Constant node's value, or a folded shape.
struct Constant {
  std::vector<int64_t> dims;  // full ONNX dims
  std::vector<float> floats;  // FLOAT tensors
  std::vector<int64_t> ints;  // INT64 / INT32 tensors
  bool is_float = true;
  int64_t elements() const;
};

// Decodes a TensorProto; `where` prefixes messages. FLOAT, INT64 and INT32
// only; external data is refused (Error(kUnsupported)), sizes that disagree
// with the dims are Error(kInvalidModel).
Constant decode_tensor(const onnx::TensorProto& tensor, const std::string& where);

// Attributes by name, with their types checked.
const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, const std::string& name);
int64_t int_attribute(const onnx::NodeProto& node, const std::string& name, int64_t fallback);
float float_attribute(const onnx::NodeProto& node, const std::string& name, float fallback);
std::string string_attribute(const onnx::NodeProto& node, const std::string& name,
                             const std::string& fallback);
std::vector<int64_t> ints_attribute(const onnx::NodeProto& node, const std::string& name,
                                    std::vector<int64_t> fallback);

}  // namespace sparq::onnx_import
