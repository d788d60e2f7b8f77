// Writes the command-line test fixtures into a folder, for tests driven by
// scripts (the install test) rather than by cli_test; with --hostile also the
// issue #19 files (tests/cli/hostile_fixtures.hpp), e.g. as mutation seeds.
#include <cstdio>
#include <cstring>

#include "tests/cli/cli_fixtures.hpp"
#include "tests/cli/hostile_fixtures.hpp"

int main(int argc, char** argv) {
  const bool hostile = argc == 3 && std::strcmp(argv[2], "--hostile") == 0;
  if (argc != 2 && !hostile) {
    std::fprintf(stderr, "usage: %s DIR [--hostile]\n", argv[0]);
    return 2;
  }
  try {
    sparq::cli_test::write_fixtures(argv[1]);
    if (hostile) sparq::cli_test::write_hostile_fixtures(argv[1]);
  } catch (const sparq::Error& e) {
    std::fprintf(stderr, "write_cli_fixtures: %s\n", e.what());
    return 1;
  }
  return 0;
}
