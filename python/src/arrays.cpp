#include "python/src/arrays.hpp"

#include <cstring>

#include "sparq/error.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

std::string dtype_name(const py::array& array) {
  return py::str(array.dtype()).cast<std::string>();
}

Error bad_array(const std::string& what, const std::string& problem) {
  return Error(ErrorCode::kInvalidArgument, what + ": " + problem);
}

}  // namespace

std::vector<int64_t> shape_of(const py::array& array) {
  return std::vector<int64_t>(array.shape(), array.shape() + array.ndim());
}

int64_t first_non_finite(const float* values, size_t count) {
  // A float is NaN or infinite exactly when its exponent bits are all ones.
  // OR-ing a per-element flag (no early exit) keeps the loop branch-free, so
  // it vectorises: one streaming read of the input.
  constexpr uint32_t kExponent = 0x7f800000u;
  uint32_t any = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    any |= static_cast<uint32_t>((bits & kExponent) == kExponent);
  }
  if (!any) return -1;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    if ((bits & kExponent) == kExponent) return static_cast<int64_t>(i);
  }
  return -1;
}

ConstTensorView borrow_f32(const py::array& array, bool check_finite, const std::string& what) {
  if (!py::isinstance<py::array_t<float>>(array)) {
    throw bad_array(what, "dtype is " + dtype_name(array) +
                              ", sparq needs float32 (use array.astype(numpy.float32))");
  }
  if (!(array.flags() & py::array::c_style)) {
    throw bad_array(what, "array is not C-contiguous (use numpy.ascontiguousarray(array))");
  }
  if (!(array.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    throw bad_array(what, "array data is not aligned to its element size (copy it)");
  }
  const std::vector<int64_t> shape = shape_of(array);
  const auto* data = static_cast<const float*>(array.data());
  if (check_finite) {
    const int64_t bad = first_non_finite(data, static_cast<size_t>(array.size()));
    if (bad >= 0) {
      throw bad_array(what, "element " + std::to_string(bad) + " (flat index) is " +
                                (data[bad] != data[bad] ? "NaN" : "infinite") +
                                "; sparq needs finite values (pass check_finite=False to skip "
                                "this check)");
    }
  }
  return ConstTensorView(data, Shape(shape), DType::kF32);
}

py::array to_numpy(Tensor&& tensor) {
  py::dtype dtype;
  switch (tensor.dtype()) {
    case DType::kF32:
      dtype = py::dtype::of<float>();
      break;
    case DType::kU8:
      dtype = py::dtype::of<uint8_t>();
      break;
    case DType::kS8:
      dtype = py::dtype::of<int8_t>();
      break;
    case DType::kS32:
      dtype = py::dtype::of<int32_t>();
      break;
    case DType::kS4:
      throw Error(ErrorCode::kUnsupported, "an s4 tensor has no numpy equivalent");
  }
  auto* owner = new Tensor(std::move(tensor));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dtype, owner->shape().dims(), {}, owner->raw(), free_when_done);
}

template <typename T>
std::vector<T> to_vector(const py::array& array, const std::string& what) {
  if (!py::isinstance<py::array_t<T>>(array)) {
    throw bad_array(what, "dtype is " + dtype_name(array) + ", expected " +
                              py::str(py::dtype::of<T>()).cast<std::string>());
  }
  // Any layout: numpy makes the C-ordered copy.
  auto contiguous = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(array);
  return std::vector<T>(contiguous.data(), contiguous.data() + contiguous.size());
}

template <typename T>
py::array_t<T> from_vector(const std::vector<T>& values, const std::vector<int64_t>& shape) {
  py::array_t<T> out(shape);
  if (!values.empty()) std::memcpy(out.mutable_data(), values.data(), values.size() * sizeof(T));
  return out;
}

template std::vector<float> to_vector<float>(const py::array&, const std::string&);
template std::vector<uint8_t> to_vector<uint8_t>(const py::array&, const std::string&);
template std::vector<int8_t> to_vector<int8_t>(const py::array&, const std::string&);
template py::array_t<float> from_vector<float>(const std::vector<float>&,
                                               const std::vector<int64_t>&);
template py::array_t<uint8_t> from_vector<uint8_t>(const std::vector<uint8_t>&,
                                                   const std::vector<int64_t>&);
template py::array_t<int8_t> from_vector<int8_t>(const std::vector<int8_t>&,
                                                 const std::vector<int64_t>&);

}  // namespace sparq::python
