// What every `sparq` subcommand shares: exit codes, the error for a mistaken
// invocation, the --backend / --threads options, model loading and the
// checks that a model is of the kind a command needs.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "sparq/sparq.hpp"

namespace sparq::cli {

// Documented in tools/cli/README.md; tests check them.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntimeError = 1,  // an unexpected failure inside sparq (a bug) or the system
  kExitUsage = 2,         // unknown flag, missing argument, value out of range
  kExitIo = 3,            // a file is missing or cannot be read / written
  kExitBadInput = 4,      // an input is malformed: not an image, truncated, wrong size
  kExitBadModel = 5,      // a model file is corrupt, or the model is of the wrong kind
  kExitUnsupported = 6,   // valid, but not available: no backend runs it, tool not built
};

int exit_code_for(const Error& error);

// A mistake in how a command was called that only shows after parsing (an
// unknown backend name, a dataset path without labels).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --backend / --threads, shared by the commands that run a model.
struct BackendOptions {
  std::string backends = "cpu";
  int threads = 0;
  // --max-memory: bytes one run may hold (ResourceLimits::max_memory_bytes).
  uint64_t max_memory = static_cast<uint64_t>(ResourceLimits{}.max_memory_bytes);
};
void add_backend_options(CLI::App& command, BackendOptions& options);

// The session options for `options`: the named backends in order, then
// "reference" as the fallback for nodes none of them supports. Throws
// UsageError listing the registered names when one is unknown.
SessionOptions session_options(const BackendOptions& options);

std::vector<std::string> split_list(const std::string& text, char separator = ',');

std::shared_ptr<const Model> load_model(const std::string& path);

// A model whose single output is a vector of class scores [F].
// The most classes classify and eval accept (labels and rankings are built
// per class; eval's confusion matrix has classes^2 cells).
inline constexpr int kMaxClasses = 4096;
struct ClassifierInfo {
  int classes = 0;
  bool outputs_probabilities = false;  // the output comes from a softmax node
  std::vector<std::string> labels;     // one per class ("class 7" when unnamed)
};
// Throws Error(kInvalidModel) saying why when the model is not a classifier
// of images (see also image_preprocessing).
ClassifierInfo classifier_info(const Model& model, const std::string& path);

// Throws Error(kInvalidModel) when a score is NaN or infinite: such a model
// output has no class ranking, and an accuracy or a percentage printed from
// it would be silently wrong. `what` names the sample ("image 'a.png'").
void check_finite_scores(std::span<const float> scores, const std::string& what);

// Probabilities of one sample's scores (softmax unless they already are).
std::vector<float> probabilities(std::span<const float> scores, bool already_probabilities);

// "12.3 KiB", "4.0 MiB".
std::string format_bytes(int64_t bytes);
// "1.23 M", "456 k" (SI).
std::string format_count(double count);
// Fixed number of decimals.
std::string format_fixed(double value, int decimals);
// "1.25 ms", "830 us".
std::string format_seconds(double seconds);

}  // namespace sparq::cli
