#!/usr/bin/env python3
"""Times one ONNX model under ONNX Runtime's CPU provider through its Python
package (`onnxruntime`), for machines that have that package and no Node.
The same measurement, settings, flags and JSON line as ort_bench.js (the
suite's default driver); only the input differs in how it is drawn (a seeded
NumPy normal instead of ort_bench.js's xorshift normal), which does not
change ORT's speed.

  python3 bench/networks/ort_bench.py --model M.onnx --batch B --threads T
      --min-time SECONDS --min-runs N [--warmup W] [--seed S] [--spinning 0|1]
      [--optimized-model OUT.onnx]
"""

import argparse
import json
import os
import statistics
import sys
import time


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got '{text}'")
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got '{text}'")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(prog="ort_bench.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=positive_int, required=True)
    p.add_argument("--threads", type=positive_int, required=True)
    p.add_argument("--min-time", type=non_negative_float, required=True)
    p.add_argument("--min-runs", type=positive_int, required=True)
    p.add_argument("--warmup", type=non_negative_int, default=3)
    p.add_argument("--seed", type=non_negative_int, default=1)
    p.add_argument("--spinning", type=int, choices=(0, 1), default=1)
    p.add_argument("--optimized-model")
    a = p.parse_args(argv)
    if not os.path.isfile(a.model):
        p.error(f"model '{a.model}' not found")
    return a


def session_options(ort, args):
    """ORT's best for CPU latency, as in ort_bench.js: all graph transformers,
    operators on T threads, one graph walker, spinning intra-op workers unless
    --spinning 0."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_cpu_mem_arena = True
    so.enable_mem_pattern = True
    so.add_session_config_entry("session.intra_op.allow_spinning", str(args.spinning))
    if args.optimized_model:
        so.optimized_model_filepath = args.optimized_model
    return so


def input_shape(meta, batch):
    """The model's input shape with the batch put in; an error text if it cannot be."""
    if meta.type != "tensor(float)":
        return None, f"the model's input must be float32, got {meta.type}"
    dims = list(meta.shape)
    if not dims:
        return None, "the model's input has no batch dimension"
    if isinstance(dims[0], int) and dims[0] != batch:
        return None, f"the model's batch is fixed at {dims[0]}"
    if any(not isinstance(d, int) for d in dims[1:]):
        return None, f"input dims after the batch must be fixed, got {dims}"
    return [batch] + dims[1:], None


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        sys.exit(f"ort_bench.py: cannot import onnxruntime / numpy ({e})")
    try:
        session = ort.InferenceSession(args.model, sess_options=session_options(ort, args),
                                       providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types per failure
        sys.exit(f"ort_bench.py: ONNX Runtime rejects '{args.model}': {e}")
    inputs = session.get_inputs()
    if len(inputs) != 1:
        sys.exit("ort_bench.py: the model must have exactly one input")
    shape, error = input_shape(inputs[0], args.batch)
    if error:
        sys.exit(f"ort_bench.py: {error}")
    feeds = {inputs[0].name: np.random.default_rng(args.seed).standard_normal(shape, dtype=np.float32)}

    for _ in range(args.warmup):
        session.run(None, feeds)
    runs_ms = []
    start = time.perf_counter()
    while len(runs_ms) < args.min_runs or time.perf_counter() - start < args.min_time:
        t0 = time.perf_counter()
        session.run(None, feeds)
        runs_ms.append((time.perf_counter() - t0) * 1e3)

    best, median = min(runs_ms), statistics.median(runs_ms)
    print(json.dumps({
        "runtime": "onnxruntime", "driver": "python", "version": ort.__version__,
        "model": os.path.abspath(args.model), "batch": args.batch, "threads": args.threads,
        "spinning": args.spinning, "input_shape": shape, "warmup": args.warmup,
        "runs_ms": runs_ms, "best_ms": best, "median_ms": median,
        "per_image_best_ms": best / args.batch, "per_image_median_ms": median / args.batch,
    }))


if __name__ == "__main__":
    main()
