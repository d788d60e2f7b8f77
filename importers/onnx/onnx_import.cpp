// The importer's entry points: read the file, parse, convert, optionally
// quantize, validate, and describe every resulting layer.
#include "sparq/onnx_import.hpp"

#include <fstream>
#include <iterator>

#include "importers/onnx/imported_quantization.hpp"
#include "importers/onnx/onnx_converter.hpp"
#include "importers/onnx/onnx_proto.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

using onnx_import::ConvertedGraph;

ImportedLayer describe_layer(const Graph& graph, const Node& node, const std::string& onnx_op) {
  ImportedLayer layer;
  layer.name = node.name;
  layer.onnx_op = onnx_op;
  layer.sparq_op = op_name(node.op);
  if (!node.inputs.empty()) layer.input_shape = graph.value(node.inputs[0]).shape;
  layer.output_shape = graph.value(node.output).shape;
  if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
    if (conv->kernel_h == 3 && conv->kernel_w == 3 && conv->groups == 1 &&
        conv->weights.dtype() == DType::kF32) {
      const int out_ch = static_cast<int>(conv->weights.shape()[0]);
      const int in_ch = static_cast<int>(conv->weights.shape()[1]);
      auto w = conv->weights.span<float>();
      const auto taps = onnx_import::count_taps(w, out_ch, in_ch);
      layer.density = taps.uniform ? taps.density : 0;
      layer.sharing = onnx_import::detect_sharing(w, out_ch, in_ch);
    }
  } else if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
    layer.density = sparse->density;
    layer.sharing = sparse->sharing;
  }
  return layer;
}

}  // namespace

ImportQuantization parse_import_quantization(const std::string& text) {
  if (text == "none" || text.empty()) return ImportQuantization::kNone;
  if (text == "w4a8") return ImportQuantization::kW4A8;
  if (text == "w4a4") return ImportQuantization::kW4A4;
  throw Error(ErrorCode::kInvalidArgument,
              "--quantize must be w4a8, w4a4 or none, is '" + text + "'");
}

OnnxImport import_onnx_bytes(std::span<const uint8_t> bytes, const OnnxImportOptions& options,
                             const std::string& source) {
  const onnx_import::onnx::ModelProto proto = onnx_import::parse_model(bytes, source);
  ConvertedGraph converted = onnx_import::convert_graph(proto);
  ModelMetadata meta;
  meta.name = !options.name.empty()     ? options.name
              : !converted.name.empty() ? converted.name
                                        : "imported";
  meta.provenance["source"] = "onnx";
  meta.provenance["onnx_opset"] = std::to_string(converted.opset);
  if (!proto.producer_name().empty()) {
    meta.provenance["onnx_producer"] = proto.producer_name() + " " + proto.producer_version();
  }
  meta.labels = options.labels;
  meta.preprocessing.scale = options.scale;
  meta.preprocessing.mean = options.mean;
  meta.preprocessing.std = options.std;
  const Value& in = converted.graph.value(converted.graph.input);
  if (in.shape.rank() == 3) {
    meta.preprocessing.channels = static_cast<int>(in.shape[0]);
    meta.preprocessing.height = static_cast<int>(in.shape[1]);
    meta.preprocessing.width = static_cast<int>(in.shape[2]);
  }
  OnnxImport result;
  result.opset = converted.opset;
  Graph graph = std::move(converted.graph);
  std::vector<std::string> onnx_ops = std::move(converted.onnx_ops);
  if (options.quantization != ImportQuantization::kNone) {
    const int act_bits = options.quantization == ImportQuantization::kW4A4 ? 4 : 8;
    onnx_import::QuantizedGraph q = onnx_import::quantize_imported(graph, act_bits);
    std::vector<std::string> ops;
    for (size_t i = 0; i < q.graph.nodes.size(); ++i) {
      const bool inserted = std::holds_alternative<QuantizeOp>(q.graph.nodes[i].op);
      ops.push_back(inserted ? "" : onnx_ops[q.source_node[i]]);
    }
    graph = std::move(q.graph);
    onnx_ops = std::move(ops);
    meta.provenance["quantization"] = act_bits == 4 ? "w4a4" : "w4a8";
  }
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    result.layers.push_back(describe_layer(graph, graph.nodes[i], onnx_ops[i]));
  }
  result.model = std::make_shared<const Model>(std::move(graph), std::move(meta));
  return result;
}

OnnxImport import_onnx(const std::string& path, const OnnxImportOptions& options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(ErrorCode::kIo, "cannot open ONNX file '" + path + "'");
  file.seekg(0, std::ios::end);
  const std::streamoff size = file.tellg();
  if (size < 0) throw Error(ErrorCode::kIo, "cannot read ONNX file '" + path + "'");
  if (static_cast<size_t>(size) > onnx_import::kMaxFileBytes) {
    throw Error(ErrorCode::kUnsupported, "ONNX file '" + path + "' is larger than 1 GiB");
  }
  file.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (!file.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw Error(ErrorCode::kIo, "cannot read ONNX file '" + path + "'");
  }
  return import_onnx_bytes(bytes, options, "'" + path + "'");
}

}  // namespace sparq
