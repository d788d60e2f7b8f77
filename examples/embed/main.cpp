// The smallest complete sparq program: load a model, classify one image.
// Build against an installed sparq with find_package(sparq) (CMakeLists.txt
// here) or `g++ main.cpp $(pkg-config --cflags --libs sparq)`.
#include <algorithm>
#include <cstdio>

#include <sparq/sparq.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.sparq IMAGE\n", argv[0]);
    return 2;
  }
  try {
    auto model = sparq::Model::load(argv[1]);
    sparq::Session session(model);  // the fast CPU backend, all cores
    // The model file says how to resize and normalise, so raw images work.
    sparq::Tensor input =
        sparq::preprocess(sparq::load_image(argv[2]), sparq::image_preprocessing(*model));
    sparq::Tensor scores = session.run(input).at(0);
    auto s = scores.span<const float>();
    size_t best = static_cast<size_t>(std::max_element(s.begin(), s.end()) - s.begin());
    const auto& labels = model->metadata().labels;
    std::printf("%s: %s (score %.3f)\n", argv[2], best < labels.size() ? labels[best].c_str() : "?",
                s[best]);
    return 0;
  } catch (const sparq::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
