// sparq train | prune | study: these need libtorch, which the sparq library
// and this command never link; they are handed, arguments untouched, to the
// sparq-train executable built beside `sparq` (or named by $SPARQ_TRAIN).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"

namespace sparq::cli {
namespace {
namespace fs = std::filesystem;

// Next to this executable (an install's bin/), or the build tree's layout
// (tools/cli/sparq and tools/training/sparq-train).
fs::path find_sparq_train() {
  if (const char* env = std::getenv("SPARQ_TRAIN"); env && *env) return env;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const fs::path& candidate :
       {self.parent_path() / "sparq-train",
        self.parent_path().parent_path() / "training" / "sparq-train"}) {
    if (fs::exists(candidate, ec)) return candidate;
  }
  return {};
}

[[noreturn]] void forward(const std::string& command, const std::vector<std::string>& args) {
  const fs::path tool = find_sparq_train();
  if (tool.empty()) {
    throw Error(ErrorCode::kUnsupported,
                "'sparq " + command +
                    "' needs the sparq-train executable, which was not built "
                    "(it needs libtorch: configure with -DSPARQ_WITH_TORCH=ON) or is not installed "
                    "beside sparq; set SPARQ_TRAIN to its path to use another copy");
  }
  std::vector<std::string> argv_strings{tool.string(), command};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  throw Error(ErrorCode::kIo, "cannot start '" + tool.string() + "': " + std::strerror(errno));
}

}  // namespace

void add_training_commands(CLI::App& app) {
  const std::pair<const char*, const char*> commands[] = {
      {"train", "Train a model (forwarded to sparq-train; needs libtorch)"},
      {"prune", "Gradual N-of-9 pruning with fine-tuning (forwarded to sparq-train)"},
      {"study", "The Fashion-MNIST density / sharing study (forwarded to sparq-train)"},
  };
  for (const auto& [name, description] : commands) {
    CLI::App* command = app.add_subcommand(name, description);
    // Everything after the subcommand, --help included, belongs to sparq-train.
    command->prefix_command();
    command->set_help_flag();
    command->callback([command, name = std::string(name)] { forward(name, command->remaining()); });
  }
}

}  // namespace sparq::cli
