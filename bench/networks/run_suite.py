#!/usr/bin/env python3
"""The end-to-end suite: whole networks through sparq's Session API (the
`sparq bench` command) next to ONNX Runtime fp32 and static int8 QDQ, and the
layer figures next to oneDNN int8, in one run. Writes raw.json and, through
report.py, REPORT.md and speedup_vs_density.svg.

Stages: machine facts; ONNX Runtime for Node (scripts/install-ort.sh, or the
Python package onnxruntime where Node is missing, through ort_bench.py); the
networks (bench/networks/make_networks.py, one call per density / sharing)
and their sparq import; the layer benchmarks (bench/dense_ops_bench,
bench/sparse_conv_bench); the networks, interleaved: for each (network, batch,
threads) every round runs each sparq variant and both ORT models once, in a
rotated order, so that every peer sees the same machine conditions. Best and
median are over the runs of all rounds.

Standard library only; make_networks.py runs under the same interpreter and
needs numpy and onnx there (Debian's /usr/bin/python3 has them).
scripts/bench_networks.sh is the entry point.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import report  # noqa: E402  (next to this file)


# Input size and batches per architecture; MobileNet-v1 is dense (no k).
ARCHITECTURES = {
    "resnet18": {"display": "ResNet-18", "batches": [1, 16], "dense": False},
    "resnet20": {"display": "ResNet-20", "batches": [1, 16, 64], "dense": False},
    "vgg11": {"display": "VGG-11", "batches": [1, 16, 64], "dense": False},
    "mobilenet_v1": {"display": "MobileNet-v1 (dense)", "batches": [1, 16], "dense": True},
}
FASHION = "fashion"  # the shipped Fashion-MNIST models (examples/models), sparq only
FASHION_BATCHES = [1, 16, 64]
# ResNet-18's 3x3 layers in bench/sparse_conv_bench, and the two densities shown.
SPARSE_LAYER_FILTER = "r18_"
SPARSE_LAYER_VARIANTS = ("k9/random", "k1/shared")


def env_flag(name, default=False):
    value = os.environ.get(name)
    return default if value is None else value not in ("", "0", "no", "false")


def parse_args(argv):
    quick = env_flag("QUICK")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", default=quick,
                   help="smoke run: ResNet-20 at k=1 shared and one Fashion-MNIST model, "
                        "2 rounds, short timings (env QUICK=1)")
    p.add_argument("--networks", default=os.environ.get("NETWORKS"),
                   help="comma list of resnet18,resnet20,vgg11,mobilenet_v1,fashion (env NETWORKS)")
    p.add_argument("--ks", default=os.environ.get("KS"), help="densities, e.g. 9,5,3,1 (env KS)")
    p.add_argument("--threads", default=os.environ.get("THREADS", "1,2"), help="env THREADS")
    p.add_argument("--rounds", type=int, default=os.environ.get("ROUNDS"), help="env ROUNDS")
    p.add_argument("--min-time", type=float, default=os.environ.get("MIN_TIME"),
                   help="seconds per peer per round, at least (env MIN_TIME)")
    p.add_argument("--min-runs", type=int, default=int(os.environ.get("MIN_RUNS", "2")),
                   help="runs per peer per round, at least (env MIN_RUNS)")
    p.add_argument("--batch-min-runs", type=int, default=int(os.environ.get("BATCH_MIN_RUNS", "5")),
                   help="runs per peer per round at batch > 1, at least: long runs are the likeliest "
                        "to be disturbed, so they need more samples for a stable best (env BATCH_MIN_RUNS)")
    p.add_argument("--layers", action=argparse.BooleanOptionalAction,
                   default=env_flag("LAYERS", True), help="the oneDNN layer figures (env LAYERS=0)")
    p.add_argument("--scales", default=os.environ.get("SCALES", "dynamic,static"),
                   help="activation scales measured per model: dynamic (the chip's per-sample rule), "
                        "static (calibrated with `sparq calibrate` on CALIBRATION_SAMPLES random inputs, "
                        "as the ORT QDQ twin is), or both (env SCALES)")
    p.add_argument("--calibration-samples", type=int,
                   default=int(os.environ.get("CALIBRATION_SAMPLES", "8")),
                   help="inputs the static scales are calibrated on (env CALIBRATION_SAMPLES)")
    p.add_argument("--ort-driver", choices=("auto", "node", "python"), default=os.environ.get("ORT_DRIVER", "auto"),
                   help="how ONNX Runtime is driven: onnxruntime-node (ort_bench.js), the Python package "
                        "onnxruntime (ort_bench.py), or auto: node where it installs, else Python (env ORT_DRIVER)")
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=env_flag("PIN", True),
                   help="run the 1-thread measurements of round r, of every peer, on CPU r mod N "
                        "(env PIN=0 leaves them to the scheduler)")
    p.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "1")))
    p.add_argument("--reuse-models", action="store_true", default=env_flag("REUSE_MODELS"),
                   help="keep networks already generated in the work folder (env REUSE_MODELS=1)")
    p.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", str(min(2, os.cpu_count() or 1)))),
                   help="parallel model generation / import (env JOBS)")
    p.add_argument("--build", default=os.environ.get("BUILD_DIR", str(ROOT / "build" / "release")))
    p.add_argument("--work", default=os.environ.get("WORK_DIR"),
                   help="generated models (default BUILD/bench_networks)")
    p.add_argument("--out", default=os.environ.get("OUT_DIR", str(ROOT / "bench" / "results")))
    a = p.parse_args(argv)
    a.build = pathlib.Path(a.build).resolve()
    a.work = pathlib.Path(a.work).resolve() if a.work else a.build / "bench_networks"
    a.out = pathlib.Path(a.out).resolve()
    a.sparq = pathlib.Path(os.environ.get("SPARQ", str(a.build / "tools" / "cli" / "sparq")))
    a.round_cpus = None  # set by probe_cpus
    if a.networks is None:
        a.networks = "resnet20,fashion" if a.quick else "resnet18,resnet20,vgg11,mobilenet_v1,fashion"
    a.networks = [n.strip() for n in a.networks.split(",") if n.strip()]
    for n in a.networks:
        if n not in ARCHITECTURES and n != FASHION:
            p.error(f"unknown network '{n}' (known: {', '.join(list(ARCHITECTURES) + [FASHION])})")
    a.ks = [int(k) for k in (a.ks or ("1" if a.quick else "9,5,3,1")).split(",")]
    if any(k < 1 or k > 9 for k in a.ks):
        p.error("--ks: each k must be 1..9")
    a.scales = [x.strip() for x in a.scales.split(",") if x.strip()]
    if not a.scales or any(x not in ("dynamic", "static") for x in a.scales):
        p.error("--scales: a comma list of dynamic and static")
    if a.calibration_samples < 1:
        p.error("--calibration-samples must be positive")
    a.threads = [int(t) for t in a.threads.split(",")]
    a.rounds = int(a.rounds) if a.rounds is not None else (2 if a.quick else 3)
    a.min_time = float(a.min_time) if a.min_time is not None else (0.03 if a.quick else 0.1)
    if a.rounds < 1 or a.min_time < 0 or a.min_runs < 1 or a.batch_min_runs < 1 or a.jobs < 1:
        p.error("--rounds, --min-runs and --jobs must be positive, --min-time not negative")
    return a


class Progress:
    """Progress lines on stderr: elapsed time, the step, and an ETA."""

    def __init__(self):
        self.start = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.start

    def say(self, text, eta=None):
        line = f"[{format_duration(self.elapsed()):>7}] {text}"
        if eta is not None:
            line += f"  (ETA {format_duration(eta)})"
        print(line, file=sys.stderr, flush=True)


def format_duration(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def run(cmd, env=None, what=None, cpu=None):
    """Runs a command (on CPU `cpu` alone where given); its stdout, or an error naming
    the command and its stderr."""
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, preexec_fn=pin)
    if r.returncode != 0:
        raise RuntimeError(f"{what or cmd[0]} failed (exit {r.returncode}): "
                           f"{' '.join(str(c) for c in cmd)}\n{r.stderr.strip()[-2000:]}")
    return r.stdout


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line in output: {text[-500:]}")


# ---- machine facts -----------------------------------------------------------------

def cpu_facts():
    model, flags = "unknown", set()
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        model = m.group(1).strip() if m else model
        m = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        flags = set(m.group(1).split()) if m else flags
    except OSError:
        pass
    wanted = ["avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
              "amx_tile", "amx_int8", "amx_bf16"]
    return {"model": model, "cpus": os.cpu_count(),
            "flags": {f: f in flags for f in wanted}}


def probe_cpus(args, networks, progress):
    """The CPUs the rounds' 1-thread runs rotate over, with a probe of each, or None.
    The CPUs of one machine are not always alike: on a 2-vCPU cloud guest one
    ran ResNet-18 and MobileNet-v1 (sparq and ONNX Runtime alike) 1.4x slower
    than the other, and minutes later the other way round (a busy hyperthread
    sibling on the host, likely), while a network that fits the caches,
    ResNet-20, ran alike on both. Runs that landed on either made every ratio
    noisy; with round r on CPU r mod N, the peers compared within a round share
    a CPU, and each peer's best covers every CPU. The probe (the suite's
    largest sparq model on each CPU, alternately, twice) documents the
    difference at the start."""
    cpus = sorted(os.sched_getaffinity(0))
    if not args.pin or len(cpus) < 2:
        return None
    models = [v["sparq"] for net in networks.values() for v in net["variants"].values()]
    if not models:
        return None
    model = max(models, key=lambda path: pathlib.Path(path).stat().st_size)
    best = {cpu: float("inf") for cpu in cpus}
    for _ in range(2):
        for cpu in cpus:
            out = run([args.sparq, "bench", model, "--json", "--threads", 1, "--no-throughput",
                       "--no-layers", "--min-time", 0.2], what="sparq bench (CPU probe)", cpu=cpu)
            best[cpu] = min(best[cpu], json.loads(out)[0]["latency"]["best_seconds"] * 1e3)
    progress.say("CPU probe (best ms of " + pathlib.Path(model).name + "): " +
                 ", ".join(f"CPU {cpu} {ms:.3f}" for cpu, ms in best.items()) +
                 "; round r's 1-thread runs on CPU r mod " + str(len(cpus)))
    return {"cpus": cpus, "probe_model": pathlib.Path(model).name,
            "probe_best_ms": {str(cpu): ms for cpu, ms in best.items()}}


def core_to_core(args, progress, when):
    """bench/core_to_core_bench.cpp's medians (how fast the first two CPUs hand a
    buffer to each other), or None where it is missing, has one CPU or fails:
    the context of the 2-thread rows, measured before and after the networks."""
    if not any(t > 1 for t in args.threads):
        return None
    binary = args.build / "bench" / "core_to_core_bench"
    if not binary.exists():
        return None
    r = subprocess.run([str(binary)], capture_output=True, text=True)
    if r.returncode != 0:
        progress.say(f"core-to-core probe ({when}) did not run: exit {r.returncode} {r.stdout.strip()}")
        return None
    facts = last_json_line(r.stdout)
    progress.say(f"core-to-core probe ({when}): " + ", ".join(
        f"{k} {facts[k]:.1f}" for k in ("remote_read_us", "local_read_us", "shared_write_us", "local_write_us")))
    return facts


def load_average():
    try:
        return [float(x) for x in pathlib.Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def git_commit():
    """HEAD of the checkout, or SPARQ_COMMIT where the binaries were built elsewhere
    (scripts/run_bundle.sh) or the checkout has no .git."""
    if os.environ.get("SPARQ_COMMIT"):
        return {"commit": os.environ["SPARQ_COMMIT"], "dirty": False}
    try:
        commit = run(["git", "-C", ROOT, "rev-parse", "HEAD"]).strip()
        # The suite's own earlier results do not change what is measured.
        dirty = bool(run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--",
                          ".", ":(exclude)bench/results"]).strip())
        return {"commit": commit, "dirty": dirty}
    except (RuntimeError, OSError):
        return {"commit": "unknown", "dirty": False}


# ---- ONNX Runtime -------------------------------------------------------------------

def install_ort(progress):
    """NODE_PATH for ort_bench.js, or None with the reason."""
    if shutil.which("node") is None:
        return None, "node not found (install Debian's nodejs and npm)"
    try:
        out = run(["bash", ROOT / "scripts" / "install-ort.sh"], what="scripts/install-ort.sh")
    except (RuntimeError, OSError) as e:
        return None, str(e)
    modules = out.strip().splitlines()[-1]
    progress.say(f"ONNX Runtime for Node in {modules}")
    return modules, None


def python_ort():
    """The version of the Python package onnxruntime under this interpreter, or None with the reason."""
    r = subprocess.run([sys.executable, "-c", "import numpy, onnxruntime; print(onnxruntime.__version__)"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"{sys.executable} cannot import onnxruntime and numpy"
    return r.stdout.strip(), None


def find_ort(args, progress):
    """The ONNX Runtime driver: {"kind": "node", "node_path": ...} (ort_bench.js, the default) or
    {"kind": "python"} (ort_bench.py, where only the Python package exists); or None with the reason."""
    reasons = []
    if args.ort_driver in ("auto", "node"):
        node_path, why = install_ort(progress)
        if node_path:
            return {"kind": "node", "node_path": node_path}, None
        reasons.append(why)
    if args.ort_driver in ("auto", "python"):
        version, why = python_ort()
        if version:
            progress.say(f"ONNX Runtime {version} through the Python package ({sys.executable})")
            return {"kind": "python"}, None
        reasons.append(why)
    return None, "; ".join(reasons)


# ---- models -------------------------------------------------------------------------

def variants_of(arch, ks):
    """(variant id, k, sharing) per sparq model of an architecture: k=9 once."""
    if ARCHITECTURES[arch]["dense"]:
        return [("dense", 9, "random")]
    out = []
    for k in ks:
        for sharing in (["random"] if k == 9 else ["random", "shared"]):
            out.append((f"k{k}_{sharing}", k, sharing))
    return out


def inspect_model(args, path):
    """Density, sharing and ISA of a .sparq model's pruned layers (sparq inspect)."""
    j = json.loads(run([args.sparq, "inspect", "--json", path], what="sparq inspect"))
    pruned = [l for l in j["layers"] if l["op"] == "sparse_conv3x3"]
    return {
        "pruned_layers": len(pruned),
        "densities": sorted({l["density"] for l in pruned}),
        "sharing": sorted({l["sharing"] for l in pruned}),
        "cpu_kernels": sorted({l["cpu_kernel"] for l in j["layers"]}),
    }


