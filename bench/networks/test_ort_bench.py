#!/usr/bin/env python3
"""ort_bench.py, the Python ONNX Runtime driver: its flags are checked like
ort_bench.js's, the batch goes into the right input dimension, the session
gets the settings ort_bench.js gives it, and (where the Python packages
onnxruntime and onnx exist) a real run prints the JSON line run_suite.py
reads and a fixed-batch model is refused another batch."""

import contextlib
import io
import json
import pathlib
import subprocess
import sys
import tempfile
import types
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import ort_bench  # noqa: E402


def meta(shape, type_="tensor(float)"):
    return types.SimpleNamespace(shape=shape, type=type_, name="input")


class FakeOrt:
    """The parts of the onnxruntime module session_options touches."""

    class SessionOptions:
        def __init__(self):
            self.config = {}

        def add_session_config_entry(self, key, value):
            self.config[key] = value

    ExecutionMode = types.SimpleNamespace(ORT_SEQUENTIAL="sequential", ORT_PARALLEL="parallel")
    GraphOptimizationLevel = types.SimpleNamespace(ORT_ENABLE_ALL="all", ORT_ENABLE_BASIC="basic")


def parse_error(argv):
    """The message argparse prints for bad flags, or None if they parse."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            ort_bench.parse_args(argv)
        except SystemExit:
            return err.getvalue()
    return None


class Flags(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.model = pathlib.Path(self.dir.name) / "m.onnx"
        self.model.write_bytes(b"not parsed by the flag check")
        self.base = ["--model", str(self.model), "--batch", "2", "--threads", "1",
                     "--min-time", "0", "--min-runs", "1"]

    def tearDown(self):
        self.dir.cleanup()

    def test_defaults_as_in_ort_bench_js(self):
        a = ort_bench.parse_args(self.base)
        self.assertEqual((a.warmup, a.seed, a.spinning, a.batch), (3, 1, 1, 2))

    def test_rejects_bad_values(self):
        for flag, value in [("--batch", "0"), ("--threads", "-1"), ("--min-runs", "1.5"),
                            ("--min-time", "-0.1"), ("--min-time", "nan"), ("--spinning", "2")]:
            argv = list(self.base) + ([] if flag in self.base else [flag, "0"])
            argv[argv.index(flag) + 1] = value
            self.assertIsNotNone(parse_error(argv), f"{flag} {value}")

    def test_missing_model_named(self):
        argv = list(self.base)
        argv[1] = str(self.model) + ".missing"
        self.assertIn("not found", parse_error(argv))

    def test_missing_flag(self):
        self.assertIn("--min-runs", parse_error(self.base[:-2]))


class InputShape(unittest.TestCase):
    def test_symbolic_batch_takes_the_batch(self):
        self.assertEqual(ort_bench.input_shape(meta(["N", 3, 224, 224]), 16), ([16, 3, 224, 224], None))

    def test_fixed_batch_must_match(self):
        self.assertEqual(ort_bench.input_shape(meta([1, 3, 32, 32]), 1), ([1, 3, 32, 32], None))
        shape, error = ort_bench.input_shape(meta([1, 3, 32, 32]), 4)
        self.assertIsNone(shape)
        self.assertIn("fixed at 1", error)

    def test_other_dims_must_be_fixed(self):
        self.assertIn("must be fixed", ort_bench.input_shape(meta(["N", 3, "H", "W"]), 1)[1])

    def test_float_input_only(self):
        self.assertIn("float32", ort_bench.input_shape(meta(["N", 3], "tensor(uint8)"), 1)[1])


class Settings(unittest.TestCase):
    def test_the_settings_of_ort_bench_js(self):
        args = types.SimpleNamespace(threads=2, spinning=0, optimized_model=None)
        so = ort_bench.session_options(FakeOrt, args)
        self.assertEqual((so.intra_op_num_threads, so.inter_op_num_threads), (2, 1))
        self.assertEqual((so.execution_mode, so.graph_optimization_level), ("sequential", "all"))
        self.assertTrue(so.enable_cpu_mem_arena and so.enable_mem_pattern)
        self.assertEqual(so.config, {"session.intra_op.allow_spinning": "0"})
        self.assertFalse(hasattr(so, "optimized_model_filepath"))


def have(*modules):
    return all(subprocess.run([sys.executable, "-c", f"import {m}"], capture_output=True).returncode == 0
               for m in modules)


@unittest.skipUnless(have("onnxruntime", "onnx", "numpy"), "needs the Python packages onnxruntime, onnx, numpy")
class RealRun(unittest.TestCase):
    def test_times_a_model_and_prints_the_json_line(self):
        import numpy as np
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        # y = x * 2 over [N, 3, 4]: small enough to check the output by hand.
        two = numpy_helper.from_array(np.full([1], 2.0, dtype=np.float32), "two")
        graph = helper.make_graph(
            [helper.make_node("Mul", ["input", "two"], ["logits"])], "double",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 4])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, 4])], [two])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8  # as make_networks.py writes: newer onnx defaults past older ORTs
        with tempfile.TemporaryDirectory() as d:
            path = pathlib.Path(d) / "double.onnx"
            onnx.save(model, path)
            r = subprocess.run([sys.executable, HERE / "ort_bench.py", "--model", path, "--batch", "5",
                                "--threads", "1", "--min-time", "0", "--min-runs", "4", "--warmup", "1"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            j = json.loads(r.stdout.strip().splitlines()[-1])
            self.assertEqual((j["driver"], j["batch"], j["input_shape"], len(j["runs_ms"])),
                             ("python", 5, [5, 3, 4], 4))
            self.assertEqual(j["best_ms"], min(j["runs_ms"]))
            self.assertAlmostEqual(j["per_image_best_ms"], j["best_ms"] / 5)
            # A fixed-batch model refuses another batch with a clear error.
            graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            model.ir_version = 8
            onnx.save(model, path)
            r = subprocess.run([sys.executable, HERE / "ort_bench.py", "--model", path, "--batch", "2",
                                "--threads", "1", "--min-time", "0", "--min-runs", "1"],
                               capture_output=True, text=True, timeout=120)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("fixed at 1", r.stderr)


if __name__ == "__main__":
    unittest.main()
