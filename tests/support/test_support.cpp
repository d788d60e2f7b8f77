#include "tests/support/test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "runtime/model/model_format.hpp"

namespace sparq::testing {

std::mt19937 rng(uint32_t seed) {
  return std::mt19937(seed);
}

int pick(std::mt19937& gen, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(gen);
}

std::vector<float> random_floats(std::mt19937& gen, size_t count, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(count);
  for (float& v : out) v = dist(gen);
  return out;
}

Tensor random_f32(std::mt19937& gen, const Shape& shape, float lo, float hi) {
  auto values = random_floats(gen, static_cast<size_t>(shape.elements()), lo, hi);
  return Tensor::from_floats(shape, values);
}

SessionOptions session_options(std::vector<std::string> backends, int threads) {
  SessionOptions options;
  options.backends = std::move(backends);
  options.threads = threads;
  return options;
}

Tensor awkward_f32(std::mt19937& gen, const Shape& shape, bool nan) {
  Tensor t = random_f32(gen, shape, -3.0f, 3.0f);
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            -0.0f,
                            0.0f,
                            6.0f};
  std::uniform_int_distribution<int> pick(0, 15);
  for (float& v : t.span<float>()) {
    const int p = pick(gen);
    if (p < 6 && (nan || p > 0)) v = specials[p];
  }
  return t;
}

Tensor random_u8(std::mt19937& gen, const Shape& shape, int qmax) {
  Tensor t(shape, DType::kU8);
  std::uniform_int_distribution<int> dist(0, qmax);
  for (uint8_t& v : t.span<uint8_t>()) v = static_cast<uint8_t>(dist(gen));
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  for (float& s : t.scales()) s = scale(gen);
  return t;
}

Tensor random_s8(std::mt19937& gen, const Shape& shape) {
  Tensor t(shape, DType::kS8);
  std::uniform_int_distribution<int> dist(-128, 127);
  for (int8_t& v : t.span<int8_t>()) v = static_cast<int8_t>(dist(gen));
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  for (float& s : t.scales()) s = scale(gen);
  return t;
}

std::vector<uint8_t> random_taps(std::mt19937& gen, int out_channels, int in_channels, int density,
                                 PatternSharing sharing) {
  std::vector<uint8_t> taps(static_cast<size_t>(out_channels) * in_channels * density);
  std::uniform_int_distribution<int> value(-8, 7);
  std::vector<int> positions(9);
  for (int og = 0; og < out_channels; og += sharing.out_group) {
    for (int ig = 0; ig < in_channels; ig += sharing.in_group) {
      std::iota(positions.begin(), positions.end(), 0);
      std::shuffle(positions.begin(), positions.end(), gen);
      std::sort(positions.begin(), positions.begin() + density);
      for (int o = og; o < std::min(out_channels, og + sharing.out_group); ++o) {
        for (int i = ig; i < std::min(in_channels, ig + sharing.in_group); ++i) {
          uint8_t* kernel = &taps[(static_cast<size_t>(o) * in_channels + i) * density];
          for (int t = 0; t < density; ++t) kernel[t] = make_tap(positions[t], value(gen));
        }
      }
    }
  }
  return taps;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  auto x = a.span<float>();
  auto y = b.span<float>();
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst;
}

::testing::AssertionResult bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << a.shape().to_string() << " vs " << b.shape().to_string();
  }
  if (a.dtype() != b.dtype()) return ::testing::AssertionFailure() << "dtypes differ";
  if (!std::equal(a.scales().begin(), a.scales().end(), b.scales().begin(), b.scales().end())) {
    return ::testing::AssertionFailure() << "scales differ";
  }
  const auto* x = static_cast<const uint8_t*>(a.raw());
  const auto* y = static_cast<const uint8_t*>(b.raw());
  for (size_t i = 0; i < a.bytes(); ++i) {
    if (x[i] != y[i]) {
      ::testing::AssertionResult r = ::testing::AssertionFailure();
      r << "first difference at byte " << i;
      if (a.dtype() == DType::kF32) {
        size_t e = i / 4;
        r << " (element " << e << ": " << a.data<float>()[e] << " vs " << b.data<float>()[e] << ")";
      }
      return r;
    }
  }
  return ::testing::AssertionSuccess();
}

