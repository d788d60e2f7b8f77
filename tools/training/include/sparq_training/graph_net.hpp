// The libtorch module built from any float sparq graph (an imported ONNX
// model, or anything a ModelBuilder made): one trainable parameter set per
// weighted node (convolution weights and bias, fully connected weights and
// bias, channel-affine scale and shift), initialised from the graph's float
// weights, and a forward pass that computes what the reference backend
// computes for every float operation.
//
// Quantized mode is the fake-quantized twin of the model the importer's
// `quantize_imported` makes of the graph (the rule `sparq import --quantize`
// and `sparq-train export` apply to imported models): which layers become s8
// convolutions, sparse s4 3x3 convolutions or s8 fully connected layers, and
// how their inputs are quantized (bits, signedness), is read off that
// function's output, so the twin and the export cannot disagree.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <span>
#include <vector>

#include "sparq/graph.hpp"
#include "sparq/model.hpp"
#include "sparq_training/fake_quant.hpp"

namespace sparq::training {

// A pruned (or prunable) weight: the tensor training updates and its mask
// (1 = tap kept), both [O, I, 3, 3]; tensors share storage with the module.
struct MaskedWeight {
  torch::Tensor weight;
  torch::Tensor mask;
  int out_channels = 0;
  int in_channels = 0;
};

class GraphNetImpl : public torch::nn::Module {
 public:
  // Throws Error(kInvalidArgument) naming the node when the graph holds a
  // quantized operation (import without --quantize for training).
  explicit GraphNetImpl(std::shared_ptr<const Model> source);

  // In training mode a softmax / log-softmax that produces the graph output
  // is skipped: the loss applies its own, and the class ranking is the same.
  torch::Tensor forward(const torch::Tensor& x, const QuantMode& mode);

  // The 3x3 convolutions the quantized export makes sparse (pruning applies
  // to these), in graph order.
  std::vector<MaskedWeight> prunable() const;

  // The source graph with the current weights (pruned taps zero).
  Graph float_graph() const;
  const std::shared_ptr<const Model>& source() const { return source_; }

 private:
  // How the quantized export treats one node (read off quantize_imported).
  struct NodePlan {
    bool quantized = false;   // a conv / fully connected with integer weights
    bool sparse = false;      // sparse s4 3x3 convolution (prunable)
    int act_bits = 8;         // its input: 8 or 4 ...
    bool act_signed = false;  // ... signed (s8) or not
    int weight_bits = 8;
  };
  torch::Tensor run_node(size_t index, const std::vector<torch::Tensor>& values,
                         const QuantMode& mode);
  torch::Tensor run_weighted(size_t index, const torch::Tensor& x, const QuantMode& mode);

  const NodePlan& plan(size_t index, int act_bits) const;

  std::shared_ptr<const Model> source_;
  std::vector<NodePlan> plan_a8_, plan_a4_;  // per node, for 8- and 4-bit activations
  // Per node: parameters (empty for operations without weights).
  std::vector<torch::Tensor> weight_, bias_, mask_;
};
TORCH_MODULE(GraphNet);

}  // namespace sparq::training
