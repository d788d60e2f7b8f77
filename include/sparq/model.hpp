// A model: a validated graph plus what an application needs around it (input
// preprocessing, class labels, provenance). Immutable once built; one Model is
// shared by any number of sessions and threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sparq/graph.hpp"

namespace sparq {

// How to turn a raw image into the graph input: resize to height x width,
// convert to `channels` (1 gray, 3 RGB), x = (pixel * scale - mean[c]) / std[c].
struct Preprocessing {
  int height = 0;
  int width = 0;
  int channels = 0;
  float scale = 1.0f / 255.0f;
  std::vector<float> mean;  // per channel (empty: 0)
  std::vector<float> std;   // per channel (empty: 1)
};

struct ModelMetadata {
  std::string name;
  Preprocessing preprocessing;
  std::vector<std::string> labels;                // class names, index = class id
  std::map<std::string, std::string> provenance;  // dataset, accuracy, schedule ...
};

class Model {
 public:
  // Validates `graph` (throws Error(kInvalidModel)).
  Model(Graph graph, ModelMetadata metadata);

  // Reads a .sparq file: FlatBuffers verifier, checksum, then semantic
  // validation.
  static std::shared_ptr<const Model> load(const std::filesystem::path& path);
  static std::shared_ptr<const Model> from_bytes(std::span<const uint8_t> bytes);

  void save(const std::filesystem::path& path) const;
  std::vector<uint8_t> to_bytes() const;

  const Graph& graph() const { return graph_; }
  const ModelMetadata& metadata() const { return metadata_; }
  const Value& input() const { return graph_.value(graph_.input); }

  // True when the model was read from a file whose checksum matched; false
  // for files written before .sparq files carried one (they load unchecked)
  // and for models built in memory.
  bool checksum_verified() const { return checksum_verified_; }

 private:
  Graph graph_;
  ModelMetadata metadata_;
  bool checksum_verified_ = false;
};

}  // namespace sparq
