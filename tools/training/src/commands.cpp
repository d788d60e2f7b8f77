#include "sparq_training/commands.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "sparq_training/checkpoint.hpp"
#include "sparq_training/export.hpp"
#include "sparq_training/image_folder.hpp"
#include "sparq_training/imported_model.hpp"
#include "sparq_training/prune.hpp"

namespace sparq::training {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Dataset load(const DataOptions& d, Split split) {
  return load_dataset(d.format, d.dir, split,
                      split == Split::kTrain ? d.train_limit : d.test_limit);
}

// Appends `text` to a note, separated by "; ".
void append_note(CheckpointInfo& info, const std::string& key, const std::string& text) {
  std::string& note = info.notes[key];
  note += (note.empty() ? "" : "; ") + text;
}

void add_seconds(CheckpointInfo& info, double seconds) {
  double total = info.notes.count("wall_seconds") ? std::stod(info.notes["wall_seconds"]) : 0;
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0f", total + seconds);
  info.notes["wall_seconds"] = buffer;
}

std::string train_recipe(const TrainOptions& o) {
  char buffer[200];
  std::snprintf(buffer, sizeof buffer,
                "%g epochs, SGD nesterov lr %g cosine, wd %g, batch %d, crop pad %d%s", o.epochs,
                o.lr, o.weight_decay, o.batch, o.crop_padding, o.flip ? ", flip" : "");
  return buffer;
}

void check_data_matches(const Dataset& data, const CheckpointInfo& info, const std::string& path) {
  if (data.channels() != info.in_channels || data.height() != info.height ||
      data.width() != info.width_px || data.classes != info.classes) {
    throw Error(ErrorCode::kInvalidArgument,
                "data set '" + data.name + "' (" + std::to_string(data.channels()) + "x" +
                    std::to_string(data.height()) + "x" + std::to_string(data.width()) + ", " +
                    std::to_string(data.classes) + " classes) does not match checkpoint '" + path +
                    "' (" + std::to_string(info.in_channels) + "x" + std::to_string(info.height) +
                    "x" + std::to_string(info.width_px) + ", " + std::to_string(info.classes) +
                    " classes)");
  }
}

}  // namespace

std::string format_percent(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  return buffer;
}

int run_train(const TrainCommand& cmd) {
  if (cmd.out.empty()) throw Error(ErrorCode::kInvalidArgument, "--out is required");
  const auto start = Clock::now();
  Dataset train_data = load(cmd.data, Split::kTrain);
  Dataset test_data = load(cmd.data, Split::kTest);
  CheckpointInfo info;
  Net net{nullptr};
  int first_epoch = 0;
  if (cmd.resume && fs::exists(cmd.out)) {
    LoadedCheckpoint loaded = load_checkpoint(cmd.out);
    if (loaded.info.phase != "train") {
      throw Error(ErrorCode::kInvalidArgument,
                  "--resume: checkpoint '" + cmd.out + "' is not a dense training run");
    }
    net = loaded.net;
    info = loaded.info;
    first_epoch = info.next_epoch;
    check_data_matches(train_data, info, cmd.out);
    std::fprintf(stderr, "resuming %s at epoch %d\n", cmd.out.c_str(), first_epoch + 1);
  } else if (!cmd.model.empty()) {
    ImportedStart start = start_from_model(cmd.model, cmd.preprocess, train_data);
    net = start.net;
    info = start.info;
    info.phase = "train";
    info.notes["seed"] = std::to_string(cmd.train.seed);
    append_note(info, "recipe", "fine-tune imported: " + train_recipe(cmd.train));
    append_note(info, "command", cmd.command_line);
  } else {
    torch::manual_seed(cmd.train.seed);
    ArchSpec arch = make_arch(cmd.arch, cmd.width, train_data.channels(), train_data.height(),
                              train_data.width(), train_data.classes);
    net = Net(arch);
    info.arch = arch.name;
    info.width = arch.width;
    info.in_channels = arch.in_channels;
    info.height = arch.height;
    info.width_px = arch.width_px;
    info.classes = arch.classes;
    info.dataset = train_data.name;
    info.class_names = train_data.class_names;
    info.norm = compute_normalization(train_data);
    info.phase = "train";
    info.notes["arch"] = describe(arch);
    info.notes["weights"] = std::to_string(count_weights(arch));
    info.notes["seed"] = std::to_string(cmd.train.seed);
    append_note(info, "recipe", "dense: " + train_recipe(cmd.train));
    append_note(info, "command", cmd.command_line);
  }
  std::printf("%s, %s weights, %lld training / %lld test images\n", net->description().c_str(),
              info.notes["weights"].c_str(), static_cast<long long>(train_data.size()),
              static_cast<long long>(test_data.size()));
  TrainOptions options = cmd.train;
  if (options.label.empty()) options.label = "dense";
  train(net, train_data, info.norm, options, first_epoch, [&](int epoch) {
    info.next_epoch = epoch + 1;
    save_checkpoint(cmd.out, net, info);
  });
  const double accuracy = evaluate(net, test_data, info.norm, {});
  info.phase = "trained";
  info.notes["accuracy_fp32"] = format_percent(accuracy);
  add_seconds(info, seconds_since(start));
  save_checkpoint(cmd.out, net, info);
  std::printf("dense fp32 test accuracy %s%% (%lld images), %.0f s -> %s\n",
              format_percent(accuracy).c_str(), static_cast<long long>(test_data.size()),
              seconds_since(start), cmd.out.c_str());
  return 0;
}

