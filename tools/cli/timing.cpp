#include "tools/cli/timing.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sparq/error.hpp"

namespace sparq::cli {

TimingSummary summarize(std::vector<double> seconds) {
  if (seconds.empty()) throw Error(ErrorCode::kInternal, "summarize: no timings");
  std::sort(seconds.begin(), seconds.end());
  const size_t n = seconds.size();
  TimingSummary s;
  s.samples = static_cast<int>(n);
  s.best = seconds.front();
  s.median = n % 2 ? seconds[n / 2] : 0.5 * (seconds[n / 2 - 1] + seconds[n / 2]);
  const size_t rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(n)));
  s.p90 = seconds[std::max<size_t>(rank, 1) - 1];
  s.mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / static_cast<double>(n);
  return s;
}

}  // namespace sparq::cli
