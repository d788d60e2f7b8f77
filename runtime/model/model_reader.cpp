// .sparq bytes -> Graph + metadata, for untrusted input. Order of checks:
// header (size prefix, identifier), format version, the FlatBuffers verifier
// (every offset and length inside the buffer), the checksum (when the file
// has one: model_checksum.hpp), then each field converted with
// its own range check. Semantic graph rules are sparq::validate's job (Model's
// constructor runs it); what is checked here is everything a conversion or a
// later size computation could go wrong on.
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "runtime/model/model_checksum.hpp"
#include "runtime/model/model_format.hpp"
#include "sparq/error.hpp"
#include "sparq_model_generated.h"

namespace sparq::model_format {
namespace {

namespace fbs = flatbuffers;

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, what);
}

// Size prefix + root offset + identifier.
constexpr size_t kHeaderBytes = 3 * sizeof(uint32_t);

// Verifier limits: the schema nests 7 levels deep (model, graph, node, op,
// tensor, vector); the table count only bounds the work on hostile files.
constexpr fbs::uoffset_t kMaxDepth = 16;
constexpr fbs::uoffset_t kMaxTables = 10'000'000;

std::string printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

void check_header(std::span<const uint8_t> bytes) {
  if (bytes.empty()) fail("model file is empty");
  if (bytes.size() > kMaxFileBytes) {
    fail("model file has " + std::to_string(bytes.size()) + " bytes; a .sparq file holds at most " +
         std::to_string(kMaxFileBytes));
  }
  if (bytes.size() < kHeaderBytes) {
    fail("model file is truncated: " + std::to_string(bytes.size()) +
         " bytes, the .sparq header alone needs " + std::to_string(kHeaderBytes));
  }
  if (!fbs::BufferHasIdentifier(bytes.data(), kFileIdentifier, /*size_prefixed=*/true)) {
    std::string_view found(reinterpret_cast<const char*>(bytes.data()) + 2 * sizeof(uint32_t), 4);
    fail("not a .sparq model file: identifier is '" + printable(found) + "', expected '" +
         kFileIdentifier + "'");
  }
  // memcpy, not ReadScalar: the caller's buffer may be unaligned (the file is
  // little endian, like every host sparq runs on).
  uint32_t declared = 0;
  std::memcpy(&declared, bytes.data(), sizeof(declared));
  const size_t present = bytes.size() - sizeof(fbs::uoffset_t);
  if (declared > present) {
    fail("model file is truncated: its header declares " + std::to_string(declared) +
         " bytes after the size prefix, the file has " + std::to_string(present));
  }
  if (declared < present) {
    fail("model file has " + std::to_string(present - declared) +
         " unexpected bytes after the end of the model (header declares " +
         std::to_string(declared) + ")");
  }
}

// Reads format_version with only the root table and that one field verified,
// so a file from a newer sparq is reported as such even if the rest of its
// layout no longer verifies under this schema.
void check_version(std::span<const uint8_t> bytes) {
  fbs::Verifier verifier(bytes.data(), bytes.size());
  if (!verifier.VerifyOffset(sizeof(fbs::uoffset_t))) return;  // the full verifier reports it
  // The generated fb::Model hides its Table base; read the root as a Table.
  const auto* root = fbs::GetSizePrefixedRoot<fbs::Table>(bytes.data());
  if (!root->VerifyTableStart(verifier) ||
      !root->VerifyField<uint32_t>(verifier, fb::Model::VT_FORMAT_VERSION, sizeof(uint32_t))) {
    return;
  }
  const uint32_t version = root->GetField<uint32_t>(fb::Model::VT_FORMAT_VERSION, 0);
  if (version == 0) fail("model file: format_version is missing (0)");
  if (version > kFormatVersion) {
    fail("model file: format_version " + std::to_string(version) +
         " is newer than this sparq reads (up to " + std::to_string(kFormatVersion) +
         "); upgrade sparq");
  }
}

