// Data in: IDX data sets (MNIST / Fashion-MNIST), image files, and the
// model's own preprocessing, so Python feeds a model exactly the values
// `sparq eval` and `sparq classify` feed it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl/filesystem.h>

#include "python/src/arrays.hpp"
#include "python/src/bindings.hpp"
#include "sparq/error.hpp"
#include "sparq/idx.hpp"
#include "sparq/image.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

// uint8 images [N, H, W] (gray) or [N, H, W, C] -> f32 [N, C', H', W'] as the
// model's preprocessing says.
py::array preprocess_batch(const Model& model, const py::array& images) {
  if (!py::isinstance<py::array_t<uint8_t>>(images)) {
    throw Error(ErrorCode::kInvalidArgument, "images: dtype is " +
                                                 py::str(images.dtype()).cast<std::string>() +
                                                 ", expected uint8 pixels");
  }
  if (images.ndim() != 3 && images.ndim() != 4) {
    throw Error(ErrorCode::kInvalidArgument, "images: expected [N, H, W] or [N, H, W, C], got " +
                                                 std::to_string(images.ndim()) + " dimensions");
  }
  auto pixels = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(images);
  const Preprocessing p = image_preprocessing(model);
  const auto n = static_cast<size_t>(pixels.shape(0));
  const auto height = static_cast<int>(pixels.shape(1));
  const auto width = static_cast<int>(pixels.shape(2));
  const int channels = pixels.ndim() == 4 ? static_cast<int>(pixels.shape(3)) : 1;
  const size_t in_per_sample = static_cast<size_t>(height) * width * channels;
  const size_t out_per_sample = static_cast<size_t>(p.channels) * p.height * p.width;
  py::array_t<float> out(
      {static_cast<int64_t>(n), int64_t{p.channels}, int64_t{p.height}, int64_t{p.width}});
  float* dst = out.mutable_data();
  const uint8_t* src = pixels.data();
  {
    py::gil_scoped_release no_gil;
    for (size_t i = 0; i < n; ++i) {
      const std::span<const uint8_t> sample(src + i * in_per_sample, in_per_sample);
      preprocess_into(image_from_pixels(width, height, channels, sample), p,
                      std::span<float>(dst + i * out_per_sample, out_per_sample));
    }
  }
  return out;
}

}  // namespace

void bind_data(py::module_& m) {
  m.def(
      "read_idx_images",
      [](const std::filesystem::path& path) {
        IdxImages images = read_idx_images(path);
        return from_vector(images.pixels, {images.count, images.rows, images.cols});
      },
      py::arg("path"),
      "Reads an idx3-ubyte image file (.gz too) as uint8 [N, rows, cols]. Raises IoError or "
      "InvalidArgumentError naming the file and the problem.");
  m.def(
      "read_idx_labels",
      [](const std::filesystem::path& path) {
        std::vector<uint8_t> labels = read_idx_labels(path);
        return from_vector(labels, {static_cast<int64_t>(labels.size())});
      },
      py::arg("path"), "Reads an idx1-ubyte label file (.gz too) as uint8 [N].");
  m.def(
      "load_image",
      [](const std::filesystem::path& path) {
        Image image = load_image(path);
        return from_vector(image.pixels, {image.height, image.width, image.channels});
      },
      py::arg("path"),
      "Decodes a PNG / JPEG / PGM-PPM / BMP file as uint8 [height, width, channels].");
  m.def("preprocess", &preprocess_batch, py::arg("model"), py::arg("images"),
        "uint8 images [N, H, W] (gray) or [N, H, W, C] -> the model's float32 input "
        "[N, C, H, W], with the preprocessing stored in the model (channel conversion, resize, "
        "(p * scale - mean) / std): the same values `sparq eval` and `sparq classify` use.");
}

}  // namespace sparq::python
