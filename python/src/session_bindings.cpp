// sparq.Session: compile a model for a backend list, run numpy batches. The
// input is borrowed (no copy), the GIL is released while the session runs, so
// Python threads sharing a session run in parallel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "python/src/arrays.hpp"
#include "python/src/bindings.hpp"
#include "sparq/device.hpp"
#include "sparq/error.hpp"
#include "sparq/session.hpp"

namespace py = pybind11;

namespace sparq::python {
namespace {

py::dict stats_dict(const RunStats& stats) {
  py::list steps;
  for (const NodeStats& s : stats.steps) {
    py::dict d;
    d["name"] = s.name;
    d["op"] = s.op;
    d["backend"] = s.backend;
    d["kernel"] = s.kernel;
    d["seconds"] = s.seconds;
    d["dense_macs"] = s.dense_macs;
    d["actual_macs"] = s.actual_macs;
    d["bytes_moved"] = s.bytes_moved;
    // Every step carries the device keys (zero where the device did not run
    // it), so that sums over a mixed session's steps need no key checks.
    const DeviceNodeStats none;
    const DeviceNodeStats* found = device_stats(s);
    const DeviceNodeStats& device = found ? *found : none;
    d["device_cycles"] = device.cycles;
    d["device_seconds"] = device.seconds;
    d["device_energy_joules"] = device.energy_joules;
    d["device_utilization"] = device.utilization;
    d["device_offchip_bytes"] = device.offchip_bytes;
    steps.append(d);
  }
  py::dict d;
  d["seconds"] = stats.seconds;
  d["arena_bytes"] = stats.arena_bytes;
  d["thread_seconds"] = stats.thread_seconds;
  d["steps"] = steps;
  return d;
}

py::object run(const Session& session, const py::object& input, bool want_stats,
               bool check_finite) {
  // Any object comes in, so a list or a tensor of another library gets
  // sparq's message rather than pybind11's signature error.
  if (!py::isinstance<py::array>(input)) {
    throw Error(ErrorCode::kInvalidArgument,
                "input: expected a numpy.ndarray, got " +
                    py::str(input.get_type().attr("__name__")).cast<std::string>() +
                    " (use numpy.asarray(x, dtype=numpy.float32))");
  }
  const ConstTensorView view = borrow_f32(input.cast<py::array>(), check_finite, "input");
  RunStats stats;
  std::vector<Tensor> outputs;
  {
    // `input` (and so its buffer) stays referenced by the caller's frame.
    py::gil_scoped_release no_gil;
    outputs = session.run(view, want_stats ? &stats : nullptr);
  }
  py::list arrays;
  for (Tensor& t : outputs) arrays.append(to_numpy(std::move(t)));
  if (want_stats) return py::make_tuple(arrays, stats_dict(stats));
  return arrays;
}

}  // namespace

void bind_session(py::module_& m) {
  py::class_<Session, std::shared_ptr<Session>>(
      m, "Session",
      "A model compiled for a backend preference list: each node runs on the first backend "
      "that supports it ('reference' runs everything). run() is safe from several threads.")
      .def(py::init([](std::shared_ptr<Model> model, std::vector<std::string> backends, int threads,
                       int64_t batch_chunk, bool fold_static_quantize, bool fold_residual_add,
                       bool fold_max_pool) {
             SessionOptions options;
             options.backends = std::move(backends);
             options.threads = threads;
             options.batch_chunk = batch_chunk;
             options.fold_static_quantize = fold_static_quantize;
             options.fold_residual_add = fold_residual_add;
             options.fold_max_pool = fold_max_pool;
             return std::make_shared<Session>(std::move(model), std::move(options));
           }),
           py::arg("model"), py::arg("backends") = std::vector<std::string>{"cpu", "reference"},
           py::arg("threads") = 0, py::arg("batch_chunk") = 0,
           py::arg("fold_static_quantize") = true, py::arg("fold_residual_add") = true,
           py::arg("fold_max_pool") = true,
           "backends: preference list ('cpu', 'reference', 'device'); threads: oneTBB threads "
           "per run, 0 = all hardware threads; batch_chunk: samples per chunk a batch runs in "
           "(each chunk through the whole model, chunks side by side on several threads), 0 = "
           "sized to the cache. Results never depend on it. fold_static_quantize: a quantized "
           "convolution read only by a static quantize writes its u8/s8 output itself (one "
           "step, the same bytes). fold_residual_add: a sparse 3x3 layer read only by a "
           "residual add adds the other operand as it writes (one step, the same bits; host "
           "backends only). fold_max_pool: a quantized convolution read only by a max pool "
           "pools its rows as it computes them (one step, the same bits; host backends only).")
      .def("run", &run, py::arg("input"), py::kw_only(), py::arg("stats") = false,
           py::arg("check_finite") = true,
           "Runs a batch: `input` is a C-contiguous float32 numpy array [N, *model.input shape] "
           "(read in place, never copied; do not modify it from another thread during the "
           "call). Returns the list of output arrays (batch first), or (outputs, stats) when "
           "stats=True. check_finite scans the input once for NaN/inf (about as long as "
           "reading it: about 0.05 ms per MiB, 0.1 us for one 28x28 image) and raises "
           "InvalidArgumentError naming the first one.")
      .def_property_readonly("threads", &Session::threads, "Threads one run uses.")
      .def("batch_chunk", &Session::batch_chunk, py::arg("batch"),
           "Samples per chunk a run of `batch` samples uses.")
      .def_property_readonly(
          "placements",
          [](const Session& s) {
            py::list out;
            for (const Placement& p : s.placements()) {
              py::dict d;
              d["node"] = p.node;
              d["backend"] = p.backend;
              d["kernel"] = p.kernel;
              out.append(d);
            }
            return out;
          },
          "Per node: the backend chosen and its kernel.")
      .def("planned_bytes", &Session::planned_bytes, py::arg("batch"),
           "Peak bytes of intermediate tensors for a batch, after buffer reuse.");
}

}  // namespace sparq::python
