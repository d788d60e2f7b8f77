// The N-of-9 tap format (docs/SPARSE_FORMAT.md): packing, unpacking, checks.
#include "sparq/sparse_format.hpp"

#include <string>

#include "sparq/error.hpp"
#include "sparq/pruning.hpp"
#include "sparq/quantization.hpp"

namespace sparq {
namespace {

constexpr int kTaps = 9;

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, what);
}

std::string kernel_name(int o, int i) {
  return "kernel (" + std::to_string(o) + ", " + std::to_string(i) + ")";
}

void check_dimensions(int out_channels, int in_channels, int density, const char* function) {
  if (out_channels <= 0 || in_channels <= 0) {
    invalid(std::string(function) + ": channel counts must be positive, are " +
            std::to_string(out_channels) + " x " + std::to_string(in_channels));
  }
  if (density < 1 || density > kTaps) {
    invalid(std::string(function) + ": density must be 1..9, is " + std::to_string(density));
  }
}

size_t dense_size(int out_channels, int in_channels) {
  return static_cast<size_t>(out_channels) * static_cast<size_t>(in_channels) * kTaps;
}

}  // namespace

std::string check_taps(std::span<const uint8_t> taps, int out_channels, int in_channels,
                       int density, PatternSharing sharing) {
  if (out_channels <= 0 || in_channels <= 0) {
    return "channel counts must be positive, are " + std::to_string(out_channels) + " x " +
           std::to_string(in_channels);
  }
  if (density < 1 || density > kTaps) return "density must be 1..9, is " + std::to_string(density);
  if (sharing.out_group < 1 || sharing.in_group < 1) {
    return "sharing groups must be >= 1, are " + std::to_string(sharing.out_group) + " x " +
           std::to_string(sharing.in_group);
  }
  const size_t k = static_cast<size_t>(density);
  const size_t expected = static_cast<size_t>(out_channels) * in_channels * k;
  if (taps.size() != expected) {
    return "wrong size: " + std::to_string(taps.size()) + " bytes, expected " +
           std::to_string(expected) + " (" + std::to_string(out_channels) + " out x " +
           std::to_string(in_channels) + " in x density " + std::to_string(density) + ")";
  }
  // One pass in (o, i) order. A group's first kernel comes before its other
  // kernels, so it has already been checked when they are compared with it.
  for (int o = 0; o < out_channels; ++o) {
    for (int i = 0; i < in_channels; ++i) {
      const uint8_t* kernel = &taps[(static_cast<size_t>(o) * in_channels + i) * k];
      for (size_t t = 0; t < k; ++t) {
        const int position = tap_position(kernel[t]);
        if (position > 8) {
          return kernel_name(o, i) + ": tap " + std::to_string(t) + " has position " +
                 std::to_string(position) + " > 8";
        }
        if (t > 0 && position <= tap_position(kernel[t - 1])) {
          return kernel_name(o, i) + ": positions not strictly increasing (tap " +
                 std::to_string(t) + " has position " + std::to_string(position) +
                 " after position " + std::to_string(tap_position(kernel[t - 1])) + ")";
        }
      }
      const int leader_o = o / sharing.out_group * sharing.out_group;
      const int leader_i = i / sharing.in_group * sharing.in_group;
      const uint8_t* leader = &taps[(static_cast<size_t>(leader_o) * in_channels + leader_i) * k];
      for (size_t t = 0; t < k; ++t) {
        if (tap_position(kernel[t]) != tap_position(leader[t])) {
          return kernel_name(o, i) + ": group pattern mismatch, tap " + std::to_string(t) +
                 " has position " + std::to_string(tap_position(kernel[t])) + " but " +
                 kernel_name(leader_o, leader_i) + " of its sharing group (" +
                 std::to_string(sharing.out_group) + " out x " + std::to_string(sharing.in_group) +
                 " in) has position " + std::to_string(tap_position(leader[t]));
        }
      }
    }
  }
  return {};
}