def make_network(args, arch, k, sharing):
    """Writes the ONNX pair and the .sparq model of one variant; their facts."""
    onnx_dir, sparq_dir = args.work / "onnx", args.work / "sparq"
    cmd = [sys.executable, HERE / "make_networks.py", "--arch", arch, "--k", k,
           "--sharing", sharing, "--seed", args.seed, "--out", onnx_dir]
    key = [str(c) for c in cmd]
    sidecar = onnx_dir / f"{arch}_k{k}_{sharing}.made.json"
    made = None
    if args.reuse_models and sidecar.exists():
        cached = json.loads(sidecar.read_text())
        if cached.get("command") == key and all(pathlib.Path(cached["made"][f]).exists() for f in ("fp32", "qdq")):
            made = cached["made"]
    t0 = time.monotonic()
    if made is None:
        made = last_json_line(run(cmd, what="make_networks.py"))
        sidecar.write_text(json.dumps({"command": key, "made": made}))
    t_make = time.monotonic() - t0
    sparq_path = sparq_dir / (made["name"] + ".sparq")
    t0 = time.monotonic()
    run([args.sparq, "import", made["fp32"], "--quantize", "w4a8", "-o", sparq_path,
         "--name", made["name"]], what="sparq import")
    t_import = time.monotonic() - t0
    return {
        "name": made["name"], "k": k, "sharing": sharing,
        "input_shape": made.get("input_shape"), "classes": made.get("classes"),
        "made_pruned_layers": made.get("pruned_layers"),
        "fp32": made["fp32"], "qdq": made["qdq"], "sparq": str(sparq_path),
        "bytes": {"sparq": sparq_path.stat().st_size,
                  "onnx_fp32": pathlib.Path(made["fp32"]).stat().st_size,
                  "onnx_qdq": pathlib.Path(made["qdq"]).stat().st_size},
        "inspect": inspect_model(args, sparq_path),
        "seconds": {"make": t_make, "import": t_import},
    }


