#include "tools/cli/evaluation.hpp"

#include "sparq/image.hpp"

#include <algorithm>

#include "tools/cli/cli_common.hpp"
#include "tools/cli/progress.hpp"
#include "tools/cli/timing.hpp"

namespace sparq::cli {

EvalResult evaluate(const Session& session, const Dataset& dataset, int classes, int batch,
                    int64_t limit, bool show_progress) {
  const Preprocessing preprocessing = image_preprocessing(session.model());
  const int64_t available = dataset.images.count;
  const int64_t total = limit > 0 ? std::min(limit, available) : available;
  EvalResult result;
  result.confusion.assign(static_cast<size_t>(classes),
                          std::vector<int64_t>(static_cast<size_t>(classes), 0));
  ProgressBar progress("eval", total, show_progress);
  for (int64_t first = 0; first < total; first += batch) {
    const int64_t count = std::min<int64_t>(batch, total - first);
    auto t0 = std::chrono::steady_clock::now();
    const Tensor input = dataset_batch(dataset.images, static_cast<size_t>(first),
                                       static_cast<size_t>(count), preprocessing);
    result.preprocessing_seconds += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    RunStats stats;
    const Tensor scores = session.run(input, &stats).at(0);
    result.inference_seconds += seconds_since(t0);
    result.chip.add(stats);
    const auto values = scores.span<const float>();
    for (int64_t n = 0; n < count; ++n) {
      const auto row =
          values.subspan(static_cast<size_t>(n * classes), static_cast<size_t>(classes));
      check_finite_scores(
          row, "sample " + std::to_string(first + n) + " of '" + dataset.images_path + "'");
      const auto predicted =
          static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
      const size_t truth = dataset.labels[static_cast<size_t>(first + n)];
      ++result.confusion[truth][predicted];
      result.correct += predicted == truth;
    }
    result.samples += count;
    progress.update(result.samples);
  }
  progress.finish();
  return result;
}

}  // namespace sparq::cli
