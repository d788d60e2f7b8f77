// ONNX import (library sparq_onnx, not part of the core sparq library): reads
// a float32 NCHW classifier exported by torch.onnx.export (opsets 11..17,
// static C, H, W; a dynamic batch axis is fine) into a sparq Model.
//
// By default the import is lossless: the float graph computes what the ONNX
// graph computes (BatchNorm folded into the preceding convolution, ReLU /
// ReLU6 fused into it). With `quantize` set, 3x3 convolutions become the
// sparse 4-bit layers sparq's CPU and device backends run, with the same
// per-channel rules as sparq-train's export.
//
// Errors: Error(kIo) for an unreadable file, Error(kInvalidModel) for a
// malformed ONNX file, Error(kUnsupported) for an operator, attribute, data
// type or shape sparq does not support; the message names the node and the
// operator.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sparq/model.hpp"
#include "sparq/ops.hpp"
#include "sparq/shape.hpp"

namespace sparq {

enum class ImportQuantization : uint8_t { kNone, kW4A8, kW4A4 };

struct OnnxImportOptions {
  ImportQuantization quantization = ImportQuantization::kNone;
  std::string name;                 // model name in the metadata; default: the ONNX graph name
  std::vector<std::string> labels;  // class names for the metadata (may stay empty)
  // How images become the model input (metadata.preprocessing; height,
  // width and channels come from the ONNX input shape).
  float scale = 1.0f / 255.0f;
  std::vector<float> mean, std;  // per channel, or empty
};

// One line of the import report per sparq node.
struct ImportedLayer {
  std::string name;     // sparq node name (the ONNX node it came from)
  std::string onnx_op;  // e.g. "Conv+BatchNormalization+Relu"
  std::string sparq_op;
  Shape input_shape, output_shape;  // per sample
  // 3x3 convolutions: taps kept per kernel (0 = not a 3x3 convolution, or
  // kernels keep different counts) and the largest tap-position sharing the
  // weights satisfy.
  int density = 0;
  PatternSharing sharing;
};

struct OnnxImport {
  std::shared_ptr<const Model> model;
  std::vector<ImportedLayer> layers;
  int64_t opset = 0;
};

OnnxImport import_onnx(const std::string& path, const OnnxImportOptions& options = {});
// The same from bytes already in memory (`source` names them in messages).
OnnxImport import_onnx_bytes(std::span<const uint8_t> bytes, const OnnxImportOptions& options = {},
                             const std::string& source = "ONNX model");

// Parses "w4a8" / "w4a4" / "none"; throws Error(kInvalidArgument) otherwise.
ImportQuantization parse_import_quantization(const std::string& text);

}  // namespace sparq
