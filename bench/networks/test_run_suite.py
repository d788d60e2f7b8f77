#!/usr/bin/env python3
"""run_suite.py's CPU placement: a pinned command runs on that CPU alone,
round r's 1-thread measurements run on CPU r mod N and 2-thread ones are not
pinned, and the probe times every CPU on the largest model (fake `sparq
bench` timings); the threads' busy times are read and pooled."""

import json
import os
import pathlib
import sys
import tempfile
import types
import unittest
from unittest import mock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run_suite  # noqa: E402

AFFINITY = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
def networks(folder):
    """Two networks' model files, the larger one a ResNet-18."""
    folder = pathlib.Path(folder)
    (folder / "resnet20_k1_shared.sparq").write_bytes(b"x" * 10)
    (folder / "resnet18_k9_random.sparq").write_bytes(b"x" * 100)
    return {"resnet20": {"variants": {"k1_shared": {"sparq": str(folder / "resnet20_k1_shared.sparq")}}},
            "resnet18": {"variants": {"k9_random": {"sparq": str(folder / "resnet18_k9_random.sparq")}}}}

QUIET = types.SimpleNamespace(say=lambda *a, **k: None)


def fake_bench(best_ms_per_cpu, calls):
    def run(cmd, env=None, what=None, cpu=None):
        calls.append(cpu)
        return json.dumps([{"latency": {"best_seconds": best_ms_per_cpu[cpu] / 1e3}}])
    return run


class PinningTest(unittest.TestCase):
    def test_a_pinned_command_runs_on_that_cpu_alone(self):
        cpus = sorted(os.sched_getaffinity(0))
        for cpu in cpus[:2]:
            self.assertEqual(json.loads(run_suite.run(AFFINITY, cpu=cpu)), [cpu])
        self.assertEqual(json.loads(run_suite.run(AFFINITY)), cpus)

    def test_rounds_rotate_one_thread_measurements_over_the_cpus(self):
        args = types.SimpleNamespace(round_cpus=[0, 1])
        self.assertEqual([run_suite.pinned_cpu(args, 1, rnd) for rnd in range(4)], [0, 1, 0, 1])
        self.assertIsNone(run_suite.pinned_cpu(args, 2, 0))
        self.assertIsNone(run_suite.pinned_cpu(types.SimpleNamespace(round_cpus=None), 1, 0))

    def test_the_probe_times_every_cpu_on_the_largest_model(self):
        args = types.SimpleNamespace(pin=True, sparq="sparq")
        calls = []
        with tempfile.TemporaryDirectory() as d, \
             mock.patch.object(run_suite.os, "sched_getaffinity", return_value={0, 1}), \
             mock.patch.object(run_suite, "run", fake_bench({0: 8.5, 1: 6.25}, calls)):
            pinning = run_suite.probe_cpus(args, networks(d), QUIET)
        self.assertEqual(pinning, {"cpus": [0, 1], "probe_model": "resnet18_k9_random.sparq",
                                   "probe_best_ms": {"0": 8.5, "1": 6.25}})
        self.assertEqual(calls, [0, 1, 0, 1])  # alternated, twice

    def test_no_probe_when_off_or_on_one_cpu(self):
        calls = []
        with tempfile.TemporaryDirectory() as d, \
             mock.patch.object(run_suite, "run", fake_bench({0: 1.0, 1: 1.0}, calls)):
            nets = networks(d)
            with mock.patch.object(run_suite.os, "sched_getaffinity", return_value={0, 1}):
                self.assertIsNone(run_suite.probe_cpus(types.SimpleNamespace(pin=False, sparq="s"),
                                                       nets, QUIET))
            with mock.patch.object(run_suite.os, "sched_getaffinity", return_value={3}):
                self.assertIsNone(run_suite.probe_cpus(types.SimpleNamespace(pin=True, sparq="s"),
                                                       nets, QUIET))
        self.assertEqual(calls, [])


class FreshInputsTest(unittest.TestCase):
    """The fresh-inputs phase: per ResNet-18 variant, batch 1 on one input, on 16
    inputs in turn and batch 16, interleaved over the rounds, in ms per image."""

    def test_each_kind_per_image_and_the_commands(self):
        calls = []

        def fake(cmd, env=None, what=None, cpu=None):
            calls.append([str(c) for c in cmd])
            batch = int(cmd[cmd.index("--batch") + 1]) if "--batch" in cmd else 1
            inputs = int(cmd[cmd.index("--distinct-inputs") + 1]) if batch == 1 else 0
            ms = {(1, 1): 1.0, (1, 16): 1.2, (16, 0): 17.6}[(batch, inputs)]
            part = "latency" if batch == 1 else "throughput"
            return json.dumps([{part: {"runs_seconds": [ms / 1e3, 2 * ms / 1e3]}, "layers": []}])

        args = types.SimpleNamespace(sparq="sparq", min_time=0.1, min_runs=2, batch_min_runs=3,
                                     rounds=2, round_cpus=None)
        nets = {"resnet18": {"variants": {"k1_shared": {"sparq": "r.sparq"}}}}
        with mock.patch.object(run_suite, "run", fake):
            f = run_suite.measure_fresh_inputs(args, nets, QUIET)
        v = f["variants"]["k1_shared"]
        self.assertEqual(f["distinct_inputs"], 16)
        self.assertEqual(v["one_input"], {"best_ms": 1.0, "median_ms": 1.5})
        self.assertAlmostEqual(v["distinct_inputs"]["best_ms"], 1.2)
        self.assertAlmostEqual(v["distinct_inputs"]["median_ms"], 1.8)
        self.assertAlmostEqual(v["batch16"]["best_ms"], 1.1)
        self.assertEqual(len(calls), 6)  # 3 kinds x 2 rounds
        for cmd in calls:
            if "--batch" not in cmd:
                self.assertIn("--no-layers", cmd)
        self.assertIsNone(run_suite.measure_fresh_inputs(args, {}, QUIET))


