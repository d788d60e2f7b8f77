// Python spells enums as the library's own names ("relu", "f32", "max"):
// these parse them back, raising InvalidArgumentError listing the choices.
#pragma once

#include <string>

#include "sparq/ops.hpp"

namespace sparq::python {

Activation parse_activation(const std::string& name);
DType parse_dtype(const std::string& name);
PoolKind parse_pool_kind(const std::string& name);

}  // namespace sparq::python