def static_twin(args, v):
    """The variant `v` with static activation scales: `sparq calibrate` on seeded
    random inputs (the ORT QDQ twin is calibrated the same way, MinMax)."""
    src = pathlib.Path(v["sparq"])
    path = args.work / "sparq" / (src.stem + "_static.sparq")
    t0 = time.monotonic()
    run([args.sparq, "calibrate", src, "-o", path, "--random", args.calibration_samples,
         "--seed", args.seed], what="sparq calibrate")
    twin = dict(v, scales="static", sparq=str(path), name=v["name"] + "_static",
                bytes=dict(v["bytes"], sparq=path.stat().st_size),
                seconds=dict(v.get("seconds", {}), calibrate=time.monotonic() - t0))
    return twin


def with_scales(args, vid, v):
    """{variant id: variant} for each requested kind of activation scales."""
    out = {}
    if "dynamic" in args.scales:
        out[vid] = dict(v, scales="dynamic")
    if "static" in args.scales:
        out[vid + "_static"] = static_twin(args, v)
    return out


def fashion_variants(args):
    out = []
    for path in sorted((ROOT / "examples" / "models").glob("*.sparq")):
        facts = inspect_model(args, path)
        out.append({"name": path.stem, "sparq": str(path), "bytes": {"sparq": path.stat().st_size},
                    "inspect": facts, "k": facts["densities"][0] if len(facts["densities"]) == 1 else None,
                    "sharing": "shared" if any(s not in ("none", "") for s in facts["sharing"]) else "random"})
    if args.quick:
        out = [v for v in out if "shared" in v["name"]][:1] or out[:1]
    return out