void verify_buffer(std::span<const uint8_t> bytes) {
  fbs::Verifier::Options options;
  options.max_depth = kMaxDepth;
  options.max_tables = kMaxTables;
  fbs::Verifier verifier(bytes.data(), bytes.size(), options);
  if (!fb::VerifySizePrefixedModelBuffer(verifier)) {
    fail(
        "model file failed FlatBuffers verification: an offset or length points outside the "
        "file (corrupt or truncated)");
  }
}

std::string str(const fbs::String* s) {
  return s ? s->str() : std::string();
}

template <typename T>
std::vector<T> copy_vector(const fbs::Vector<T>* v) {
  return v ? std::vector<T>(v->begin(), v->end()) : std::vector<T>();
}

DType read_dtype(fb::DType dtype, const std::string& where) {
  switch (dtype) {
    case fb::DType::F32:
      return DType::kF32;
    case fb::DType::U8:
      return DType::kU8;
    case fb::DType::S8:
      return DType::kS8;
    case fb::DType::S4:
      return DType::kS4;
    case fb::DType::S32:
      return DType::kS32;
  }
  fail(where + ": dtype " + std::to_string(static_cast<int>(dtype)) +
       " is not a known type (0..4: f32, u8, s8, s4, s32)");
}

Activation read_activation(fb::Activation activation, const std::string& where) {
  switch (activation) {
    case fb::Activation::None:
      return Activation::kNone;
    case fb::Activation::Relu:
      return Activation::kRelu;
    case fb::Activation::Relu6:
      return Activation::kRelu6;
  }
  fail(where + ": activation " + std::to_string(static_cast<int>(activation)) +
       " is not a known activation (0..2: none, relu, relu6)");
}

PoolKind read_pool_kind(fb::PoolKind kind, const std::string& where) {
  switch (kind) {
    case fb::PoolKind::Max:
      return PoolKind::kMax;
    case fb::PoolKind::Average:
      return PoolKind::kAverage;
  }
  fail(where + ": pool kind " + std::to_string(static_cast<int>(kind)) +
       " is not a known kind (0: max, 1: average)");
}

// A shape with rank, every dimension and the element count within the limits
// of model_format.hpp (no product below overflows: each factor < 2^31 and the
// running product stays <= 2^31).
Shape read_shape(const fbs::Vector<int64_t>* dims, const std::string& where) {
  if (!dims) fail(where + ": shape is missing");
  if (dims->size() > static_cast<fbs::uoffset_t>(kMaxRank)) {
    fail(where + ": shape has rank " + std::to_string(dims->size()) + ", at most " +
         std::to_string(kMaxRank) + " is supported");
  }
  // Copied as bytes: the FlatBuffers 2.0 verifier checks only 4-byte
  // alignment of a vector, so the int64 elements may sit at 4 mod 8.
  std::vector<int64_t> out(dims->size());
  if (!out.empty()) std::memcpy(out.data(), dims->Data(), out.size() * sizeof(int64_t));
  int64_t elements = 1;
  for (size_t axis = 0; axis < out.size(); ++axis) {
    const int64_t d = out[axis];
    if (d < 0) {
      fail(where + ": shape dimension " + std::to_string(axis) + " is negative (" +
           std::to_string(d) + ")");
    }
    if (d > kMaxDimension) {
      fail(where + ": shape dimension " + std::to_string(axis) + " is " + std::to_string(d) +
           ", more than the limit " + std::to_string(kMaxDimension));
    }
    elements *= d;
    if (elements > kMaxElements) {
      fail(where + ": shape " + Shape(out).to_string() + " has more than " +
           std::to_string(kMaxElements) + " elements");
    }
  }
  return Shape(std::move(out));
}

Tensor read_tensor(const fb::Tensor* t, const std::string& where) {
  if (!t) fail(where + " is missing");
  DType dtype = read_dtype(t->dtype(), where);
  Shape shape = read_shape(t->shape(), where);
  if (!t->data()) fail(where + ": data is missing");
  const size_t expected = storage_bytes(dtype, static_cast<size_t>(shape.elements()));
  if (t->data()->size() != expected) {
    fail(where + " has " + std::to_string(t->data()->size()) + " bytes, expected " +
         std::to_string(expected) + " for " + to_string(dtype) + " " + shape.to_string());
  }
  return Tensor::from_bytes(std::move(shape), dtype, {t->data()->data(), t->data()->size()});
}

