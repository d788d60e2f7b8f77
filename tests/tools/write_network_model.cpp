// Writes one of the random-weight networks of tests/support/networks.hpp to a
// .sparq file, for benchmarking whole networks through the command line:
//   write_network_model resnet18|resnet20|five_layer DENSITY OUT_GROUP IN_GROUP IMAGE WIDTH FILE
// (IMAGE and WIDTH are ignored for five_layer.)
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "tests/support/networks.hpp"

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: %s resnet18|resnet20|five_layer DENSITY OUT_GROUP IN_GROUP IMAGE WIDTH "
                 "FILE\n",
                 argv[0]);
    return 2;
  }
  try {
    const std::string network = argv[1];
    sparq::testing::NetworkOptions options;
    options.density = std::stoi(argv[2]);
    options.sharing = {std::stoi(argv[3]), std::stoi(argv[4])};
    const int image = std::stoi(argv[5]);
    const int width = std::stoi(argv[6]);
    sparq::Model model = [&] {
      if (network == "resnet18") return sparq::testing::build_resnet18(options, image, width);
      if (network == "resnet20") return sparq::testing::build_resnet20(options, image, width);
      if (network == "five_layer") return sparq::testing::build_five_layer_cnn(options);
      throw std::invalid_argument("unknown network '" + network + "'");
    }();
    model.save(argv[7]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_network_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
