// JSON text as the commands print it. Labels, node names and file names are
// bytes from untrusted files: invalid UTF-8 among them is replaced by U+FFFD
// instead of making nlohmann::json throw after all the work is done.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sparq::cli {

inline std::string json_text(const nlohmann::json& j) {
  return j.dump(2, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sparq::cli
