// The one fitted factor and the held-out predictions. The array's throughput
// follows from the dataflow alone and the energies from published
// per-operation figures; one scale factor on the dynamic energy (clock
// distribution, control and wiring, which those figures leave out) is set so
// that the calibration layer draws the published power at the first
// operating point. Everything else the chip published is predicted
// (docs/DEVICE_MODEL.md section 4).
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

DeviceConfig fit_overhead_factor(DeviceConfig config, const CalibrationTargets& targets) {
  config.validate();
  const OperatingPoint in_use = config.clock;
  if (config.operating_points.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "fit_overhead_factor: device config has no operating_points");
  }
  config.clock = config.operating_points.front();
  // Chip power is linear in the factor: leakage + factor * dynamic.
  config.overhead_factor = 1.0;
  const LayerReport row = conv_row(simulate(*calibration_model(), config));
  const double leakage = row.energy.leakage / row.seconds;
  const double dynamic = (row.energy.chip() - row.energy.leakage) / row.seconds;
  if (!(dynamic > 0) || !(targets.nominal_watts > leakage)) {
    throw Error(ErrorCode::kInvalidArgument,
                "fit_overhead_factor: the leakage alone (" + std::to_string(leakage * 1e3) +
                    " mW) reaches the target power, or the constants give no dynamic energy");
  }
  DeviceConfig fitted = config;
  fitted.overhead_factor = (targets.nominal_watts - leakage) / dynamic;
  fitted.clock = in_use;
  return fitted;
}

CalibrationPredictions predict_calibration_points(const DeviceConfig& config) {
  if (config.operating_points.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                "predict_calibration_points: device config needs two operating_points "
                "(nominal, efficient)");
  }
  const auto model = calibration_model();
  DeviceConfig at = config;
  at.clock = config.operating_points[0];
  const LayerReport nominal = conv_row(simulate(*model, at));
  at.clock = config.operating_points[1];
  const LayerReport efficient = conv_row(simulate(*model, at));
  CalibrationPredictions p;
  p.nominal_tops = nominal.dense_tops();
  p.nominal_watts = nominal.energy.chip() / nominal.seconds;
  p.efficient_tops_per_watt = efficient.dense_tops_per_watt();
  return p;
}

}  // namespace sparq