def prepare_networks(args, progress):
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "onnx").mkdir(exist_ok=True)
    (args.work / "sparq").mkdir(exist_ok=True)
    jobs = [(arch, k, sharing, vid) for arch in args.networks if arch in ARCHITECTURES
            for vid, k, sharing in variants_of(arch, args.ks)]
    networks = {arch: {"name": arch, "display": ARCHITECTURES[arch]["display"], "onnx": True,
                       "batches": ARCHITECTURES[arch]["batches"], "variants": {}}
                for arch in args.networks if arch in ARCHITECTURES}
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(lambda *a: with_scales(args, a[-1], make_network(args, *a[:-1])),
                               arch, k, sharing, vid): (arch, vid)
                   for arch, k, sharing, vid in jobs}
        for done, f in enumerate(concurrent.futures.as_completed(futures), 1):
            arch, vid = futures[f]
            made = f.result()
            networks[arch]["variants"].update(made)
            v = next(iter(made.values()))
            spent = time.monotonic() - start
            progress.say(f"model {done}/{len(jobs)} {v['name']}: made in {v['seconds']['make']:.1f} s, "
                         f"imported in {v['seconds']['import']:.1f} s",
                         eta=spent / done * (len(jobs) - done))
    for net in networks.values():  # keep the variants in the order of variants_of
        order = [vid + suffix for vid, _, _ in variants_of(net["name"], args.ks)
                 for suffix in ("", "_static")]
        net["variants"] = {vid: net["variants"][vid] for vid in order if vid in net["variants"]}
        first = next(iter(net["variants"].values()))
        net["input_shape"], net["classes"] = first["input_shape"], first["classes"]
    if FASHION in args.networks:
        vs = [t for v in fashion_variants(args) for t in with_scales(args, v["name"], v).values()]
        networks[FASHION] = {"name": FASHION, "display": "Fashion-MNIST CNN (shipped models)",
                             "onnx": False, "batches": FASHION_BATCHES, "input_shape": [1, 28, 28],
                             "classes": 10, "variants": {v["name"]: v for v in vs}}
    return networks