// The names of include/sparq/ops.hpp's op_name(), known before the
// attributes are read (pooling says "pool2d" until its kind is known).
const char* op_name_in_messages(fb::Op type) {
  switch (type) {
    case fb::Op::QuantizeOp:
      return "quantize";
    case fb::Op::DequantizeOp:
      return "dequantize";
    case fb::Op::Conv2dOp:
      return "conv2d";
    case fb::Op::SparseConv3x3Op:
      return "sparse_conv3x3";
    case fb::Op::FullyConnectedOp:
      return "fully_connected";
    case fb::Op::Pool2dOp:
      return "pool2d";
    case fb::Op::GlobalAvgPoolOp:
      return "global_avg_pool";
    case fb::Op::AddOp:
      return "add";
    case fb::Op::ActivationOp:
      return "activation";
    case fb::Op::FlattenOp:
      return "flatten";
    case fb::Op::SoftmaxOp:
      return "softmax";
    case fb::Op::ChannelAffineOp:
      return "channel_affine";
    case fb::Op::BroadcastBinaryOp:
      return "broadcast_binary";
    case fb::Op::SigmoidOp:
      return "sigmoid";
    case fb::Op::ClampOp:
      return "clamp";
    case fb::Op::ConcatOp:
      return "concat";
    case fb::Op::LogSoftmaxOp:
      return "log_softmax";
    case fb::Op::NONE:
      break;
  }
  return "?";
}

template <typename T>
const fbs::Vector<T>* require(const fbs::Vector<T>* v, const std::string& where,
                              const char* field) {
  if (!v) fail(where + ": " + field + " is missing");
  return v;
}

class Converter {
 public:
  ModelParts convert(const fb::Model& model) {
    ModelParts parts;
    if (!model.graph()) fail("model file has no graph");
    parts.graph = read_graph(*model.graph());
    if (model.metadata()) parts.metadata = read_metadata(*model.metadata());
    check_metadata(parts.metadata);
    return parts;
  }

 private:
  Graph read_graph(const fb::Graph& g) {
    Graph graph;
    const auto* values = require(g.values(), "graph", "values");
    graph.values.reserve(values->size());
    for (fbs::uoffset_t i = 0; i < values->size(); ++i) {
      const fb::Value* v = values->Get(i);
      Value value;
      value.name = str(v->name());
      const std::string where = "value " + std::to_string(i) + " ('" + value.name + "')";
      value.shape = read_shape(v->shape(), where);
      value.dtype = read_dtype(v->dtype(), where);
      graph.values.push_back(std::move(value));
    }
    const auto* nodes = require(g.nodes(), "graph", "nodes");
    graph.nodes.reserve(nodes->size());
    for (fbs::uoffset_t i = 0; i < nodes->size(); ++i)
      graph.nodes.push_back(read_node(*nodes->Get(i), i));
    graph.input = g.input();
    graph.outputs = copy_vector(require(g.outputs(), "graph", "outputs"));
    return graph;
  }

  Node read_node(const fb::Node& n, fbs::uoffset_t index) {
    Node node;
    if (!n.name()) fail("node " + std::to_string(index) + ": name is missing");
    node.name = n.name()->str();
    const fb::Op type = n.op_type();
    if (type == fb::Op::NONE) fail("node '" + node.name + "': has no operation (op type NONE)");
    if (static_cast<int>(type) > static_cast<int>(fb::Op::MAX)) {
      fail("node '" + node.name + "': unknown op type " + std::to_string(static_cast<int>(type)) +
           " (this sparq knows 1.." + std::to_string(static_cast<int>(fb::Op::MAX)) + ")");
    }
    const std::string where = "node '" + node.name + "' (" + op_name_in_messages(type) + ")";
    if (!n.op()) fail(where + ": attributes table is missing");
    node.op = read_op(n, type, where);
    node.inputs = copy_vector(require(n.inputs(), where, "inputs"));
    node.output = n.output();
    return node;
  }