int run_prune(const PruneCommand& cmd) {
  if (cmd.out.empty() || cmd.in.empty() == cmd.model.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--out and one of --in, --model are required");
  }
  if (cmd.target_k < 1 || cmd.target_k > 9) {
    throw Error(ErrorCode::kInvalidArgument,
                "--k must be 1..9 (taps kept per 3x3 kernel), is " + std::to_string(cmd.target_k));
  }
  const auto start = Clock::now();
  const bool resuming = cmd.resume && fs::exists(cmd.out);
  Dataset train_data = load(cmd.data, Split::kTrain);
  Dataset test_data = load(cmd.data, Split::kTest);
  Net net{nullptr};
  CheckpointInfo info;
  if (!resuming && !cmd.model.empty()) {
    ImportedStart start = start_from_model(cmd.model, cmd.preprocess, train_data);
    net = start.net;
    info = start.info;
    info.notes["accuracy_fp32_imported"] = format_percent(evaluate(net, test_data, info.norm, {}));
    std::printf("%s: fp32 %s%% before pruning\n", net->description().c_str(),
                info.notes["accuracy_fp32_imported"].c_str());
  } else {
    LoadedCheckpoint loaded = load_checkpoint(resuming ? cmd.out : cmd.in);
    net = loaded.net;
    info = loaded.info;
    check_data_matches(train_data, info, resuming ? cmd.out : cmd.in);
  }
  const int start_k = net->density();
  if (start_k < 9 && !(info.sharing == cmd.sharing)) {
    throw Error(ErrorCode::kInvalidArgument, "--sharing " + to_string(cmd.sharing) +
                                                 " differs from the " + to_string(info.sharing) +
                                                 " rule this checkpoint was pruned with");
  }
  if (start_k < cmd.target_k) {
    throw Error(ErrorCode::kInvalidArgument, "checkpoint keeps " + std::to_string(start_k) +
                                                 " taps per kernel, already below --k " +
                                                 std::to_string(cmd.target_k));
  }
  info.sharing = cmd.sharing;
  if (!resuming) {
    append_note(info, "recipe",
                "prune " + std::to_string(start_k) + "->" + std::to_string(cmd.target_k) +
                    " sharing " + to_string(cmd.sharing) + ", per round " +
                    train_recipe(cmd.finetune));
    append_note(info, "command", cmd.command_line);
  }
  for (int k = start_k; k > cmd.target_k; --k) {
    prune_one_round(net, cmd.sharing);
    TrainOptions options = cmd.finetune;
    options.seed = cmd.finetune.seed + static_cast<uint32_t>(k);
    options.label = "k=" + std::to_string(k - 1) + " fine-tune";
    if (options.epochs > 0) train(net, train_data, info.norm, options);
    info.phase = "prune";
    save_checkpoint(cmd.out, net, info);
    std::printf("k=%d fp32 %s%%\n", k - 1,
                format_percent(evaluate(net, test_data, info.norm, {})).c_str());
    std::fflush(stdout);
  }
  info.notes["k"] = std::to_string(net->density());
  info.notes["sharing"] = to_string(cmd.sharing);
  info.notes["accuracy_fp32"] = format_percent(evaluate(net, test_data, info.norm, {}));
  if (cmd.qat.epochs > 0) {
    TrainOptions options = cmd.qat;
    options.quant = {true, cmd.act_bits, false};
    options.label = "QAT w4a" + std::to_string(cmd.act_bits);
    train(net, train_data, info.norm, options);
    append_note(info, "recipe",
                "QAT w4a" + std::to_string(cmd.act_bits) + " " + train_recipe(options) +
                    " (BatchNorm frozen, STE)");
    info.notes["qat_act_bits"] = std::to_string(cmd.act_bits);
  }
  info.phase = "pruned";
  add_seconds(info, seconds_since(start));
  save_checkpoint(cmd.out, net, info);
  std::printf(
      "k=%d sharing %s: fp32 %s%%, w4a%d %s%%, %.0f s -> %s\n", net->density(),
      to_string(cmd.sharing).c_str(), info.notes["accuracy_fp32"].c_str(), cmd.act_bits,
      format_percent(evaluate(net, test_data, info.norm, {true, cmd.act_bits, true})).c_str(),
      seconds_since(start), cmd.out.c_str());
  return 0;
}

