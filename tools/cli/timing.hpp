// Summaries of repeated timings. Benchmarks on a shared machine are noisy:
// report the best and the median, and p90 for latency.
#pragma once

#include <chrono>
#include <vector>

namespace sparq::cli {

struct TimingSummary {
  int samples = 0;
  double best = 0;
  double median = 0;
  double p90 = 0;  // nearest-rank 90th percentile
  double mean = 0;
};

// Throws Error(kInternal) on an empty sample list.
TimingSummary summarize(std::vector<double> seconds);

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace sparq::cli
