// Gradual N-of-9 pruning of a Net, deciding the kept taps with the library's
// own rule (sparq::prune_round), so training and runtime agree on it.
#pragma once

#include "sparq/ops.hpp"
#include "sparq_training/net.hpp"

namespace sparq::training {

// One round on every prunable 3x3 conv: each kernel (or sharing group) drops
// its smallest remaining tap; masks and weights are updated in place.
void prune_one_round(Net& net, PatternSharing sharing);

// Parses "1x1", "16x1", "16x4" (out_group x in_group); throws
// Error(kInvalidArgument) naming the flag on anything else.
PatternSharing parse_sharing(const std::string& text);
std::string to_string(PatternSharing sharing);

}  // namespace sparq::training
