// sparq::Error -> Python exceptions: `sparq.Error` (base, `.kind` names the
// ErrorCode as in the CLI's messages) and one subclass per code. Each subclass
// also derives from the builtin exception a Python user would catch for it.
#include <pybind11/pybind11.h>

#include <array>

#include "python/src/bindings.hpp"
#include "sparq/error.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

struct ErrorClass {
  ErrorCode code;
  const char* name;
  PyObject* builtin;  // second base class
  const char* doc;
};

// Set once at import; the translator looks classes up by code. A code added
// to sparq::ErrorCode without a class here raises the base sparq.Error.
std::array<PyObject*, 5> g_classes{};
PyObject* g_base = nullptr;

PyObject* class_for(ErrorCode code) {
  const auto i = static_cast<size_t>(code);
  return i < g_classes.size() && g_classes[i] ? g_classes[i] : g_base;
}

}  // namespace

void bind_errors(py::module_& m) {
  py::object base = py::reinterpret_steal<py::object>(
      PyErr_NewExceptionWithDoc("sparq.Error",
                                "Base of every sparq error. `kind` is sparq's error code "
                                "('invalid argument', 'invalid model', 'unsupported', 'i/o error', "
                                "'internal error'); str(e) is the message naming what is wrong.",
                                PyExc_Exception, nullptr));
  base.attr("kind") = py::none();
  m.attr("Error") = base;
  g_base = base.ptr();  // the module keeps it alive

  const ErrorClass classes[] = {
      {ErrorCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "A caller passed something malformed (shape, dtype, option, data)."},
      {ErrorCode::kInvalidModel, "InvalidModelError", PyExc_ValueError,
       "A model file or graph violates the schema or its semantics."},
      {ErrorCode::kUnsupported, "UnsupportedError", PyExc_NotImplementedError,
       "Valid, but no backend or ISA can run it."},
      {ErrorCode::kIo, "IoError", PyExc_OSError, "A file could not be read or written."},
      {ErrorCode::kInternal, "InternalError", PyExc_RuntimeError,
       "A broken invariant inside sparq (a bug)."},
  };
  for (const ErrorClass& c : classes) {
    py::tuple bases = py::make_tuple(base, py::handle(c.builtin));
    const std::string qualified = std::string("sparq.") + c.name;
    py::object cls = py::reinterpret_steal<py::object>(
        PyErr_NewExceptionWithDoc(qualified.c_str(), c.doc, bases.ptr(), nullptr));
    cls.attr("kind") = to_string(c.code);
    m.attr(c.name) = cls;
    g_classes[static_cast<size_t>(c.code)] = cls.release().ptr();  // lives as long as python
  }

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyErr_SetString(class_for(e.code()), e.what());
    }
  });

  // For the tests: raises sparq::Error(code, message) from C++, so every code's
  // translation is checked, including kInternal, which no valid call reaches.
  m.def(
      "_raise_error",
      [](const std::string& kind, const std::string& message) {
        for (int c = 0; c < static_cast<int>(g_classes.size()); ++c) {
          if (kind == to_string(static_cast<ErrorCode>(c))) {
            throw Error(static_cast<ErrorCode>(c), message);
          }
        }
        throw Error(ErrorCode::kInvalidArgument, "unknown error kind '" + kind + "'");
      },
      py::arg("kind"), py::arg("message"));
}

}  // namespace sparq::python
