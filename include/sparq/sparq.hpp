// The whole public API of sparq. Applications include this header and link
// the `sparq::sparq` target.
#pragma once

#include "sparq/backend.hpp"
#include "sparq/device.hpp"
#include "sparq/dtype.hpp"
#include "sparq/error.hpp"
#include "sparq/graph.hpp"
#include "sparq/idx.hpp"
#include "sparq/image.hpp"
#include "sparq/limits.hpp"
#include "sparq/model.hpp"
#include "sparq/model_builder.hpp"
#include "sparq/ops.hpp"
#include "sparq/preprocessing_text.hpp"
#include "sparq/pruning.hpp"
#include "sparq/quantization.hpp"
#include "sparq/quantized_layers.hpp"
#include "sparq/s4.hpp"
#include "sparq/session.hpp"
#include "sparq/shape.hpp"
#include "sparq/sparse_format.hpp"
#include "sparq/tensor.hpp"
