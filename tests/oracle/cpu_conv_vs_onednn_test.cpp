// The CPU backend's quantized dense convolution against oneDNN's int8
// convolution (u8 x s8 -> s32 accumulators, an independent implementation)
// on real ResNet layer shapes. oneDNN gives the exact int32 sums; the
// contract's epilogue (sparq::dequantize_accumulator, then the activation)
// applied to them must reproduce sparq's output bit for bit.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <dnnl.hpp>

#include "sparq/sparq.hpp"
#include "tests/support/test_support.hpp"

namespace sparq {
namespace {

struct Layer {
  const char* name;
  int64_t batch, in_c, out_c, h, w;
  int k, stride, pad;
};

// int32 accumulators of oneDNN's convolution of u8 `x` [N, C, H, W] with s8
// `w` [O, C, K, K].
std::vector<int32_t> onednn_accumulators(const Layer& l, const uint8_t* x, const int8_t* w,
                                         int64_t out_h, int64_t out_w) {
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc src_md({l.batch, l.in_c, l.h, l.w}, memory::data_type::u8,
                            memory::format_tag::nchw);
  const memory::desc wei_md({l.out_c, l.in_c, l.k, l.k}, memory::data_type::s8,
                            memory::format_tag::oihw);
  const memory::desc dst_md({l.batch, l.out_c, out_h, out_w}, memory::data_type::s32,
                            memory::format_tag::nchw);
  // Layouts of oneDNN's choice (its optimised int8 kernels), reordered from
  // and to the plain ones.
  auto any = [](const memory::desc& md) {
    return memory::desc(md.dims(), md.data_type(), memory::format_tag::any);
  };
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any(src_md),
      any(wei_md), any(dst_md), {l.stride, l.stride}, {l.pad, l.pad}, {l.pad, l.pad});
  const dnnl::convolution_forward::primitive_desc pd(desc, engine);
  std::vector<int32_t> acc(static_cast<size_t>(l.batch * l.out_c * out_h * out_w));
  memory user_src(src_md, engine, const_cast<uint8_t*>(x));
  memory user_wei(wei_md, engine, const_cast<int8_t*>(w));
  memory user_dst(dst_md, engine, acc.data());
  memory src(pd.src_desc(), engine), wei(pd.weights_desc(), engine), dst(pd.dst_desc(), engine);
  dnnl::reorder(user_src, src).execute(stream, user_src, src);
  dnnl::reorder(user_wei, wei).execute(stream, user_wei, wei);
  dnnl::convolution_forward(pd).execute(
      stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  dnnl::reorder(dst, user_dst).execute(stream, dst, user_dst);
  stream.wait();
  return acc;
}

class CpuConvVsOneDnn : public ::testing::TestWithParam<Layer> {};

TEST_P(CpuConvVsOneDnn, AccumulatorsAndEpilogueMatch) {
  const Layer l = GetParam();
  std::mt19937 gen = testing::rng(static_cast<uint32_t>(l.in_c * 131 + l.h));

  ModelBuilder builder;
  const ValueId x_id = builder.input(Shape{l.in_c, l.h, l.w}, DType::kU8);
  Conv2dOp op;
  op.kernel_h = op.kernel_w = l.k;
  op.stride_h = op.stride_w = l.stride;
  op.pad_h = op.pad_w = l.pad;
  op.activation = Activation::kRelu;
  // 4-bit weights, the values pruned layers hold (-8..7), stored as s8 for
  // oneDNN and as s8 for sparq.
  op.weights = Tensor(Shape{l.out_c, l.in_c, l.k, l.k}, DType::kS8);
  std::uniform_int_distribution<int> value(-8, 7);
  for (int8_t& v : op.weights.span<int8_t>()) v = static_cast<int8_t>(value(gen));
  op.weight_scales = testing::random_floats(gen, static_cast<size_t>(l.out_c), 0.001f, 0.05f);
  op.bias = testing::random_floats(gen, static_cast<size_t>(l.out_c), -1.0f, 1.0f);
  const Conv2dOp kept = op;
  builder.mark_output(builder.conv2d(x_id, std::move(op), "conv"));
  auto model = std::make_shared<const Model>(builder.build());

  const Tensor x = testing::random_u8(gen, Shape{l.batch, l.in_c, l.h, l.w});
  Session session(model, testing::session_options({"cpu"}, 1));
  const Tensor y = session.run(x)[0];
  ASSERT_NE(session.placements()[0].kernel.find("conv2d_q8"), std::string::npos)
      << session.placements()[0].kernel;

  const int64_t out_h = y.shape()[2], out_w = y.shape()[3];
  const std::vector<int32_t> acc =
      onednn_accumulators(l, x.data<uint8_t>(), kept.weights.data<int8_t>(), out_h, out_w);
  const int64_t plane = out_h * out_w;
  int64_t mismatches = 0;
  for (int64_t n = 0; n < l.batch; ++n) {
    for (int64_t o = 0; o < l.out_c; ++o) {
      for (int64_t p = 0; p < plane; ++p) {
        const int64_t e = (n * l.out_c + o) * plane + p;
        const auto oc = static_cast<size_t>(o);
        const float sum = dequantize_accumulator(acc[static_cast<size_t>(e)], x.scales()[n],
                                                 kept.weight_scales[oc], kept.bias[oc]);
        const float expected = sum > 0.0f ? sum : 0.0f;
        const float got = y.data<float>()[e];
        if (std::memcmp(&expected, &got, sizeof(float)) != 0 && mismatches++ < 5) {
          ADD_FAILURE() << l.name << ": n" << n << " o" << o << " pixel " << p << ": sparq " << got
                        << ", oneDNN accumulator " << acc[static_cast<size_t>(e)] << " -> "
                        << expected;
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << l.name << " with kernel " << session.placements()[0].kernel;
}

INSTANTIATE_TEST_SUITE_P(
    ResNetLayers, CpuConvVsOneDnn,
    ::testing::Values(Layer{"resnet18_stem_7x7s2", 1, 3, 64, 112, 112, 7, 2, 3},
                      Layer{"resnet18_conv2_3x3", 1, 64, 64, 56, 56, 3, 1, 1},
                      Layer{"resnet18_conv3_3x3s2", 2, 64, 128, 56, 56, 3, 2, 1},
                      Layer{"resnet18_conv4_1x1s2", 1, 128, 256, 28, 28, 1, 2, 0},
                      Layer{"resnet18_conv5_3x3", 1, 512, 512, 7, 7, 3, 1, 1},
                      Layer{"resnet20_conv1_3x3", 3, 3, 16, 32, 32, 3, 1, 1}),
    [](const ::testing::TestParamInfo<Layer>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace sparq