# ---- one measurement ----------------------------------------------------------------

def min_runs(args, batch):
    return args.min_runs if batch == 1 else max(args.min_runs, args.batch_min_runs)


def pinned_cpu(args, threads, rnd):
    """The CPU a measurement at `threads` threads in round `rnd` runs on, or None
    (the scheduler's choice)."""
    if threads != 1 or not args.round_cpus:
        return None
    return args.round_cpus[rnd % len(args.round_cpus)]


def bench_sparq(args, model, batch, threads, cpu=None, distinct_inputs=1, layers=True):
    """One `sparq bench` call: run times in ms (whole batch) and, at batch 1, the layers."""
    cmd = [args.sparq, "bench", model, "--json", "--threads", threads, "--min-time", args.min_time]
    if batch == 1:
        cmd += ["--no-throughput", "--min-runs", args.min_runs, "--distinct-inputs", distinct_inputs]
        if not layers:
            cmd.append("--no-layers")
    else:
        cmd += ["--no-latency", "--batch", batch, "--batch-min-runs", min_runs(args, batch)]
    r = json.loads(run(cmd, what="sparq bench", cpu=cpu))[0]
    part = r["latency"] if batch == 1 else r["throughput"]
    return {"runs_ms": [s * 1e3 for s in part["runs_seconds"]], "layers": r.get("layers") or None,
            "thread_busy_ms": [s * 1e3 for s in r.get("thread_busy_median_seconds", [])]}


def ort_spinning_settings(threads):
    """ORT's intra-op workers spin by default, which is fastest on idle cores but
    slower when other processes share them: at T > 1 both are measured and the
    faster kept, as for oneDNN's OpenMP wait policies (no peer handicapped)."""
    return (1, 0) if threads > 1 else (1,)


def bench_ort(args, ort, model, batch, threads, spinning=1, cpu=None):
    flags = ["--model", model, "--batch", batch, "--threads", threads, "--min-time", args.min_time,
             "--min-runs", min_runs(args, batch), "--warmup", 1, "--spinning", spinning]
    if ort["kind"] == "node":
        cmd, env = ["node", HERE / "ort_bench.js"] + flags, dict(os.environ, NODE_PATH=ort["node_path"])
    else:
        cmd, env = [sys.executable, HERE / "ort_bench.py"] + flags, None
    r = last_json_line(run(cmd, env=env, what=pathlib.Path(cmd[1]).name, cpu=cpu))
    return {"runs_ms": r["runs_ms"], "version": r.get("version")}


def summarize_runs(runs_ms, batch):
    best, median = min(runs_ms), statistics.median(runs_ms)
    return {"runs": len(runs_ms), "best_ms": best, "median_ms": median,
            "per_image_best_ms": best / batch, "per_image_median_ms": median / batch}


def pool_layers(rounds):
    """Per layer: the median over rounds of each round's median, and the best."""
    rounds = [r for r in rounds if r]
    if not rounds:
        return None
    out = []
    for i, layer in enumerate(rounds[0]):
        out.append({key: layer[key] for key in ("name", "op", "kernel", "dense_macs", "actual_macs")})
        out[-1]["median_seconds"] = statistics.median(r[i]["median_seconds"] for r in rounds)
        out[-1]["best_seconds"] = min(r[i]["best_seconds"] for r in rounds)
    return out


def pool_thread_busy(rounds):
    """Per thread: the median over rounds of each round's median busy time (ms), or
    None where no round measured it (one thread, or a batch)."""
    rounds = [r for r in rounds if r]
    if not rounds:
        return None
    threads = min(len(r) for r in rounds)
    return [statistics.median(r[t] for r in rounds) for t in range(threads)]


def measurement_plan(args, networks, ort):
    """Cells (network, batch, threads), each with its peers."""
    cells = []
    for net in networks.values():
        for batch in net["batches"]:
            for threads in args.threads:
                peers = [("sparq", vid) for vid in net["variants"]]
                if net["onnx"] and ort:
                    peers += [("ort_int8", None), ("ort_fp32", None)]
                cells.append((net, batch, threads, peers))
    return cells


