// Classifies images (PNG, JPEG, PGM, BMP) or an IDX data set with a sparq
// model, using only the public library. With no arguments it runs the shipped
// Fashion-MNIST model on the Fashion-MNIST test set and prints the accuracy,
// the speed on the CPU backend and the device model's estimate for the same
// work.
//
//   classify [--model M.sparq] [--backend cpu] [--batch 64] [--limit N] [INPUT...]
//   INPUT: image files, an idx3 image file (labels beside it), or a folder
//          with t10k-images-idx3-ubyte[.gz] (default: the Debian package's).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <sparq/sparq.hpp>

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string model;
  std::string backend = "cpu";
  int batch = 64;
  long limit = 0;
  std::vector<std::string> inputs;
};

// The shipped k = 3 model (a third of the 3x3 weights kept: the demo's
// accuracy / speed / energy middle ground), else the first model there.
std::string default_model() {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(SPARQ_EXAMPLE_MODELS_DIR, ec)) {
    if (entry.path().extension() == ".sparq") found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  for (const auto& p : found) {
    if (p.filename() == "fashion_k3.sparq") return p.string();
  }
  return found.empty() ? std::string() : found.front().string();
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw sparq::Error(sparq::ErrorCode::kInvalidArgument, arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--model")
      o.model = value();
    else if (arg == "--backend")
      o.backend = value();
    else if (arg == "--batch")
      o.batch = std::max(1, std::atoi(value().c_str()));
    else if (arg == "--limit")
      o.limit = std::atol(value().c_str());
    else if (arg.rfind("--", 0) == 0)
      throw sparq::Error(sparq::ErrorCode::kInvalidArgument, "unknown option " + arg);
    else
      o.inputs.push_back(arg);
  }
  if (o.model.empty()) o.model = default_model();
  if (o.model.empty()) {
    throw sparq::Error(sparq::ErrorCode::kIo,
                       "no --model given and no .sparq file in " SPARQ_EXAMPLE_MODELS_DIR
                       " (sparq-train study writes the shipped ones)");
  }
  if (o.inputs.empty()) o.inputs.push_back("/usr/share/datasets/fashion-mnist");
  return o;
}

// A NaN or infinite score ranks nothing: refuse rather than count a wrong
// prediction into an accuracy.
void require_finite(std::span<const float> scores, const std::string& what) {
  for (float v : scores) {
    if (!std::isfinite(v)) {
      throw sparq::Error(sparq::ErrorCode::kInvalidModel,
                         "the model gives a non-finite score for " + what);
    }
  }
}

// The image and label files of a data set given as a folder or an idx3 file.
std::pair<std::string, std::string> dataset_files(const fs::path& input) {
  auto with_gz = [](const fs::path& p) { return fs::exists(p) ? p : fs::path(p.string() + ".gz"); };
  if (fs::is_directory(input)) {
    return {with_gz(input / "t10k-images-idx3-ubyte").string(),
            with_gz(input / "t10k-labels-idx1-ubyte").string()};
  }
  std::string labels = input.filename().string();
  labels.replace(labels.find("images-idx3"), 11, "labels-idx1");
  return {input.string(), (input.parent_path() / labels).string()};
}

int classify_dataset(const Options& o, const std::shared_ptr<const sparq::Model>& model,
                     const fs::path& input) {
  const auto [images_path, labels_path] = dataset_files(input);
  const int classes = static_cast<int>(model->graph().value(model->graph().outputs[0]).shape[0]);
  const sparq::IdxDataset data = sparq::read_idx_dataset(images_path, labels_path, classes);
  const long total = o.limit > 0 ? std::min<long>(o.limit, data.images.count) : data.images.count;
  const sparq::Preprocessing pre = sparq::image_preprocessing(*model);
  sparq::SessionOptions options;
  options.backends = {o.backend, "reference"};
  sparq::Session session(model, options);

  const size_t pixels = static_cast<size_t>(data.images.rows * data.images.cols);
  const size_t per_sample = static_cast<size_t>(model->input().shape.elements());
  long correct = 0;
  double seconds = 0;
  for (long first = 0; first < total; first += o.batch) {
    const long count = std::min<long>(o.batch, total - first);
    sparq::Tensor batch(model->input().shape.with_batch(count), sparq::DType::kF32);
    for (long n = 0; n < count; ++n) {
      const auto* sample = data.images.pixels.data() + static_cast<size_t>(first + n) * pixels;
      sparq::preprocess_into(
          sparq::image_from_pixels(data.images.cols, data.images.rows, 1, {sample, pixels}), pre,
          batch.span<float>().subspan(static_cast<size_t>(n) * per_sample, per_sample));
    }
    const auto t0 = std::chrono::steady_clock::now();
    const sparq::Tensor scores = session.run(batch).at(0);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto s = scores.span<const float>();
    for (long n = 0; n < count; ++n) {
      const auto row = s.subspan(static_cast<size_t>(n * classes), static_cast<size_t>(classes));
      require_finite(row, "sample " + std::to_string(first + n) + " of " + images_path);
      const long predicted = std::max_element(row.begin(), row.end()) - row.begin();
      correct += predicted == data.labels[static_cast<size_t>(first + n)];
    }
  }
  const sparq::DeviceReport device = sparq::simulate(*model, sparq::DeviceConfig{}, o.batch);
  const double device_per_image = device.total.seconds / o.batch;
  std::printf("dataset: %s (%ld images)\n", images_path.c_str(), total);
  std::printf("accuracy: %.2f %% (%ld/%ld)\n", 100.0 * correct / total, correct, total);
  std::printf("%s backend: %.0f images/s (batch %d, %d threads)\n", o.backend.c_str(),
              total / seconds, o.batch, session.threads());
  std::printf(
      "device model estimate (%s, %.0f MHz, %.2f V): %.0f images/s, %.2f uJ/image, "
      "%.2f dense-equivalent TOPS/W\n",
      device.config.clock.name.c_str(), device.config.clock.frequency_hz / 1e6,
      device.config.clock.volts, 1.0 / device_per_image,
      device.total.energy.total() / o.batch * 1e6, device.total.dense_tops_per_watt());
  return 0;
}

int classify_images(const Options& o, const std::shared_ptr<const sparq::Model>& model) {
  const sparq::Preprocessing pre = sparq::image_preprocessing(*model);
  sparq::SessionOptions options;
  options.backends = {o.backend, "reference"};
  sparq::Session session(model, options);
  const auto& labels = model->metadata().labels;
  for (const std::string& path : o.inputs) {
    const sparq::Tensor scores = session.run(sparq::preprocess(sparq::load_image(path), pre)).at(0);
    const auto s = scores.span<const float>();
    require_finite(s, path);
    const size_t best = static_cast<size_t>(std::max_element(s.begin(), s.end()) - s.begin());
    std::printf("%s: %s (score %.3f)\n", path.c_str(),
                best < labels.size() ? labels[best].c_str() : std::to_string(best).c_str(),
                s[best]);
  }
  return 0;
}

bool is_dataset(const std::string& input) {
  return fs::is_directory(input) || input.find("images-idx3") != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    const auto model = sparq::Model::load(o.model);
    std::printf("model: %s (%s)\n", model->metadata().name.c_str(), o.model.c_str());
    if (o.inputs.size() == 1 && is_dataset(o.inputs[0]))
      return classify_dataset(o, model, o.inputs[0]);
    return classify_images(o, model);
  } catch (const sparq::Error& e) {
    std::fprintf(stderr, "classify: %s\n", e.what());
    return 1;
  }
}
