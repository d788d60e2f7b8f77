"""Python's cost per session.run call over the C++ API's, at batch 1.

    PYTHONPATH=build/release/python /usr/bin/python3 python/bench/run_overhead.py \
        [--helper build/release/python/sparq_py_reference] [--calls 20000]

Times the median of single calls in both languages on the same model, input,
backend and thread count (cpu, 1 thread): C++ through sparq_py_reference
(Session::run on a Tensor), Python through sparq.Session.run (argument
checks, the finite-value scan, GIL release, output arrays). Two models: the
shipped Fashion-MNIST model (the figure users see) and a one-node model (a
flatten of 1 value) whose run is almost free, so the difference there is the
binding's own cost without the noise of a real inference. Each pair is
measured three times, interleaved, and the smallest median kept.
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

import numpy as np
import sparq

ROOT = pathlib.Path(__file__).resolve().parents[2]


def python_median_ns(session, x, calls):
    times = np.empty(calls)
    run = session.run
    for i in range(calls):
        start = time.perf_counter_ns()
        run(x)
        times[i] = time.perf_counter_ns() - start
    return float(np.median(times))


def cpp_median_ns(helper, model_path, x, calls, tmp):
    input_file = os.path.join(tmp, "input.f32")
    x.tofile(input_file)
    out = subprocess.run([helper, str(model_path), input_file, os.path.join(tmp, "out"), "cpu,reference",
                          "1", str(calls)], check=True, capture_output=True, text=True).stdout
    return float(dict(line.split() for line in out.splitlines())["median_ns"])


def measure(name, model_path, x, helper, calls, tmp):
    model = sparq.Model.load(model_path)
    session = sparq.Session(model, backends=["cpu", "reference"], threads=1)
    session.run(x)
    py, cpp = [], []
    for _ in range(3):
        cpp.append(cpp_median_ns(helper, model_path, x, calls, tmp))
        py.append(python_median_ns(session, x, calls))
    best_py, best_cpp = min(py), min(cpp)
    print(f"{name:<22} C++ {best_cpp / 1e3:8.2f} us   Python {best_py / 1e3:8.2f} us   "
          f"overhead {(best_py - best_cpp) / 1e3:6.2f} us per call")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--helper", default=str(ROOT / "build/release/python/sparq_py_reference"))
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown")
    print(f"CPU: {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        fashion = ROOT / "examples/models/fashion_k3.sparq"
        x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
        measure("fashion_k3, batch 1", fashion, x, args.helper, args.calls, tmp)
        b = sparq.ModelBuilder()
        b.mark_output(b.flatten(b.input([1, 1, 1])))
        tiny = os.path.join(tmp, "tiny.sparq")
        b.build(name="one-node").save(tiny)
        measure("one-node, batch 1", tiny, np.ones((1, 1, 1, 1), np.float32), args.helper,
                args.calls, tmp)


if __name__ == "__main__":
    main()