def measure_networks(args, networks, ort, progress, after_cell=lambda: None):
    """Every cell of the plan, calling after_cell() once each is measured."""
    cells = measurement_plan(args, networks, ort)
    total = sum(len(peers) for _, _, _, peers in cells) * args.rounds
    done, start, ort_version = 0, time.monotonic(), None
    for net, batch, threads, peers in cells:
        runs = {p: [] for p in peers}
        layers = {p: [] for p in peers}
        busy = {p: [] for p in peers}
        ort_runs = {p: {s: [] for s in ort_spinning_settings(threads)} for p in peers if p[0] != "sparq"}
        # The ORT peers are dense: the k=9 (or dense) export serves every k.
        dense = next(iter(net["variants"].values()))
        for rnd in range(args.rounds):
            shift = rnd % len(peers)
            for peer in peers[shift:] + peers[:shift]:
                kind, vid = peer
                if kind == "sparq":
                    r = bench_sparq(args, net["variants"][vid]["sparq"], batch, threads,
                                    pinned_cpu(args, threads, rnd))
                    layers[peer].append(r["layers"])
                    busy[peer].append(r["thread_busy_ms"])
                else:
                    model = dense["qdq" if kind == "ort_int8" else "fp32"]
                    for spinning in ort_spinning_settings(threads):
                        r = bench_ort(args, ort, model, batch, threads, spinning,
                                      pinned_cpu(args, threads, rnd))
                        ort_runs[peer][spinning] += r["runs_ms"]
                    ort_version = r["version"] or ort_version
                if kind == "sparq":
                    runs[peer] += r["runs_ms"]
                done += 1
                spent = time.monotonic() - start
                progress.say(f"{done}/{total} {net['name']} b{batch} t{threads} round {rnd + 1}/{args.rounds} "
                             f"{kind}{' ' + vid if vid else ''}: {min(r['runs_ms']) / batch:.3f} ms/image",
                             eta=spent / done * (total - done))
        for peer in peers:
            kind, vid = peer
            extra = {}
            if kind != "sparq":
                spinning = min(ort_runs[peer], key=lambda s: min(ort_runs[peer][s]))
                runs[peer] = ort_runs[peer][spinning]
                extra = {"ort_spinning": spinning}
            entry = {"peer": kind, "variant": vid, "batch": batch, "threads": threads, **extra,
                     "runs_ms": [round(x, 4) for x in runs[peer]], **summarize_runs(runs[peer], batch)}
            if kind == "sparq":
                v = net["variants"][vid]
                entry.update(k=v["k"], sharing=v["sharing"], scales=v.get("scales", "dynamic"))
                pooled = pool_layers(layers[peer])
                if pooled:
                    entry["layers"] = pooled
                pooled_busy = pool_thread_busy(busy[peer])
                if pooled_busy:
                    entry["thread_busy_ms"] = [round(x, 4) for x in pooled_busy]
            net.setdefault("results", []).append(entry)
        after_cell()
    return ort_version


# Batch 1 re-runs one input, which stays in the cache; a batch reads each of
# its images from memory. For ResNet-18's breakdown variants at 1 thread,
# interleaved in one window: batch 1 on one input, batch 1 on 16 inputs in
# turn, batch 16.
INPUT_VARIANTS = ("k9_random", "k1_shared", "k1_shared_static")
DISTINCT_INPUTS = 16


def measure_fresh_inputs(args, networks, progress):
    net = networks.get("resnet18")
    if not net:
        return None
    kinds = (("one_input", 1, 1), ("distinct_inputs", 1, DISTINCT_INPUTS), ("batch16", 16, 1))
    out = {}
    for vid in (v for v in INPUT_VARIANTS if v in net["variants"]):
        runs = {kind: [] for kind, _, _ in kinds}
        for rnd in range(args.rounds):
            shift = rnd % len(kinds)
            for kind, batch, inputs in kinds[shift:] + kinds[:shift]:
                r = bench_sparq(args, net["variants"][vid]["sparq"], batch, 1,
                                pinned_cpu(args, 1, rnd), distinct_inputs=inputs, layers=False)
                runs[kind] += [x / batch for x in r["runs_ms"]]
        out[vid] = {kind: {"best_ms": min(v), "median_ms": statistics.median(v)}
                    for kind, v in runs.items()}
        progress.say(f"fresh inputs, resnet18 {vid}: " + ", ".join(
            f"{kind} {v['best_ms']:.3f}" for kind, v in out[vid].items()) + " ms/image best")
    return {"distinct_inputs": DISTINCT_INPUTS, "variants": out}


# Two threads against where the host put the two CPUs: on a virtual machine
# the host may run them on cores that share a last-level cache or on cores
# that do not (other CCDs or sockets), and may move them within minutes. A
# sample split over two threads hands data between the cores at every layer,
# so batch 1 on 2 threads follows the placement. A placement round: the
# core-to-core probe, then ResNet-18 at batch 1 on 1 and 2 threads, so that
# the round's speed-up sits next to the probe taken just before it; the
# networks phase runs one after each of its cells, so the rounds sample the
# whole run rather than one minute of it.
PLACEMENT_VARIANTS = ("k1_shared", "k9_random")


