// Training loops: SGD with Nesterov momentum and a cosine learning-rate
// schedule (linear warm-up), evaluation, and a progress line with loss and
// accuracy for long runs.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>

#include "sparq_training/data.hpp"
#include "sparq_training/net.hpp"

namespace sparq::training {

struct TrainOptions {
  double epochs = 1.0;  // may be fractional (half an epoch of QAT)
  double lr = 0.05;
  double weight_decay = 5e-4;
  double momentum = 0.9;
  double warmup_fraction = 0.0;  // of all steps, linear warm-up before the cosine
  int batch = 128;
  int crop_padding = 2;   // random crop after this much zero padding (0: off)
  bool flip = true;       // random horizontal flips
  int64_t max_steps = 0;  // > 0: stop after this many steps (smoke tests)
  uint32_t seed = 1;
  QuantMode quant;    // enabled: quantization-aware (STE) training
  std::string label;  // shown on the progress line ("dense", "k=3 fine-tune")
};

struct TrainResult {
  double last_loss = 0;
  double train_accuracy = 0;  // %, over the samples seen
  int64_t steps = 0;
  double seconds = 0;
};

// Called after each full epoch (0-based index), e.g. to write a checkpoint.
using EpochCallback = std::function<void(int epoch)>;

// Trains `net` in place. `first_epoch` > 0 resumes a run (the schedule and the
// data order continue where they stopped).
TrainResult train(Net& net, const Dataset& data, const Normalization& norm,
                  const TrainOptions& options, int first_epoch = 0,
                  const EpochCallback& on_epoch = {});

// Top-1 accuracy in percent over the whole data set.
double evaluate(Net& net, const Dataset& data, const Normalization& norm, const QuantMode& mode,
                int batch = 64);

}  // namespace sparq::training