int run_export(const ExportCommand& cmd) {
  if (cmd.out.empty() || cmd.in.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--in and --out are required");
  }
  LoadedCheckpoint loaded = load_checkpoint(cmd.in);
  Dataset test_data = load(cmd.data, Split::kTest);
  check_data_matches(test_data, loaded.info, cmd.in);
  const double accuracy =
      evaluate(loaded.net, test_data, loaded.info.norm, {true, cmd.act_bits, true});
  std::map<std::string, std::string> provenance = loaded.info.notes;
  provenance["dataset"] = loaded.info.dataset;
  provenance["accuracy"] = format_percent(accuracy);
  provenance["accuracy_samples"] = std::to_string(test_data.size());
  provenance["accuracy_measured_by"] =
      "sparq-train: libtorch fake-quantized twin, exact integer numerics, test split";
  provenance["quantization"] =
      "w4a" + std::to_string(cmd.act_bits) +
      (loaded.net->graph() ? " (sparq import --quantize rule: sparse s4 3x3 layers; the first "
                             "layer and other convolutions / fully connected s8)"
                           : " (stem and classifier: 8-bit weights and inputs)");
  provenance["k"] = std::to_string(loaded.net->density());
  provenance["sharing"] = to_string(loaded.info.sharing);
  provenance["command"] += (provenance["command"].empty() ? "" : "; ") + cmd.command_line;
  Model model = export_model(loaded.net, loaded.info, cmd.act_bits, provenance);
  model.save(cmd.out);
  std::printf("%s: k=%d w4a%d accuracy %s%% (%lld test images), %lld bytes\n", cmd.out.c_str(),
              loaded.net->density(), cmd.act_bits, provenance["accuracy"].c_str(),
              static_cast<long long>(test_data.size()),
              static_cast<long long>(fs::file_size(cmd.out)));
  return 0;
}

int run_eval(const EvalCommand& cmd) {
  LoadedCheckpoint loaded = load_checkpoint(cmd.in);
  Dataset test_data = load(cmd.data, Split::kTest);
  check_data_matches(test_data, loaded.info, cmd.in);
  std::printf(
      "%s k=%d: fp32 %s%%, w4a8 %s%%, w4a4 %s%%\n", cmd.in.c_str(), loaded.net->density(),
      format_percent(evaluate(loaded.net, test_data, loaded.info.norm, {})).c_str(),
      format_percent(evaluate(loaded.net, test_data, loaded.info.norm, {true, 8, true})).c_str(),
      format_percent(evaluate(loaded.net, test_data, loaded.info.norm, {true, 4, true})).c_str());
  return 0;
}

int run_export_images(const ExportImagesCommand& cmd) {
  if (fs::exists(cmd.out) && !fs::is_empty(cmd.out)) {
    throw Error(ErrorCode::kInvalidArgument,
                "--out '" + cmd.out + "' exists and is not empty (refusing to mix data sets)");
  }
  int64_t written = 0;
  for (Split split : {Split::kTrain, Split::kTest}) {
    written += write_image_folder(load(cmd.data, split), cmd.out, split);
  }
  std::printf("%lld PNG images -> %s/{train,test}/<class>/\n", static_cast<long long>(written),
              cmd.out.c_str());
  return 0;
}

}  // namespace sparq::training