SparseConv3x3Op small_sparse_layer(int in_channels, int out_channels, uint32_t seed,
                                   Activation activation) {
  std::mt19937 gen = rng(seed);
  SparseConv3x3Op op;
  op.in_channels = in_channels;
  op.out_channels = out_channels;
  op.density = 3;
  op.activation = activation;
  op.taps = random_taps(gen, out_channels, in_channels, op.density);
  op.weight_scales = random_floats(gen, static_cast<size_t>(out_channels), 0.01f, 0.05f);
  op.bias = random_floats(gen, static_cast<size_t>(out_channels), -0.5f, 0.5f);
  return op;
}

SparseConv3x3Op random_sparse_layer(std::mt19937& gen, int min_out, int max_out, int density,
                                    std::span<const PatternSharing> sharings) {
  SparseConv3x3Op op;
  op.in_channels = pick(gen, 1, 13);
  op.out_channels = pick(gen, min_out, max_out);
  op.stride = pick(gen, 1, 2);
  op.density = density;
  op.sharing = sharings[static_cast<size_t>(pick(gen, 0, static_cast<int>(sharings.size()) - 1))];
  op.activation = static_cast<Activation>(pick(gen, 0, 2));
  op.taps = random_taps(gen, op.out_channels, op.in_channels, op.density, op.sharing);
  op.weight_scales = random_floats(gen, static_cast<size_t>(op.out_channels), 0.001f, 0.05f);
  op.bias = random_floats(gen, static_cast<size_t>(op.out_channels), -2.0f, 2.0f);
  return op;
}

const Node* find_node(const Graph& graph, const std::string& name) {
  for (const Node& n : graph.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

void expect_same_bits_per_batch(const Session& a, const Session& b, const Tensor& input,
                                const std::string& what) {
  const Shape& shape = input.shape();
  const size_t sample = static_cast<size_t>(shape.elements() / shape[0]);
  for (int64_t batch = 1; batch <= shape[0]; ++batch) {
    std::vector<int64_t> dims = shape.dims();
    dims[0] = batch;
    const Tensor part = Tensor::from_floats(
        Shape(dims), input.span<float>().first(sample * static_cast<size_t>(batch)));
    EXPECT_TRUE(bit_equal(a.run(part).at(0), b.run(part).at(0))) << what << ", batch " << batch;
  }
}

int64_t expect_fold_agrees_bit_for_bit(const std::shared_ptr<const Model>& model,
                                       const Tensor& input, void (*disable)(SessionOptions&),
                                       int64_t (*fused_nodes)(const Session&)) {
  SessionOptions off;
  off.backends = {"reference"};
  off.threads = 1;
  disable(off);
  const Session plain(model, off);
  const int64_t kept = fused_nodes(plain);
  EXPECT_GT(kept, 0);
  for (int threads = 1; threads <= 3; ++threads) {
    SessionOptions on;
    on.backends = {"cpu"};
    on.threads = threads;
    const Session folded(model, on);
    EXPECT_EQ(fused_nodes(folded), 0) << threads << " threads";
    expect_same_bits_per_batch(folded, plain, input, std::to_string(threads) + " threads");
  }
  SessionOptions device;
  device.backends = {"device", "cpu", "reference"};
  EXPECT_EQ(fused_nodes(Session(model, device)), kept);
  return kept;
}

void expect_no_file_form(const Graph& graph, const std::string& pass) {
  try {
    model_format::write_model(graph, ModelMetadata{});
    ADD_FAILURE() << "a graph after " << pass << " was written";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find(pass), std::string::npos) << e.what();
  }
}

}  // namespace sparq::testing
