// Training from a float .sparq model (`sparq import MODEL.onnx -o X.sparq`)
// instead of a built-in architecture: the module (GraphNet behind Net), the
// checkpoint description, and the preprocessing that turns the data set's
// images into the model's input, as the user states it with --preprocess.
#pragma once

#include <string>

#include "sparq/model.hpp"
#include "sparq_training/checkpoint.hpp"
#include "sparq_training/data.hpp"

namespace sparq::training {

// --preprocess:
//   "model"    the preprocessing recorded in the model (`sparq import
//              --preprocess ...`): x = (pixel * scale - mean[c]) / std[c];
//   "dataset"  scale 1/255, mean and std per channel measured on the
//              training split;
//   "scale=S,mean=M1/M2/..,std=S1/S2/.." stated explicitly (mean and std
//              one value per channel, or one for all; absent: 0 and 1).
// Throws Error(kInvalidArgument) naming the flag on anything else.
Normalization parse_preprocess(const std::string& text, const Model& model,
                               const Dataset& train_data);

struct ImportedStart {
  Net net{nullptr};
  CheckpointInfo info;
};

// Loads `path` (a float model), checks that the data set's images have the
// model's input size and its class count (no resizing: a clear error names
// both), and builds the module from the model's weights.
ImportedStart start_from_model(const std::string& path, const std::string& preprocess,
                               const Dataset& train_data);

}  // namespace sparq::training
