// sparq classify MODEL IMAGES...: the top classes of each image, with the
// class names and probabilities stored in the model.
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "tools/cli/chip_figures.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/inputs.hpp"
#include "tools/cli/json_text.hpp"

namespace sparq::cli {
namespace {

struct ClassifyOptions {
  std::string model_path;
  std::vector<std::string> images;
  BackendOptions backend;
  int top = 5;
  bool json = false;
};

void run_classify(const ClassifyOptions& options) {
  const auto model = load_model(options.model_path);
  const ClassifierInfo info = classifier_info(*model, options.model_path);
  // The session first: it refuses a model beyond the limits before the
  // images are decoded into its input size.
  Session session(model, session_options(options.backend));
  const Tensor batch = load_image_batch(*model, options.images);
  RunStats stats;
  const Tensor scores = session.run(batch, &stats).at(0);
  ChipFigures chip;
  chip.add(stats);
  const auto all = scores.span<const float>();
  const size_t classes = static_cast<size_t>(info.classes);
  const size_t top = std::min(static_cast<size_t>(options.top), classes);
  nlohmann::json j = nlohmann::json::array();
  for (size_t n = 0; n < options.images.size(); ++n) {
    const auto scores = all.subspan(n * classes, classes);
    check_finite_scores(scores, "image '" + options.images[n] + "'");
    const std::vector<float> p = probabilities(scores, info.outputs_probabilities);
    std::vector<size_t> order(classes);
    std::iota(order.begin(), order.end(), 0);
    // Ties keep the lower class id first, so output is deterministic.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    nlohmann::json entry{{"file", options.images[n]}, {"top", nlohmann::json::array()}};
    if (!options.json) std::cout << options.images[n] << "\n";
    for (size_t r = 0; r < top; ++r) {
      const size_t c = order[r];
      entry["top"].push_back({{"class", c}, {"label", info.labels[c]}, {"probability", p[c]}});
      if (!options.json) {
        std::cout << "  " << r + 1 << ". " << info.labels[c]
                  << std::string(info.labels[c].size() < 20 ? 20 - info.labels[c].size() : 1, ' ')
                  << format_fixed(100.0 * p[c], 2) << " %\n";
      }
    }
    j.push_back(std::move(entry));
  }
  if (options.json) {
    // One entry per image, then (when the device ran) the chip's figures
    // for the whole batch of images as a final {"device": ...} entry.
    if (chip.steps > 0) j.push_back({{"device", chip.json(1, "batch", stats.seconds)}});
    std::cout << json_text(j) << "\n";
  } else {
    std::cout << chip.text(1, "batch of " + std::to_string(options.images.size()) + " images",
                           stats.seconds);
  }
}

}  // namespace

void add_classify_command(CLI::App& app) {
  auto options = std::make_shared<ClassifyOptions>();
  CLI::App* command = app.add_subcommand(
      "classify", "Top classes with names and probabilities for PNG/JPEG/PGM/BMP images");
  command->add_option("MODEL", options->model_path, "Model file (.sparq)")->required();
  command->add_option("IMAGES", options->images, "Image files")->required();
  add_backend_options(*command, options->backend);
  command->add_option("--top,-k", options->top, "Classes shown per image")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--json", options->json, "Machine-readable output");
  command->callback([options] { run_classify(*options); });
}

}  // namespace sparq::cli
