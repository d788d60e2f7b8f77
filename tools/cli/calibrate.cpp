// sparq calibrate MODEL -o OUT (--data PATH | --random N): static activation
// scales. The model runs with every quantize node dynamic; for each quantize
// node the largest per-sample max of its input over the calibration samples
// (the number the dynamic rule takes its scale from, sparq::activation_max)
// becomes its static scale, activation_scale_from_max(max), in the model
// written to OUT.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "sparq/image.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/inputs.hpp"
#include "tools/cli/json_text.hpp"
#include "tools/cli/progress.hpp"
#include "tools/cli/table.hpp"

namespace sparq::cli {
namespace {

struct CalibrateOptions {
  std::string model_path;
  std::string output_path;
  std::string data_path;
  std::string split = "train";
  int64_t random = 0;
  int64_t samples = 0;
  uint32_t seed = 1;
  int batch = 64;
  BackendOptions backend;
  bool json = false;
  bool progress = false;
  bool no_progress = false;
};

// One quantize node being calibrated.
struct Calibrated {
  size_t node = 0;  // index in the graph
  ValueId input = -1;
  float max = 0.0f;  // the largest per-sample max seen so far
};

// The calibration samples, batch by batch: a slice of an IDX data set, or
// seeded random inputs (as `bench` feeds).
class SampleSource {
 public:
  SampleSource(const Model& model, const CalibrateOptions& options) : model_(model) {
    if (!options.data_path.empty()) {
      description_ = dataset_images_path(options.data_path, options.split);
      images_ = read_idx_images(description_);
      preprocessing_ = image_preprocessing(model);
      total_ =
          options.samples > 0 ? std::min<int64_t>(options.samples, images_.count) : images_.count;
      if (total_ == 0) {
        throw Error(ErrorCode::kInvalidArgument,
                    "dataset '" + description_ + "' holds no images to calibrate on");
      }
    } else {
      random_ = true;
      gen_.seed(options.seed);
      total_ = options.random;
      description_ = "random uniform [0, 1) inputs, seed " + std::to_string(options.seed);
    }
  }

  int64_t total() const { return total_; }
  const std::string& description() const { return description_; }

  Tensor batch(int64_t first, int64_t count) {
    if (random_) return random_input(model_, count, gen_);
    return dataset_batch(images_, static_cast<size_t>(first), static_cast<size_t>(count),
                         preprocessing_);
  }

 private:
  const Model& model_;
  bool random_ = false;
  std::mt19937 gen_;
  IdxImages images_;
  Preprocessing preprocessing_;
  int64_t total_ = 0;
  std::string description_;
};

// The model with every quantize node dynamic and every quantize input a
// graph output (the graph input excepted: the validator refuses it as an
// output, and the caller has it anyway). `output_of` maps a value to its
// index in the session's results.
std::shared_ptr<const Model> probe_model(const Model& model, const std::vector<Calibrated>& nodes,
                                         std::map<ValueId, size_t>& output_of) {
  Graph graph = model.graph();
  for (const Calibrated& c : nodes) std::get<QuantizeOp>(graph.nodes[c.node].op).scale = 0.0f;
  for (size_t i = 0; i < graph.outputs.size(); ++i) output_of[graph.outputs[i]] = i;
  for (const Calibrated& c : nodes) {
    if (c.input == graph.input || output_of.count(c.input)) continue;
    output_of[c.input] = graph.outputs.size();
    graph.outputs.push_back(c.input);
  }
  return std::make_shared<const Model>(std::move(graph), model.metadata());
}

// Six significant digits: scales span many orders of magnitude.
std::string significant(float value) {
  std::ostringstream out;
  out << std::setprecision(6) << value;
  return out.str();
}

std::string format_name(const QuantizeOp& op) {
  return (op.is_signed ? "s" : "u") + std::to_string(op.bits);
}

void run_calibrate(const CalibrateOptions& options) {
  if (options.data_path.empty() == (options.random == 0)) {
    throw UsageError("give the calibration samples with exactly one of --data PATH or --random N");
  }
  if (options.random > 0 && options.samples > 0) {
    throw UsageError("--samples limits --data; --random N already gives the sample count");
  }
  const auto model = load_model(options.model_path);
  const Graph& graph = model->graph();
  std::vector<Calibrated> nodes;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (std::holds_alternative<QuantizeOp>(graph.nodes[i].op))
      nodes.push_back({i, graph.nodes[i].inputs.at(0)});
  }
  if (nodes.empty()) {
    throw Error(ErrorCode::kInvalidModel,
                "model '" + options.model_path + "' has no quantize nodes: nothing to calibrate");
  }
  std::map<ValueId, size_t> output_of;
  const auto probe = probe_model(*model, nodes, output_of);
  Session session(probe, session_options(options.backend));  // checks the limits first
  SampleSource source(*model, options);

