// sparq run MODEL INPUT: one input (an image, or raw float32 samples) through
// the model; prints every output tensor and, with --stats, per-layer times.
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/cli/chip_figures.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/inputs.hpp"
#include "tools/cli/json_text.hpp"
#include "tools/cli/table.hpp"

namespace sparq::cli {
namespace {

struct RunOptions {
  std::string model_path;
  std::string input_path;
  BackendOptions backend;
  bool json = false;
  bool stats = false;
  size_t max_values = 64;
};

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> out;
  if (t.dtype() == DType::kF32) {
    for (float v : t.span<const float>()) out.push_back(v);
  } else if (t.dtype() == DType::kU8) {
    for (uint8_t v : t.span<const uint8_t>()) out.push_back(v);
  } else if (t.dtype() == DType::kS8) {
    for (int8_t v : t.span<const int8_t>()) out.push_back(v);
  } else if (t.dtype() == DType::kS32) {
    for (int32_t v : t.span<const int32_t>()) out.push_back(v);
  } else {
    throw Error(ErrorCode::kUnsupported,
                std::string("run: cannot print an output of type ") + to_string(t.dtype()));
  }
  return out;
}

void run_run(const RunOptions& options) {
  const auto model = load_model(options.model_path);
  // The session first: it refuses a model beyond the limits before the
  // input (the model's input size) is allocated.
  Session session(model, session_options(options.backend));
  const Tensor input = is_raw_tensor_path(options.input_path)
                           ? load_raw_tensor(*model, options.input_path)
                           : load_image_batch(*model, {options.input_path});
  RunStats stats;
  const std::vector<Tensor> outputs = session.run(input, &stats);
  const Graph& graph = model->graph();
  ChipFigures chip;
  chip.add(stats);
  if (options.json) {
    nlohmann::json j;
    j["input"] = {{"file", options.input_path}, {"shape", input.shape().dims()}};
    j["seconds"] = stats.seconds;
    if (chip.steps > 0) j["device"] = chip.json(1, "run", stats.seconds);
    for (size_t o = 0; o < outputs.size(); ++o) {
      j["outputs"].push_back({{"name", graph.value(graph.outputs[o]).name},
                              {"shape", outputs[o].shape().dims()},
                              {"dtype", to_string(outputs[o].dtype())},
                              {"values", as_doubles(outputs[o])}});
    }
    if (options.stats) {
      for (const auto& s : stats.steps) {
        j["layers"].push_back({{"name", s.name},
                               {"op", s.op},
                               {"backend", s.backend},
                               {"kernel", s.kernel},
                               {"seconds", s.seconds}});
      }
    }
    std::cout << json_text(j) << "\n";
    return;
  }
  std::cout << "input: " << options.input_path << " " << input.shape().to_string() << "\n";
  for (size_t o = 0; o < outputs.size(); ++o) {
    const std::vector<double> values = as_doubles(outputs[o]);
    std::cout << "output '" << graph.value(graph.outputs[o]).name << "' "
              << to_string(outputs[o].dtype()) << " " << outputs[o].shape().to_string() << ":";
    for (size_t i = 0; i < values.size() && i < options.max_values; ++i) {
      std::cout << (i % 8 ? " " : "\n  ") << format_fixed(values[i], 6);
    }
    if (values.size() > options.max_values) {
      std::cout << "\n  ... (" << values.size() - options.max_values << " more; --max-values)";
    }
    std::cout << "\n";
  }
  std::cout << "time: " << format_seconds(stats.seconds) << "\n"
            << chip.text(1, "run", stats.seconds);
  if (options.stats) {
    Table table({"layer", "op", "backend", "kernel", "time"});
    for (const auto& s : stats.steps) {
      table.add_row({s.name, s.op, s.backend, s.kernel, format_seconds(s.seconds)});
    }
    std::cout << "\n" << table.text();
  }
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand(
      "run", "Run one input (image, or raw float32 .f32/.raw/.bin) and print the outputs");
  command->add_option("MODEL", options->model_path, "Model file (.sparq)")->required();
  command->add_option("INPUT", options->input_path, "PNG/JPEG/PGM/BMP image or raw float32 file")
      ->required();
  add_backend_options(*command, options->backend);
  command->add_flag("--json", options->json, "Machine-readable output");
  command->add_flag("--stats", options->stats, "Per-layer backend, kernel and time");
  command->add_option("--max-values", options->max_values, "Values printed per output")
      ->capture_default_str();
  command->callback([options] { run_run(*options); });
}

}  // namespace sparq::cli
