// Writes the command-line test fixtures into a folder, for tests driven by
// scripts (the install test) rather than by cli_test.
#include <cstdio>

#include "tests/cli/cli_fixtures.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  try {
    sparq::cli_test::write_fixtures(argv[1]);
  } catch (const sparq::Error& e) {
    std::fprintf(stderr, "write_cli_fixtures: %s\n", e.what());
    return 1;
  }
  return 0;
}
