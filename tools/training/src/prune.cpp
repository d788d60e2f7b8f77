#include "sparq_training/prune.hpp"

#include <regex>
#include <vector>

#include "sparq/error.hpp"
#include "sparq/pruning.hpp"

namespace sparq::training {

void prune_one_round(Net& net, PatternSharing sharing) {
  torch::NoGradGuard no_grad;
  for (auto& conv : net->prunable_weights()) {
    torch::Tensor w = (conv.weight * conv.mask).contiguous();
    torch::Tensor m = conv.mask.to(torch::kUInt8).contiguous();
    sparq::prune_round({w.data_ptr<float>(), static_cast<size_t>(w.numel())},
                       {m.data_ptr<uint8_t>(), static_cast<size_t>(m.numel())}, conv.out_channels,
                       conv.in_channels, sharing);
    conv.mask.copy_(m.to(torch::kFloat32));
    conv.weight.copy_(w);
  }
}

PatternSharing parse_sharing(const std::string& text) {
  static const std::regex pattern(R"((\d{1,4})x(\d{1,4}))");
  std::smatch match;
  if (!std::regex_match(text, match, pattern)) {
    throw Error(ErrorCode::kInvalidArgument,
                "--sharing '" + text + "' must be OUTxIN channel groups, e.g. 1x1, 16x1, 16x4");
  }
  PatternSharing sharing{std::stoi(match[1]), std::stoi(match[2])};
  if (sharing.out_group < 1 || sharing.in_group < 1) {
    throw Error(ErrorCode::kInvalidArgument, "--sharing '" + text + "': groups must be >= 1");
  }
  return sharing;
}

std::string to_string(PatternSharing sharing) {
  return std::to_string(sharing.out_group) + "x" + std::to_string(sharing.in_group);
}

}  // namespace sparq::training
