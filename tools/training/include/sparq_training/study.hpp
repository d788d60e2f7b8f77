// The Fashion-MNIST study in one command: train dense, then for each
// pattern-sharing rule prune round by round down to k = 1 (fine-tuning
// between rounds); after every round measure fp32, w4a8 and w4a4 accuracy
// (each after its own short quantization-aware fine-tune), export a .sparq
// model per k, time it on the CPU backend and ask the device model for its
// energy; finally write a markdown report with the table and an SVG plot of
// accuracy against density.
#pragma once

#include <string>
#include <vector>

#include "sparq_training/commands.hpp"

namespace sparq::training {

struct StudyCommand {
  DataOptions data;
  std::string arch = "cnn";
  int width = 0;
  TrainOptions dense;     // dense training
  TrainOptions finetune;  // per pruning round (its `epochs` is unused: see below)
  // Fine-tuning epochs after the rounds to k = 8, 7, ..., 1: one value for
  // every round, or eight. The late rounds do the most damage (each drops a
  // larger share of the remaining weights), so a schedule that spends its
  // epochs there buys more accuracy per minute than a flat one.
  std::vector<double> round_epochs = {1.0};
  TrainOptions qat;  // per (k, activation bits)
  std::vector<std::string> sharing_rules = {"1x1", "16x4"};
  std::string dense_checkpoint;          // reuse a trained dense model (skips dense training)
  std::string work_dir = "study";        // checkpoints and every exported model
  std::string report = "docs/STUDY.md";  // markdown; the plot is written next to it (.svg)
  std::string command_line;
};

int run_study(const StudyCommand& cmd);

// Fine-tuning epochs for the round that prunes down to `k` (8..1); throws
// kInvalidArgument unless `schedule` has 1 or 8 non-negative values.
double round_epochs_for(const std::vector<double>& schedule, int k);

}  // namespace sparq::training
