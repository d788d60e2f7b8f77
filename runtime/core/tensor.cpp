#include "sparq/tensor.hpp"

#include <cstdlib>
#include <cstring>

#include "sparq/error.hpp"

namespace sparq {
namespace {

bool is_quantized_activation(DType dtype) {
  return dtype == DType::kU8 || dtype == DType::kS8;
}

void* allocate_aligned(size_t bytes) {
  // Round up: aligned_alloc needs a multiple of the alignment, and kernels may
  // read a full vector past the last element of a tensor.
  size_t rounded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  if (rounded == 0) rounded = kTensorAlignment;
  void* p = std::aligned_alloc(kTensorAlignment, rounded);
  if (!p)
    throw Error(ErrorCode::kInternal,
                "out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, rounded);
  return p;
}

}  // namespace

void Tensor::AlignedFree::operator()(void* p) const {
  std::free(p);
}

Tensor::Tensor(Shape shape, DType dtype) : shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_.dims()) {
    if (d < 0)
      throw Error(ErrorCode::kInvalidArgument, "negative dimension in shape " + shape_.to_string());
  }
  data_.reset(allocate_aligned(bytes()));
  if (is_quantized_activation(dtype_) && shape_.rank() >= 1) {
    scales_.assign(static_cast<size_t>(shape_[0]), 1.0f);
  }
}

Tensor Tensor::from_floats(Shape shape, std::span<const float> values) {
  Tensor t(std::move(shape), DType::kF32);
  if (values.size() != static_cast<size_t>(t.shape().elements())) {
    throw Error(ErrorCode::kInvalidArgument, "from_floats: " + std::to_string(values.size()) +
                                                 " values for shape " + t.shape().to_string());
  }
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size_bytes());
  return t;
}

Tensor Tensor::from_bytes(Shape shape, DType dtype, std::span<const uint8_t> bytes) {
  Tensor t(std::move(shape), dtype);
  if (bytes.size() != t.bytes()) {
    throw Error(ErrorCode::kInvalidArgument, "from_bytes: " + std::to_string(bytes.size()) +
                                                 " bytes for a " + to_string(dtype) +
                                                 " tensor of shape " + t.shape().to_string() +
                                                 " (needs " + std::to_string(t.bytes()) + ")");
  }
  if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
  return t;
}

Tensor::Tensor(const Tensor& other)
    : shape_(other.shape_), dtype_(other.dtype_), scales_(other.scales_) {
  if (other.data_) {
    data_.reset(allocate_aligned(other.bytes()));
    std::memcpy(data_.get(), other.data_.get(), other.bytes());
  }
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape.elements() != shape_.elements()) {
    throw Error(ErrorCode::kInvalidArgument,
                "cannot reshape " + shape_.to_string() + " to " + shape.to_string());
  }
  Tensor t(*this);
  t.shape_ = std::move(shape);
  return t;
}

}  // namespace sparq
