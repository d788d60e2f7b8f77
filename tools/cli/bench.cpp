// sparq bench MODEL: latency at batch 1 (median, p90, best) and throughput at
// batch 32, for each backend and thread count, with a per-layer breakdown.
// Timings on shared machines are noisy; medians of many short runs are shown
// next to the best, and --json lists every run so that a driver interleaving
// several runtimes (bench/networks/) can pool runs across its rounds.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tools/cli/chip_figures.hpp"
#include "tools/cli/cli_common.hpp"
#include "tools/cli/commands.hpp"
#include "tools/cli/inputs.hpp"
#include "tools/cli/json_text.hpp"
#include "tools/cli/table.hpp"
#include "tools/cli/timing.hpp"

namespace sparq::cli {
namespace {

struct BenchOptions {
  std::string model_path;
  std::string backends = "cpu";
  std::string threads = "1,all";
  int batch = 32;
  int64_t batch_chunk = 0;  // SessionOptions::batch_chunk
  double min_seconds = 0.5;
  int min_runs = 10;
  int batch_min_runs = 3;
  // The batch-1 runs cycle through this many different inputs: 1 re-runs
  // one input, which stays in the cache between runs, as latency benchmarks
  // usually do; more read each input from memory, as a batch reads its
  // samples (and an application its new frames).
  int distinct_inputs = 1;
  bool latency = true;     // the batch-1 runs (and the per-layer breakdown)
  bool throughput = true;  // the batch-`batch` runs
  bool layers = true;
  bool json = false;
};

struct LayerTime {
  std::string name, op, backend, kernel;
  std::vector<double> seconds;
  int64_t dense_macs = 0, actual_macs = 0;
};

struct BenchResult {
  std::string backend;
  int threads = 0;
  std::vector<double> latency_runs;     // batch 1; empty when not measured
  std::vector<double> throughput_runs;  // per run of `batch` samples; empty when not measured
  TimingSummary latency;
  TimingSummary throughput;
  int batch = 0;
  int64_t batch_chunk = 0;        // samples per chunk of the throughput runs
  int distinct_inputs = 1;        // inputs the batch-1 runs cycle through
  std::vector<LayerTime> layers;  // from the batch-1 runs
  // From the same runs, with several threads: per thread, each run's time
  // inside the parallel regions (RunStats::thread_seconds).
  std::vector<std::vector<double>> thread_busy;
  ChipFigures chip;  // the device model's figures for one batch-1 run
};

std::vector<int> parse_threads(const std::string& text) {
  std::vector<int> out;
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const std::string& part : split_list(text)) {
    int n = 0;
    if (part == "all") {
      n = all;
    } else {
      try {
        size_t used = 0;
        n = std::stoi(part, &used);
        if (used != part.size() || n < 1) throw std::invalid_argument(part);
      } catch (const std::exception&) {
        throw UsageError("--threads: '" + part + "' is not a positive count or 'all'");
      }
    }
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  if (out.empty()) throw UsageError("--threads: no thread count given");
  return out;
}

// Every run feeds the same data: the inputs of seed 1 (seed 1 + i for the
// i-th of several distinct batch-1 inputs).
Tensor bench_input(const Model& model, int64_t batch, uint32_t seed = 1) {
  std::mt19937 gen(seed);
  return random_input(model, batch, gen);
}

// Runs until both limits are met (at least `min_runs` and `min_seconds`).
template <typename F>
std::vector<double> repeat(F&& once, int min_runs, double min_seconds) {
  once();  // warm-up: first-touch of the arena, caches, thread pool start
  std::vector<double> seconds;
  const auto start = std::chrono::steady_clock::now();
  while (static_cast<int>(seconds.size()) < min_runs || seconds_since(start) < min_seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    seconds.push_back(seconds_since(t0));
    if (seconds.size() >= 10000) break;
  }
  return seconds;
}

BenchResult bench_one(const std::shared_ptr<const Model>& model, const std::string& backend,
                      int threads, const BenchOptions& options) {
  BackendOptions backend_options{backend, threads};
  SessionOptions session_settings = session_options(backend_options);
  session_settings.batch_chunk = options.batch_chunk;
  Session session(model, session_settings);
  BenchResult result;
  result.backend = backend;
  result.threads = threads;
  result.batch = options.batch;
  result.batch_chunk = session.batch_chunk(options.batch);
  if (options.latency) {
    // Separate tensors, as separate frames would be.
    std::vector<Tensor> inputs;
    for (int i = 0; i < options.distinct_inputs; ++i)
      inputs.push_back(bench_input(*model, 1, static_cast<uint32_t>(1 + i)));
    const Tensor& single = inputs.front();
    result.distinct_inputs = options.distinct_inputs;
    // Timed as a user runs the model, without RunStats: its per-step clocks
    // and names cost a small network several percent (ResNet-20 at 32x32:
    // 7 us of 97).
    size_t next = 0;
    result.latency_runs = repeat([&] { session.run(inputs[next++ % inputs.size()]); },
                                 options.min_runs, options.min_seconds);
    result.latency = summarize(result.latency_runs);
    // The chip's figures (they do not depend on the data) from one run with
    // stats, and the per-layer times from runs of their own.
    RunStats first;
    session.run(single, &first);
    result.chip.add(first);
    if (options.layers) {
      repeat(
          [&] {
            RunStats stats;
            session.run(single, &stats);
            for (size_t i = 0; i < stats.steps.size(); ++i) {
              const NodeStats& step = stats.steps[i];
              if (result.layers.size() <= i) {
                result.layers.push_back({step.name,
                                         step.op,
                                         step.backend,
                                         step.kernel,
                                         {},
                                         step.dense_macs,
                                         step.actual_macs});
              }
              result.layers[i].seconds.push_back(step.seconds);
            }
            result.thread_busy.resize(
                std::max(result.thread_busy.size(), stats.thread_seconds.size()));
            for (size_t t = 0; t < stats.thread_seconds.size(); ++t)
              result.thread_busy[t].push_back(stats.thread_seconds[t]);
          },
          options.min_runs, options.min_seconds);
    }
  }
  if (options.throughput) {
    const Tensor batch = bench_input(*model, options.batch);
    result.throughput_runs =
        repeat([&] { session.run(batch); }, options.batch_min_runs, options.min_seconds);
    result.throughput = summarize(result.throughput_runs);
  }
  return result;
}

void print_layers(const BenchResult& r) {
  double sum = 0;
  std::vector<double> medians;
  for (const auto& layer : r.layers) sum += medians.emplace_back(summarize(layer.seconds).median);
  Table table(
      {"layer", "op", "backend", "kernel", "median", "share %", "dense GMAC/s", "actual GMAC/s"});
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const auto& l = r.layers[i];
    const double t = medians[i];
    auto rate = [&](int64_t macs) {
      return macs && t > 0 ? format_fixed(static_cast<double>(macs) / t * 1e-9, 2)
                           : std::string("-");
    };
    table.add_row({l.name, l.op, l.backend, l.kernel, format_seconds(t),
                   format_fixed(sum > 0 ? 100.0 * t / sum : 0.0, 1), rate(l.dense_macs),
                   rate(l.actual_macs)});
  }
  std::cout << table.text();
  // With several threads: each thread's median time per run inside the
  // parallel regions, against the run's (the rest is waiting and serial steps).
  if (r.thread_busy.empty()) return;
  std::cout << "busy inside parallel regions, median per run:";
  for (size_t t = 0; t < r.thread_busy.size(); ++t) {
    std::cout << (t == 0 ? " " : ", ") << "thread " << t << " "
              << format_seconds(summarize(r.thread_busy[t]).median);
  }
  std::cout << " (summed layer medians " << format_seconds(sum) << ")\n";
}

// One line per backend and thread count: what was measured, in words.
std::string describe(const BenchResult& r) {
  std::string text = "backend " + r.backend + ", " + std::to_string(r.threads) + " thread" +
                     (r.threads > 1 ? "s" : "") + ":";
  if (r.latency.samples > 0) {
    text += " latency (batch 1" +
            (r.distinct_inputs > 1 ? ", " + std::to_string(r.distinct_inputs) + " inputs in turn"
                                   : std::string()) +
            ") median " + format_seconds(r.latency.median) + ", p90 " +
            format_seconds(r.latency.p90) + ", best " + format_seconds(r.latency.best) + " over " +
            std::to_string(r.latency.samples) + " runs";
  }
  if (r.latency.samples > 0 && r.throughput.samples > 0) text += ";";
  if (r.throughput.samples > 0) {
    text += " throughput (batch " + std::to_string(r.batch) + ", chunks of " +
            std::to_string(r.batch_chunk) + ") " + format_fixed(r.batch / r.throughput.median, 0) +
            " images/s";
  }
  return text + "\n";
}

nlohmann::json result_json(const BenchResult& r) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : r.layers) {
    const TimingSummary t = summarize(l.seconds);
    layers.push_back({{"name", l.name},
                      {"op", l.op},
                      {"backend", l.backend},
                      {"kernel", l.kernel},
                      {"median_seconds", t.median},
                      {"best_seconds", t.best},
                      {"dense_macs", l.dense_macs},
                      {"actual_macs", l.actual_macs}});
  }
  nlohmann::json j = {{"backend", r.backend}, {"threads", r.threads}};
  if (r.latency.samples > 0) {
    j["latency"] = {{"batch", 1},
                    {"distinct_inputs", r.distinct_inputs},
                    {"runs", r.latency.samples},
                    {"median_seconds", r.latency.median},
                    {"p90_seconds", r.latency.p90},
                    {"best_seconds", r.latency.best},
                    {"runs_seconds", r.latency_runs}};
  }
  if (r.throughput.samples > 0) {
    j["throughput"] = {{"batch", r.batch},
                       {"batch_chunk", r.batch_chunk},
                       {"runs", r.throughput.samples},
                       {"median_seconds", r.throughput.median},
                       {"best_seconds", r.throughput.best},
                       {"images_per_second", r.batch / r.throughput.median},
                       {"runs_seconds", r.throughput_runs}};
  }
  j["layers"] = layers;
  if (!r.thread_busy.empty()) {
    nlohmann::json busy = nlohmann::json::array();
    for (const auto& runs : r.thread_busy) busy.push_back(summarize(runs).median);
    j["thread_busy_median_seconds"] = busy;
  }
  if (r.chip.steps > 0) j["device"] = r.chip.json(1, "batch-1 run", r.latency.median);
  return j;
}

