// Checks an exported model on the sparq runtime: runs the test split through
// a Session with the model's own preprocessing and compares the accuracy with
// the one recorded in its provenance (measured on the libtorch twin).
#pragma once

#include <string>

#include "sparq_training/commands.hpp"

namespace sparq::training {

struct VerifyCommand {
  DataOptions data;
  std::string model;
  std::string backend = "cpu";
  double tolerance = 0.1;  // points
};

// Returns 0 when the runtime's accuracy is within `tolerance` of the
// recorded one, 1 otherwise.
int run_verify(const VerifyCommand& cmd);

// The runtime's top-1 accuracy (percent) of a .sparq model on a data set.
double runtime_accuracy(const std::string& model_path, const Dataset& data,
                        const std::string& backend);

}  // namespace sparq::training
