// Writes a few small valid .sparq models into a directory, the starting
// corpus of the loader fuzzer (scripts/fuzz.sh). Small files on purpose:
// libFuzzer mutates them faster, and together they use every operation.
#include <cstdio>
#include <filesystem>
#include <string>

#include "sparq/sparq.hpp"
#include "tests/support/model_samples.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  try {
    std::filesystem::create_directories(dir);
    sparq::testing::build_tiny_sparse_cnn(1, 1).save(dir / "tiny_cnn_k1.sparq");
    sparq::testing::build_tiny_sparse_cnn(2, 3, {4, 2}).save(dir / "tiny_cnn_k3_shared.sparq");
    sparq::testing::build_tiny_sparse_cnn(3, 9).save(dir / "tiny_cnn_k9.sparq");
    sparq::testing::build_op_zoo_model(4).save(dir / "op_zoo.sparq");
    sparq::testing::build_imported_ops_model(5).save(dir / "imported_ops.sparq");
    sparq::ModelBuilder b;
    b.mark_output(b.softmax(b.input(sparq::Shape{3})));
    b.build().save(dir / "softmax_only.sparq");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_seed_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
