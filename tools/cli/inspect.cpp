// sparq inspect MODEL: what a model is and what it should cost, before
// anything runs (every sparse figure next to the dense one).
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/json_text.hpp"
#include "tools/cli/layer_summary.hpp"
#include "tools/cli/table.hpp"

namespace sparq::cli {
namespace {

struct InspectOptions {
  std::string model_path;
  bool json = false;
};

// The CPU planner's prediction for pruned layers, with the MAC ratio (the
// most the kept taps could give) beside it; measured times come from bench.
std::string speedup_text(const LayerSummary& s) {
  const MacCount& macs = s.macs;
  const bool pruned = macs.actual > 0 && macs.dense != macs.actual;
  const std::string bound =
      pruned ? format_fixed(static_cast<double>(macs.dense) / static_cast<double>(macs.actual), 2)
             : "";
  if (s.predicted_speedup > 0) return format_fixed(s.predicted_speedup, 2) + "x (<=" + bound + "x)";
  return pruned ? "<=" + bound + "x" : "-";
}

nlohmann::json to_json(const Model& model, const std::vector<LayerSummary>& layers) {
  nlohmann::json j;
  j["name"] = model.metadata().name;
  j["input"] = {{"name", model.input().name},
                {"shape", model.input().shape.dims()},
                {"dtype", to_string(model.input().dtype)}};
  const Preprocessing& p = model.metadata().preprocessing;
  j["preprocessing"] = {{"height", p.height}, {"width", p.width}, {"channels", p.channels},
                        {"scale", p.scale},   {"mean", p.mean},   {"std", p.std}};
  j["labels"] = model.metadata().labels;
  j["provenance"] = model.metadata().provenance;
  j["checksum_verified"] = model.checksum_verified();
  j["layers"] = nlohmann::json::array();
  for (const auto& s : layers) {
    j["layers"].push_back(
        {{"name", s.name},
         {"op", s.op},
         {"input_shape", s.input_shape},
         {"output_shape", s.output_shape},
         {"density", s.density},
         {"sharing", s.sharing},
         {"weights", s.weight_count},
         {"packed_bytes", s.packed_bytes},
         {"dense_s4_bytes", s.dense_s4_bytes},
         {"fp32_bytes", s.fp32_bytes},
         {"dense_macs", s.macs.dense},
         {"actual_macs", s.macs.actual},
         {"quantization", s.quantization},
         {"activation_scale", s.activation_scale},
         {"cpu_kernel", s.cpu_kernel},
         {"predicted_speedup", s.predicted_speedup},
         {"speedup_upper_bound",
          s.macs.actual > 0 ? static_cast<double>(s.macs.dense) / static_cast<double>(s.macs.actual)
                            : 1.0}});
  }
  return j;
}

void run_inspect(const InspectOptions& options) {
  const auto model = load_model(options.model_path);
  const auto layers = summarize_layers(*model);
  if (options.json) {
    std::cout << json_text(to_json(*model, layers)) << "\n";
    return;
  }
  const ModelMetadata& meta = model->metadata();
  std::cout << "model: " << (meta.name.empty() ? options.model_path : meta.name) << "\n";
  std::cout << "input: '" << model->input().name << "' " << to_string(model->input().dtype) << " "
            << model->input().shape.to_string() << "\n";
  const Preprocessing& p = meta.preprocessing;
  std::cout << "preprocessing: " << p.channels << "x" << p.height << "x" << p.width << ", scale "
            << p.scale << ", mean [";
  for (size_t i = 0; i < p.mean.size(); ++i) std::cout << (i ? ", " : "") << p.mean[i];
  std::cout << "], std [";
  for (size_t i = 0; i < p.std.size(); ++i) std::cout << (i ? ", " : "") << p.std[i];
  std::cout << "]\n";
  std::cout << "classes: " << meta.labels.size();
  for (size_t i = 0; i < meta.labels.size() && i < 10; ++i) {
    std::cout << (i ? ", " : " (") << meta.labels[i];
  }
  std::cout << (meta.labels.size() > 10 ? ", ...)" : meta.labels.empty() ? "" : ")") << "\n";
  for (const auto& [key, value] : meta.provenance) std::cout << key << ": " << value << "\n";
  std::cout << "checksum: "
            << (model->checksum_verified()
                    ? "verified"
                    : "none (written before .sparq files carried one; loaded unchecked)")
            << "\n\n";

  Table table({"layer", "op", "in", "out", "k", "sharing", "weights", "packed", "dense s4", "fp32",
               "dense MACs", "actual MACs", "quantization", "cpu kernel", "speed-up"});
  LayerSummary total;
  for (const auto& s : layers) {
    auto bytes = [&](int64_t b) { return s.weight_count ? format_bytes(b) : std::string("-"); };
    table.add_row({s.name, s.op, s.input_shape, s.output_shape,
                   s.density ? std::to_string(s.density) : "-", s.sharing.empty() ? "-" : s.sharing,
                   s.weight_count ? format_count(static_cast<double>(s.weight_count)) : "-",
                   bytes(s.packed_bytes), bytes(s.dense_s4_bytes), bytes(s.fp32_bytes),
                   s.macs.dense ? format_count(static_cast<double>(s.macs.dense)) : "-",
                   s.macs.actual ? format_count(static_cast<double>(s.macs.actual)) : "-",
                   s.quantization, s.cpu_kernel.empty() ? "(no cpu backend)" : s.cpu_kernel,
                   speedup_text(s)});
    total.weight_count += s.weight_count;
    total.packed_bytes += s.packed_bytes;
    total.dense_s4_bytes += s.dense_s4_bytes;
    total.fp32_bytes += s.fp32_bytes;
    total.macs.dense += s.macs.dense;
    total.macs.actual += s.macs.actual;
  }
  table.add_row(
      {"total", "", "", "", "", "", format_count(static_cast<double>(total.weight_count)),
       format_bytes(total.packed_bytes), format_bytes(total.dense_s4_bytes),
       format_bytes(total.fp32_bytes), format_count(static_cast<double>(total.macs.dense)),
       format_count(static_cast<double>(total.macs.actual)), "", "", speedup_text(total)});
  std::cout << table.text();
  std::cout << "\nspeed-up: the CPU kernel planner's cost of the layer dense / pruned on this "
               "CPU (docs/BREAK_EVEN.md), and in brackets dense / actual MACs, the most the kept "
               "taps allow; measured times come from `sparq bench`.\n";
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* command = app.add_subcommand(
      "inspect", "Layers, densities, weight bytes, MACs, quantization and CPU kernels of a model");
  command->add_option("MODEL", options->model_path, "Model file (.sparq)")->required();
  command->add_flag("--json", options->json, "Machine-readable output");
  command->callback([options] { run_inspect(*options); });
}

}  // namespace sparq::cli
