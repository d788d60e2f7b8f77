#!/usr/bin/python3
"""Checks that the benchmark networks are what they claim to be, for
ResNet-20 (k = 3, 16x4-shared patterns; k = 5, random patterns) and
MobileNet-v1:

(a) same architecture in both runtimes: sparq's float import of the fp32
    model (`sparq import`, `sparq run` on raw float32 inputs) gives ONNX
    Runtime's fp32 outputs, max|diff| / max|ref| <= 1e-4;
(b) the QDQ model is a faithful int8 twin: ONNX Runtime's QDQ outputs on 8
    inputs stay within 10 % (max|diff| / max|ref|) of its fp32 outputs, and
    each QDQ top-1 class is among the fp32 top 5 (random weights give close
    logits among 1000 classes, so exact top-1 agreement is only reported);
(c) the pruning is what sparq sees: `sparq import --quantize w4a8 --json`
    makes every pruned layer a sparse 3x3 with the requested k and sharing
    (16x4 for `shared`, none for `random`), and MobileNet-v1 none.

  /usr/bin/python3 bench/networks/check_networks.py [--sparq PATH]
      [--node-path DIR] [--workdir DIR]

ONNX Runtime comes from --node-path, else NODE_PATH, else the newest
scripts/install-ort.sh install; without one (or without node) the check
prints why and exits 77, which ctest reports as skipped.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SKIP = 77

try:
    import numpy as np
except ImportError as e:
    print(f"SKIP: {e} (run with Debian's /usr/bin/python3)")
    sys.exit(SKIP)

CASES = [
    ("resnet20", 3, "shared"),
    ("resnet20", 5, "random"),
    ("mobilenet_v1", 9, "random"),
]
SAME_ARCH_TOLERANCE = 1e-4
QDQ_TOLERANCE = 0.1
QDQ_IMAGES = 8
TOP_K = 5
SPARQ_IMAGES = 2


def find_node_path(explicit):
    if explicit:
        return explicit
    if os.environ.get("NODE_PATH"):
        return os.environ["NODE_PATH"]
    cache = os.environ.get("SPARQ_CACHE", os.path.expanduser("~/.cache/sparq"))
    found = [d for d in glob.glob(os.path.join(cache, "onnxruntime-node-*", "node_modules"))
             if os.path.exists(os.path.join(os.path.dirname(d), ".complete"))]
    # Newest version first (numeric compare of the dotted version).
    def version(d):
        text = os.path.basename(os.path.dirname(d))[len("onnxruntime-node-"):]
        return [int(p) if p.isdigit() else 0 for p in text.replace("-", ".").split(".")]
    return max(found, key=version) if found else None


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.strip()}")
    return p.stdout


def rel_error(got, ref):
    return float(np.abs(got - ref).max() / np.abs(ref).max())


class Checker:

    def __init__(self, sparq, node_env, workdir):
        self.sparq, self.node_env, self.workdir = sparq, node_env, workdir
        self.failures = []

    def expect(self, ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            self.failures.append(what)

    def ort(self, model, inputs, tag):
        x = os.path.join(self.workdir, tag + ".in.f32")
        y = os.path.join(self.workdir, tag + ".out.f32")
        inputs.astype(np.float32).tofile(x)
        run(["node", os.path.join(HERE, "ort_run.js"), "--model", model, "--input", x, "--output", y],
            env=self.node_env)
        return np.fromfile(y, dtype=np.float32).reshape(inputs.shape[0], -1)

    def sparq_run(self, model, image, tag, classes):
        x = os.path.join(self.workdir, tag + ".f32")
        image.astype(np.float32).tofile(x)
        out = json.loads(run([self.sparq, "run", model, x, "--json", "--threads", "1",
                              "--max-values", str(classes)]))
        return np.array(out["outputs"][0]["values"], dtype=np.float32)

    def check(self, arch, k, sharing):
        info = json.loads(run([sys.executable, os.path.join(HERE, "make_networks.py"), "--arch", arch, "--k",
                               str(k), "--sharing", sharing, "--seed", "3", "--out", self.workdir]))
        name, classes = info["name"], info["classes"]
        rng = np.random.default_rng(11)
        images = rng.standard_normal((QDQ_IMAGES,) + tuple(info["input_shape"]), dtype=np.float32)

        # (a) sparq's lossless float import runs the same network as ORT.
        ref = self.ort(info["fp32"], images, name + ".fp32")
        sparq_model = os.path.join(self.workdir, name + ".sparq")
        run([self.sparq, "import", info["fp32"], "-o", sparq_model])
        worst = max(
            rel_error(self.sparq_run(sparq_model, images[i], f"{name}.{i}", classes), ref[i])
            for i in range(SPARQ_IMAGES))
        self.expect(worst <= SAME_ARCH_TOLERANCE,
                    f"{name}: sparq float vs ORT fp32, max|diff|/max|ref| = {worst:.2e} (<= {SAME_ARCH_TOLERANCE})")

        # (b) ORT's int8 QDQ model approximates the fp32 one.
        q = self.ort(info["qdq"], images, name + ".qdq")
        err = rel_error(q, ref)
        top1 = int((q.argmax(axis=1) == ref.argmax(axis=1)).sum())
        ref_top = np.argsort(-ref, axis=1)[:, :TOP_K]
        in_top = int(sum(q[i].argmax() in ref_top[i] for i in range(QDQ_IMAGES)))
        self.expect(err < QDQ_TOLERANCE and in_top == QDQ_IMAGES,
                    f"{name}: ORT QDQ vs ORT fp32, max|diff|/max|ref| = {err:.3f} (< {QDQ_TOLERANCE}), "
                    f"QDQ top-1 in fp32 top-{TOP_K} on {in_top}/{QDQ_IMAGES}, same top-1 on {top1}/{QDQ_IMAGES}")

        # (c) sparq's quantizing import sees the requested pruning.
        report = json.loads(run([self.sparq, "import", info["fp32"], "-o",
                                 os.path.join(self.workdir, name + ".w4a8.sparq"), "--quantize", "w4a8", "--json"]))
        sparse = [l for l in report["layers"] if l["op"] == "sparse_conv3x3"]
        # k = 9 is dense: sparq reports no sharing whatever the patterns.
        want_sharing = [16, 4] if sharing == "shared" and info["k"] < 9 else [1, 1]
        wrong = [l["name"] for l in sparse if l["density"] != info["k"] or l["sharing"] != want_sharing]
        self.expect(len(sparse) == info["pruned_layers"] and not wrong,
                    f"{name}: sparq w4a8 import has {len(sparse)} sparse 3x3 layers "
                    f"(want {info['pruned_layers']}), all k = {info['k']} sharing {want_sharing}"
                    + (f"; wrong: {', '.join(wrong)}" if wrong else ""))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sparq", default=os.environ.get("SPARQ_CLI",
                                                     os.path.join(ROOT, "build", "release", "tools", "cli", "sparq")))
    p.add_argument("--node-path", help="node_modules holding onnxruntime-node")
    p.add_argument("--workdir", help="keep the models and files here (default: a temporary directory)")
    a = p.parse_args()

    if shutil.which("node") is None:
        print("SKIP: node is not installed (Debian packages nodejs, npm)")
        return SKIP
    node_path = find_node_path(a.node_path)
    if node_path is None:
        print("SKIP: ONNX Runtime for node is not installed (scripts/install-ort.sh)")
        return SKIP
    env = dict(os.environ, NODE_PATH=node_path)
    if subprocess.run(["node", "-e", "require('onnxruntime-node')"], env=env, capture_output=True).returncode:
        print(f"SKIP: onnxruntime-node does not load from {node_path}")
        return SKIP
    try:
        import onnx  # noqa: F401  (make_networks.py needs it)
    except ImportError as e:
        print(f"SKIP: {e} (Debian package python3-onnx)")
        return SKIP
    if not os.access(a.sparq, os.X_OK):
        print(f"FAIL  the sparq CLI '{a.sparq}' is not there (build tools/cli or pass --sparq)")
        return 1

    workdir = a.workdir or tempfile.mkdtemp(prefix="sparq_check_networks_")
    os.makedirs(workdir, exist_ok=True)
    checker = Checker(a.sparq, env, workdir)
    try:
        for case in CASES:
            checker.check(*case)
    except RuntimeError as e:
        checker.expect(False, str(e))
    finally:
        if not a.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{len(checker.failures)} check(s) failed" if checker.failures else "all checks passed")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
