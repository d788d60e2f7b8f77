#include "sparq_training/study.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "sparq_training/checkpoint.hpp"
#include "sparq_training/export.hpp"
#include "sparq_training/prune.hpp"
#include "sparq_training/runtime_figures.hpp"
#include "sparq_training/svg_plot.hpp"

namespace sparq::training {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Measurement {
  double accuracy = 0;
  RuntimeFigures runtime;
  std::string model_path;
};

struct StudyRow {
  int k = 9;
  double fp32 = 0;
  Measurement a8, a4;
  double minutes = 0;  // wall time spent on this row
};

struct RuleResult {
  std::string rule;
  std::vector<StudyRow> rows;
};

struct StudyContext {
  const StudyCommand& cmd;
  Dataset train_data, test_data;
  CheckpointInfo info;
  Tensor sample;  // one preprocessed test image for the runtime figures
  Clock::time_point start = Clock::now();
};

std::string fmt(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// QAT on a copy of `net`, then the exact fake-quantized accuracy and the
// exported model.
Measurement quantize_and_export(StudyContext& ctx, Net& net, int act_bits, PatternSharing sharing,
                                const std::string& tag, double fp32_accuracy) {
  Net twin = copy_net(net);
  TrainOptions qat = ctx.cmd.qat;
  qat.quant = {true, act_bits, false};
  qat.label = tag + " QAT w4a" + std::to_string(act_bits);
  if (qat.epochs > 0) train(twin, ctx.train_data, ctx.info.norm, qat);
  Measurement m;
  m.accuracy = evaluate(twin, ctx.test_data, ctx.info.norm, {true, act_bits, true});
  CheckpointInfo info = ctx.info;
  info.sharing = sharing;
  std::map<std::string, std::string> provenance = info.notes;
  // The pruned weights' own fp32 accuracy (the notes carry the dense parent's).
  if (provenance.count("accuracy_fp32")) {
    provenance["dense_accuracy_fp32"] = provenance["accuracy_fp32"];
  }
  provenance["accuracy_fp32"] = format_percent(fp32_accuracy);
  provenance["dataset"] = info.dataset;
  provenance["accuracy"] = format_percent(m.accuracy);
  provenance["accuracy_samples"] = std::to_string(ctx.test_data.size());
  provenance["accuracy_measured_by"] =
      "sparq-train study: libtorch fake-quantized twin, exact integer numerics, test split";
  provenance["quantization"] =
      "w4a" + std::to_string(act_bits) + " (stem and classifier: 8-bit weights and inputs)";
  provenance["k"] = std::to_string(twin->density());
  provenance["sharing"] = to_string(sharing);
  provenance["command"] = ctx.cmd.command_line;
  Model model = export_model(twin, info, act_bits, provenance);
  m.model_path =
      (fs::path(ctx.cmd.work_dir) / (tag + "_w4a" + std::to_string(act_bits) + ".sparq")).string();
  model.save(m.model_path);
  m.runtime = measure_runtime(m.model_path, ctx.sample);
  return m;
}

std::string schedule_text(const std::vector<double>& schedule) {
  std::string text;
  for (double e : schedule) text += (text.empty() ? "" : ", ") + fmt("%g", e);
  return text;
}

std::string runtime_cell(const RuntimeFigures& r) {
  std::string cell = r.cpu_seconds >= 0 ? fmt("%.3f ms", r.cpu_seconds * 1e3) : "n/a";
  cell += " / ";
  cell += r.device_joules >= 0 ? fmt("%.2f uJ", r.device_joules * 1e6) : "n/a";
  return cell;
}

void write_report(const StudyContext& ctx, const std::vector<RuleResult>& results, bool done) {
  const StudyCommand& cmd = ctx.cmd;
  fs::path report(cmd.report);
  fs::path plot_path = fs::path(report).replace_extension(".svg");
  if (report.has_parent_path()) fs::create_directories(report.parent_path());

  PlotSpec plot;
  plot.title = "Fashion-MNIST: accuracy vs density (" +
               ctx.info.notes.at("arch").substr(0, ctx.info.notes.at("arch").find(':')) + ")";
  plot.x_label = "density k/9 (taps kept per 3x3 kernel / 9)";
  plot.y_label = "test accuracy (%)";
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  for (size_t r = 0; r < results.size(); ++r) {
    const char* color = colors[r % 4];
    PlotSeries fp32{results[r].rule + " fp32", color, true, {}};
    PlotSeries a8{results[r].rule + " w4a8", color, false, {}};
    PlotSeries a4{results[r].rule + " w4a4", color, false, {}};
    a4.color = r == 0 ? "#ff7f0e" : "#8c564b";
    for (const auto& row : results[r].rows) {
      fp32.points.push_back({row.k / 9.0, row.fp32});
      a8.points.push_back({row.k / 9.0, row.a8.accuracy});
      a4.points.push_back({row.k / 9.0, row.a4.accuracy});
    }
    plot.series.push_back(fp32);
    plot.series.push_back(a8);
    plot.series.push_back(a4);
  }
  std::ofstream(plot_path) << render_svg_plot(plot);

  std::ostringstream md;
  md << "# Fashion-MNIST study: N-of-9 pruning and 4-bit quantization\n\n";
  md << (done ? "" : "**In progress** (the table fills in as rounds finish).\n\n");
  md << "Reproduce with:\n\n```\n" << cmd.command_line << "\n```\n\n";
  md << "- Model: `" << ctx.info.notes.at("arch") << "`, " << ctx.info.notes.at("weights")
     << " weights; the stem conv and the classifier stay dense and 8-bit.\n";
  md << "- Recipe: " << ctx.info.notes.at("recipe") << "; per pruning round (to k = 8, 7, ..., 1) "
     << schedule_text(cmd.round_epochs) << " epoch(s) of fine-tuning at lr " << cmd.finetune.lr
     << " (cosine); per (k, activation bits) " << cmd.qat.epochs
     << " epoch(s) of quantization-aware fine-tuning at lr " << cmd.qat.lr
     << " (BatchNorm folded and frozen, straight-through estimator), seed "
     << ctx.info.notes.at("seed") << ".\n";
  md << "- Accuracy: Fashion-MNIST test split (" << ctx.test_data.size()
     << " images). w4a8 / w4a4: 4-bit weights in the pruned layers, activations quantized per "
        "sample at run time to 8 / 4 bits, measured on the fake-quantized libtorch twin with the "
        "runtime's integer numerics.\n";
  md << "- Runtime: CPU latency (cpu backend, 1 thread, batch 1, best of 30) / energy per "
        "inference of the device model, for the w4a8 and w4a4 exports.\n";
  md << (done ? "- Wall time: " : "- Wall time so far: ")
     << fmt("%.1f", seconds_since(ctx.start) / 60) << " min.\n\n";
  md << "![accuracy vs density](" << plot_path.filename().string() << ")\n\n";
  for (const auto& result : results) {
    md << "## Sharing " << result.rule
       << (result.rule == "1x1" ? " (per-kernel patterns, the chip's rule)"
                                : " (output x input channel groups share tap positions)")
       << "\n\n";
    md << "| k | density | fp32 | w4a8 | w4a4 | w4a8 CPU / device | w4a4 CPU / device |\n";
    md << "|---:|---:|---:|---:|---:|---:|---:|\n";
    const double dense = result.rows.empty() ? 0 : result.rows.front().a8.accuracy;
    for (const auto& row : result.rows) {
      md << "| " << row.k << " | " << fmt("%.0f%%", 100.0 * row.k / 9) << " | "
         << format_percent(row.fp32) << " | " << format_percent(row.a8.accuracy) << " ("
         << fmt("%+.2f", row.a8.accuracy - dense) << ") | " << format_percent(row.a4.accuracy)
         << " (" << fmt("%+.2f", row.a4.accuracy - dense) << ") | " << runtime_cell(row.a8.runtime)
         << " | " << runtime_cell(row.a4.runtime) << " |\n";
    }
    md << "\nDifferences in parentheses are against the k = 9 w4a8 model.\n\n";
  }
  std::string notes;
  for (const auto& result : results) {
    for (const auto& row : result.rows) {
      if (!row.a8.runtime.note.empty()) notes = row.a8.runtime.note;
    }
  }
  if (!notes.empty()) md << "Runtime figures missing: " << notes << "\n";
  std::ofstream(report) << md.str();
}

}  // namespace

double round_epochs_for(const std::vector<double>& schedule, int k) {
  if (schedule.size() != 1 && schedule.size() != 8) {
    throw Error(ErrorCode::kInvalidArgument,
                "--round-epochs takes 1 value (every round) or 8 (the rounds to k = 8..1), got " +
                    std::to_string(schedule.size()));
  }
  for (double e : schedule) {
    if (!(e >= 0)) throw Error(ErrorCode::kInvalidArgument, "--round-epochs must be >= 0");
  }
  if (k < 1 || k > 8) {
    throw Error(ErrorCode::kInvalidArgument, "no pruning round ends at k = " + std::to_string(k));
  }
  return schedule.size() == 1 ? schedule[0] : schedule[static_cast<size_t>(8 - k)];
}

int run_study(const StudyCommand& cmd) {
  if (cmd.sharing_rules.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--sharing needs at least one rule");
  }
  round_epochs_for(cmd.round_epochs, 1);  // rejects a bad schedule before any training
  std::vector<PatternSharing> rules;
  for (const auto& r : cmd.sharing_rules) rules.push_back(parse_sharing(r));
  fs::create_directories(cmd.work_dir);
  StudyContext ctx{cmd,
                   load_dataset(cmd.data.format, cmd.data.dir, Split::kTrain, cmd.data.train_limit),
                   load_dataset(cmd.data.format, cmd.data.dir, Split::kTest, cmd.data.test_limit),
                   {},
                   {}};
  // Dense model: trained here, or reused.
  Net dense{nullptr};
  const fs::path dense_path = cmd.dense_checkpoint.empty() ? fs::path(cmd.work_dir) / "dense.pt"
                                                           : fs::path(cmd.dense_checkpoint);
  if (!cmd.dense_checkpoint.empty()) {
    LoadedCheckpoint loaded = load_checkpoint(dense_path);
    dense = loaded.net;
    ctx.info = loaded.info;
  } else {
    TrainCommand train_cmd;
    train_cmd.data = cmd.data;
    train_cmd.arch = cmd.arch;
    train_cmd.width = cmd.width;
    train_cmd.train = cmd.dense;
    train_cmd.out = dense_path.string();
    train_cmd.command_line = cmd.command_line;
    run_train(train_cmd);
    LoadedCheckpoint loaded = load_checkpoint(dense_path);
    dense = loaded.net;
    ctx.info = loaded.info;
  }
  ctx.sample =
      Tensor::from_floats(Shape{1, ctx.info.in_channels, ctx.info.height, ctx.info.width_px}, [&] {
        torch::Tensor x = normalize(ctx.test_data.images.narrow(0, 0, 1), ctx.info.norm);
        x = x.contiguous();
        return std::vector<float>(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
      }());

  std::vector<RuleResult> results;
  for (size_t r = 0; r < rules.size(); ++r) results.push_back({to_string(rules[r]), {}});

  // k = 9 is the same model for every rule.
  StudyRow dense_row;
  {
    const auto row_start = Clock::now();
    dense_row.k = 9;
    dense_row.fp32 = evaluate(dense, ctx.test_data, ctx.info.norm, {});
    dense_row.a8 = quantize_and_export(ctx, dense, 8, {}, "k9", dense_row.fp32);
    dense_row.a4 = quantize_and_export(ctx, dense, 4, {}, "k9", dense_row.fp32);
    dense_row.minutes = seconds_since(row_start) / 60;
    for (auto& result : results) result.rows.push_back(dense_row);
    std::printf("k=9: fp32 %.2f w4a8 %.2f w4a4 %.2f\n", dense_row.fp32, dense_row.a8.accuracy,
                dense_row.a4.accuracy);
    write_report(ctx, results, false);
  }
  for (size_t r = 0; r < rules.size(); ++r) {
    Net net = copy_net(dense);
    const std::string rule = to_string(rules[r]);
    for (int k = 8; k >= 1; --k) {
      const auto row_start = Clock::now();
      prune_one_round(net, rules[r]);
      TrainOptions finetune = cmd.finetune;
      finetune.seed = cmd.finetune.seed + static_cast<uint32_t>(k);
      finetune.epochs = round_epochs_for(cmd.round_epochs, k);
      finetune.label = rule + " k=" + std::to_string(k) + " fine-tune";
      if (finetune.epochs > 0) train(net, ctx.train_data, ctx.info.norm, finetune);
      StudyRow row;
      row.k = k;
      row.fp32 = evaluate(net, ctx.test_data, ctx.info.norm, {});
      const std::string tag = "s" + rule + "_k" + std::to_string(k);
      row.a8 = quantize_and_export(ctx, net, 8, rules[r], tag, row.fp32);
      row.a4 = quantize_and_export(ctx, net, 4, rules[r], tag, row.fp32);
      row.minutes = seconds_since(row_start) / 60;
      results[r].rows.push_back(row);
      std::printf("sharing %s k=%d: fp32 %.2f w4a8 %.2f w4a4 %.2f (%.1f min)\n", rule.c_str(), k,
                  row.fp32, row.a8.accuracy, row.a4.accuracy, row.minutes);
      std::fflush(stdout);
      write_report(ctx, results, false);
    }
  }
  write_report(ctx, results, true);
  std::printf("study done in %.1f min: %s\n", seconds_since(ctx.start) / 60, cmd.report.c_str());
  return 0;
}

}  // namespace sparq::training
