#include "sparq_training/runtime_figures.hpp"

#include <algorithm>
#include <chrono>

#include "sparq/device.hpp"
#include "sparq/error.hpp"
#include "sparq/session.hpp"

namespace sparq::training {

RuntimeFigures measure_runtime(const std::filesystem::path& model_path, const Tensor& input,
                               int repetitions) {
  RuntimeFigures figures;
  std::shared_ptr<const Model> model;
  try {
    model = Model::load(model_path);
  } catch (const Error& e) {
    figures.note = std::string("load: ") + e.what();
    return figures;
  }
  try {
    SessionOptions options;
    options.backends = {"cpu"};
    options.threads = 1;
    Session session(model, options);
    session.run(input);  // warm-up: first-touch of the arena and repacked weights
    double best = 1e30;
    for (int r = 0; r < repetitions; ++r) {
      const auto start = std::chrono::steady_clock::now();
      session.run(input);
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    figures.cpu_seconds = best;
  } catch (const Error& e) {
    figures.note += std::string("cpu: ") + e.what() + " ";
  }
  try {
    SessionOptions options;
    options.backends = {"device", "reference"};
    options.threads = 1;
    Session session(model, options);
    RunStats stats;
    session.run(input, &stats);
    double joules = 0;
    for (const auto& step : stats.steps) {
      if (const DeviceNodeStats* d = device_stats(step)) joules += d->energy_joules;
    }
    figures.device_joules = joules;
  } catch (const Error& e) {
    figures.note += std::string("device: ") + e.what();
  }
  return figures;
}

}  // namespace sparq::training
