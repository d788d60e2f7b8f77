#!/usr/bin/python3
"""Tests bench/ab_compare.py with fake benchmark binaries whose times are known.

The fake binaries model the bias the tool exists to remove: the first process
of every round runs 10 % faster. Expected figures are worked out by hand below.
"""
import json
import os
import pathlib
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
TOOL = HERE / "ab_compare.py"

# A stand-in for a Google Benchmark binary: lists NAMES, runs the benchmarks
# --benchmark_filter selects (re.search, as Google Benchmark does), and times
# each as BASE * scale, where scale is 0.9 for the first run of a round (an
# even count of earlier runs across both binaries) and 1.0 for the second.
FAKE = r'''#!/usr/bin/python3
import json, pathlib, re, sys
BASE = {base}
STATE = pathlib.Path({state!r})
args = dict(a.split("=", 1) for a in sys.argv[1:])
names = [n for n in BASE if re.search(args["--benchmark_filter"], n)]
if args.get("--benchmark_list_tests") == "true":
    print("\n".join(names)); sys.exit(0)
runs = int(STATE.read_text()) if STATE.exists() else 0
STATE.write_text(str(runs + 1))
with open(str(STATE) + ".log", "a") as log:
    log.write({label!r} + "\n")
scale = 0.9 if runs % 2 == 0 else 1.0
reps = int(args["--benchmark_repetitions"])
out = [{{"name": n, "run_name": n, "run_type": "iteration", "real_time": BASE[n] * scale + r}}
       for n in names for r in range(reps)]
print(json.dumps({{"benchmarks": out}}))
'''


def write_fake(directory, label, base, state):
    path = pathlib.Path(directory) / label
    path.write_text(FAKE.format(base=repr(base), state=str(state), label=label))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


class AbCompareTest(unittest.TestCase):

    def run_tool(self, old_base, new_base, rounds, regex):
        with tempfile.TemporaryDirectory() as d:
            state = pathlib.Path(d) / "runs"
            old = write_fake(d, "old", old_base, state)
            new = write_fake(d, "new", new_base, state)
            out = subprocess.run([
                sys.executable,
                str(TOOL), old, new, f"--filter={regex}", f"--rounds={rounds}", "--repetitions=2",
                "--json"
            ],
                                 check=True,
                                 capture_output=True,
                                 text=True).stdout
            order = pathlib.Path(str(state) + ".log").read_text().split()
        return json.loads(out), order

    def test_equal_binaries_compare_equal_despite_the_first_run_bias(self):
        result, order = self.run_tool({"conv/1": 100.0}, {"conv/1": 100.0}, 4, "conv/1")
        # Rounds alternate which binary goes first.
        self.assertEqual(order, ["old", "new", "new", "old", "old", "new", "new", "old"])
        (b,) = result["benchmarks"]
        # Each binary's best is a first-of-round run: 0.9 * 100 (repetition 0).
        self.assertAlmostEqual(b["best_old"], 90.0)
        self.assertAlmostEqual(b["best_new"], 90.0)
        self.assertAlmostEqual(b["ratio_of_best"], 1.0)
        # Paired ratios: 100/90 twice and 90/100 twice; the median is their mean.
        self.assertAlmostEqual(b["median_paired_ratio"], (100 / 90 + 90 / 100) / 2)
        self.assertEqual(b["new_faster_rounds"], 2)

    def test_a_faster_new_binary_and_anchored_names(self):
        # "conv/10" must not leak into "conv/1": its times are far lower.
        old = {"conv/1": 100.0, "conv/10": 5.0}
        new = {"conv/1": 80.0, "conv/10": 5.0}
        result, _ = self.run_tool(old, new, 2, "conv/1")
        by_name = {b["name"]: b for b in result["benchmarks"]}
        self.assertEqual(sorted(by_name), ["conv/1", "conv/10"])
        self.assertAlmostEqual(by_name["conv/1"]["best_old"], 90.0)
        self.assertAlmostEqual(by_name["conv/1"]["best_new"], 72.0)
        self.assertAlmostEqual(by_name["conv/1"]["ratio_of_best"], 0.8)
        # Round 1 (old first): 80 / 90; round 2 (new first): 72 / 100.
        self.assertAlmostEqual(by_name["conv/1"]["median_paired_ratio"], (80 / 90 + 72 / 100) / 2)
        self.assertEqual(by_name["conv/1"]["new_faster_rounds"], 2)
        self.assertAlmostEqual(result["geomean_ratio_of_best"], (0.8 * 1.0)**0.5)

    def test_refuses_a_filter_that_matches_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            state = pathlib.Path(d) / "runs"
            old = write_fake(d, "old", {"conv/1": 1.0}, state)
            new = write_fake(d, "new", {"conv/1": 1.0}, state)
            run = subprocess.run([sys.executable, str(TOOL), old, new, "--filter=pool"],
                                 capture_output=True,
                                 text=True)
        self.assertEqual(run.returncode, 2)
        self.assertIn("no benchmark matches 'pool'", run.stderr)


if __name__ == "__main__":
    unittest.main()
