#include "importers/onnx/onnx_proto.hpp"

#include <cstring>
#include <limits>

#include <google/protobuf/io/coded_stream.h>

#include "sparq/error.hpp"

namespace sparq::onnx_import {
namespace {

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, what);
}

[[noreturn]] void unsupported(const std::string& what) {
  throw Error(ErrorCode::kUnsupported, what);
}

const char* type_name(int32_t type) {
  switch (type) {
    case onnx::TensorProto::FLOAT:
      return "float32";
    case onnx::TensorProto::UINT8:
      return "uint8";
    case onnx::TensorProto::INT8:
      return "int8";
    case onnx::TensorProto::INT32:
      return "int32";
    case onnx::TensorProto::INT64:
      return "int64";
    case onnx::TensorProto::FLOAT16:
      return "float16";
    case onnx::TensorProto::DOUBLE:
      return "float64";
    case onnx::TensorProto::BOOL:
      return "bool";
    default:
      return "another type";
  }
}

}  // namespace

std::string describe(const onnx::NodeProto& node) {
  return "node '" + node.name() + "' (" + node.op_type() + ")";
}

onnx::ModelProto parse_model(std::span<const uint8_t> bytes, const std::string& source) {
  if (bytes.size() > kMaxFileBytes) {
    unsupported(source + ": " + std::to_string(bytes.size()) + " bytes is larger than the " +
                std::to_string(kMaxFileBytes) + " bytes sparq imports");
  }
  google::protobuf::io::CodedInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  stream.SetTotalBytesLimit(static_cast<int>(kMaxFileBytes));
  stream.SetRecursionLimit(64);
  onnx::ModelProto model;
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
    malformed(source +
              ": not a valid ONNX model (the protobuf does not parse; truncated or not "
              "an .onnx file)");
  }
  return model;
}

int64_t Constant::elements() const {
  return is_float ? static_cast<int64_t>(floats.size()) : static_cast<int64_t>(ints.size());
}

Constant decode_tensor(const onnx::TensorProto& tensor, const std::string& where) {
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL || tensor.external_data_size() > 0) {
    unsupported(where + ": tensor '" + tensor.name() +
                "' keeps its data in an external file; sparq imports self-contained .onnx files "
                "only (save with onnx.save_model(..., save_as_external_data=False))");
  }
  if (tensor.dims_size() > kMaxRank)
    malformed(where + ": tensor '" + tensor.name() + "' has rank > 8");
  Constant c;
  int64_t count = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0 || d > kMaxDimension) {
      malformed(where + ": tensor '" + tensor.name() + "' has dimension " + std::to_string(d) +
                " (allowed 0.." + std::to_string(kMaxDimension) + ")");
    }
    count *= d;
    if (count > kMaxTensorElements) {
      unsupported(where + ": tensor '" + tensor.name() + "' has more than " +
                  std::to_string(kMaxTensorElements) + " elements");
    }
    c.dims.push_back(d);
  }
  const std::string& raw = tensor.raw_data();
  auto size_error = [&](size_t have) {
    malformed(where + ": tensor '" + tensor.name() + "' holds " + std::to_string(have) +
              " values, its dims need " + std::to_string(count));
  };
  switch (tensor.data_type()) {
    case onnx::TensorProto::FLOAT: {
      if (!raw.empty()) {
        if (raw.size() != static_cast<size_t>(count) * 4) size_error(raw.size() / 4);
        c.floats.resize(static_cast<size_t>(count));
        std::memcpy(c.floats.data(), raw.data(), raw.size());
      } else {
        if (tensor.float_data_size() != count)
          size_error(static_cast<size_t>(tensor.float_data_size()));
        c.floats.assign(tensor.float_data().begin(), tensor.float_data().end());
      }
      return c;
    }
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32: {
      c.is_float = false;
      const bool is64 = tensor.data_type() == onnx::TensorProto::INT64;
      if (!raw.empty()) {
        const size_t width = is64 ? 8 : 4;
        if (raw.size() != static_cast<size_t>(count) * width) size_error(raw.size() / width);
        c.ints.resize(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) {
          if (is64) {
            std::memcpy(&c.ints[static_cast<size_t>(i)], raw.data() + i * 8, 8);
          } else {
            int32_t v;
            std::memcpy(&v, raw.data() + i * 4, 4);
            c.ints[static_cast<size_t>(i)] = v;
          }
        }
      } else if (is64) {
        if (tensor.int64_data_size() != count)
          size_error(static_cast<size_t>(tensor.int64_data_size()));
        c.ints.assign(tensor.int64_data().begin(), tensor.int64_data().end());
      } else {
        if (tensor.int32_data_size() != count)
          size_error(static_cast<size_t>(tensor.int32_data_size()));
        c.ints.assign(tensor.int32_data().begin(), tensor.int32_data().end());
      }
      return c;
    }
    default:
      unsupported(where + ": tensor '" + tensor.name() + "' is " + type_name(tensor.data_type()) +
                  "; sparq imports float32 weights (and int64 / int32 shape constants)");
  }
}

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

namespace {
const onnx::AttributeProto* typed(const onnx::NodeProto& node, const std::string& name,
                                  onnx::AttributeProto::AttributeType type, const char* what) {
  const onnx::AttributeProto* a = find_attribute(node, name);
  if (a && a->type() != type) {
    malformed(describe(node) + ": attribute '" + name + "' must be " + what);
  }
  return a;
}
}  // namespace

int64_t int_attribute(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  const auto* a = typed(node, name, onnx::AttributeProto::INT, "an int");
  return a ? a->i() : fallback;
}

float float_attribute(const onnx::NodeProto& node, const std::string& name, float fallback) {
  const auto* a = typed(node, name, onnx::AttributeProto::FLOAT, "a float");
  return a ? a->f() : fallback;
}

std::string string_attribute(const onnx::NodeProto& node, const std::string& name,
                             const std::string& fallback) {
  const auto* a = typed(node, name, onnx::AttributeProto::STRING, "a string");
  return a ? a->s() : fallback;
}

std::vector<int64_t> ints_attribute(const onnx::NodeProto& node, const std::string& name,
                                    std::vector<int64_t> fallback) {
  const auto* a = typed(node, name, onnx::AttributeProto::INTS, "a list of ints");
  if (!a) return fallback;
  if (a->ints_size() > kMaxRank * 2)
    malformed(describe(node) + ": attribute '" + name + "' is too long");
  return {a->ints().begin(), a->ints().end()};
}

}  // namespace sparq::onnx_import
