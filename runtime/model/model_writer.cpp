// Graph + metadata -> .sparq bytes. Every field is written, defaults included,
// so a file says everything explicitly and the output depends only on the
// model (to_bytes(from_bytes(b)) == b).
#include <string>
#include <type_traits>
#include <variant>

#include "runtime/model/model_checksum.hpp"
#include "runtime/model/model_format.hpp"
#include "sparq/error.hpp"
#include "sparq_model_generated.h"

namespace sparq::model_format {
namespace {

namespace fbs = flatbuffers;

// Byte payloads start 64-byte aligned in the file (mmap-friendly weights).
constexpr size_t kPayloadAlignment = 64;

fb::DType to_file(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return fb::DType::F32;
    case DType::kU8:
      return fb::DType::U8;
    case DType::kS8:
      return fb::DType::S8;
    case DType::kS4:
      return fb::DType::S4;
    case DType::kS32:
      return fb::DType::S32;
  }
  throw Error(ErrorCode::kInternal, "write_model: unknown dtype");
}

fb::Activation to_file(Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return fb::Activation::None;
    case Activation::kRelu:
      return fb::Activation::Relu;
    case Activation::kRelu6:
      return fb::Activation::Relu6;
  }
  throw Error(ErrorCode::kInternal, "write_model: unknown activation");
}

fb::PoolKind to_file(PoolKind kind) {
  return kind == PoolKind::kMax ? fb::PoolKind::Max : fb::PoolKind::Average;
}

class Writer {
 public:
  explicit Writer(size_t size_hint) : fbb_(size_hint) { fbb_.ForceDefaults(true); }

  std::vector<uint8_t> finish(const Graph& graph, const ModelMetadata& metadata) {
    auto graph_offset = write_graph(graph);
    auto metadata_offset = write_metadata(metadata);
    // checksum 0 is written (ForceDefaults) and sealed by write_model.
    auto root =
        fb::CreateModel(fbb_, required_format_version(graph), graph_offset, metadata_offset, 0);
    fb::FinishSizePrefixedModelBuffer(fbb_, root);
    return {fbb_.GetBufferPointer(), fbb_.GetBufferPointer() + fbb_.GetSize()};
  }

 private:
  fbs::Offset<fbs::Vector<uint8_t>> payload(const void* data, size_t bytes) {
    fbb_.ForceVectorAlignment(bytes, sizeof(uint8_t), kPayloadAlignment);
    return fbb_.CreateVector(static_cast<const uint8_t*>(data), bytes);
  }

  fbs::Offset<fbs::Vector<float>> floats(const std::vector<float>& v) {
    return fbb_.CreateVector(v);
  }

  fbs::Offset<fbs::Vector<int64_t>> shape(const Shape& s) { return fbb_.CreateVector(s.dims()); }

  fbs::Offset<fb::Tensor> tensor(const Tensor& t) {
    auto dims = shape(t.shape());
    auto data = payload(t.raw(), t.bytes());
    return fb::CreateTensor(fbb_, dims, to_file(t.dtype()), data);
  }

