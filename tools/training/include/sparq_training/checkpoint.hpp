// Checkpoints: the module's parameters and buffers (masks included) plus what
// is needed to rebuild it and to continue (architecture, data set,
// normalization, pruning state, provenance notes, resume position). Written
// to a temporary file and renamed, so an interrupted run never leaves a
// half-written checkpoint behind.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sparq/ops.hpp"
#include "sparq_training/data.hpp"
#include "sparq_training/net.hpp"

namespace sparq::training {

struct CheckpointInfo {
  std::string arch;
  int width = 0;
  int in_channels = 0, height = 0, width_px = 0, classes = 0;
  std::string dataset;
  std::vector<std::string> class_names;
  Normalization norm;
  PatternSharing sharing;  // the rule pruning has used (1x1: per kernel)
  // Free-form provenance carried into the exported model: recipe, seed,
  // command lines, measured accuracies, wall times.
  std::map<std::string, std::string> notes;
  // Resuming: the phase ("train", "prune") and its next epoch / round.
  std::string phase;
  int next_epoch = 0;
};

void save_checkpoint(const std::filesystem::path& path, Net& net, const CheckpointInfo& info);

struct LoadedCheckpoint {
  Net net{nullptr};
  CheckpointInfo info;
};
// Throws sparq::Error(kIo) naming the file when it is missing or not a
// checkpoint written by sparq-train.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& path);

ArchSpec arch_of(const CheckpointInfo& info);

// An independent copy (parameters, buffers, masks) of `net`.
Net copy_net(Net& net);

}  // namespace sparq::training