class ThreadBusyTest(unittest.TestCase):
    """`sparq bench`'s per-thread busy medians (2 threads at batch 1), through a
    fake `sparq bench`, pooled over rounds as the layers are."""

    def test_bench_sparq_reads_the_busy_medians_in_ms(self):
        out = json.dumps([{"latency": {"runs_seconds": [0.002]}, "layers": [],
                           "thread_busy_median_seconds": [0.0015, 0.00125]}])
        args = types.SimpleNamespace(sparq="sparq", min_time=0.1, min_runs=2)
        with mock.patch.object(run_suite, "run", return_value=out):
            r = run_suite.bench_sparq(args, "m.sparq", 1, 2)
        self.assertEqual(r["thread_busy_ms"], [1.5, 1.25])
        out = json.dumps([{"latency": {"runs_seconds": [0.002]}, "layers": []}])
        with mock.patch.object(run_suite, "run", return_value=out):
            self.assertEqual(run_suite.bench_sparq(args, "m.sparq", 1, 1)["thread_busy_ms"], [])

    def test_rounds_pool_to_each_threads_median(self):
        self.assertEqual(run_suite.pool_thread_busy([[1.0, 2.0], [3.0, 4.0], [2.0, 9.0]]), [2.0, 4.0])
        self.assertEqual(run_suite.pool_thread_busy([[1.0, 2.0], [], [3.0, 4.0, 5.0]]), [2.0, 3.0])
        self.assertIsNone(run_suite.pool_thread_busy([[], []]))


class ThreadPlacementTest(unittest.TestCase):
    """A placement round: the core-to-core probe, then each ResNet-18 variant at
    batch 1 on 1 thread (pinned to the round's CPU) and on 2; the networks
    phase calls for one after each cell."""

    def test_probe_then_both_thread_counts(self):
        events = []

        def fake_probe(args, progress, when):
            events.append(("probe", when))
            return {"shared_write_us": 8.0}

        def fake(cmd, env=None, what=None, cpu=None):
            name, threads = pathlib.Path(str(cmd[2])).name, int(cmd[cmd.index("--threads") + 1])
            events.append((name, threads, cpu))
            self.assertIn("--no-layers", [str(c) for c in cmd])
            ms = {("k1.sparq", 1): [1.6, 1.5], ("k1.sparq", 2): [1.0, 0.9],
                  ("k9.sparq", 1): [5.0], ("k9.sparq", 2): [3.0, 2.5]}[(name, threads)]
            return json.dumps([{"latency": {"runs_seconds": [x / 1e3 for x in ms]}, "layers": []}])

        args = types.SimpleNamespace(sparq="sparq", min_time=0.1, min_runs=2, threads=[1, 2],
                                     round_cpus=[0, 1])
        nets = {"resnet18": {"variants": {"k1_shared": {"sparq": "k1.sparq"},
                                          "k9_random": {"sparq": "k9.sparq"}}}}
        with mock.patch.object(run_suite, "run", fake), \
             mock.patch.object(run_suite, "core_to_core", fake_probe):
            r = run_suite.thread_placement_round(args, nets, 1, QUIET)
        self.assertEqual(r["probe"], {"shared_write_us": 8.0})
        self.assertEqual(r["variants"], {"k1_shared": {"t1_best_ms": 1.5, "t2_best_ms": 0.9},
                                         "k9_random": {"t1_best_ms": 5.0, "t2_best_ms": 2.5}})
        # Round 2 (index 1): its 1-thread runs on CPU 1 mod 2.
        self.assertEqual(events, [("probe", "placement round 2"), ("k1.sparq", 1, 1), ("k1.sparq", 2, None),
                                  ("k9.sparq", 1, 1), ("k9.sparq", 2, None)])

    def test_none_without_two_thread_counts_a_resnet18_or_a_probe(self):
        nets = {"resnet18": {"variants": {"k1_shared": {"sparq": "k1.sparq"}}}}
        self.assertIsNone(run_suite.thread_placement_round(types.SimpleNamespace(threads=[1]), nets, 0, QUIET))
        both = types.SimpleNamespace(threads=[1, 2])
        self.assertIsNone(run_suite.thread_placement_round(both, {}, 0, QUIET))
        with mock.patch.object(run_suite, "core_to_core", return_value=None), \
             mock.patch.object(run_suite, "run", side_effect=AssertionError("no runs without a probe")):
            self.assertIsNone(run_suite.thread_placement_round(both, nets, 0, QUIET))

    def test_the_networks_phase_calls_after_each_cell(self):
        calls = []
        args = types.SimpleNamespace(sparq="sparq", min_time=0.1, min_runs=2, batch_min_runs=3,
                                     rounds=1, round_cpus=None)
        cells = [({"name": "n", "variants": {"a": {"sparq": "a.sparq", "k": 1, "sharing": "none"}}}, b, 1,
                  [("sparq", "a")]) for b in (1, 16)]
        out = json.dumps([{"latency": {"runs_seconds": [0.001]}, "throughput": {"runs_seconds": [0.016]},
                           "layers": []}])
        with mock.patch.object(run_suite, "measurement_plan", return_value=cells), \
             mock.patch.object(run_suite, "run", return_value=out):
            run_suite.measure_networks(args, {}, None, QUIET, lambda: calls.append(len(calls)))
        self.assertEqual(calls, [0, 1])


if __name__ == "__main__":
    unittest.main()
