// Gradual N-of-9 pruning (the chip's recipe): each round removes the
// smallest-magnitude kept tap of every kernel, or of every sharing group.
#include "sparq/pruning.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "sparq/error.hpp"

namespace sparq {
namespace {

constexpr int kTaps = 9;

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, what);
}

std::string kernel_name(int o, int i) {
  return "kernel (" + std::to_string(o) + ", " + std::to_string(i) + ")";
}

size_t kernel_offset(int o, int i, int in_channels) {
  return (static_cast<size_t>(o) * static_cast<size_t>(in_channels) + static_cast<size_t>(i)) *
         kTaps;
}

void check_mask(std::span<const uint8_t> mask, int out_channels, int in_channels,
                const char* function) {
  if (out_channels <= 0 || in_channels <= 0) {
    invalid(std::string(function) + ": channel counts must be positive, are " +
            std::to_string(out_channels) + " x " + std::to_string(in_channels));
  }
  const size_t expected = static_cast<size_t>(out_channels) * in_channels * kTaps;
  if (mask.size() != expected) {
    invalid(std::string(function) + ": mask has " + std::to_string(mask.size()) +
            " entries, expected " + std::to_string(expected) + " (out x in x 9)");
  }
  for (size_t j = 0; j < mask.size(); ++j) {
    if (mask[j] > 1) {
      invalid(std::string(function) + ": mask[" + std::to_string(j) + "] is " +
              std::to_string(mask[j]) + ", must be 0 or 1");
    }
  }
}

void check_sharing(PatternSharing sharing, const char* function) {
  if (sharing.out_group < 1 || sharing.in_group < 1) {
    invalid(std::string(function) + ": sharing groups must be >= 1, are " +
            std::to_string(sharing.out_group) + " x " + std::to_string(sharing.in_group));
  }
}

// The first kernel (in (o, i) order) whose kept positions differ from those of
// the first kernel of its sharing group.
std::optional<std::pair<int, int>> first_sharing_violation(std::span<const uint8_t> mask,
                                                           int out_channels, int in_channels,
                                                           PatternSharing sharing) {
  for (int o = 0; o < out_channels; ++o) {
    for (int i = 0; i < in_channels; ++i) {
      const int leader_o = o / sharing.out_group * sharing.out_group;
      const int leader_i = i / sharing.in_group * sharing.in_group;
      const uint8_t* kernel = &mask[kernel_offset(o, i, in_channels)];
      const uint8_t* leader = &mask[kernel_offset(leader_o, leader_i, in_channels)];
      if (!std::equal(kernel, kernel + kTaps, leader)) return std::pair{o, i};
    }
  }
  return std::nullopt;
}

}  // namespace

int mask_density(std::span<const uint8_t> mask, int out_channels, int in_channels) {
  check_mask(mask, out_channels, in_channels, "mask_density");
  int density = -1;
  for (int o = 0; o < out_channels; ++o) {
    for (int i = 0; i < in_channels; ++i) {
      const uint8_t* kernel = &mask[kernel_offset(o, i, in_channels)];
      const int kept = static_cast<int>(std::count(kernel, kernel + kTaps, uint8_t{1}));
      if (density < 0) {
        density = kept;
      } else if (kept != density) {
        invalid("mask_density: " + kernel_name(o, i) + " keeps " + std::to_string(kept) +
                " taps but kernel (0, 0) keeps " + std::to_string(density));
      }
    }
  }
  return density;
}

bool mask_respects_sharing(std::span<const uint8_t> mask, int out_channels, int in_channels,
                           PatternSharing sharing) {
  check_mask(mask, out_channels, in_channels, "mask_respects_sharing");
  check_sharing(sharing, "mask_respects_sharing");
  return !first_sharing_violation(mask, out_channels, in_channels, sharing).has_value();
}

void prune_round(std::span<float> weights, std::span<uint8_t> mask, int out_channels,
                 int in_channels, PatternSharing sharing) {
  check_sharing(sharing, "prune_round");
  const int density = mask_density(mask, out_channels, in_channels);
  if (weights.size() != mask.size()) {
    invalid("prune_round: weights have " + std::to_string(weights.size()) +
            " entries but the mask has " + std::to_string(mask.size()));
  }
  if (auto bad = first_sharing_violation(mask, out_channels, in_channels, sharing)) {
    invalid("prune_round: " + kernel_name(bad->first, bad->second) +
            " keeps other positions than its sharing group (" + std::to_string(sharing.out_group) +
            " x " + std::to_string(sharing.in_group) + ")");
  }
  if (density <= 1) return;  // the chip's floor: every kernel keeps one tap

  for (int group_o = 0; group_o < out_channels; group_o += sharing.out_group) {
    for (int group_i = 0; group_i < in_channels; group_i += sharing.in_group) {
      const int end_o = std::min(out_channels, group_o + sharing.out_group);
      const int end_i = std::min(in_channels, group_i + sharing.in_group);
      // Summed in double, kernels in (o, i) order: the sum of a 1 x 1 group is
      // |w| exactly, and larger groups do not lose ties to float rounding.
      double magnitude[kTaps] = {};
      for (int o = group_o; o < end_o; ++o) {
        for (int i = group_i; i < end_i; ++i) {
          const size_t base = kernel_offset(o, i, in_channels);
          for (int p = 0; p < kTaps; ++p)
            magnitude[p] += std::fabs(static_cast<double>(weights[base + p]));
        }
      }
      const uint8_t* pattern = &mask[kernel_offset(group_o, group_i, in_channels)];
      int weakest = -1;
      for (int p = 0; p < kTaps; ++p) {
        // Strictly smaller: on a tie the lowest position goes.
        if (pattern[p] && (weakest < 0 || magnitude[p] < magnitude[weakest])) weakest = p;
      }
      for (int o = group_o; o < end_o; ++o) {
        for (int i = group_i; i < end_i; ++i) {
          const size_t base = kernel_offset(o, i, in_channels);
          mask[base + static_cast<size_t>(weakest)] = 0;
          weights[base + static_cast<size_t>(weakest)] = 0.0f;
        }
      }
    }
  }
}

void prune_to_density(std::span<float> weights, std::span<uint8_t> mask, int out_channels,
                      int in_channels, int density, PatternSharing sharing) {
  if (density < 1 || density > kTaps) {
    invalid("prune_to_density: density must be 1..9, is " + std::to_string(density));
  }
  const int current = mask_density(mask, out_channels, in_channels);
  if (density > current) {
    invalid("prune_to_density: the mask keeps " + std::to_string(current) +
            " taps per kernel, cannot grow to density " + std::to_string(density));
  }
  for (int round = current; round > density; --round) {
    prune_round(weights, mask, out_channels, in_channels, sharing);
  }
}

}  // namespace sparq
