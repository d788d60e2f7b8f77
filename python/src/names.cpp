#include "python/src/names.hpp"

#include "sparq/error.hpp"

namespace sparq::python {
namespace {

template <typename Enum, size_t N>
Enum parse(const std::string& what, const std::string& name, const Enum (&choices)[N],
           const char* (*spell)(Enum)) {
  std::string listed;
  for (Enum e : choices) {
    if (name == spell(e)) return e;
    listed += (listed.empty() ? "" : ", ") + std::string(spell(e));
  }
  throw Error(ErrorCode::kInvalidArgument, what + " '" + name + "' is not one of: " + listed);
}

const char* pool_kind_name(PoolKind kind) {
  return kind == PoolKind::kMax ? "max" : "average";
}

}  // namespace

Activation parse_activation(const std::string& name) {
  const Activation all[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};
  return parse("activation", name, all, static_cast<const char* (*)(Activation)>(&to_string));
}

DType parse_dtype(const std::string& name) {
  const DType all[] = {DType::kF32, DType::kU8, DType::kS8, DType::kS4, DType::kS32};
  return parse("dtype", name, all, static_cast<const char* (*)(DType)>(&to_string));
}

PoolKind parse_pool_kind(const std::string& name) {
  const PoolKind all[] = {PoolKind::kMax, PoolKind::kAverage};
  return parse("pool kind", name, all, &pool_kind_name);
}

}  // namespace sparq::python