std::vector<uint8_t> pack_taps(std::span<const int8_t> values, std::span<const uint8_t> mask,
                               int out_channels, int in_channels, int density) {
  check_dimensions(out_channels, in_channels, density, "pack_taps");
  const size_t expected = dense_size(out_channels, in_channels);
  if (values.size() != expected || mask.size() != expected) {
    invalid("pack_taps: values have " + std::to_string(values.size()) + " and mask " +
            std::to_string(mask.size()) + " entries, expected " + std::to_string(expected) +
            " (out x in x 9)");
  }
  std::vector<uint8_t> taps;
  taps.reserve(static_cast<size_t>(out_channels) * in_channels * density);
  for (int o = 0; o < out_channels; ++o) {
    for (int i = 0; i < in_channels; ++i) {
      const size_t base = (static_cast<size_t>(o) * in_channels + i) * kTaps;
      int kept = 0;
      for (int p = 0; p < kTaps; ++p) {
        if (mask[base + p] == 0) continue;
        const int value = values[base + p];
        if (value < -8 || value > 7) {
          invalid("pack_taps: " + kernel_name(o, i) + " position " + std::to_string(p) +
                  " has value " + std::to_string(value) + ", outside the signed 4-bit range -8..7");
        }
        ++kept;
        if (kept <= density) taps.push_back(make_tap(p, value));
      }
      if (kept != density) {
        invalid("pack_taps: " + kernel_name(o, i) + " keeps " + std::to_string(kept) +
                " taps, expected density " + std::to_string(density));
      }
    }
  }
  return taps;
}

std::vector<int8_t> unpack_taps(std::span<const uint8_t> taps, int out_channels, int in_channels,
                                int density) {
  // The positions index the dense kernel, so they are checked before any write.
  std::string problem = check_taps(taps, out_channels, in_channels, density, {});
  if (!problem.empty()) invalid("unpack_taps: " + problem);
  std::vector<int8_t> dense(dense_size(out_channels, in_channels), 0);
  const size_t kernels = static_cast<size_t>(out_channels) * in_channels;
  for (size_t kernel = 0; kernel < kernels; ++kernel) {
    for (int t = 0; t < density; ++t) {
      const uint8_t tap = taps[kernel * density + t];
      dense[kernel * kTaps + tap_position(tap)] = static_cast<int8_t>(tap_value(tap));
    }
  }
  return dense;
}

SparseConv3x3Op make_sparse_conv3x3(std::span<const float> weights, std::span<const uint8_t> mask,
                                    std::span<const float> bias, int out_channels, int in_channels,
                                    int density, int stride, PatternSharing sharing,
                                    Activation activation) {
  check_dimensions(out_channels, in_channels, density, "make_sparse_conv3x3");
  if (stride != 1 && stride != 2) {
    invalid("make_sparse_conv3x3: stride must be 1 or 2, is " + std::to_string(stride));
  }
  const size_t expected = dense_size(out_channels, in_channels);
  if (weights.size() != expected) {
    invalid("make_sparse_conv3x3: weights have " + std::to_string(weights.size()) +
            " entries, expected " + std::to_string(expected) + " (out x in x 3 x 3)");
  }
  if (!bias.empty() && bias.size() != static_cast<size_t>(out_channels)) {
    invalid("make_sparse_conv3x3: bias has " + std::to_string(bias.size()) +
            " entries, expected 0 or " + std::to_string(out_channels));
  }
  const int kept = mask_density(mask, out_channels, in_channels);  // checks size and 0/1
  if (kept != density) {
    invalid("make_sparse_conv3x3: the mask keeps " + std::to_string(kept) +
            " taps per kernel, expected density " + std::to_string(density));
  }
  if (sharing.out_group < 1 || sharing.in_group < 1 ||
      !mask_respects_sharing(mask, out_channels, in_channels, sharing)) {
    invalid("make_sparse_conv3x3: the mask does not keep one pattern per sharing group (" +
            std::to_string(sharing.out_group) + " out x " + std::to_string(sharing.in_group) +
            " in)");
  }
  // Pruned weights are zeroed first so they cannot set a channel's scale.
  std::vector<float> kept_weights(weights.begin(), weights.end());
  for (size_t j = 0; j < kept_weights.size(); ++j) {
    if (mask[j] == 0) kept_weights[j] = 0.0f;
  }
  QuantizedWeights quantized = quantize_weights_per_channel(kept_weights, out_channels, 4);

  SparseConv3x3Op op;
  op.stride = stride;
  op.density = density;
  op.out_channels = out_channels;
  op.in_channels = in_channels;
  op.sharing = sharing;
  op.activation = activation;
  op.taps = pack_taps(quantized.values, mask, out_channels, in_channels, density);
  op.weight_scales = std::move(quantized.scales);
  op.bias = bias.empty() ? std::vector<float>(static_cast<size_t>(out_channels), 0.0f)
                         : std::vector<float>(bias.begin(), bias.end());
  return op;
}

}  // namespace sparq
