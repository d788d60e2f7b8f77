// libFuzzer target for the ONNX importer: any bytes given to
// import_onnx_bytes must either import or fail with sparq::Error (never
// another exception, a crash, a sanitizer report, a leak or a huge
// allocation). An imported model must also pass through the .sparq file:
// save, load, and save to the same bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sparq/onnx_import.hpp"
#include "sparq/sparq.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (auto quantization : {sparq::ImportQuantization::kNone, sparq::ImportQuantization::kW4A4}) {
    sparq::OnnxImport imported;
    try {
      imported = sparq::import_onnx_bytes({data, size}, {.quantization = quantization});
    } catch (const sparq::Error&) {
      return 0;  // rejected with a message: the expected outcome for most inputs
    }
    // Outside the try: an imported model must save and reload (an exception
    // here aborts, which libFuzzer reports).
    const std::vector<uint8_t> bytes = imported.model->to_bytes();
    if (sparq::Model::from_bytes(bytes)->to_bytes() != bytes) __builtin_trap();
  }
  return 0;
}
