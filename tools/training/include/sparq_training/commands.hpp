// The sparq-train subcommands as functions (main.cpp only parses flags).
#pragma once

#include <cstdint>
#include <string>

#include "sparq/ops.hpp"
#include "sparq_training/data.hpp"
#include "sparq_training/trainer.hpp"

namespace sparq::training {

struct DataOptions {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string format = "idx";
  int64_t train_limit = 0;  // > 0: first N training samples only (smoke tests)
  int64_t test_limit = 0;   // > 0: first N test samples only
};

struct TrainCommand {
  DataOptions data;
  std::string arch = "cnn";
  int width = 0;  // 0: the architecture's default
  // A float .sparq model (imported) to start from instead of `arch`, and how
  // images become its input (imported_model.hpp: model | dataset | scale=..).
  std::string model;
  std::string preprocess = "model";
  TrainOptions train;
  std::string out;
  bool resume = false;       // continue the run saved at `out`
  std::string command_line;  // recorded in the provenance
};

struct PruneCommand {
  DataOptions data;
  std::string in, out;
  // Instead of `in`: a float .sparq model and its preprocessing (as for train).
  std::string model;
  std::string preprocess = "model";
  int target_k = 1;
  PatternSharing sharing;
  TrainOptions finetune;  // per round
  // Quantization-aware fine-tuning after the last round (0 epochs: none).
  TrainOptions qat;
  int act_bits = 8;
  bool resume = false;  // continue at the round saved at `out`
  std::string command_line;
};

struct ExportCommand {
  DataOptions data;
  std::string in, out;
  int act_bits = 8;
  std::string command_line;
};

struct EvalCommand {
  DataOptions data;
  std::string in;
};

// Writes a data set (both splits) as an image folder (image_folder.hpp):
// to train on PNG files, or to classify single images with `sparq classify`.
struct ExportImagesCommand {
  DataOptions data;
  std::string out;
};

// Each returns the process exit code and prints a summary to stdout.
int run_train(const TrainCommand& cmd);
int run_prune(const PruneCommand& cmd);
int run_export(const ExportCommand& cmd);
int run_eval(const EvalCommand& cmd);
int run_export_images(const ExportImagesCommand& cmd);

// "%.2f" of a percentage.
std::string format_percent(double value);

}  // namespace sparq::training
