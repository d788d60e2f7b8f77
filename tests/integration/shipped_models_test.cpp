// The models shipped under examples/models/ record the accuracy that
// sparq-train measured on their fake-quantized libtorch twin (provenance
// "accuracy", full Fashion-MNIST test split). The sparq runtime, running the
// exported file on the same 10,000 images with the same preprocessing, must
// measure the same accuracy within 0.1 points: the export and the runtime
// follow one numerics contract.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/sparq.hpp"

namespace sparq {
namespace {

namespace fs = std::filesystem;

const fs::path kModelsDir = fs::path(SPARQ_SOURCE_DIR) / "examples" / "models";
const fs::path kFashionDir = "/usr/share/datasets/fashion-mnist";

std::vector<fs::path> shipped_models() {
  std::vector<fs::path> models;
  if (fs::is_directory(kModelsDir)) {
    for (const auto& entry : fs::directory_iterator(kModelsDir)) {
      if (entry.path().extension() == ".sparq") models.push_back(entry.path());
    }
  }
  std::sort(models.begin(), models.end());
  return models;
}

// Accuracy in percent of `model` on the data set, batches of 250 images,
// preprocessed with the model's own Preprocessing: (pixel * scale - mean) / std.
double runtime_accuracy(const std::shared_ptr<const Model>& model, const IdxDataset& data,
                        const std::string& backend) {
  const Preprocessing& pre = model->metadata().preprocessing;
  EXPECT_EQ(pre.channels, 1);
  EXPECT_EQ(pre.height, data.images.rows);
  EXPECT_EQ(pre.width, data.images.cols);
  const float mean = pre.mean.empty() ? 0.0f : pre.mean[0];
  const float std = pre.std.empty() ? 1.0f : pre.std[0];
  SessionOptions options;
  options.backends = {backend};
  Session session(model, options);
  const int pixels = data.images.rows * data.images.cols;
  const int batch = 250;
  int correct = 0;
  for (int start = 0; start < data.images.count; start += batch) {
    const int count = std::min(batch, data.images.count - start);
    std::vector<float> x(static_cast<size_t>(count) * pixels);
    for (size_t i = 0; i < x.size(); ++i) {
      const float pixel = data.images.pixels[static_cast<size_t>(start) * pixels + i];
      x[i] = (pixel * pre.scale - mean) / std;
    }
    Tensor input = Tensor::from_floats(Shape{count, 1, data.images.rows, data.images.cols}, x);
    std::vector<Tensor> out = session.run(input);
    const Tensor& logits = out.at(0);
    const int64_t classes = logits.shape()[1];
    const float* y = logits.data<float>();
    for (int n = 0; n < count; ++n) {
      // First maximum wins, like torch::argmax.
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c) {
        if (y[n * classes + c] > y[n * classes + best]) best = c;
      }
      correct += best == data.labels[static_cast<size_t>(start + n)];
    }
  }
  return 100.0 * correct / data.images.count;
}

TEST(ShippedModels, RuntimeAccuracyEqualsRecordedAccuracy) {
  const auto models = shipped_models();
  ASSERT_FALSE(models.empty()) << "no .sparq models under " << kModelsDir;
  if (!fs::exists(kFashionDir / "t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh)";
  }
  const IdxDataset test = read_idx_dataset(kFashionDir / "t10k-images-idx3-ubyte.gz",
                                           kFashionDir / "t10k-labels-idx1-ubyte.gz", 10);
  for (const auto& path : models) {
    SCOPED_TRACE(path.filename().string());
    auto model = Model::load(path);
    const auto& provenance = model->metadata().provenance;
    ASSERT_TRUE(provenance.count("accuracy")) << "provenance has no 'accuracy'";
    ASSERT_EQ(provenance.at("accuracy_samples"), "10000");
    EXPECT_EQ(provenance.at("dataset"), "fashion-mnist");
    EXPECT_EQ(model->metadata().labels.size(), 10u);
    const double recorded = std::stod(provenance.at("accuracy"));
    const double measured = runtime_accuracy(model, test, "cpu");
    EXPECT_NEAR(measured, recorded, 0.1) << "cpu backend";
  }
}

}  // namespace
}  // namespace sparq
