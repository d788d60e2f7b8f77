// Network architectures as plain descriptions (no libtorch): one list of
// layers that builds both the libtorch module used for training (net.hpp) and
// the sparq graph used for inference (export.hpp), so the two cannot drift.
#pragma once

#include <string>
#include <vector>

namespace sparq::training {

enum class LayerKind {
  kConv3x3,        // 3x3 conv (pad 1) + BatchNorm + ReLU; the first one is the dense stem
  kMaxPool2,       // 2x2 max pooling, stride 2
  kResidual,       // basic block: conv3x3(stride) + BN + ReLU, conv3x3 + BN, + shortcut, ReLU
  kGlobalAvgPool,  // mean over height and width
  kClassifier,     // fully connected to the class count (input flattened)
};

struct LayerSpec {
  LayerKind kind = LayerKind::kConv3x3;
  int out_channels = 0;  // conv and residual layers
  int stride = 1;        // conv and residual layers: 1 or 2
};

struct ArchSpec {
  std::string name;  // "cnn", "vgg", "resnet20", "resnet18"
  int width = 0;     // channels of the first stage
  int in_channels = 1;
  int height = 28;
  int width_px = 28;
  int classes = 10;
  std::vector<LayerSpec> layers;
};

// The architecture names make_arch accepts.
std::vector<std::string> arch_names();
// Default first-stage width of an architecture.
int default_width(const std::string& name);

// Builds a named architecture for inputs [in_channels, height, width_px].
// width <= 0 picks default_width(name). Throws Error(kInvalidArgument) for an
// unknown name (listing the known ones) or sizes that do not fit.
ArchSpec make_arch(const std::string& name, int width, int in_channels, int height, int width_px,
                   int classes);

// Trainable weights of the architecture (conv, BN affine, classifier).
long long count_weights(const ArchSpec& arch);
// Weights of the 3x3 convolutions that pruning applies to (all but the stem).
long long count_prunable_weights(const ArchSpec& arch);

// "cnn-w32: conv32 conv32 pool conv64 ..." for logs and provenance.
std::string describe(const ArchSpec& arch);

}  // namespace sparq::training
