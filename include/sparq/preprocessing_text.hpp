// The command-line text of a model's preprocessing (--preprocess).
#pragma once

#include <string>

#include "sparq/model.hpp"

namespace sparq {

// Reads "scale=S,mean=M1/M2/..,std=S1/S2/.." into `pre`: each key given
// replaces that field (a single mean or std value stands for every channel),
// the others keep their values. Throws Error(kInvalidArgument) naming the item
// that is not a key=value pair, not a finite number, unknown, or not positive
// (scale, std).
void parse_preprocessing(const std::string& text, Preprocessing& pre);

}  // namespace sparq
