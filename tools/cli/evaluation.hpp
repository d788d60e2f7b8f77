// Accuracy of a classifier over an IDX dataset, shared by `eval` and `sweep`.
#pragma once

#include <cstdint>
#include <vector>

#include "sparq/sparq.hpp"
#include "tools/cli/chip_figures.hpp"
#include "tools/cli/inputs.hpp"

namespace sparq::cli {

struct EvalResult {
  int64_t samples = 0;
  int64_t correct = 0;
  // confusion[truth][predicted]
  std::vector<std::vector<int64_t>> confusion;
  double inference_seconds = 0;      // inside Session::run
  double preprocessing_seconds = 0;  // IDX bytes -> input tensors
  ChipFigures chip;                  // the device backend's modelled figures, summed
  double accuracy() const {
    return samples ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0;
  }
  double images_per_second() const {
    return inference_seconds > 0 ? static_cast<double>(samples) / inference_seconds : 0.0;
  }
};

// Runs the first `limit` samples (all when limit <= 0) in batches of `batch`.
EvalResult evaluate(const Session& session, const Dataset& dataset, int classes, int batch,
                    int64_t limit, bool show_progress);

}  // namespace sparq::cli