def thread_placement_round(args, networks, rnd, progress):
    """One placement round, or None (no ResNet-18, not both 1 and 2 threads, or no probe)."""
    net = networks.get("resnet18")
    if not net or 1 not in args.threads or 2 not in args.threads:
        return None
    probe = core_to_core(args, progress, f"placement round {rnd + 1}")
    if probe is None:
        return None
    best = {}
    for vid in (v for v in PLACEMENT_VARIANTS if v in net["variants"]):
        model = net["variants"][vid]["sparq"]
        one = bench_sparq(args, model, 1, 1, pinned_cpu(args, 1, rnd), layers=False)
        two = bench_sparq(args, model, 1, 2, layers=False)
        best[vid] = {"t1_best_ms": min(one["runs_ms"]), "t2_best_ms": min(two["runs_ms"])}
    progress.say(f"placement round {rnd + 1}: " + ", ".join(
        f"{vid} {b['t1_best_ms'] / b['t2_best_ms']:.2f}x on 2 threads" for vid, b in best.items()))
    return {"probe": probe, "variants": best}


# ---- the layer benchmarks against oneDNN --------------------------------------------

def google_benchmark(binary, filt, args, env=None, cpu=None):
    """One Google Benchmark process: per benchmark, every repetition's time in us and the label."""
    reps = 3 if args.quick else 5
    out = run([binary, f"--benchmark_filter={filt}", f"--benchmark_repetitions={reps}",
               f"--benchmark_min_time={0.01 if args.quick else 0.03}",
               "--benchmark_enable_random_interleaving=true", "--benchmark_format=json"],
              env=env, what=pathlib.Path(binary).name, cpu=cpu)
    result = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
        name = b["run_name"].removesuffix("/real_time")
        e = result.setdefault(name, {"label": b.get("label", ""), "us": []})
        e["us"].append(b["real_time"] * scale)
    return result


def measure_layers(args, progress):
    dense_bin = args.build / "bench" / "dense_ops_bench"
    sparse_bin = args.build / "bench" / "sparse_conv_bench"
    for b in (dense_bin, sparse_bin):
        if not b.exists():
            raise RuntimeError(f"{b} missing: build the bench targets (ninja dense_ops_bench sparse_conv_bench)")
    # Each library at its own best settings, and both under the same machine
    # conditions. At 1 thread oneDNN has no OpenMP workers, so its 3x3 rows
    # and sparq's share one process and Google Benchmark interleaves them.
    # At 2 threads they run in separate processes, alternated round by round,
    # so that neither library's idle workers steal the other's second core;
    # oneDNN runs once under OpenMP's default (spinning) wait policy and once
    # under a passive one, and each row keeps the faster: spinning is best on
    # an idle machine, while on a loaded one a spinning worker whose core is
    # taken stalls every barrier.
    default_env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    policies = {"default": default_env, "PASSIVE": dict(default_env, OMP_WAIT_POLICY="PASSIVE")}
    rounds = 1 if args.quick else 3
    dense, sparse_t1, sparse_sparq = {}, {}, {}
    sparse_onednn = {policy: {} for policy in policies}
    shapes = "r18_64x56" if args.quick else SPARSE_LAYER_FILTER + "[0-9x]+"
    variants = "(" + "|".join(SPARSE_LAYER_VARIANTS) + ")"
    steps = [("dense layers", dense_bin, "sparq_cpu_int|onednn_int8|sparq_pool|onednn_pool|sparq_pack", default_env,
              dense, 1),
             ("3x3, 1 thread", sparse_bin, f"onednn_int8/{shapes}/t1/|sparq/{shapes}/{variants}/t1/",
              default_env, sparse_t1, 1)]
    steps += [(f"oneDNN 3x3, 2 threads, wait policy {policy}", sparse_bin, f"onednn_int8/{shapes}/t2/", env,
               sparse_onednn[policy], 2) for policy, env in policies.items()]
    steps += [("sparq 3x3, 2 threads", sparse_bin, f"sparq/{shapes}/{variants}/t2/", default_env, sparse_sparq,
               2)]
    start, total = time.monotonic(), rounds * len(steps)
    for rnd in range(rounds):
        for i, (name, binary, filt, env, into, threads) in enumerate(steps):
            for key, e in google_benchmark(binary, filt, args, env, pinned_cpu(args, threads, rnd)).items():
                into.setdefault(key, {"label": e["label"], "us": []})["us"] += e["us"]
            done = rnd * len(steps) + i + 1
            progress.say(f"layers round {rnd + 1}/{rounds}: {name}",
                         eta=(time.monotonic() - start) / done * (total - done))

    def summarize(d, **extra):
        return {k: {"label": v["label"], "us": [round(x, 2) for x in v["us"]], "best_us": min(v["us"]),
                    "median_us": statistics.median(v["us"]), **extra} for k, v in d.items()}

    sparse = {**summarize(sparse_t1), **summarize(sparse_sparq)}
    for policy in policies:
        for key, e in summarize(sparse_onednn[policy], omp_wait_policy=policy).items():
            if key not in sparse or e["best_us"] < sparse[key]["best_us"]:
                sparse[key] = e
    return {"dense_ops": summarize(dense), "sparse_conv": sparse,
            "settings": {
                "dense_ops": "bench/dense_ops_bench, sparq and oneDNN interleaved in one process, "
                             "1 thread each (oneDNN: omp_set_num_threads(1)); each convolution "
                             "twice, both libraries writing f32 (what the dynamic rule's next "
                             "quantize reads) and both writing u8 (a static output scale: "
                             "sparq's fused quantize, oneDNN's output scale); pools on f32 "
                             "and u8 against oneDNN's pooling of the same dtype; oneDNN's input "
                             "is reordered to its own layout outside the timed loop",
                "sparse_conv": "bench/sparse_conv_bench; 1 thread: oneDNN int8 and sparq interleaved in "
                               "one process; 2 threads: separate processes alternated over the rounds, "
                               "oneDNN (omp_set_num_threads(2)) under OpenMP's default and under a passive "
                               "wait policy, the faster kept per row; sparq: a oneTBB arena of T threads",
                "rounds": rounds}}


