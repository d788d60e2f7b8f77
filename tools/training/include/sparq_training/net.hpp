// The libtorch module built from an ArchSpec. It runs in two modes:
//  - float: ordinary conv + BatchNorm + ReLU training (pruned taps masked);
//  - quantized: the fake-quantized twin of the exported sparq model. BatchNorm
//    is folded into the conv with its running statistics (frozen), weights are
//    quantized per output channel (s8 stem, s4 pruned 3x3 convs, s8 shortcut
//    and classifier), every quantized layer's input is quantized per sample
//    (s8 image, u8 or u4 in the middle, u8 before the classifier), and the
//    output is acc * (s_act * s_w) + bias, exactly as the runtime computes it.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

#include "sparq_training/arch.hpp"
#include "sparq_training/fake_quant.hpp"
#include "sparq_training/graph_net.hpp"

namespace sparq::training {

// A convolution without bias followed by BatchNorm (ReLU is applied by the net).
class ConvBnImpl : public torch::nn::Module {
 public:
  ConvBnImpl(int in_channels, int out_channels, int kernel, int stride, bool prunable,
             int weight_bits);

  torch::Tensor forward_float(const torch::Tensor& x);
  torch::Tensor forward_quantized(const QuantizedTensor& x, bool exact);
  // BatchNorm folded with its running statistics: weight * mask * factor and
  // (0 - mean) * factor + beta, factor = gamma / sqrt(var + eps); the same
  // float operations as sparq::fold_batchnorm.
  std::pair<torch::Tensor, torch::Tensor> folded() const;

  int in_channels, out_channels, kernel, stride, weight_bits;
  bool prunable;         // a middle 3x3 conv: N-of-9 pruned, s4 weights
  torch::Tensor weight;  // [O, I, k, k]
  torch::Tensor mask;    // same shape, 1 = kept (buffer, all ones unless pruned)
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(ConvBn);

// One of the built-in architectures (ArchSpec), or any float sparq graph
// (an imported model: GraphNet) behind the same interface, so training,
// pruning, QAT, checkpoints and evaluation treat both alike.
class NetImpl : public torch::nn::Module {
 public:
  explicit NetImpl(ArchSpec arch);
  // A module built from a float graph; arch() then has the name "imported",
  // the input size and class count of the graph, and no layers.
  explicit NetImpl(std::shared_ptr<const Model> source);

  torch::Tensor forward(const torch::Tensor& x, const QuantMode& mode = {});

  const ArchSpec& arch() const { return arch_; }
  // The graph module, or null for a built-in architecture.
  GraphNet graph() const { return graph_; }
  // "cnn-w32: conv32 ..." or "imported NAME (N nodes)" for logs.
  std::string description() const;
  // The weights pruning applies to, whichever kind of module this is.
  std::vector<MaskedWeight> prunable_weights() const;
  // The convs in graph order, and those that pruning applies to.
  const std::vector<ConvBn>& convs() const { return convs_; }
  std::vector<ConvBn> prunable_convs() const;
  torch::nn::Linear classifier() const { return classifier_; }
  // For each residual layer of the arch, in order: indices into convs() of
  // its first conv, second conv and shortcut conv (-1 for identity).
  struct BlockConvs {
    int first, second, shortcut;
  };
  const std::vector<BlockConvs>& blocks() const { return blocks_; }
  // Taps kept per kernel of the pruned convs (9 before pruning).
  int density() const;

 private:
  ArchSpec arch_;
  std::vector<ConvBn> convs_;
  std::vector<BlockConvs> blocks_;
  torch::nn::Linear classifier_{nullptr};
  GraphNet graph_{nullptr};
};
TORCH_MODULE(Net);

}  // namespace sparq::training
