#include "sparq/shape.hpp"

#include "sparq/error.hpp"

namespace sparq {

Shape::Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
Shape::Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

int64_t Shape::elements() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

Shape Shape::with_batch(int64_t batch) const {
  std::vector<int64_t> dims;
  dims.reserve(dims_.size() + 1);
  dims.push_back(batch);
  dims.insert(dims.end(), dims_.begin(), dims_.end());
  return Shape(std::move(dims));
}

Shape Shape::without_batch() const {
  if (dims_.empty()) throw Error(ErrorCode::kInternal, "without_batch() on a rank-0 shape");
  return Shape(std::vector<int64_t>(dims_.begin() + 1, dims_.end()));
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

}  // namespace sparq
