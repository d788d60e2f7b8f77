// sparq eval MODEL DATASET: accuracy, confusion matrix and images/s over an
// IDX dataset (e.g. /usr/share/datasets/fashion-mnist), with a progress bar.
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/evaluation.hpp"
#include "tools/cli/json_text.hpp"
#include "tools/cli/progress.hpp"
#include "tools/cli/table.hpp"

namespace sparq::cli {
namespace {

struct EvalOptions {
  std::string model_path;
  std::string dataset_path;
  std::string labels_path;
  std::string split = "test";
  BackendOptions backend;
  int batch = 64;
  int64_t limit = 0;
  bool json = false;
  bool progress = false;
  bool no_progress = false;
};

// Labels are shortened to keep the matrix readable; the legend has them whole.
std::string short_label(const std::string& label) {
  return label.size() <= 6 ? label : label.substr(0, 5) + ".";
}

void run_eval(const EvalOptions& options) {
  const auto model = load_model(options.model_path);
  const ClassifierInfo info = classifier_info(*model, options.model_path);
  Session session(model, session_options(options.backend));  // checks the limits first
  const Dataset dataset =
      load_dataset(options.dataset_path, options.labels_path, options.split, info.classes);
  const bool progress = !options.no_progress && (options.progress || stderr_is_terminal());
  const EvalResult r =
      evaluate(session, dataset, info.classes, options.batch, options.limit, progress);
  if (options.json) {
    nlohmann::json j{{"model", options.model_path},
                     {"images", dataset.images_path},
                     {"labels", dataset.labels_path},
                     {"samples", r.samples},
                     {"correct", r.correct},
                     {"accuracy", r.accuracy()},
                     {"images_per_second", r.images_per_second()},
                     {"inference_seconds", r.inference_seconds},
                     {"preprocessing_seconds", r.preprocessing_seconds},
                     {"batch", options.batch},
                     {"threads", session.threads()},
                     {"class_labels", info.labels},
                     {"confusion", r.confusion}};
    if (r.chip.steps > 0) j["device"] = r.chip.json(r.samples, "image", r.inference_seconds);
    std::cout << json_text(j) << "\n";
    return;
  }
  std::cout << "dataset: " << dataset.images_path << " (" << r.samples << " images)\n";
  std::cout << "accuracy: " << format_fixed(100.0 * r.accuracy(), 2) << " % (" << r.correct << "/"
            << r.samples << ")\n";
  std::cout << "speed: " << format_fixed(r.images_per_second(), 0) << " images/s (batch "
            << options.batch << ", " << session.threads() << " threads, inference only; "
            << "preprocessing took " << format_seconds(r.preprocessing_seconds) << ")\n"
            << r.chip.text(r.samples, "image", r.inference_seconds) << "\n";
  std::vector<std::string> headers{"truth \\ predicted"};
  for (const auto& label : info.labels) headers.push_back(short_label(label));
  headers.push_back("recall %");
  Table matrix(headers);
  for (size_t t = 0; t < r.confusion.size(); ++t) {
    std::vector<std::string> row{info.labels[t]};
    int64_t row_total = 0;
    for (int64_t v : r.confusion[t]) row.push_back(std::to_string(v)), row_total += v;
    row.push_back(row_total ? format_fixed(100.0 * static_cast<double>(r.confusion[t][t]) /
                                               static_cast<double>(row_total),
                                           1)
                            : "-");
    matrix.add_row(row);
  }
  std::cout << "confusion matrix:\n" << matrix.text();
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* command = app.add_subcommand(
      "eval", "Accuracy, confusion matrix and images/s over an IDX dataset (file or folder)");
  command->add_option("MODEL", options->model_path, "Model file (.sparq)")->required();
  command
      ->add_option("DATASET", options->dataset_path,
                   "idx3 image file (.gz ok), or a folder with <split>-images-idx3-ubyte")
      ->required();
  command->add_option("--labels", options->labels_path,
                      "idx1 label file (default: beside the images)");
  command->add_option("--split", options->split, "test or train, when DATASET is a folder")
      ->check(CLI::IsMember({"test", "train"}))
      ->capture_default_str();
  add_backend_options(*command, options->backend);
  command->add_option("--batch", options->batch, "Images per run")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--limit", options->limit, "Evaluate only the first N images")
      ->check(CLI::NonNegativeNumber);
  command->add_flag("--json", options->json, "Machine-readable output");
  command->add_flag("--progress", options->progress, "Progress bar even when not a terminal");
  command->add_flag("--no-progress", options->no_progress, "No progress bar");
  command->callback([options] { run_eval(*options); });
}

}  // namespace sparq::cli
