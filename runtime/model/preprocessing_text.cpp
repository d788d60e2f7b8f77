// The command-line form of Preprocessing, parsed in one place for every tool
// that takes --preprocess (sparq import, sparq-train).
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sparq/error.hpp"
#include "sparq/preprocessing_text.hpp"

namespace sparq {
namespace {

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "--preprocess: " + what);
}

std::vector<float> parse_floats(const std::string& key, const std::string& text) {
  std::vector<float> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, '/');) {
    float value = 0;
    try {
      size_t used = 0;
      value = std::stof(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      bad(key + " has a value that is not a number: '" + item + "'");
    }
    if (!std::isfinite(value)) bad(key + " has a value that is not finite: '" + item + "'");
    values.push_back(value);
  }
  if (values.empty()) bad(key + " has no value");
  return values;
}

}  // namespace

void parse_preprocessing(const std::string& text, Preprocessing& pre) {
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) bad("expected key=value, got '" + item + "'");
    const std::string key = item.substr(0, eq);
    std::vector<float> values = parse_floats(key, item.substr(eq + 1));
    if (key == "scale" && values.size() == 1) {
      if (!(values[0] > 0.0f)) bad("scale must be positive");
      pre.scale = values[0];
    } else if (key == "mean") {
      pre.mean = std::move(values);
    } else if (key == "std") {
      for (float s : values) {
        if (!(s > 0.0f)) bad("std must be positive");
      }
      pre.std = std::move(values);
    } else {
      bad("unknown key '" + key + "' (scale=S, mean=M1/M2/.., std=S1/S2/..)");
    }
  }
}

}  // namespace sparq
