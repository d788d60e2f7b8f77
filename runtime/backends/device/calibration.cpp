// Energy calibration against the chip's published figures. The array's
// throughput follows from the dataflow alone; the energy split does not, so
// the MAC energy and the leakage power are solved for (a 2 x 2 linear system)
// such that the calibration layer draws the published power at the first
// operating point and reaches the published TOPS/W at the second. The SRAM and
// post-processing energies stay as configured (docs/DEVICE_MODEL.md).
#include <cmath>
#include <string>

#include "runtime/backends/device/device_model.hpp"
#include "sparq/device.hpp"
#include "sparq/error.hpp"
#include "sparq/model_builder.hpp"
#include "sparq/s4.hpp"

namespace sparq {
namespace {

constexpr int kChannels = 64;
constexpr int kSize = 32;

// Deterministic weights in -7..7 (the values do not change the timing; they
// keep the model usable as a functional test too).
Tensor calibration_weights() {
  const int64_t count = int64_t{kChannels} * kChannels * 9;
  Tensor w(Shape{kChannels, kChannels, 3, 3}, DType::kS4);
  auto* bytes = w.data<uint8_t>();
  for (int64_t e = 0; e < count; ++e) {
    const int value = static_cast<int>((e * 7 + e / 9) % 15) - 7;
    set_s4_element(bytes, static_cast<size_t>(e), value);
  }
  return w;
}

const LayerReport& conv_row(const DeviceReport& report) {
  for (const LayerReport& r : report.layers) {
    if (r.op == "conv2d") return r;
  }
  throw Error(ErrorCode::kInternal, "calibration model has no conv2d row");
}

}  // namespace

std::shared_ptr<const Model> calibration_model() {
  ModelBuilder b;
  ValueId x = b.input(Shape{kChannels, kSize, kSize});
  x = b.quantize(x, 4, false, "quantize");
  Conv2dOp conv;
  conv.kernel_h = conv.kernel_w = 3;
  conv.pad_h = conv.pad_w = 1;
  conv.activation = Activation::kRelu;
  conv.weights = calibration_weights();
  conv.weight_scales.assign(kChannels, 0.01f);
  conv.bias.assign(kChannels, 0.0f);
  x = b.conv2d(x, std::move(conv), "conv3x3");
  b.mark_output(x);
  ModelMetadata meta;
  meta.name = "device-calibration";
  return std::make_shared<const Model>(b.build(meta));
}

DeviceConfig calibrate_energy(DeviceConfig config, const CalibrationTargets& targets) {
  config.validate();
  if (config.operating_points.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                "calibrate_energy: device config needs two operating_points (nominal, efficient)");
  }
  const auto model = calibration_model();
  // Per point j: chip power = A_j * mac_joules + B_j * static_watts + C_j.
  double a[2], b[2], c[2], target[2];
  for (int j = 0; j < 2; ++j) {
    DeviceConfig at = config;
    at.clock = config.operating_points[static_cast<size_t>(j)];
    const LayerReport row = conv_row(simulate(*model, at, 1, SimulationMode::kAnalytic));
    const double scale = device::dynamic_energy_scale(at);
    a[j] = scale * static_cast<double>(row.busy_pe_cycles) / row.seconds;
    b[j] = std::pow(at.clock.volts / at.reference_volts, at.static_voltage_exponent);
    c[j] = (row.energy.sram + row.energy.vector) / row.seconds;
    target[j] = j == 0 ? targets.nominal_watts
                       : 2.0 * static_cast<double>(row.dense_macs) / row.seconds /
                             (targets.efficient_tops_per_watt * 1e12);
  }
  const double det = a[0] * b[1] - a[1] * b[0];
  const double r0 = target[0] - c[0], r1 = target[1] - c[1];
  const double mac = (r0 * b[1] - r1 * b[0]) / det;
  const double leak = (a[0] * r1 - a[1] * r0) / det;
  if (!(mac > 0) || !(leak >= 0)) {
    throw Error(ErrorCode::kInvalidArgument,
                "calibrate_energy: the targets need a negative MAC energy or leakage with this "
                "config (sram_joules_per_byte / vector_op_joules too large?)");
  }
  config.mac_joules = mac;
  config.static_watts = leak;
  return config;
}

}  // namespace sparq