void run_bench(const BenchOptions& options) {
  if (!options.latency && !options.throughput) {
    throw UsageError("--no-latency and --no-throughput together leave nothing to measure");
  }
  const auto model = load_model(options.model_path);
  const std::vector<std::string> backends = split_list(options.backends);
  if (backends.empty()) throw UsageError("--backend: no backend named");
  const std::vector<int> thread_counts = parse_threads(options.threads);
  std::vector<BenchResult> results;
  for (const auto& backend : backends) {
    for (int threads : thread_counts) {
      results.push_back(bench_one(model, backend, threads, options));
      const BenchResult& r = results.back();
      if (options.json) continue;
      std::cout << describe(r);
      if (r.latency.samples > 0) std::cout << r.chip.text(1, "batch-1 run", r.latency.median);
      if (options.layers && r.latency.samples > 0) {
        print_layers(r);
        std::cout << "\n";
      }
    }
  }
  if (options.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : results) j.push_back(result_json(r));
    std::cout << json_text(j) << "\n";
    return;
  }
  Table summary({"backend", "threads", "b1 median", "b1 p90", "b1 best",
                 "b" + std::to_string(options.batch) + " images/s"});
  for (const auto& r : results) {
    const bool b1 = r.latency.samples > 0;
    summary.add_row(
        {r.backend, std::to_string(r.threads), b1 ? format_seconds(r.latency.median) : "-",
         b1 ? format_seconds(r.latency.p90) : "-", b1 ? format_seconds(r.latency.best) : "-",
         r.throughput.samples > 0 ? format_fixed(r.batch / r.throughput.median, 0) : "-"});
  }
  std::cout << "summary:\n" << summary.text();
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench", "Latency (batch 1) and throughput per backend and thread count, per layer");
  command->add_option("MODEL", options->model_path, "Model file (.sparq)")->required();
  command
      ->add_option("--backend,-b", options->backends,
                   "Backends to measure, comma separated, each on its own")
      ->capture_default_str();
  command->add_option("--threads,-t", options->threads, "Thread counts, comma separated, or 'all'")
      ->capture_default_str();
  command->add_option("--batch", options->batch, "Batch of the throughput runs")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command
      ->add_option("--batch-chunk", options->batch_chunk,
                   "Samples per chunk of a batch (0: as many as fit the cache)")
      ->check(CLI::Range(int64_t{0}, int64_t{4096}))
      ->capture_default_str();
  command->add_option("--min-time", options->min_seconds, "Seconds per measurement, at least")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  command
      ->add_option("--distinct-inputs", options->distinct_inputs,
                   "Batch-1 runs cycle through this many different inputs (1: one input, which "
                   "stays in the cache between runs)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--min-runs", options->min_runs, "Runs per latency measurement, at least")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command
      ->add_option("--batch-min-runs", options->batch_min_runs,
                   "Runs per throughput measurement, at least")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command->add_flag("!--no-latency", options->latency,
                    "Skip the batch-1 runs (and with them the per-layer breakdown)");
  command->add_flag("!--no-throughput", options->throughput, "Skip the batch runs");
  command->add_flag("!--no-layers", options->layers, "Skip the per-layer breakdown");
  command->add_flag("--json", options->json, "Machine-readable output");
  command->callback([options] { run_bench(*options); });
}

}  // namespace sparq::cli
