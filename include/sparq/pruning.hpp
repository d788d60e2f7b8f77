// Gradual N-of-9 pruning of 3x3 convolution weights (the chip's recipe): each
// round drops the smallest-magnitude remaining tap of every kernel, so after
// round r every kernel keeps exactly 9 - r taps. Training tools fine-tune
// between rounds; these functions only decide which taps stay.
#pragma once

#include <cstdint>
#include <span>

#include "sparq/ops.hpp"

namespace sparq {

// Weights are f32 [O, I, 3, 3]; the mask has the same layout, 1 = kept.
// A fresh mask is all ones (density 9).

// One round: in every kernel (or every sharing group), removes the kept
// position of smallest magnitude; ties go to the lowest position. With
// sharing, a group of out_group x in_group kernels (the last group of each
// axis may be partial) drops the position whose summed |w| over the group is
// smallest, so the group keeps one pattern. Kernels already at density 1 stay.
// Pruned weights are set to zero. Throws Error(kInvalidArgument) on sizes that
// do not match or a mask whose kernels disagree on their density.
void prune_round(std::span<float> weights, std::span<uint8_t> mask, int out_channels,
                 int in_channels, PatternSharing sharing = {});

// Rounds from the mask's current density down to `density` (no fine-tuning).
void prune_to_density(std::span<float> weights, std::span<uint8_t> mask, int out_channels,
                      int in_channels, int density, PatternSharing sharing = {});

// Taps kept per kernel; throws Error(kInvalidArgument) if kernels differ.
int mask_density(std::span<const uint8_t> mask, int out_channels, int in_channels);

// True when every group of `sharing` keeps identical positions.
bool mask_respects_sharing(std::span<const uint8_t> mask, int out_channels, int in_channels,
                           PatternSharing sharing);

}  // namespace sparq
