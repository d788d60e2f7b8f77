// Tensor shapes. Feature maps are NCHW; graph values store their per-sample shape
// (CHW or F) and the batch dimension is added when a session runs.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace sparq {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::vector<int64_t> dims);

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int axis) const { return dims_.at(static_cast<size_t>(axis)); }
  int64_t& operator[](int axis) { return dims_.at(static_cast<size_t>(axis)); }
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t elements() const;  // 1 for rank 0

  // This shape with a leading batch dimension.
  Shape with_batch(int64_t batch) const;
  // This shape without its leading dimension (rank must be >= 1).
  Shape without_batch() const;

  std::string to_string() const;  // "[1, 64, 56, 56]"
  bool operator==(const Shape& other) const { return dims_ == other.dims_; }
  bool operator!=(const Shape& other) const { return dims_ != other.dims_; }

 private:
  std::vector<int64_t> dims_;
};

}  // namespace sparq
