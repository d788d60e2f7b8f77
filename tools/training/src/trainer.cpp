#include "sparq_training/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "sparq/error.hpp"

namespace sparq::training {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One status line on a terminal (rewritten in place), or a line per quarter
// epoch in a log file, so nohup logs stay short.
class Progress {
 public:
  Progress(std::string label, int64_t total_steps)
      : label_(std::move(label)), total_(total_steps), tty_(isatty(STDERR_FILENO) != 0) {}

  void update(int64_t step, int epoch, double loss, double accuracy, bool end_of_epoch) {
    const int64_t tenth = std::max<int64_t>(1, total_ / 10);
    const bool show = end_of_epoch || (tty_ ? step % 5 == 0 : step % tenth == 0);
    if (!show) return;
    const double elapsed = seconds_since(start_);
    const double eta = step > 0 ? elapsed / step * (total_ - step) : 0;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s[%s] %s epoch %d %lld/%lld loss %.4f acc %.2f%% %.0fs eta %.0fs%s",
                 tty_ ? "\r" : "", bar.c_str(), label_.c_str(), epoch + 1,
                 static_cast<long long>(step), static_cast<long long>(total_), loss, accuracy,
                 elapsed, eta, tty_ && !end_of_epoch ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

TrainResult train(Net& net, const Dataset& data, const Normalization& norm,
                  const TrainOptions& options, int first_epoch, const EpochCallback& on_epoch) {
  if (!(options.epochs > 0) || options.batch <= 0 || !(options.lr > 0)) {
    throw Error(ErrorCode::kInvalidArgument, "training needs epochs > 0, batch > 0 and lr > 0");
  }
  const int64_t n = data.size();
  const int64_t steps_per_epoch = (n + options.batch - 1) / options.batch;
  int64_t total_steps = static_cast<int64_t>(std::ceil(options.epochs * steps_per_epoch));
  if (options.max_steps > 0) total_steps = std::min(total_steps, options.max_steps);
  const int64_t warmup = static_cast<int64_t>(options.warmup_fraction * total_steps);

  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(options.lr)
                                                     .momentum(options.momentum)
                                                     .nesterov(true)
                                                     .weight_decay(options.weight_decay));
  auto lr_at = [&](int64_t step) {
    if (step < warmup) return options.lr * (step + 1) / warmup;
    const double t =
        static_cast<double>(step - warmup) / std::max<int64_t>(1, total_steps - warmup);
    return options.lr * 0.5 * (1.0 + std::cos(M_PI * t));
  };

  net->train();
  TrainResult result;
  const auto start = Clock::now();
  Progress progress(options.label, total_steps);
  int64_t step = first_epoch * steps_per_epoch;
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  for (int epoch = first_epoch; step < total_steps; ++epoch) {
    // The data order of epoch e depends only on (seed, e): a resumed run
    // sees the same batches it would have seen.
    std::mt19937 gen(options.seed * 1000003u + static_cast<uint32_t>(epoch));
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), gen);
    torch::Tensor order = torch::tensor(perm);
    loss_sum = 0;
    correct = seen = 0;
    for (int64_t b = 0; b < steps_per_epoch && step < total_steps; ++b, ++step) {
      torch::Tensor index = order.narrow(0, b * options.batch,
                                         std::min<int64_t>(options.batch, n - b * options.batch));
      torch::Tensor images = data.images.index_select(0, index);
      if (options.crop_padding > 0 || options.flip) {
        images = augment(images, options.crop_padding, options.flip, gen);
      }
      torch::Tensor labels = data.labels.index_select(0, index);
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr_at(step));
      }
      optimizer.zero_grad();
      torch::Tensor logits = net->forward(normalize(images, norm), options.quant);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels);
      loss.backward();
      optimizer.step();
      const double l = loss.item<double>();
      if (!std::isfinite(l)) {
        throw Error(ErrorCode::kInternal, "training diverged (loss " + std::to_string(l) +
                                              ") at step " + std::to_string(step) + "; lower --lr");
      }
      loss_sum += l * labels.size(0);
      correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
      seen += labels.size(0);
      const bool end = (b + 1 == steps_per_epoch) || (step + 1 == total_steps);
      progress.update(step + 1, epoch, loss_sum / seen, 100.0 * correct / seen, end);
    }
    if (on_epoch && step % steps_per_epoch == 0) on_epoch(epoch);
  }
  result.last_loss = seen ? loss_sum / seen : 0;
  result.train_accuracy = seen ? 100.0 * correct / seen : 0;
  result.steps = step - first_epoch * steps_per_epoch;
  result.seconds = seconds_since(start);
  return result;
}

double evaluate(Net& net, const Dataset& data, const Normalization& norm, const QuantMode& mode,
                int batch) {
  torch::NoGradGuard no_grad;
  net->eval();
  QuantMode eval_mode = mode;
  eval_mode.exact = mode.enabled;
  int64_t correct = 0;
  for (int64_t start = 0; start < data.size(); start += batch) {
    const int64_t count = std::min<int64_t>(batch, data.size() - start);
    torch::Tensor logits =
        net->forward(normalize(data.images.narrow(0, start, count), norm), eval_mode);
    correct += logits.argmax(1).eq(data.labels.narrow(0, start, count)).sum().item<int64_t>();
  }
  net->train();
  return 100.0 * static_cast<double>(correct) / static_cast<double>(data.size());
}

}  // namespace sparq::training
