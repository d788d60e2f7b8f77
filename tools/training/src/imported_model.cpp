#include "sparq_training/imported_model.hpp"

#include "sparq/error.hpp"
#include "sparq/preprocessing_text.hpp"

namespace sparq::training {
namespace {

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "--preprocess: " + what);
}

// One value per channel: `values` as given, or one value repeated.
std::vector<float> per_channel(const std::string& key, std::vector<float> values, int channels) {
  if (values.size() == 1) values.resize(static_cast<size_t>(channels), values[0]);
  if (values.size() != static_cast<size_t>(channels)) {
    bad(key + " has " + std::to_string(values.size()) + " values, the model input has " +
        std::to_string(channels) + " channels");
  }
  return values;
}

}  // namespace

Normalization parse_preprocess(const std::string& text, const Model& model,
                               const Dataset& train_data) {
  const int channels = static_cast<int>(model.input().shape[0]);
  Normalization norm;
  if (text == "dataset") return compute_normalization(train_data);
  std::vector<float> mean = {0.0f}, std = {1.0f};
  if (text == "model") {
    const Preprocessing& pre = model.metadata().preprocessing;
    norm.scale = pre.scale;
    if (!pre.mean.empty()) mean = pre.mean;
    if (!pre.std.empty()) std = pre.std;
  } else {
    // "scale=S,mean=..,std=.." over the defaults (mean 0, std 1).
    Preprocessing pre;
    pre.scale = norm.scale;
    pre.mean = mean;
    pre.std = std;
    parse_preprocessing(text, pre);
    norm.scale = pre.scale;
    mean = pre.mean;
    std = pre.std;
  }
  norm.mean = per_channel("mean", mean, channels);
  norm.std = per_channel("std", std, channels);
  for (float s : norm.std) {
    if (!(s > 0.0f)) bad("std must be positive");
  }
  if (!(norm.scale > 0.0f)) bad("scale must be positive");
  return norm;
}

ImportedStart start_from_model(const std::string& path, const std::string& preprocess,
                               const Dataset& train_data) {
  std::shared_ptr<const Model> model = Model::load(path);
  ImportedStart start;
  start.net = Net(model);
  const ArchSpec& a = start.net->arch();
  if (train_data.channels() != a.in_channels || train_data.height() != a.height ||
      train_data.width() != a.width_px || train_data.classes != a.classes) {
    throw Error(ErrorCode::kInvalidArgument,
                "data set '" + train_data.name + "' (" + std::to_string(train_data.channels()) +
                    "x" + std::to_string(train_data.height()) + "x" +
                    std::to_string(train_data.width()) + ", " + std::to_string(train_data.classes) +
                    " classes) does not fit model '" + path + "' (input " +
                    std::to_string(a.in_channels) + "x" + std::to_string(a.height) + "x" +
                    std::to_string(a.width_px) + ", " + std::to_string(a.classes) +
                    " outputs); resize or convert the images first");
  }
  CheckpointInfo& info = start.info;
  info.arch = a.name;
  info.in_channels = a.in_channels;
  info.height = a.height;
  info.width_px = a.width_px;
  info.classes = a.classes;
  info.dataset = train_data.name;
  info.class_names = train_data.class_names;
  info.norm = parse_preprocess(preprocess, *model, train_data);
  info.notes["arch"] = start.net->description();
  info.notes["source_model"] = path;
  long long weights = 0;
  for (const auto& p : start.net->parameters()) weights += p.numel();
  info.notes["weights"] = std::to_string(weights);
  return start;
}

}  // namespace sparq::training
