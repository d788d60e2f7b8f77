// The backends compiled into the library. Each backend's folder defines its
// factory function; this list is the one place that names them all.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sparq/backend.hpp"
#include "sparq/device.hpp"

namespace sparq {

std::shared_ptr<const Backend> make_reference_backend();
std::shared_ptr<const Backend> make_cpu_backend();

inline std::vector<std::pair<std::string, BackendRegistry::Factory>> builtin_backend_factories() {
  return {
      {"reference", make_reference_backend},
      {"cpu", make_cpu_backend},
      {"device", [] { return make_device_backend(); }},
      {"device-cycle",
       [] { return make_device_backend(DeviceConfig{}, "cpu", SimulationMode::kCycleStepped); }},
  };
}

}  // namespace sparq