# ---- main ---------------------------------------------------------------------------

def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    progress = Progress()
    if not args.sparq.exists():
        sys.exit(f"run_suite.py: {args.sparq} missing: build sparq_cli first")
    raw = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    **git_commit(), "cpu": cpu_facts(), "load_before": load_average(),
                    "quick": args.quick,
                    # The command a reader reruns to reproduce the report.
                    "command": os.environ.get("SPARQ_SUITE_COMMAND", "scripts/bench_networks.sh"),
                    "settings": {"rounds": args.rounds, "min_time_s": args.min_time,
                                 "min_runs": args.min_runs, "batch_min_runs": args.batch_min_runs,
                                 "threads": args.threads, "ks": args.ks,
                                 "seed": args.seed, "networks": args.networks,
                                 "nice": os.getpriority(os.PRIO_PROCESS, 0)},
                    "phases_s": {}}}
    progress.say(f"sparq end-to-end suite{' (QUICK)' if args.quick else ''}: {', '.join(args.networks)}; "
                 f"k {args.ks}; threads {args.threads}; {args.rounds} rounds of >= {args.min_time} s")
    ort = None
    if any(n in ARCHITECTURES for n in args.networks):
        ort, why = find_ort(args, progress)
        if why:
            progress.say(f"ONNX Runtime not available, sparq only: {why}")
            raw["meta"]["ort_missing"] = why
        else:
            raw["meta"]["ort_driver"] = ort["kind"]
    t = time.monotonic()
    networks = prepare_networks(args, progress)
    raw["meta"]["phases_s"]["models"] = time.monotonic() - t
    pinning = probe_cpus(args, networks, progress)
    args.round_cpus = pinning["cpus"] if pinning else None
    raw["meta"]["pinning"] = pinning
    raw["meta"]["core_to_core"] = {"before": core_to_core(args, progress, "before")}
    if args.layers:
        t = time.monotonic()
        raw["layers"] = measure_layers(args, progress)
        raw["meta"]["phases_s"]["layers"] = time.monotonic() - t
    t = time.monotonic()
    placement, placement_s = [], [0.0]

    def placement_round():
        start = time.monotonic()
        r = thread_placement_round(args, networks, len(placement), progress)
        if r:
            placement.append(r)
        placement_s[0] += time.monotonic() - start

    raw["meta"]["ort_version"] = measure_networks(args, networks, ort, progress, placement_round)
    raw["meta"]["phases_s"]["networks"] = time.monotonic() - t - placement_s[0]
    raw["meta"]["phases_s"]["placement rounds"] = placement_s[0]
    raw["thread_placement"] = {"rounds": placement} if placement else None
    if 1 in args.threads:
        t = time.monotonic()
        raw["fresh_inputs"] = measure_fresh_inputs(args, networks, progress)
        raw["meta"]["phases_s"]["fresh inputs"] = time.monotonic() - t
    raw["networks"] = list(networks.values())
    raw["meta"]["core_to_core"]["after"] = core_to_core(args, progress, "after")
    raw["meta"]["load_after"] = load_average()
    raw["meta"]["wall_s"] = progress.elapsed()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "raw.json").write_text(json.dumps(raw, indent=1) + "\n")
    report.write(raw, args.out)
    progress.say(f"wrote {args.out / 'REPORT.md'}, {args.out / 'speedup_vs_density.svg'}, "
                 f"{args.out / 'raw.json'} in {format_duration(progress.elapsed())}")


if __name__ == "__main__":
    main()
