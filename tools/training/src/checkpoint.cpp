#include "sparq_training/checkpoint.hpp"

#include <sstream>

#include "sparq/error.hpp"
#include "sparq/model.hpp"

namespace sparq::training {
namespace fs = std::filesystem;
namespace {

constexpr const char* kInfoKey = "sparq_training_info";
constexpr const char* kFormat = "sparq-train checkpoint v1";
// Modules built from a graph carry the source .sparq model (its bytes as a
// uint8 tensor), so every later step rebuilds the same module.
constexpr const char* kSourceModelKey = "sparq_source_model";
constexpr const char* kImported = "imported";

// Values never contain newlines (commands are single lines); a list is
// joined with '\x1f' (the ASCII unit separator).
std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "\x1f" : "") + items[i];
  return out;
}
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t begin = 0;
  for (size_t end; (end = s.find('\x1f', begin)) != std::string::npos; begin = end + 1) {
    out.push_back(s.substr(begin, end - begin));
  }
  out.push_back(s.substr(begin));
  return out;
}
std::string join_floats(const std::vector<float>& v) {
  std::vector<std::string> items;
  char buffer[32];
  for (float f : v) {
    std::snprintf(buffer, sizeof buffer, "%.9g", f);
    items.emplace_back(buffer);
  }
  return join(items);
}
std::vector<float> split_floats(const std::string& s) {
  std::vector<float> out;
  for (const auto& item : split(s)) out.push_back(std::stof(item));
  return out;
}

std::string serialize(const CheckpointInfo& info) {
  std::map<std::string, std::string> fields = {
      {"format", kFormat},
      {"arch", info.arch},
      {"width", std::to_string(info.width)},
      {"in_channels", std::to_string(info.in_channels)},
      {"height", std::to_string(info.height)},
      {"width_px", std::to_string(info.width_px)},
      {"classes", std::to_string(info.classes)},
      {"dataset", info.dataset},
      {"class_names", join(info.class_names)},
      {"norm_scale", join_floats({info.norm.scale})},
      {"norm_mean", join_floats(info.norm.mean)},
      {"norm_std", join_floats(info.norm.std)},
      {"sharing_out", std::to_string(info.sharing.out_group)},
      {"sharing_in", std::to_string(info.sharing.in_group)},
      {"phase", info.phase},
      {"next_epoch", std::to_string(info.next_epoch)},
  };
  for (const auto& [k, v] : info.notes) fields["note." + k] = v;
  std::string out;
  for (const auto& [k, v] : fields) out += k + "\t" + v + "\n";
  return out;
}

CheckpointInfo deserialize(const std::string& text, const std::string& path) {
  std::map<std::string, std::string> fields;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) fields[line.substr(0, tab)] = line.substr(tab + 1);
  }
  if (fields["format"] != kFormat) {
    throw Error(ErrorCode::kIo, "'" + path + "' is not a " + kFormat + " file");
  }
  auto integer = [&](const char* key) {
    try {
      return std::stoi(fields.at(key));
    } catch (const std::exception&) {
      throw Error(ErrorCode::kIo,
                  "checkpoint '" + path + "': field '" + key + "' is missing or bad");
    }
  };
  CheckpointInfo info;
  info.arch = fields["arch"];
  info.width = integer("width");
  info.in_channels = integer("in_channels");
  info.height = integer("height");
  info.width_px = integer("width_px");
  info.classes = integer("classes");
  info.dataset = fields["dataset"];
  info.class_names = split(fields["class_names"]);
  info.norm.scale = split_floats(fields["norm_scale"]).at(0);
  info.norm.mean = split_floats(fields["norm_mean"]);
  info.norm.std = split_floats(fields["norm_std"]);
  info.sharing = {integer("sharing_out"), integer("sharing_in")};
  info.phase = fields["phase"];
  info.next_epoch = integer("next_epoch");
  for (const auto& [k, v] : fields) {
    if (k.rfind("note.", 0) == 0) info.notes[k.substr(5)] = v;
  }
  return info;
}

}  // namespace

ArchSpec arch_of(const CheckpointInfo& info) {
  return make_arch(info.arch, info.width, info.in_channels, info.height, info.width_px,
                   info.classes);
}

Net copy_net(Net& net) {
  std::stringstream buffer;
  torch::serialize::OutputArchive out;
  net->save(out);
  out.save_to(buffer);
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  Net copy = net->graph() ? Net(net->graph()->source()) : Net(net->arch());
  copy->load(in);
  return copy;
}

void save_checkpoint(const fs::path& path, Net& net, const CheckpointInfo& info) {
  torch::serialize::OutputArchive archive;
  net->save(archive);
  archive.write(kInfoKey, c10::IValue(serialize(info)));
  if (net->graph()) {
    std::vector<uint8_t> bytes = net->graph()->source()->to_bytes();
    archive.write(
        kSourceModelKey,
        torch::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size())}, torch::kUInt8)
            .clone());
  }
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path temporary = path.string() + ".tmp";
  try {
    archive.save_to(temporary.string());
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kIo, "cannot write checkpoint '" + path.string() + "'");
  }
  fs::rename(temporary, path);
}

LoadedCheckpoint load_checkpoint(const fs::path& path) {
  if (!fs::is_regular_file(path)) {
    throw Error(ErrorCode::kIo, "checkpoint '" + path.string() + "' does not exist");
  }
  torch::serialize::InputArchive archive;
  c10::IValue text;
  try {
    archive.load_from(path.string());
    if (!archive.try_read(kInfoKey, text) || !text.isString()) {
      throw Error(ErrorCode::kIo, "'" + path.string() + "' is not a sparq-train checkpoint");
    }
  } catch (const c10::Error&) {
    throw Error(ErrorCode::kIo, "'" + path.string() + "' is not a readable sparq-train checkpoint");
  }
  LoadedCheckpoint loaded;
  loaded.info = deserialize(text.toStringRef(), path.string());
  if (loaded.info.arch == kImported) {
    torch::Tensor bytes;
    if (!archive.try_read(kSourceModelKey, bytes) || bytes.scalar_type() != torch::kUInt8) {
      throw Error(ErrorCode::kIo,
                  "checkpoint '" + path.string() + "' of an imported model lacks its source model");
    }
    bytes = bytes.contiguous();
    loaded.net =
        Net(Model::from_bytes({bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel())}));
  } else {
    loaded.net = Net(arch_of(loaded.info));
  }
  try {
    loaded.net->load(archive);
  } catch (const c10::Error&) {
    throw Error(ErrorCode::kIo, "checkpoint '" + path.string() +
                                    "' does not match its architecture '" + loaded.info.arch + "'");
  }
  return loaded;
}

}  // namespace sparq::training
