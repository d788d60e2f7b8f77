// Rules on ModelMetadata, applied when a model is written and when it is read,
// so a saved file always loads and a loaded preprocessing can be applied
// without dividing by zero or reading past the per-channel arrays.
#include <cmath>
#include <string>

#include "runtime/model/model_format.hpp"
#include "sparq/error.hpp"

namespace sparq::model_format {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, what);
}

void check_per_channel(const std::vector<float>& values, int channels, const char* field,
                       bool nonzero) {
  const std::string where = std::string("metadata.preprocessing.") + field;
  if (!values.empty() && values.size() != static_cast<size_t>(channels)) {
    fail(where + " has " + std::to_string(values.size()) +
         " entries, expected none or one per channel (" + std::to_string(channels) + ")");
  }
  for (size_t c = 0; c < values.size(); ++c) {
    if (!std::isfinite(values[c]) || (nonzero && values[c] == 0.0f)) {
      fail(where + "[" + std::to_string(c) + "] must be finite" + (nonzero ? " and non-zero" : "") +
           ", is " + std::to_string(values[c]));
    }
  }
}

}  // namespace

void check_metadata(const ModelMetadata& metadata) {
  const Preprocessing& p = metadata.preprocessing;
  if (p.height < 0 || p.width < 0 || p.channels < 0) {
    fail("metadata.preprocessing: height, width and channels must be >= 0 (0: not given), are " +
         std::to_string(p.height) + ", " + std::to_string(p.width) + ", " +
         std::to_string(p.channels));
  }
  if (!std::isfinite(p.scale)) fail("metadata.preprocessing.scale is not finite");
  check_per_channel(p.mean, p.channels, "mean", /*nonzero=*/false);
  check_per_channel(p.std, p.channels, "std", /*nonzero=*/true);
}

}  // namespace sparq::model_format
