// sparq sweep MODEL...: one network pruned to several densities k, side by
// side: accuracy, CPU latency, device cycles and energy per k, as a markdown
// table and (with --svg) a plot of accuracy against latency and energy, one
// series per variant of the network (activation width, pattern sharing).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "sparq/device.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/device_options.hpp"
#include "tools/cli/evaluation.hpp"
#include "tools/cli/json_text.hpp"
#include "tools/cli/layer_summary.hpp"
#include "tools/cli/progress.hpp"
#include "tools/cli/svg_plot.hpp"
#include "tools/cli/table.hpp"
#include "tools/cli/timing.hpp"

namespace sparq::cli {
namespace {

struct SweepOptions {
  std::vector<std::string> model_paths;
  std::string dataset_path;
  std::string labels_path;
  int64_t limit = 0;
  BackendOptions backend;
  DeviceOptions device;
  std::string svg_path;
  int min_runs = 20;
  bool json = false;
  bool progress = false;
  bool no_progress = false;
};

struct SweepRow {
  std::string path;
  std::string variant;    // what besides k tells the sweep's models apart
  int density = 0;        // 0: mixed
  double accuracy = NAN;  // fraction
  std::string accuracy_source;
  MacCount macs;
  double cpu_latency = 0;  // seconds, batch 1 median
  int64_t device_cycles = 0;
  double device_seconds = 0;
  EnergyBreakdown device_energy;                       // joules per image
  double device_dense_tops_per_watt = 0;               // chip energy only
  double device_dense_tops_per_watt_with_offchip = 0;  // chip + off-chip
};

// The models of a sweep must be one network at several densities: the same
// ops in the same order on the same shapes.
void check_same_family(const Model& first, const std::string& first_path, const Model& other,
                       const std::string& path) {
  const auto& a = first.graph().nodes;
  const auto& b = other.graph().nodes;
  auto differ = [&](const std::string& why) {
    throw Error(ErrorCode::kInvalidModel, "sweep: '" + path + "' is not the network of '" +
                                              first_path + "' at another density: " + why);
  };
  if (first.input().shape != other.input().shape) differ("the input shapes differ");
  if (a.size() != b.size()) {
    differ(std::to_string(b.size()) + " nodes instead of " + std::to_string(a.size()));
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (op_name(a[i].op) != std::string(op_name(b[i].op)) ||
        first.graph().value(a[i].output).shape != other.graph().value(b[i].output).shape) {
      differ("node " + std::to_string(i) + " ('" + b[i].name + "') differs");
    }
  }
}

// The sweep's models are one network (check_same_family); what may still
// tell two of them apart at one k is how their sparse layers run: the width
// of the activations they read and how their tap patterns are shared. Models
// that agree on both are one series of the plot, e.g. "a8, per-kernel
// patterns" at k = 9, 3, 1 and "a4, per-kernel patterns" at k = 1.
std::string variant_of(const Model& model) {
  const Graph& graph = model.graph();
  std::map<ValueId, const Node*> producer;
  for (const Node& node : graph.nodes) producer[node.output] = &node;
  std::set<int> bits;
  std::set<std::pair<int, int>> sharing;
  for (const Node& node : graph.nodes) {
    const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op);
    if (!sparse) continue;
    sharing.insert({sparse->sharing.out_group, sparse->sharing.in_group});
    const auto from = producer.find(node.inputs.at(0));
    if (from == producer.end()) continue;
    const OpAttrs& source = from->second->op;
    if (const auto* quantize = std::get_if<QuantizeOp>(&source)) {
      bits.insert(quantize->bits);
    } else if (const auto* fused_sparse = std::get_if<SparseConv3x3Op>(&source);
               fused_sparse && fused_sparse->output_quantization.enabled()) {
      // A layer fused with its static quantize (fold_static_quantize).
      bits.insert(fused_sparse->output_quantization.bits);
    } else if (const auto* fused_conv = std::get_if<Conv2dOp>(&source);
               fused_conv && fused_conv->output_quantization.enabled()) {
      bits.insert(fused_conv->output_quantization.bits);
    }
  }
  if (sharing.empty()) return "no sparse layers";
  std::string name;
  for (int b : bits) name += (name.empty() ? "a" : "+a") + std::to_string(b);
  if (!name.empty()) name += ", ";
  if (sharing.size() == 1 && *sharing.begin() == std::pair{1, 1})
    return name + "per-kernel patterns";
  std::string shared;
  for (const auto& [out, in] : sharing) {
    shared += (shared.empty() ? "" : "+") + std::to_string(out) + "x" + std::to_string(in);
  }
  return name + "patterns shared " + shared;
}

double provenance_accuracy(const Model& model) {
  const auto& provenance = model.metadata().provenance;
  const auto it = provenance.find("accuracy");
  if (it == provenance.end()) return NAN;
  try {
    const double v = std::stod(it->second);
    return v > 1.0 ? v / 100.0 : v;  // "91.3" (percent) or "0.913"
  } catch (const std::exception&) {
    return NAN;
  }
}

double median_latency(const std::shared_ptr<const Model>& model, const BackendOptions& backend,
                      int min_runs) {
  Session session(model, session_options(backend));
  Tensor input(model->input().shape.with_batch(1), DType::kF32);
  for (float& v : input.span<float>()) v = 0.5f;
  session.run(input);  // warm-up
  std::vector<double> seconds;
  const auto start = std::chrono::steady_clock::now();
  while (static_cast<int>(seconds.size()) < min_runs ||
         (seconds_since(start) < 0.2 && seconds.size() < 10000)) {
    const auto t0 = std::chrono::steady_clock::now();
    session.run(input);
    seconds.push_back(seconds_since(t0));
  }
  return summarize(seconds).median;
}

std::string k_label(int density) {
  return density ? std::to_string(density) : "mixed";
}

// The plot's name for each row: "k=N" where no other model of the sweep has
// that k; else the file's stem with its k (or the path as given, when stems
// repeat too), so no two points share a label.
std::vector<std::string> point_labels(const std::vector<SweepRow>& rows) {
  std::map<int, int> per_density;
  std::map<std::string, int> per_stem;
  for (const auto& r : rows) {
    ++per_density[r.density];
    ++per_stem[std::filesystem::path(r.path).stem().string()];
  }
  std::vector<std::string> labels;
  for (const auto& r : rows) {
    const std::string k = "k=" + k_label(r.density);
    const std::string stem = std::filesystem::path(r.path).stem().string();
    if (per_density[r.density] == 1) {
      labels.push_back(k);
    } else {
      labels.push_back((per_stem[stem] == 1 ? stem : r.path) + " (" + k + ")");
    }
  }
  return labels;
}

// Rows come sorted by k, densest first, so each series' line runs in k order.
void write_svg(const std::vector<SweepRow>& rows, const std::string& path) {
  PlotPanel latency{"accuracy vs CPU latency", "CPU latency, batch 1 (ms)", "accuracy (%)", {}};
  PlotPanel energy{"accuracy vs device energy",
                   "device energy per image, chip + off-chip (uJ)",
                   "accuracy (%)",
                   {}};
  std::vector<std::string> series;
  const std::vector<std::string> labels = point_labels(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    const SweepRow& r = rows[i];
    if (std::isnan(r.accuracy)) {
      throw UsageError(
          "--svg needs an accuracy per model: pass --dataset, or use models whose "
          "provenance records one ('" +
          r.path + "' does not)");
    }
    auto it = std::find(series.begin(), series.end(), r.variant);
    if (it == series.end()) it = series.insert(series.end(), r.variant);
    const int s = static_cast<int>(it - series.begin());
    latency.points.push_back({r.cpu_latency * 1e3, 100.0 * r.accuracy, labels[i], s});
    energy.points.push_back({r.device_energy.total() * 1e6, 100.0 * r.accuracy, labels[i], s});
  }
  std::ofstream out(path);
  out << svg_scatter({latency, energy}, series,
                     "sparq sweep: one point per model, one line per variant");
  out.close();  // a full disk shows when the buffer is written
  if (!out) throw Error(ErrorCode::kIo, "cannot write the plot to '" + path + "'");
}

void run_sweep(const SweepOptions& options) {
  const DeviceConfig config = device_config(options.device);
  std::vector<std::shared_ptr<const Model>> models;
  for (const auto& path : options.model_paths) {
    models.push_back(load_model(path));
    if (models.size() > 1)
      check_same_family(*models[0], options.model_paths[0], *models.back(), path);
  }
  std::unique_ptr<Dataset> dataset;
  if (!options.dataset_path.empty()) {
    const ClassifierInfo info = classifier_info(*models[0], options.model_paths[0]);
    dataset = std::make_unique<Dataset>(
        load_dataset(options.dataset_path, options.labels_path, "test", info.classes));
  }
  // Three steps per model: accuracy, CPU latency, device model.
  const bool show_progress = !options.no_progress && (options.progress || stderr_is_terminal());
  ProgressBar progress("sweep", 3 * static_cast<int64_t>(models.size()), show_progress);
  int64_t steps_done = 0;
  auto step_done = [&] { progress.update(++steps_done); };
  std::vector<SweepRow> rows;
  for (size_t m = 0; m < models.size(); ++m) {
    const Model& model = *models[m];
    SweepRow row;
    row.path = options.model_paths[m];
    row.variant = variant_of(model);
    row.density = uniform_density(model);
    for (const Node& node : model.graph().nodes) {
      const MacCount macs = count_macs(model.graph(), node);
      row.macs.dense += macs.dense;
      row.macs.actual += macs.actual;
    }
    if (dataset) {
      const ClassifierInfo info = classifier_info(model, row.path);
      Session session(models[m], session_options(options.backend));
      row.accuracy = evaluate(session, *dataset, info.classes, 64, options.limit, false).accuracy();
      row.accuracy_source = "measured";
    } else {
      row.accuracy = provenance_accuracy(model);
      row.accuracy_source = std::isnan(row.accuracy) ? "unknown" : "model file";
    }
    step_done();
    row.cpu_latency = median_latency(models[m], options.backend, options.min_runs);
    step_done();
    const DeviceReport report = simulate(model, config, 1);
    row.device_cycles = report.total.cycles;
    row.device_seconds = report.total.seconds;
    row.device_energy = report.total.energy;
    row.device_dense_tops_per_watt = report.total.dense_tops_per_watt();
    row.device_dense_tops_per_watt_with_offchip = report.total.dense_tops_per_watt_with_offchip();
    rows.push_back(row);
    step_done();
  }
  progress.finish();
  std::stable_sort(rows.begin(), rows.end(),
                   [](const SweepRow& a, const SweepRow& b) { return a.density > b.density; });
  if (!options.svg_path.empty()) write_svg(rows, options.svg_path);
  if (options.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows) {
      j.push_back(
          {{"model", r.path},
           {"variant", r.variant},
           {"density", r.density},
           {"accuracy", std::isnan(r.accuracy) ? nlohmann::json() : nlohmann::json(r.accuracy)},
           {"accuracy_source", r.accuracy_source},
           {"dense_macs", r.macs.dense},
           {"actual_macs", r.macs.actual},
           {"cpu_latency_seconds", r.cpu_latency},
           {"device_cycles", r.device_cycles},
           {"device_seconds", r.device_seconds},
           {"device_energy_joules", r.device_energy.total()},
           {"device_chip_energy_joules", r.device_energy.chip()},
           {"device_offchip_energy_joules", r.device_energy.offchip},
           {"device_dense_tops_per_watt", r.device_dense_tops_per_watt},
           {"device_dense_tops_per_watt_with_offchip", r.device_dense_tops_per_watt_with_offchip}});
    }
    std::cout << json_text(j) << "\n";
    return;
  }
  // Energy and TOPS/W count the same joules: the chip's and its off-chip
  // traffic's (the footnote says so; the JSON has the chip alone too).
  Table table({"k", "model", "variant", "actual MACs", "accuracy %", "CPU latency (ms)",
               "device cycles", "device time (us)", "device energy* (uJ)", "dense-eq. TOPS/W*"});
  for (const auto& r : rows) {
    table.add_row(
        {k_label(r.density), r.path, r.variant, format_count(static_cast<double>(r.macs.actual)),
         std::isnan(r.accuracy) ? "-" : format_fixed(100.0 * r.accuracy, 2),
         format_fixed(r.cpu_latency * 1e3, 3), std::to_string(r.device_cycles),
         format_fixed(r.device_seconds * 1e6, 2), format_fixed(r.device_energy.total() * 1e6, 3),
         format_fixed(r.device_dense_tops_per_watt_with_offchip, 2)});
  }
  std::cout << table.markdown();
  std::cout << "\naccuracy: "
            << (dataset ? "measured on " + options.dataset_path
                        : "from each model file's provenance")
            << "; CPU latency: median, batch 1, backend " << options.backend.backends
            << "; device: batch 1 at " << config.clock.name << " ("
            << format_fixed(config.clock.frequency_hz / 1e6, 0) << " MHz, "
            << format_fixed(config.clock.volts, 2) << " V).\n"
            << "* device energy and dense-eq. TOPS/W both count the chip (MACs, SRAM, vector "
               "unit, leakage) and its off-chip traffic (weights, activations, partial sums, "
               "host transfers); TOPS/W = 2 x dense MACs / that energy. The chip alone: "
               "--json (device_chip_energy_joules, device_dense_tops_per_watt).\n";
  if (!options.svg_path.empty()) std::cout << "plot: " << options.svg_path << "\n";
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto options = std::make_shared<SweepOptions>();
  CLI::App* command = app.add_subcommand(
      "sweep", "One model at several densities k: accuracy, CPU latency, device cycles and energy");
  command->add_option("MODELS", options->model_paths, "Model files, one per density")->required();
  command->add_option("--dataset", options->dataset_path,
                      "IDX test set to measure accuracy on (default: the models' provenance)");
  command->add_option("--labels", options->labels_path, "idx1 label file for --dataset");
  command->add_option("--limit", options->limit, "Evaluate only the first N images")
      ->check(CLI::NonNegativeNumber);
  add_backend_options(*command, options->backend);
  add_device_options(*command, options->device);
  command->add_option("--svg", options->svg_path, "Write the accuracy plots to this SVG file");
  command->add_option("--min-runs", options->min_runs, "Latency runs per model, at least")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command->add_flag("--json", options->json, "Machine-readable output");
  command->add_flag("--progress", options->progress, "Progress bar even when not a terminal");
  command->add_flag("--no-progress", options->no_progress, "No progress bar");
  command->callback([options] { run_sweep(*options); });
}

}  // namespace sparq::cli
