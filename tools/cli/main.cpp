// sparq: the command line. Each subcommand lives in its own file; this file
// wires them up and turns failures into one clear line on stderr and the
// exit codes documented in tools/cli/README.md.
#include <algorithm>
#include <exception>
#include <iostream>

#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"

int main(int argc, char** argv) {
  using namespace sparq::cli;
  CLI::App app("sparq: pruned 4-bit CNN inference on CPUs, and a model of the sparse CNN chip",
               "sparq");
  app.require_subcommand(1);
  app.set_version_flag("--version", "sparq 0.1.0");
  app.footer(
      "Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 file missing/unreadable, "
      "4 bad input data, 5 bad or wrong kind of model, 6 unsupported/not built.");
  add_import_command(app);
  add_inspect_command(app);
  add_run_command(app);
  add_classify_command(app);
  add_eval_command(app);
  add_calibrate_command(app);
  add_bench_command(app);
  add_simulate_command(app);
  add_sweep_command(app);
  add_training_commands(app);
  // CLI11 would call a mistyped command "a missing subcommand"; name it.
  const auto commands = app.get_subcommands([](CLI::App*) { return true; });
  const bool known = argc > 1 && std::any_of(commands.begin(), commands.end(),
                                             [&](CLI::App* c) { return c->get_name() == argv[1]; });
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::cerr << "sparq: usage error: unknown command '" << argv[1]
              << "'\nRun with --help for the list of commands.\n";
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with exit code 0.
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "sparq: usage error: " << e.what() << "\nRun with --help for more information.\n";
    return kExitUsage;
  } catch (const sparq::Error& e) {
    std::cerr << "sparq: " << sparq::to_string(e.code()) << ": " << e.what() << "\n";
    return exit_code_for(e);
  } catch (const std::exception& e) {
    std::cerr << "sparq: error: " << e.what() << "\n";
    return kExitRuntimeError;
  }
  // Results are only delivered once they reach stdout: a full disk or a
  // closed pipe (seen at the final flush) is a write error, exit 3.
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "sparq: io error: cannot write the results to standard output\n";
    return kExitIo;
  }
  return kExitOk;
}
