// libFuzzer target for the .sparq loader: any byte string must either load
// or fail with sparq::Error. Every other outcome (another exception, a crash,
// a sanitizer report, a leak) is a finding. A file that loads must also save,
// and its saved form must load and save to the same bytes again.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "sparq/sparq.hpp"

namespace {

void load_and_resave(std::span<const uint8_t> input) {
  std::shared_ptr<const sparq::Model> model;
  try {
    model = sparq::Model::from_bytes(input);
  } catch (const sparq::Error&) {
    return;  // rejected with a message: the expected outcome for most inputs
  }
  // What a tool does next with a loaded model (sparq inspect): per-layer MACs.
  for (const sparq::Node& node : model->graph().nodes) {
    (void)sparq::count_macs(model->graph(), node);
  }
  // Outside the try: a model that loaded must save and reload (an exception
  // here aborts, which libFuzzer reports).
  const std::vector<uint8_t> bytes = model->to_bytes();
  if (sparq::Model::from_bytes(bytes)->to_bytes() != bytes) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load_and_resave({data, size});
  // Mutations that insert or delete bytes break the size prefix, and the
  // loader stops at the header. Load a copy with the prefix repaired as well,
  // so those mutations reach the verifier and the field checks.
  if (size >= sizeof(uint32_t)) {
    std::vector<uint8_t> repaired(data, data + size);
    const auto declared = static_cast<uint32_t>(size - sizeof(uint32_t));
    std::memcpy(repaired.data(), &declared, sizeof(declared));
    load_and_resave(repaired);
  }
  return 0;
}
