// Off-chip and SRAM traffic of one node for a batch. The loop order is
// output-channel block -> input-channel chunk -> sample -> pixel tile, so:
//  - weights come in once per batch: a chunk of weights serves every sample
//    before the next replaces it; when every device layer's weights fit the
//    weight buffer together they are resident and do not come in at all;
//  - an input that is not already on chip is read once per sample when it
//    fits the activation buffer, otherwise once per output-channel block;
//  - a value stays on chip between two nodes when every device node touching
//    it fits (NodeWork::input_share_footprint);
//  - partial sums of a block cross chunks in the partial-sum buffer for every
//    sample of the batch, or off chip when they do not fit it together.
#include "runtime/backends/device/device_model.hpp"

namespace sparq::device {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

bool stays_on_chip(int64_t share_footprint, int64_t batch, const DeviceConfig& config) {
  return share_footprint >= 0 && batch * share_footprint <= config.activation_buffer_bytes;
}

}  // namespace

Traffic plan_traffic(const NodeWork& work, const DeviceConfig& config, int64_t batch,
                     bool weights_resident) {
  Traffic t;
  const int64_t restream = work.is_conv ? work.tiling.out_blocks : 1;
  int64_t input_bytes = 0;
  for (size_t i = 0; i < work.input_bytes.size(); ++i) {
    const int64_t x = work.input_bytes[i];
    input_bytes += x;
    if (stays_on_chip(work.input_share_footprint[i], batch, config)) continue;
    t.offchip_activation += batch * x * (x <= config.activation_buffer_bytes ? 1 : restream);
  }
  if (!stays_on_chip(work.output_share_footprint, batch, config)) {
    t.offchip_activation += batch * work.output_bytes;
  }

  int64_t onchip = batch * work.output_bytes;  // results written into the buffer
  if (work.is_conv) {
    const ConvShape& c = work.conv;
    const ConvTiling& tl = work.tiling;
    t.offchip_weight = weights_resident ? 0 : tl.weight_bytes;
    // Every tile pass reads its block's kernels; the aligner streams each
    // input channel once per block and window.
    onchip +=
        batch *
        ceil_div(c.out_channels * c.in_channels * int64_t{tl.kernel_bits} * tl.pixel_tiles, 8);
    onchip += batch * tl.out_blocks * tl.windows * input_bytes;
    if (tl.channel_chunks > 1) {
      const int64_t acc_bytes = ceil_div(config.accumulator_bits, 8);
      const int64_t psum_moves =
          batch * 2 * (tl.channel_chunks - 1) * c.out_channels * c.pixels() * acc_bytes;
      const int64_t block_psums = batch * int64_t{config.array_rows} * c.pixels() * acc_bytes;
      if (block_psums > config.partial_sum_buffer_bytes) {
        t.offchip_partial_sum = psum_moves;
      } else {
        onchip += psum_moves;
      }
    }
  } else {
    onchip += batch * input_bytes;
  }
  // Everything that crosses the link passes through a buffer on the way.
  t.sram = onchip + t.offchip();
  return t;
}

}  // namespace sparq::device
