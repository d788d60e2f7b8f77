#include "tools/cli/cli_common.hpp"
#include "sparq/image.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "kernels/softmax/softmax.hpp"

namespace sparq::cli {

int exit_code_for(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
      return kExitBadInput;
    case ErrorCode::kInvalidModel:
      return kExitBadModel;
    case ErrorCode::kUnsupported:
      return kExitUnsupported;
    case ErrorCode::kIo:
      return kExitIo;
    case ErrorCode::kInternal:
      break;
  }
  return kExitRuntimeError;
}

void add_backend_options(CLI::App& command, BackendOptions& options) {
  command
      .add_option("--backend,-b", options.backends,
                  "Backend preference list, comma separated (e.g. cpu or device,cpu); "
                  "'reference' is always the last fallback")
      ->capture_default_str();
  command.add_option("--threads,-t", options.threads, "Threads per run (0 = all hardware threads)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      .add_option("--max-memory", options.max_memory,
                  "Most memory one run may take (bytes, or with a unit: 512M, 4G); a model or "
                  "batch that needs more is refused before anything is allocated")
      ->transform(CLI::AsSizeValue(/*kb_is_1000=*/false))
      ->check(CLI::Range(uint64_t{1}, uint64_t{INT64_MAX}))
      ->capture_default_str();
}

std::vector<std::string> split_list(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) {
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

SessionOptions session_options(const BackendOptions& options) {
  const std::vector<std::string> known = BackendRegistry::names();
  std::vector<std::string> backends = split_list(options.backends);
  if (backends.empty()) throw UsageError("--backend: no backend named");
  for (const std::string& name : backends) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw UsageError("--backend: unknown backend '" + name + "' (this build has: " + list + ")");
    }
  }
  if (std::find(backends.begin(), backends.end(), "reference") == backends.end()) {
    backends.push_back("reference");
  }
  SessionOptions session;
  session.backends = backends;
  session.threads = options.threads;
  session.limits.max_memory_bytes = static_cast<int64_t>(options.max_memory);
  return session;
}

std::shared_ptr<const Model> load_model(const std::string& path) {
  return Model::load(path);
}

ClassifierInfo classifier_info(const Model& model, const std::string& path) {
  const Graph& graph = model.graph();
  if (graph.outputs.size() != 1) {
    throw Error(ErrorCode::kInvalidModel, "model '" + path + "' has " +
                                              std::to_string(graph.outputs.size()) +
                                              " outputs; a classifier has one");
  }
  const Value& output = graph.value(graph.outputs[0]);
  if (output.shape.rank() != 1 || output.dtype != DType::kF32 || output.shape[0] < 2) {
    throw Error(ErrorCode::kInvalidModel, "model '" + path + "' is not a classifier: its output '" +
                                              output.name + "' is " + to_string(output.dtype) +
                                              " " + output.shape.to_string() +
                                              ", not f32 class scores [classes]");
  }
  if (output.shape[0] > kMaxClasses) {
    throw Error(ErrorCode::kInvalidModel,
                "model '" + path + "' has " + std::to_string(output.shape[0]) +
                    " classes; classify and eval handle at most " + std::to_string(kMaxClasses));
  }
  image_preprocessing(model);  // throws when the input is not an image
  ClassifierInfo info;
  info.classes = static_cast<int>(output.shape[0]);
  for (const Node& node : graph.nodes) {
    if (node.output == graph.outputs[0]) {
      info.outputs_probabilities = std::holds_alternative<SoftmaxOp>(node.op);
    }
  }
  const auto& labels = model.metadata().labels;
  for (int c = 0; c < info.classes; ++c) {
    info.labels.push_back(static_cast<size_t>(c) < labels.size() ? labels[static_cast<size_t>(c)]
                                                                 : "class " + std::to_string(c));
  }
  return info;
}

void check_finite_scores(std::span<const float> scores, const std::string& what) {
  for (size_t c = 0; c < scores.size(); ++c) {
    if (!std::isfinite(scores[c])) {
      throw Error(ErrorCode::kInvalidModel,
                  "the model's output for " + what + " is " + format_fixed(scores[c], 1) +
                      " at class " + std::to_string(c) +
                      "; a non-finite score ranks nothing, so no result is reported");
    }
  }
}

std::vector<float> probabilities(std::span<const float> scores, bool already_probabilities) {
  std::vector<float> p(scores.begin(), scores.end());
  if (already_probabilities || p.empty()) return p;
  kernels::softmax_row(scores.data(), p.data(), p.size());
  return p;
}

std::string format_fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string format_bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) return std::to_string(bytes) + " B";
  if (b < 1024.0 * 1024) return format_fixed(b / 1024, 1) + " KiB";
  if (b < 1024.0 * 1024 * 1024) return format_fixed(b / (1024.0 * 1024), 2) + " MiB";
  return format_fixed(b / (1024.0 * 1024 * 1024), 2) + " GiB";
}

std::string format_count(double count) {
  if (count < 1e3) return format_fixed(count, 0);
  if (count < 1e6) return format_fixed(count / 1e3, 1) + " k";
  if (count < 1e9) return format_fixed(count / 1e6, 2) + " M";
  return format_fixed(count / 1e9, 2) + " G";
}

std::string format_seconds(double seconds) {
  if (seconds < 1e-3) return format_fixed(seconds * 1e6, 1) + " us";
  if (seconds < 1.0) return format_fixed(seconds * 1e3, 3) + " ms";
  return format_fixed(seconds, 3) + " s";
}

}  // namespace sparq::cli
