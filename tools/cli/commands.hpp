// One function per subcommand: each adds its CLI11 subcommand to `app`, with
// a callback that does the work and throws sparq::Error / UsageError on
// failure (main.cpp turns those into messages and exit codes).
#pragma once

#include <CLI/CLI.hpp>

namespace sparq::cli {

void add_import_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_classify_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_simulate_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
// train, prune, study: handed to the sparq-train executable.
void add_training_commands(CLI::App& app);

}  // namespace sparq::cli