  fbs::Offset<void> op(const QuantizeOp& op) {
    return fb::CreateQuantizeOp(fbb_, op.bits, op.is_signed, op.scale).Union();
  }
  fbs::Offset<void> op(const DequantizeOp&) { return fb::CreateDequantizeOp(fbb_).Union(); }
  fbs::Offset<void> op(const Conv2dOp& op) {
    if (op.pool.enabled) {
      // A session's form (fold_max_pool): the file keeps the Pool2dOp.
      throw Error(ErrorCode::kInvalidModel,
                  "a convolution with a fused max pool (fold_max_pool) has no file form: write "
                  "the graph before the pass");
    }
    auto weights = tensor(op.weights);
    auto scales = floats(op.weight_scales);
    auto bias = floats(op.bias);
    return fb::CreateConv2dOp(fbb_, op.kernel_h, op.kernel_w, op.stride_h, op.stride_w, op.pad_h,
                              op.pad_w, op.groups, to_file(op.activation), weights, scales, bias,
                              op.output_quantization.scale, op.output_quantization.bits,
                              op.output_quantization.is_signed)
        .Union();
  }
  fbs::Offset<void> op(const SparseConv3x3Op& op) {
    if (op.residual.enabled) {
      // A session's form (fold_residual_add): the file keeps the AddOp.
      throw Error(ErrorCode::kInvalidModel,
                  "a sparse 3x3 convolution with a fused residual add (fold_residual_add) has no "
                  "file form: write the graph before the pass");
    }
    auto taps = payload(op.taps.data(), op.taps.size());
    auto scales = floats(op.weight_scales);
    auto bias = floats(op.bias);
    return fb::CreateSparseConv3x3Op(fbb_, op.stride, op.density, op.out_channels, op.in_channels,
                                     op.sharing.out_group, op.sharing.in_group,
                                     to_file(op.activation), taps, scales, bias,
                                     op.output_quantization.scale, op.output_quantization.bits,
                                     op.output_quantization.is_signed)
        .Union();
  }
  fbs::Offset<void> op(const FullyConnectedOp& op) {
    auto weights = tensor(op.weights);
    auto scales = floats(op.weight_scales);
    auto bias = floats(op.bias);
    return fb::CreateFullyConnectedOp(fbb_, to_file(op.activation), weights, scales, bias).Union();
  }
  fbs::Offset<void> op(const Pool2dOp& op) {
    return fb::CreatePool2dOp(fbb_, to_file(op.kind), op.kernel_h, op.kernel_w, op.stride_h,
                              op.stride_w, op.pad_h, op.pad_w, op.count_include_pad)
        .Union();
  }
  fbs::Offset<void> op(const GlobalAvgPoolOp&) { return fb::CreateGlobalAvgPoolOp(fbb_).Union(); }
  fbs::Offset<void> op(const AddOp& op) {
    return fb::CreateAddOp(fbb_, to_file(op.activation)).Union();
  }
  fbs::Offset<void> op(const ActivationOp& op) {
    return fb::CreateActivationOp(fbb_, to_file(op.activation)).Union();
  }
  fbs::Offset<void> op(const FlattenOp&) { return fb::CreateFlattenOp(fbb_).Union(); }
  fbs::Offset<void> op(const SoftmaxOp&) { return fb::CreateSoftmaxOp(fbb_).Union(); }
  fbs::Offset<void> op(const ChannelAffineOp& op) {
    auto scale = floats(op.scale);
    auto shift = floats(op.shift);
    return fb::CreateChannelAffineOp(fbb_, scale, shift).Union();
  }
  fbs::Offset<void> op(const BroadcastBinaryOp& op) {
    return fb::CreateBroadcastBinaryOp(fbb_, static_cast<fb::BinaryKind>(op.kind)).Union();
  }
  fbs::Offset<void> op(const SigmoidOp&) { return fb::CreateSigmoidOp(fbb_).Union(); }
  fbs::Offset<void> op(const ClampOp& op) {
    return fb::CreateClampOp(fbb_, op.min, op.max).Union();
  }
  fbs::Offset<void> op(const ConcatOp&) { return fb::CreateConcatOp(fbb_).Union(); }
  fbs::Offset<void> op(const LogSoftmaxOp&) { return fb::CreateLogSoftmaxOp(fbb_).Union(); }

  // The union tag of each alternative, checked at compile time against the
  // order of OpAttrs so a new operation cannot be written under a wrong tag.
  template <typename T>
  static constexpr fb::Op tag() {
    if constexpr (std::is_same_v<T, QuantizeOp>) return fb::Op::QuantizeOp;
    if constexpr (std::is_same_v<T, DequantizeOp>) return fb::Op::DequantizeOp;
    if constexpr (std::is_same_v<T, Conv2dOp>) return fb::Op::Conv2dOp;
    if constexpr (std::is_same_v<T, SparseConv3x3Op>) return fb::Op::SparseConv3x3Op;
    if constexpr (std::is_same_v<T, FullyConnectedOp>) return fb::Op::FullyConnectedOp;
    if constexpr (std::is_same_v<T, Pool2dOp>) return fb::Op::Pool2dOp;
    if constexpr (std::is_same_v<T, GlobalAvgPoolOp>) return fb::Op::GlobalAvgPoolOp;
    if constexpr (std::is_same_v<T, AddOp>) return fb::Op::AddOp;
    if constexpr (std::is_same_v<T, ActivationOp>) return fb::Op::ActivationOp;
    if constexpr (std::is_same_v<T, FlattenOp>) return fb::Op::FlattenOp;
    if constexpr (std::is_same_v<T, SoftmaxOp>) return fb::Op::SoftmaxOp;
    if constexpr (std::is_same_v<T, ChannelAffineOp>) return fb::Op::ChannelAffineOp;
    if constexpr (std::is_same_v<T, BroadcastBinaryOp>) return fb::Op::BroadcastBinaryOp;
    if constexpr (std::is_same_v<T, SigmoidOp>) return fb::Op::SigmoidOp;
    if constexpr (std::is_same_v<T, ClampOp>) return fb::Op::ClampOp;
    if constexpr (std::is_same_v<T, ConcatOp>) return fb::Op::ConcatOp;
    if constexpr (std::is_same_v<T, LogSoftmaxOp>) return fb::Op::LogSoftmaxOp;
  }
  static_assert(std::variant_size_v<OpAttrs> == 17,
                "a new operation needs a table in sparq_model.fbs and a case here");

