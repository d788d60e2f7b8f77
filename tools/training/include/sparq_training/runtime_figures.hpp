// What an exported model costs on the sparq runtime: CPU latency (cpu
// backend, one thread, batch 1, best of many runs) and the device model's
// energy per inference.
#pragma once

#include <filesystem>
#include <string>

#include "sparq/tensor.hpp"

namespace sparq::training {

struct RuntimeFigures {
  double cpu_seconds = -1;    // < 0: not measured (see note)
  double device_joules = -1;  // < 0: not measured (see note)
  std::string note;           // why a figure is missing
};

// `input` is one preprocessed sample with a batch dimension of 1.
RuntimeFigures measure_runtime(const std::filesystem::path& model_path, const Tensor& input,
                               int repetitions = 30);

}  // namespace sparq::training
