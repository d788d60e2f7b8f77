// libFuzzer target for the .sparq loader: any byte string must either load
// or fail with sparq::Error. Every other outcome (another exception, a crash,
// a sanitizer report, a leak) is a finding. A file that loads must also save,
// and its saved form must load and save to the same bytes again; and it must
// either be refused under small resource limits or run one sample, with the
// reference and CPU backends agreeing bit for bit.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sparq/sparq.hpp"

namespace {

// Limits far below the defaults, so that a mutated shape or window is
// refused (sparq::Error) rather than run for minutes: the fuzzer's own
// -rss_limit_mb and -timeout then catch any allocation or loop the limits
// failed to foresee.
sparq::SessionOptions fuzz_options(const std::string& backend) {
  sparq::SessionOptions options;
  options.backends = {backend};
  options.threads = 1;
  options.limits.max_memory_bytes = int64_t{64} << 20;
  options.limits.max_operations = int64_t{20'000'000};
  return options;
}

// Builds a session on each host backend and runs one sample of small
// deterministic values through it: a loaded model must either be refused
// with sparq::Error or run; both backends must then agree bit for bit
// (the CPU backend's contract; NaN compared by bits too).
void run_once(const std::shared_ptr<const sparq::Model>& model) {
  const sparq::Value& in = model->input();
  std::vector<sparq::Tensor> results[2];
  const char* backends[2] = {"reference", "cpu"};
  for (int b = 0; b < 2; ++b) {
    try {
      sparq::Session session(model, fuzz_options(backends[b]));
      sparq::Tensor input(in.shape.with_batch(1), in.dtype);
      auto* bytes = static_cast<uint8_t*>(input.raw());
      for (size_t i = 0; i < input.bytes(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 % 61);
      if (in.dtype == sparq::DType::kF32) {
        auto values = input.span<float>();
        for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 13) - 6.0f;
      }
      results[b] = session.run(input);
    } catch (const sparq::Error&) {
      return;  // refused: over the limits, or not runnable (also an Error)
    }
  }
  if (results[0].size() != results[1].size()) __builtin_trap();
  for (size_t o = 0; o < results[0].size(); ++o) {
    const sparq::Tensor& a = results[0][o];
    const sparq::Tensor& c = results[1][o];
    if (a.bytes() != c.bytes() || std::memcmp(a.raw(), c.raw(), a.bytes()) != 0) __builtin_trap();
  }
}

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
  run_once(model);
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
