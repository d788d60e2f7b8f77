// numpy <-> sparq tensors at the binding boundary: inputs are borrowed (a view
// over the caller's buffer, checked), outputs are handed over (the Tensor's
// buffer becomes the array's memory, freed when the array is).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "sparq/tensor.hpp"

namespace sparq::python {

// A view of `array` for Session::run: float32, C-contiguous, aligned, and (when
// `check_finite`) free of NaN and infinities, else Error(kInvalidArgument)
// naming what is wrong. `what` names the array in messages ("input").
ConstTensorView borrow_f32(const pybind11::array& array, bool check_finite,
                           const std::string& what);

// Index of the first NaN or infinity, or -1. One pass over the bits (an
// integer test the compiler vectorises); the index search only runs on failure.
int64_t first_non_finite(const float* values, size_t count);

// Hands `tensor`'s buffer to a numpy array without copying (a capsule owns the
// moved Tensor). Quantized tensors come back as their integer values.
pybind11::array to_numpy(Tensor&& tensor);

// Copies of a numpy array's values into a std::vector, for library functions
// that take spans (weights, masks): checks dtype and element count only.
template <typename T>
std::vector<T> to_vector(const pybind11::array& array, const std::string& what);

// A numpy array of `shape` holding a copy of `values`.
template <typename T>
pybind11::array_t<T> from_vector(const std::vector<T>& values, const std::vector<int64_t>& shape);

std::vector<int64_t> shape_of(const pybind11::array& array);

}  // namespace sparq::python
