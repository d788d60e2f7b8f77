// Test and benchmark helper for the Python package (not installed): runs a
// model through the C++ API, so pytest can compare the Python binding's
// outputs bit for bit and the benchmark can time Session::run without Python.
//
//   sparq_py_reference MODEL INPUT.f32 OUT_PREFIX [BACKENDS [THREADS [REPEAT]]]
//
// INPUT.f32 holds N samples of the model input (raw little-endian float32).
// Writes output o's raw bytes to OUT_PREFIX.<o>.bin. With REPEAT > 0 it then
// runs REPEAT more times and prints "median_ns <n>" and "mean_ns <n>" per call.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "sparq/sparq.hpp"

namespace {

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

sparq::Tensor read_input(const sparq::Model& model, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw sparq::Error(sparq::ErrorCode::kIo, "cannot read " + path);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  const int64_t per_sample = model.input().shape.elements() * 4;
  if (bytes.empty() || bytes.size() % static_cast<size_t>(per_sample) != 0) {
    throw sparq::Error(sparq::ErrorCode::kInvalidArgument,
                       path + ": not a whole number of input samples");
  }
  const int64_t batch = static_cast<int64_t>(bytes.size()) / per_sample;
  return sparq::Tensor::from_bytes(
      model.input().shape.with_batch(batch), sparq::DType::kF32,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: sparq_py_reference MODEL INPUT.f32 OUT_PREFIX [BACKENDS [THREADS "
                 "[REPEAT]]]\n";
    return 2;
  }
  try {
    const auto model = sparq::Model::load(argv[1]);
    const sparq::Tensor input = read_input(*model, argv[2]);
    sparq::SessionOptions options;
    if (argc > 4) options.backends = split(argv[4]);
    if (argc > 5) options.threads = std::stoi(argv[5]);
    const int repeat = argc > 6 ? std::stoi(argv[6]) : 0;
    sparq::Session session(model, options);
    const std::vector<sparq::Tensor> outputs = session.run(input);
    for (size_t o = 0; o < outputs.size(); ++o) {
      std::ofstream out(std::string(argv[3]) + "." + std::to_string(o) + ".bin", std::ios::binary);
      out.write(static_cast<const char*>(outputs[o].raw()),
                static_cast<std::streamsize>(outputs[o].bytes()));
    }
    if (repeat > 0) {
      std::vector<double> ns(static_cast<size_t>(repeat));
      double total = 0;
      for (double& t : ns) {
        const auto start = std::chrono::steady_clock::now();
        session.run(input);
        t = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                .count();
        total += t;
      }
      std::nth_element(ns.begin(), ns.begin() + repeat / 2, ns.end());
      std::cout << "median_ns " << ns[static_cast<size_t>(repeat / 2)] << "\n"
                << "mean_ns " << total / repeat << "\n";
    }
  } catch (const sparq::Error& e) {
    std::cerr << "sparq_py_reference: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
