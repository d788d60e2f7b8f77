// sparq import MODEL.onnx -o MODEL.sparq: an ONNX classifier into a sparq
// model (library sparq_onnx), with the per-layer report: operation, shapes,
// and for 3x3 convolutions the taps kept per kernel and any sharing of tap
// positions. --quantize turns it into the sparse 4-bit model the CPU and
// device backends run.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "sparq/onnx_import.hpp"
#include "sparq/preprocessing_text.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/table.hpp"

namespace sparq::cli {
namespace {

struct ImportOptions {
  std::string onnx_path;
  std::string output_path;
  std::string quantize = "none";
  std::string name;
  std::string labels_path;
  std::string preprocess;
  bool json = false;
};

std::vector<std::string> read_labels(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw Error(ErrorCode::kIo, "cannot read labels file '" + path + "'");
  std::vector<std::string> labels;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) labels.push_back(line);
  }
  return labels;
}

// "scale=0.003921,mean=0.485/0.456/0.406,std=0.229/0.224/0.225" on top of the
// importer's defaults.
void apply_preprocess(const std::string& text, OnnxImportOptions& options) {
  Preprocessing pre;
  pre.scale = options.scale;
  pre.mean = options.mean;
  pre.std = options.std;
  try {
    parse_preprocessing(text, pre);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  options.scale = pre.scale;
  options.mean = std::move(pre.mean);
  options.std = std::move(pre.std);
}

std::string shape_text(const Shape& s) {
  return s.rank() == 0 ? "-" : s.to_string();
}

std::string sharing_text(const ImportedLayer& l) {
  if (l.density == 0 || l.density == 9) return "-";
  return std::to_string(l.sharing.out_group) + "x" + std::to_string(l.sharing.in_group);
}

void run_import(const ImportOptions& o) {
  OnnxImportOptions options;
  try {
    options.quantization = parse_import_quantization(o.quantize);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  options.name = o.name;
  if (!o.labels_path.empty()) options.labels = read_labels(o.labels_path);
  if (!o.preprocess.empty()) apply_preprocess(o.preprocess, options);
  const OnnxImport imported = import_onnx(o.onnx_path, options);
  imported.model->save(o.output_path);

  if (o.json) {
    nlohmann::json j;
    j["model"] = o.output_path;
    j["name"] = imported.model->metadata().name;
    j["opset"] = imported.opset;
    j["quantization"] = o.quantize;
    j["layers"] = nlohmann::json::array();
    for (const auto& l : imported.layers) {
      j["layers"].push_back({{"name", l.name},
                             {"onnx_op", l.onnx_op},
                             {"op", l.sparq_op},
                             {"input_shape", l.input_shape.dims()},
                             {"output_shape", l.output_shape.dims()},
                             {"density", l.density},
                             {"sharing", {l.sharing.out_group, l.sharing.in_group}}});
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "imported " << o.onnx_path << " (opset " << imported.opset << ") -> "
            << o.output_path << "\n";
  Table table({"layer", "onnx", "op", "in", "out", "k", "sharing"});
  for (const auto& l : imported.layers) {
    table.add_row({l.name, l.onnx_op.empty() ? "-" : l.onnx_op, l.sparq_op,
                   shape_text(l.input_shape), shape_text(l.output_shape),
                   l.density ? std::to_string(l.density) : "-", sharing_text(l)});
  }
  std::cout << table.text();
  std::cout << "\nk: taps kept per 3x3 kernel (9 = dense); sharing: output x input channel groups "
               "that keep the same tap positions.\n";
}

}  // namespace

void add_import_command(CLI::App& app) {
  auto options = std::make_shared<ImportOptions>();
  CLI::App* command = app.add_subcommand(
      "import", "Import an ONNX classifier (float32 NCHW, opsets 11-17) into a .sparq model");
  command->add_option("MODEL", options->onnx_path, "ONNX file (.onnx)")->required();
  command->add_option("-o,--output", options->output_path, "Model file to write (.sparq)")
      ->required();
  command
      ->add_option("--quantize", options->quantize,
                   "none (float, lossless), w4a8 or w4a4 (sparse 4-bit weights)")
      ->check(CLI::IsMember({"none", "w4a8", "w4a4"}));
  command->add_option("--name", options->name, "Model name in the metadata");
  command->add_option("--labels", options->labels_path, "Class names, one per line");
  command->add_option("--preprocess", options->preprocess,
                      "Image preprocessing: scale=S,mean=M1/M2/M3,std=S1/S2/S3");
  command->add_flag("--json", options->json, "Machine-readable report");
  command->callback([options] { run_import(*options); });
}

}  // namespace sparq::cli