  OpAttrs read_op(const fb::Node& n, fb::Op type, const std::string& where) {
    switch (type) {
      case fb::Op::QuantizeOp: {
        const auto* a = n.op_as_QuantizeOp();
        return QuantizeOp{a->bits(), a->is_signed(), a->scale()};
      }
      case fb::Op::DequantizeOp:
        return DequantizeOp{};
      case fb::Op::Conv2dOp:
        return read_conv(*n.op_as_Conv2dOp(), where);
      case fb::Op::SparseConv3x3Op:
        return read_sparse(*n.op_as_SparseConv3x3Op(), where);
      case fb::Op::FullyConnectedOp: {
        const auto* a = n.op_as_FullyConnectedOp();
        FullyConnectedOp op;
        op.activation = read_activation(a->activation(), where);
        op.weights = read_tensor(a->weights(), where + ": weights");
        op.weight_scales = copy_vector(a->weight_scales());
        op.bias = copy_vector(require(a->bias(), where, "bias"));
        return op;
      }
      case fb::Op::Pool2dOp: {
        const auto* a = n.op_as_Pool2dOp();
        Pool2dOp op;
        op.kind = read_pool_kind(a->kind(), where);
        op.kernel_h = a->kernel_h();
        op.kernel_w = a->kernel_w();
        op.stride_h = a->stride_h();
        op.stride_w = a->stride_w();
        op.pad_h = a->pad_h();
        op.pad_w = a->pad_w();
        op.count_include_pad = a->count_include_pad();
        return op;
      }
      case fb::Op::GlobalAvgPoolOp:
        return GlobalAvgPoolOp{};
      case fb::Op::AddOp:
        return AddOp{read_activation(n.op_as_AddOp()->activation(), where)};
      case fb::Op::ActivationOp:
        return ActivationOp{read_activation(n.op_as_ActivationOp()->activation(), where)};
      case fb::Op::FlattenOp:
        return FlattenOp{};
      case fb::Op::SoftmaxOp:
        return SoftmaxOp{};
      case fb::Op::ChannelAffineOp: {
        const auto* a = n.op_as_ChannelAffineOp();
        return ChannelAffineOp{copy_vector(require(a->scale(), where, "scale")),
                               copy_vector(require(a->shift(), where, "shift"))};
      }
      case fb::Op::BroadcastBinaryOp: {
        const auto kind = n.op_as_BroadcastBinaryOp()->kind();
        if (static_cast<int>(kind) > static_cast<int>(fb::BinaryKind::MAX)) {
          fail(where + ": unknown binary kind " + std::to_string(static_cast<int>(kind)));
        }
        return BroadcastBinaryOp{static_cast<BinaryKind>(kind)};
      }
      case fb::Op::SigmoidOp:
        return SigmoidOp{};
      case fb::Op::ClampOp: {
        const auto* a = n.op_as_ClampOp();
        return ClampOp{a->min(), a->max()};
      }
      case fb::Op::ConcatOp:
        return ConcatOp{};
      case fb::Op::LogSoftmaxOp:
        return LogSoftmaxOp{};
      case fb::Op::NONE:
        break;
    }
    fail(where + ": unknown op type");  // excluded by read_node; kept for -Wswitch
  }

  Conv2dOp read_conv(const fb::Conv2dOp& a, const std::string& where) {
    Conv2dOp op;
    op.kernel_h = a.kernel_h();
    op.kernel_w = a.kernel_w();
    op.stride_h = a.stride_h();
    op.stride_w = a.stride_w();
    op.pad_h = a.pad_h();
    op.pad_w = a.pad_w();
    op.groups = a.groups();
    op.activation = read_activation(a.activation(), where);
    op.weights = read_tensor(a.weights(), where + ": weights");
    op.weight_scales = copy_vector(a.weight_scales());  // absent in float mode
    op.bias = copy_vector(require(a.bias(), where, "bias"));
    // Checked by validate() with the rule of every scale.
    op.output_quantization = {a.output_scale(), a.output_bits(), a.output_signed()};
    return op;
  }

