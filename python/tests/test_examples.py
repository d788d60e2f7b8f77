"""The Python examples run and agree with the command line."""
import json
import os
import re
import subprocess
import sys

from conftest import SOURCE_DIR


def run_example(name, *args):
    return subprocess.run([sys.executable, str(SOURCE_DIR / "examples" / "python" / name), *args],
                          check=True, capture_output=True, text=True, cwd=SOURCE_DIR,
                          env=dict(os.environ)).stdout


def test_classify_example_matches_sparq_eval(fashion_test_set, fashion_model_path, cli_binary):
    out = run_example("classify_fashion_mnist.py", str(fashion_model_path))
    correct = int(re.search(r"\((\d+)/10000\)", out).group(1))
    expected = json.loads(subprocess.run(
        [cli_binary, "eval", str(fashion_model_path), "/usr/share/datasets/fashion-mnist",
         "--json"], check=True, capture_output=True, text=True).stdout)
    assert correct == expected["correct"]


def test_compare_backends_example_finds_identical_bits(fashion_test_set, fashion_model_path):
    out = run_example("compare_backends.py", str(fashion_model_path), "128")
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in ("reference", "cpu", "device")}
    assert set(rows) == {"reference", "cpu", "device"}
    assert all(row[-1] == "True" for row in rows.values())
    assert len({row[1] for row in rows.values()}) == 1  # one accuracy
