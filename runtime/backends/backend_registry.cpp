#include <map>
#include <mutex>

#include "runtime/backends/builtin_backends.hpp"
#include "sparq/backend.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, BackendRegistry::Factory> factories;
  std::map<std::string, std::shared_ptr<const Backend>> instances;
};

// Built-in backends are registered on first use, so a static library needs no
// self-registering globals (which the linker would drop).
Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    for (auto& [name, factory] : builtin_backend_factories()) reg->factories[name] = factory;
    return reg;
  }();
  return *r;
}

}  // namespace

void BackendRegistry::add(const std::string& name, Factory factory) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.factories[name] = std::move(factory);
  r.instances.erase(name);
}

std::shared_ptr<const Backend> BackendRegistry::get(const std::string& name) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (auto it = r.instances.find(name); it != r.instances.end()) return it->second;
  auto it = r.factories.find(name);
  if (it == r.factories.end()) {
    std::string known;
    for (auto& [n, f] : r.factories) known += (known.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::kInvalidArgument,
                "unknown backend '" + name + "' (known: " + known + ")");
  }
  auto backend = it->second();
  r.instances[name] = backend;
  return backend;
}

std::vector<std::string> BackendRegistry::names() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::string> out;
  for (auto& [n, f] : r.factories) out.push_back(n);
  return out;
}

}  // namespace sparq