  SparseConv3x3Op read_sparse(const fb::SparseConv3x3Op& a, const std::string& where) {
    SparseConv3x3Op op;
    op.stride = a.stride();
    op.density = a.density();
    op.out_channels = a.out_channels();
    op.in_channels = a.in_channels();
    op.sharing = {a.sharing_out_group(), a.sharing_in_group()};
    op.activation = read_activation(a.activation(), where);
    const auto* taps = require(a.taps(), where, "taps");
    // Only for values in range (validate reports the others with the rule).
    // Channel counts up to 2^31 make out x in x density overflow 64 bits, so
    // the byte count is compared by division.
    if (op.out_channels > 0 && op.in_channels > 0 && op.density >= 1 && op.density <= 9) {
      const uint64_t kernels = uint64_t{static_cast<uint32_t>(op.out_channels)} *
                               static_cast<uint32_t>(op.in_channels);  // < 2^62
      const auto density = static_cast<uint64_t>(op.density);
      if (taps->size() % density != 0 || taps->size() / density != kernels) {
        const std::string expected = kernels <= UINT64_MAX / density
                                         ? std::to_string(kernels * density)
                                         : std::string("more than 2^64");
        fail(where + ": taps has " + std::to_string(taps->size()) + " bytes, expected " + expected +
             " (" + std::to_string(op.out_channels) + " out x " + std::to_string(op.in_channels) +
             " in x density " + std::to_string(op.density) + ")");
      }
    }
    op.taps.assign(taps->begin(), taps->end());
    op.weight_scales = copy_vector(require(a.weight_scales(), where, "weight_scales"));
    op.bias = copy_vector(require(a.bias(), where, "bias"));
    op.output_quantization = {a.output_scale(), a.output_bits(), a.output_signed()};
    return op;
  }

  ModelMetadata read_metadata(const fb::Metadata& m) {
    ModelMetadata metadata;
    metadata.name = str(m.name());
    if (const fb::Preprocessing* p = m.preprocessing()) {
      metadata.preprocessing.height = p->height();
      metadata.preprocessing.width = p->width();
      metadata.preprocessing.channels = p->channels();
      metadata.preprocessing.scale = p->scale();
      metadata.preprocessing.mean = copy_vector(p->mean());
      metadata.preprocessing.std = copy_vector(p->std());
    }
    if (m.labels()) {
      metadata.labels.reserve(m.labels()->size());
      for (const fbs::String* label : *m.labels()) metadata.labels.push_back(label->str());
    }
    if (m.provenance()) {
      for (fbs::uoffset_t i = 0; i < m.provenance()->size(); ++i) {
        const fb::KeyValue* entry = m.provenance()->Get(i);
        if (!entry->key()) fail("metadata.provenance[" + std::to_string(i) + "]: key is missing");
        std::string key = entry->key()->str();
        if (!metadata.provenance.emplace(key, str(entry->value())).second) {
          fail("metadata.provenance: key '" + key + "' appears twice");
        }
      }
    }
    return metadata;
  }
};

}  // namespace

ModelParts read_model(std::span<const uint8_t> bytes) {
  check_header(bytes);
  // FlatBuffers reads scalars in place: the buffer must be aligned for the
  // widest one (8 bytes). A caller's span may not be; copy it then.
  std::vector<uint8_t> aligned_copy;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(int64_t) != 0) {
    aligned_copy.assign(bytes.begin(), bytes.end());  // operator new aligns to 16
    bytes = aligned_copy;
  }
  check_version(bytes);
  verify_buffer(bytes);
  const ChecksumState checksum = verify_checksum(bytes);
  ModelParts parts = Converter().convert(*fb::GetSizePrefixedModel(bytes.data()));
  parts.checksum_verified = checksum == ChecksumState::kVerified;
  return parts;
}

}  // namespace sparq::model_format
