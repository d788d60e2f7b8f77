// Tensors: `Tensor` owns a 64-byte aligned buffer; `TensorView` and
// `ConstTensorView` borrow one. Quantized activation tensors (u8, s8) carry one
// scale per sample (leading dimension), because dynamic quantization computes
// the scale of each inference from that inference's own values, so a result
// never depends on what else was in the batch: real value = scales[n] * q.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sparq/dtype.hpp"
#include "sparq/shape.hpp"

namespace sparq {

inline constexpr size_t kTensorAlignment = 64;

// The range of one sample of an f32 tensor: the smallest interval holding 0
// and every finite value (NaN and infinities are ignored, as dynamic
// quantization ignores them). Max and min are exact and order-free, so a
// range folded from parallel parts is the same for any split.
struct SampleRange {
  float max = 0.0f;
  float min = 0.0f;
};

struct TensorView {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::kF32;
  float* scales = nullptr;  // quantized activations: shape[0] per-sample scales
  // f32 values a dynamic quantize reads: shape[0] per-sample ranges, which a
  // producer that can (CompiledNode::writes_ranges) stores while it writes
  // the values, so the quantize needs no pass of its own to find them.
  SampleRange* ranges = nullptr;

  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
  size_t bytes() const { return storage_bytes(dtype, static_cast<size_t>(shape.elements())); }
};

struct ConstTensorView {
  const void* data = nullptr;
  Shape shape;
  DType dtype = DType::kF32;
  const float* scales = nullptr;        // quantized activations: shape[0] per-sample scales
  const SampleRange* ranges = nullptr;  // f32: the producer's per-sample ranges, if any

  ConstTensorView() = default;
  ConstTensorView(const void* d, Shape s, DType t, const float* sc = nullptr)
      : data(d), shape(std::move(s)), dtype(t), scales(sc) {}
  ConstTensorView(const TensorView& v)  // NOLINT: a mutable view is a const view
      : data(v.data), shape(v.shape), dtype(v.dtype), scales(v.scales), ranges(v.ranges) {}

  template <typename T>
  const T* as() const {
    return static_cast<const T*>(data);
  }
  size_t bytes() const { return storage_bytes(dtype, static_cast<size_t>(shape.elements())); }
};

class Tensor {
 public:
  Tensor() = default;
  // Zero-initialised tensor. Quantized activation dtypes (u8, s8) of rank >= 1
  // get shape[0] scales, all 1.
  Tensor(Shape shape, DType dtype);

  static Tensor from_floats(Shape shape, std::span<const float> values);
  static Tensor from_bytes(Shape shape, DType dtype, std::span<const uint8_t> bytes);

  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  // Per-sample scales of a quantized activation tensor (empty otherwise).
  std::span<float> scales() { return scales_; }
  std::span<const float> scales() const { return scales_; }
  size_t bytes() const { return storage_bytes(dtype_, static_cast<size_t>(shape_.elements())); }
  bool empty() const { return !data_; }

  void* raw() { return data_.get(); }
  const void* raw() const { return data_.get(); }
  template <typename T>
  T* data() {
    return static_cast<T*>(raw());
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(raw());
  }
  template <typename T>
  std::span<T> span() {
    return {data<T>(), bytes() / sizeof(T)};
  }
  template <typename T>
  std::span<const T> span() const {
    return {data<T>(), bytes() / sizeof(T)};
  }

  TensorView view() { return {raw(), shape_, dtype_, scales_.empty() ? nullptr : scales_.data()}; }
  ConstTensorView view() const {
    return {raw(), shape_, dtype_, scales_.empty() ? nullptr : scales_.data()};
  }

  // Same bytes, new shape with the same element count.
  Tensor reshaped(Shape shape) const;

 private:
  struct AlignedFree {
    void operator()(void* p) const;
  };
  Shape shape_;
  DType dtype_ = DType::kF32;
  std::vector<float> scales_;
  std::unique_ptr<void, AlignedFree> data_;
};

}  // namespace sparq
