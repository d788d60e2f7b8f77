#include "sparq_training/verify.hpp"

#include <cmath>
#include <cstdio>

#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "sparq/session.hpp"

namespace sparq::training {

double runtime_accuracy(const std::string& model_path, const Dataset& data,
                        const std::string& backend) {
  std::shared_ptr<const Model> model = Model::load(model_path);
  const Preprocessing& pre = model->metadata().preprocessing;
  if (pre.channels != data.channels() || pre.height != data.height() || pre.width != data.width()) {
    throw Error(ErrorCode::kInvalidArgument,
                "model '" + model_path + "' expects " + std::to_string(pre.channels) + "x" +
                    std::to_string(pre.height) + "x" + std::to_string(pre.width) +
                    " images, the data set has " + std::to_string(data.channels()) + "x" +
                    std::to_string(data.height()) + "x" + std::to_string(data.width()));
  }
  Normalization norm{pre.scale, pre.mean, pre.std};
  norm.mean.resize(static_cast<size_t>(pre.channels), 0.0f);
  norm.std.resize(static_cast<size_t>(pre.channels), 1.0f);
  SessionOptions options;
  // Operations a backend lacks (imported models: channel_affine, sigmoid,
  // concat, ...) run on the reference backend, as in `sparq run`.
  options.backends = {backend};
  if (backend != "reference") options.backends.push_back("reference");
  Session session(model, options);
  int64_t correct = 0;
  const int64_t batch = 250;
  for (int64_t start = 0; start < data.size(); start += batch) {
    const int64_t count = std::min(batch, data.size() - start);
    torch::Tensor x = normalize(data.images.narrow(0, start, count), norm).contiguous();
    Tensor input = Tensor::from_floats(Shape{count, data.channels(), data.height(), data.width()},
                                       {x.data_ptr<float>(), static_cast<size_t>(x.numel())});
    std::vector<Tensor> out = session.run(input);
    const Tensor& logits = out.at(0);
    torch::Tensor y = torch::from_blob(const_cast<float*>(logits.data<float>()),
                                       {count, logits.shape()[1]}, torch::kFloat32);
    correct += y.argmax(1).eq(data.labels.narrow(0, start, count)).sum().item<int64_t>();
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(data.size());
}

int run_verify(const VerifyCommand& cmd) {
  Dataset test_data =
      load_dataset(cmd.data.format, cmd.data.dir, Split::kTest, cmd.data.test_limit);
  std::shared_ptr<const Model> model = Model::load(cmd.model);
  const auto& provenance = model->metadata().provenance;
  auto recorded_it = provenance.find("accuracy");
  auto samples_it = provenance.find("accuracy_samples");
  if (recorded_it == provenance.end() || samples_it == provenance.end()) {
    throw Error(ErrorCode::kInvalidArgument,
                "model '" + cmd.model + "' records no accuracy in its provenance");
  }
  if (samples_it->second != std::to_string(test_data.size())) {
    throw Error(ErrorCode::kInvalidArgument,
                "model '" + cmd.model + "' recorded its accuracy on " + samples_it->second +
                    " test images, this run has " + std::to_string(test_data.size()) +
                    " (set --test-limit to match)");
  }
  const double recorded = std::stod(recorded_it->second);
  const double measured = runtime_accuracy(cmd.model, test_data, cmd.backend);
  const bool ok = std::fabs(measured - recorded) <= cmd.tolerance + 1e-9;
  std::printf("%s: runtime (%s) %s%%, recorded %s%% on %lld images: %s\n", cmd.model.c_str(),
              cmd.backend.c_str(), format_percent(measured).c_str(), recorded_it->second.c_str(),
              static_cast<long long>(test_data.size()), ok ? "OK" : "MISMATCH");
  return ok ? 0 : 1;
}

}  // namespace sparq::training
