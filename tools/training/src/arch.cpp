#include "sparq_training/arch.hpp"

#include <sstream>

#include "sparq/error.hpp"

namespace sparq::training {
namespace {

LayerSpec conv(int out, int stride = 1) {
  return {LayerKind::kConv3x3, out, stride};
}
LayerSpec pool() {
  return {LayerKind::kMaxPool2, 0, 1};
}
LayerSpec block(int out, int stride) {
  return {LayerKind::kResidual, out, stride};
}

// Small all-3x3 CNN for 28x28 images: two stages at full and half resolution,
// one at quarter resolution, then global average pooling.
std::vector<LayerSpec> cnn_layers(int w) {
  return {conv(w), conv(w), pool(), conv(2 * w), conv(2 * w), pool(), conv(4 * w)};
}

std::vector<LayerSpec> vgg_layers(int w) {
  return {conv(w),     conv(w),     pool(),      conv(2 * w), conv(2 * w), pool(),
          conv(4 * w), conv(4 * w), conv(4 * w), pool(),      conv(8 * w), conv(8 * w)};
}

// CIFAR-style ResNets (He et al. 2016): a 3x3 stem, then stages of basic
// blocks, the first block of each later stage halving the resolution.
std::vector<LayerSpec> resnet_layers(int w, int stages, int blocks_per_stage) {
  std::vector<LayerSpec> layers = {conv(w)};
  for (int s = 0; s < stages; ++s) {
    for (int b = 0; b < blocks_per_stage; ++b) {
      layers.push_back(block(w << s, (s > 0 && b == 0) ? 2 : 1));
    }
  }
  return layers;
}

}  // namespace

std::vector<std::string> arch_names() {
  return {"cnn", "vgg", "resnet20", "resnet18"};
}

int default_width(const std::string& name) {
  if (name == "cnn") return 32;
  if (name == "vgg") return 32;
  if (name == "resnet20") return 16;
  if (name == "resnet18") return 64;
  std::string known;
  for (const auto& n : arch_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown architecture '" + name + "' (known: " + known + ")");
}

ArchSpec make_arch(const std::string& name, int width, int in_channels, int height, int width_px,
                   int classes) {
  ArchSpec arch;
  arch.name = name;
  arch.width = width > 0 ? width : default_width(name);
  if (arch.width > 1024) {
    throw Error(ErrorCode::kInvalidArgument,
                "--width " + std::to_string(arch.width) + " is too large (at most 1024)");
  }
  if (in_channels <= 0 || height < 8 || width_px < 8 || classes < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                "architecture '" + name + "' needs at least 1 channel, 8x8 pixels and 2 classes");
  }
  arch.in_channels = in_channels;
  arch.height = height;
  arch.width_px = width_px;
  arch.classes = classes;
  const int w = arch.width;
  if (name == "cnn") {
    arch.layers = cnn_layers(w);
  } else if (name == "vgg") {
    arch.layers = vgg_layers(w);
  } else if (name == "resnet20") {
    arch.layers = resnet_layers(w, 3, 3);
  } else if (name == "resnet18") {
    arch.layers = resnet_layers(w, 4, 2);
  } else {
    default_width(name);  // throws, listing the known names
  }
  // Every pooling or stride-2 step must leave at least one pixel.
  int h = height, wd = width_px;
  for (const auto& layer : arch.layers) {
    if (layer.kind == LayerKind::kMaxPool2) h /= 2, wd /= 2;
    if (layer.stride == 2) h = (h + 1) / 2, wd = (wd + 1) / 2;
    if (h < 1 || wd < 1) {
      throw Error(ErrorCode::kInvalidArgument, "architecture '" + name + "' downsamples " +
                                                   std::to_string(height) + "x" +
                                                   std::to_string(width_px) + " inputs to nothing");
    }
  }
  arch.layers.push_back({LayerKind::kGlobalAvgPool, 0, 1});
  arch.layers.push_back({LayerKind::kClassifier, classes, 1});
  return arch;
}

long long count_weights(const ArchSpec& arch) {
  long long total = 0;
  long long channels = arch.in_channels;
  for (const auto& layer : arch.layers) {
    const long long out = layer.out_channels;
    switch (layer.kind) {
      case LayerKind::kConv3x3:
        total += out * channels * 9 + 2 * out;
        channels = out;
        break;
      case LayerKind::kResidual:
        total += out * channels * 9 + out * out * 9 + 4 * out;
        if (layer.stride != 1 || out != channels) total += out * channels + 2 * out;
        channels = out;
        break;
      case LayerKind::kClassifier:
        total += out * channels + out;
        break;
      default:
        break;
    }
  }
  return total;
}

long long count_prunable_weights(const ArchSpec& arch) {
  long long total = 0;
  long long channels = arch.in_channels;
  bool stem = true;
  for (const auto& layer : arch.layers) {
    const long long out = layer.out_channels;
    if (layer.kind == LayerKind::kConv3x3) {
      if (!stem) total += out * channels * 9;
      stem = false;
      channels = out;
    } else if (layer.kind == LayerKind::kResidual) {
      total += out * channels * 9 + out * out * 9;
      channels = out;
    }
  }
  return total;
}

std::string describe(const ArchSpec& arch) {
  std::ostringstream out;
  out << arch.name << "-w" << arch.width << ":";
  for (const auto& layer : arch.layers) {
    switch (layer.kind) {
      case LayerKind::kConv3x3:
        out << " conv" << layer.out_channels << (layer.stride == 2 ? "/2" : "");
        break;
      case LayerKind::kMaxPool2:
        out << " pool";
        break;
      case LayerKind::kResidual:
        out << " res" << layer.out_channels << (layer.stride == 2 ? "/2" : "");
        break;
      case LayerKind::kGlobalAvgPool:
        out << " gap";
        break;
      case LayerKind::kClassifier:
        out << " fc" << layer.out_channels;
        break;
    }
  }
  return out.str();
}

}  // namespace sparq::training