  const bool show = !options.no_progress && (options.progress || stderr_is_terminal());
  ProgressBar progress("calibrate", source.total(), show);
  for (int64_t first = 0; first < source.total(); first += options.batch) {
    const int64_t count = std::min<int64_t>(options.batch, source.total() - first);
    const Tensor input = source.batch(first, count);
    const std::vector<Tensor> results = session.run(input);
    for (Calibrated& c : nodes) {
      const Node& node = graph.nodes[c.node];
      const bool is_signed = std::get<QuantizeOp>(node.op).is_signed;
      const Tensor& x = c.input == graph.input ? input : results[output_of.at(c.input)];
      const auto values = x.span<const float>();
      const size_t per_sample = values.size() / static_cast<size_t>(count);
      for (int64_t n = 0; n < count; ++n) {
        const auto sample = values.subspan(static_cast<size_t>(n) * per_sample, per_sample);
        // The dynamic rule skips NaN and inf; a scale calibrated past them
        // would describe data the model never meant to produce.
        if (!std::all_of(sample.begin(), sample.end(), [](float v) { return std::isfinite(v); })) {
          const std::string where =
              "calibration sample " + std::to_string(first + n) + " of " + source.description();
          if (c.input == graph.input) {
            throw Error(ErrorCode::kInvalidArgument,
                        where + " holds a NaN or infinite value (input of quantize node '" +
                            node.name + "')");
          }
          throw Error(ErrorCode::kInvalidModel, "the input of quantize node '" + node.name +
                                                    "' holds a NaN or infinite value on " + where);
        }
        c.max = std::max(c.max, activation_max(sample, is_signed));
      }
    }
    progress.update(first + count);
  }
  progress.finish();

  Graph calibrated = graph;
  for (const Calibrated& c : nodes) {
    auto& op = std::get<QuantizeOp>(calibrated.nodes[c.node].op);
    op.scale = activation_scale_from_max(c.max, op.bits, op.is_signed);
  }
  ModelMetadata metadata = model->metadata();
  // The recorded accuracy was measured with dynamic scales; the calibrated
  // model's is unknown until measured (sparq eval), so it is not carried over.
  std::erase_if(metadata.provenance,
                [](const auto& entry) { return entry.first.starts_with("accuracy"); });
  metadata.provenance["activation_calibration"] =
      std::to_string(source.total()) + " samples: " + source.description();
  // Validation names a node whose scale left the bounds every scale obeys.
  const Model result(std::move(calibrated), std::move(metadata));
  result.save(options.output_path);

  if (options.json) {
    nlohmann::json j{{"model", options.model_path},
                     {"output", options.output_path},
                     {"samples", source.total()},
                     {"source", source.description()},
                     {"nodes", nlohmann::json::array()}};
    for (const Calibrated& c : nodes) {
      const Node& node = result.graph().nodes[c.node];
      const auto& op = std::get<QuantizeOp>(node.op);
      j["nodes"].push_back({{"name", node.name},
                            {"input", graph.value(c.input).name},
                            {"format", format_name(op)},
                            {"max", c.max},
                            {"scale", op.scale}});
    }
    std::cout << json_text(j) << "\n";
    return;
  }
  std::cout << "calibrated on " << source.total() << " samples (" << source.description() << ")\n";
  Table table({"quantize node", "input", "format", "max", "static scale"});
  for (const Calibrated& c : nodes) {
    const Node& node = result.graph().nodes[c.node];
    const auto& op = std::get<QuantizeOp>(node.op);
    table.add_row({node.name, graph.value(c.input).name, format_name(op), significant(c.max),
                   significant(op.scale)});
  }
  std::cout << table.text() << "wrote " << options.output_path << "\n";
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto options = std::make_shared<CalibrateOptions>();
  CLI::App* command =
      app.add_subcommand("calibrate",
                         "Static activation scales from data: writes the model with every quantize "
                         "node's scale fixed");
  command->add_option("MODEL", options->model_path, "Model file (.sparq)")->required();
  command->add_option("-o,--output", options->output_path, "Calibrated model file to write")
      ->required();
  command->add_option("--data", options->data_path,
                      "idx3 image file (.gz ok), or a folder with <split>-images-idx3-ubyte");
  command->add_option("--split", options->split, "test or train, when --data is a folder")
      ->check(CLI::IsMember({"test", "train"}))
      ->capture_default_str();
  command->add_option("--random", options->random, "Calibrate on N random inputs instead")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 31));
  command->add_option("--samples", options->samples, "Use only the first N samples of --data")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 31));
  command->add_option("--seed", options->seed, "Seed of the --random inputs")
      ->capture_default_str();
  command->add_option("--batch", options->batch, "Samples per run")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  add_backend_options(*command, options->backend);
  command->add_flag("--json", options->json, "Machine-readable summary");
  command->add_flag("--progress", options->progress, "Progress bar even when not a terminal");
  command->add_flag("--no-progress", options->no_progress, "No progress bar");
  command->callback([options] { run_calibrate(*options); });
}

}  // namespace sparq::cli
