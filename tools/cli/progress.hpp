// A one-line progress bar on stderr for long commands (eval, sweep). It draws
// only when stderr is a terminal (or when forced), so logs and tests that
// capture output stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sparq::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled);
  // Redraws at most ten times a second, and always at the end.
  void update(int64_t done);
  // Ends the line (if anything was drawn).
  void finish();

 private:
  void draw(int64_t done);
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// True when stderr is an interactive terminal.
bool stderr_is_terminal();

}  // namespace sparq::cli