  fbs::Offset<fb::Node> node(const Node& node) {
    auto name = fbb_.CreateString(node.name);
    fb::Op type = fb::Op::NONE;
    auto attrs = std::visit(
        [&](const auto& op) {
          type = tag<std::decay_t<decltype(op)>>();
          return this->op(op);
        },
        node.op);
    auto inputs = fbb_.CreateVector(node.inputs);
    return fb::CreateNode(fbb_, name, type, attrs, inputs, node.output);
  }

  fbs::Offset<fb::Graph> write_graph(const Graph& graph) {
    std::vector<fbs::Offset<fb::Value>> values;
    values.reserve(graph.values.size());
    for (const Value& v : graph.values) {
      auto name = fbb_.CreateString(v.name);
      auto dims = shape(v.shape);
      values.push_back(fb::CreateValue(fbb_, name, dims, to_file(v.dtype)));
    }
    auto values_offset = fbb_.CreateVector(values);
    std::vector<fbs::Offset<fb::Node>> nodes;
    nodes.reserve(graph.nodes.size());
    for (const Node& n : graph.nodes) nodes.push_back(node(n));
    auto nodes_offset = fbb_.CreateVector(nodes);
    auto outputs = fbb_.CreateVector(graph.outputs);
    return fb::CreateGraph(fbb_, values_offset, nodes_offset, graph.input, outputs);
  }

  fbs::Offset<fb::Metadata> write_metadata(const ModelMetadata& metadata) {
    auto name = fbb_.CreateString(metadata.name);
    const Preprocessing& p = metadata.preprocessing;
    auto mean = floats(p.mean);
    auto std_dev = floats(p.std);
    auto preprocessing =
        fb::CreatePreprocessing(fbb_, p.height, p.width, p.channels, p.scale, mean, std_dev);
    auto labels = fbb_.CreateVectorOfStrings(metadata.labels);
    std::vector<fbs::Offset<fb::KeyValue>> entries;
    for (const auto& [key, value] : metadata.provenance) {  // std::map: sorted by key
      auto k = fbb_.CreateString(key);
      auto v = fbb_.CreateString(value);
      entries.push_back(fb::CreateKeyValue(fbb_, k, v));
    }
    auto provenance = fbb_.CreateVector(entries);
    return fb::CreateMetadata(fbb_, name, preprocessing, labels, provenance);
  }

  fbs::FlatBufferBuilder fbb_;
};

// Bytes of every weight payload, to size the builder once and to refuse a
// model that cannot fit the 32-bit offsets of a FlatBuffer.
size_t payload_bytes(const Graph& graph) {
  size_t total = 0;
  for (const Node& node : graph.nodes) {
    if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) total += conv->weights.bytes();
    if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) total += sparse->taps.size();
    if (const auto* fc = std::get_if<FullyConnectedOp>(&node.op)) total += fc->weights.bytes();
  }
  return total;
}

}  // namespace

uint32_t required_format_version(const Graph& graph) {
  for (const Node& node : graph.nodes) {
    const bool static_scales = std::visit(
        [](const auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, QuantizeOp>) return op.scale != 0.0f;
          if constexpr (std::is_same_v<T, Conv2dOp> || std::is_same_v<T, SparseConv3x3Op>) {
            return op.output_quantization.enabled();
          }
          return false;
        },
        node.op);
    if (static_scales) return 3;
  }
  return 2;
}

std::vector<uint8_t> write_model(const Graph& graph, const ModelMetadata& metadata) {
  check_metadata(metadata);
  const size_t weights = payload_bytes(graph);
  // Leave room for everything besides the weights (names, scales, tables).
  if (weights > kMaxFileBytes / 2) {
    throw Error(ErrorCode::kInvalidModel,
                "model has " + std::to_string(weights) +
                    " bytes of weights; a .sparq file holds at most 1 GiB");
  }
  Writer writer(weights + weights / 8 + 4096);
  std::vector<uint8_t> bytes = writer.finish(graph, metadata);
  if (bytes.size() > kMaxFileBytes) {
    throw Error(ErrorCode::kInvalidModel, "model serializes to " + std::to_string(bytes.size()) +
                                              " bytes; a .sparq file holds at most 2 GiB");
  }
  seal_checksum(bytes);
  return bytes;
}

}  // namespace sparq::model_format
