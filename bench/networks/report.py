#!/usr/bin/env python3
"""REPORT.md and speedup_vs_density.svg from the suite's raw.json.

    /usr/bin/python3 bench/networks/report.py RAW.json [OUT_DIR]

run_suite.py calls write() at the end of a run; running this file on its own
re-renders a report from a kept raw.json. Every ratio is a speed-up: the
peer's best time per image divided by sparq's (> 1: sparq is faster).
Standard library only.
"""

import json
import pathlib
import re
import statistics
import sys
from xml.sax.saxutils import escape

PEER_NAMES = {"ort_int8": "ORT int8 (static QDQ)", "ort_fp32": "ORT fp32"}
TARGETS = {  # the targets
    "r18_k1_shared": 3.5, "r18_k9": 1.1, "two_threads": 1.7, "mobilenet": 1.0, "dense_layer": 0.9,
}
# What a dense layer writes, and the two dense_ops_bench rows that write it:
# sparq's and oneDNN's int8 layer. A dynamic-rule network's layers write f32
# (the next quantize reads it), a static-scale network's u8.
DENSE_OUTPUTS = {"f32": ("sparq_cpu_int", "onednn_int8_f32out"),
                 "u8": ("sparq_cpu_int_u8out", "onednn_int8")}
DENSE_LAYERS = [  # dense_ops_bench shape -> what the issue calls it, the outputs measured
    ("first_layer_3x224_7x7s2", "stem 7x7 s2, 3 -> 64 at 224x224", ("f32", "u8")),
    ("1x1_256x14", "1x1, 256 -> 256 at 14x14", ("f32", "u8")),
    ("1x1s2_64x56", "1x1 s2 (downsample), 64 -> 128 at 56x56", ("f32", "u8")),
    ("1x1_32x112", "1x1, 32 -> 64 at 112x112 (MobileNet-v1 block 1)", ("f32", "u8")),
    ("depthwise3x3_256x28", "depthwise 3x3, 256 ch at 28x28", ("f32", "u8")),
    ("depthwise3x3s2_64x112_w8", "depthwise 3x3 s2, 64 ch at 112x112, 8-bit weights (MobileNet-v1)",
     ("f32", "u8")),
    ("depthwise3x3_512x14_w8", "depthwise 3x3, 512 ch at 14x14, 8-bit weights (MobileNet-v1)",
     ("f32", "u8")),
    ("fc_512x1000", "fully connected 512 -> 1000", ("f32",)),  # logits
]
# Pooling reads and writes one dtype, against oneDNN's pooling of that dtype.
POOL_OUTPUTS = {"f32": ("sparq_pool_f32", "onednn_pool_f32"), "u8": ("sparq_pool_u8", "onednn_pool_u8")}
POOL_LAYERS = [
    ("maxpool3x3s2_64x112", "max pool 3x3 s2, 64 ch at 112x112 (ResNet-18)", ("f32", "u8")),
    ("maxpool2x2_64x32", "max pool 2x2 s2, 64 ch at 32x32 (VGG-11)", ("f32", "u8")),
    ("global_avg_pool_512x7", "global average pool, 512 ch at 7x7 (ResNet-18)", ("f32",)),
    ("global_avg_pool_1024x7", "global average pool, 1024 ch at 7x7 (MobileNet-v1)", ("f32",)),
]


def dense_pair(dense, shape, output, outputs=DENSE_OUTPUTS):
    """(sparq, oneDNN) entries of `shape` writing `output` (f32 / u8), None where not measured."""
    sparq_name, onednn_name = outputs[output]
    return dense.get(f"{sparq_name}/{shape}"), dense.get(f"{onednn_name}/{shape}")


def dense_and_pool_layers():
    """(shape, what, output, {output: (sparq, oneDNN) name prefixes}, the oneDNN peer's name) of
    every layer compared with oneDNN: the convolutions and the classifier against its int8
    layers, the pools against its pooling of their own dtype."""
    for shape, what, kinds in DENSE_LAYERS:
        for kind in kinds:
            yield shape, what, kind, DENSE_OUTPUTS, "oneDNN int8"
    for shape, what, kinds in POOL_LAYERS:
        for kind in kinds:
            yield shape, what, kind, POOL_OUTPUTS, f"oneDNN {kind} pooling"


SPARSE_LAYERS = ["r18_64x56", "r18_128x28", "r18_256x14", "r18_512x7"]
TOP_LAYERS = 10
# The ResNet-18 variants with a per-layer breakdown (those measured).
BREAKDOWN_VARIANTS = ("k9_random", "k1_shared", "k1_shared_static")


# ---- lookups ------------------------------------------------------------------------

def find(net, peer, variant, batch, threads):
    for r in net.get("results", []):
        if (r["peer"] == peer and r["batch"] == batch and r["threads"] == threads
                and (peer != "sparq" or r["variant"] == variant)):
            return r
    return None


def speedup(net, variant, batch, threads, peer):
    """The peer's best time per image / sparq's, or None when either is missing."""
    s, p = find(net, "sparq", variant, batch, threads), find(net, peer, None, batch, threads)
    if not s or not p:
        return None
    return p["per_image_best_ms"] / s["per_image_best_ms"]


def cells(net, threads):
    return [(b, t) for b in net["batches"] for t in threads]


def variant_label(vid, v):
    static = v.get("scales") == "static"
    suffix = ", static scales" if static else ""
    if vid.startswith("dense"):
        return f"sparq w4a8 (dense){suffix}"
    if v.get("k") is not None and vid.startswith("k"):
        return f"sparq k{v['k']} {v['sharing']}{suffix}"
    return f"sparq {vid.removesuffix('_static') if static else vid}{suffix}"


def ms(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def verdict(value, target):
    if value is None:
        return "not measured"
    if value >= target:
        return "met"
    return f"missed by {100 * (1 - value / target):.0f} %"


def numeric(cell):
    return bool(re.match(r"^(-|>?=? ?[0-9][0-9.,]*)( |x|$)", str(cell)))


def table(header, rows):
    """A Markdown table; columns of figures are right-aligned."""
    right = [i > 0 and all(numeric(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---- header -------------------------------------------------------------------------

def kernel_isas(raw):
    """Per op, the ISA suffixes (kernel name after '__') the CPU backend chose."""
    by_op = {}
    for net in raw["networks"]:
        for r in net.get("results", []):
            for layer in r.get("layers") or []:
                if "__" in layer["kernel"]:
                    by_op.setdefault(layer["op"], set()).add(layer["kernel"].rsplit("__", 1)[1])
    return {op: sorted(isas) for op, isas in sorted(by_op.items())}


def busy_note(meta, cpus):
    """Whether the 1-minute load said other work shared the cores."""
    loads = [la[0] for la in (meta.get("load_before"), meta.get("load_after")) if la]
    if loads and max(loads) >= cpus:
        return " (at or above the CPU count: other processes competed for the cores)"
    return ""


def header(raw):
    m = raw["meta"]
    cpu = m["cpu"]
    flags = ", ".join(f"{f} {'yes' if on else 'no'}" for f, on in cpu["flags"].items())
    isas = kernel_isas(raw)
    has_amx = cpu["flags"].get("amx_tile", False)
    load = lambda la: "unknown" if not la else " / ".join(f"{x:.2f}" for x in la)  # noqa: E731
    s = m["settings"]
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in m.get("phases_s", {}).items())
    lines = [
        "# sparq end to end: whole networks against ONNX Runtime, layers against oneDNN",
        "",
        f"Generated by `{m.get('command') or 'scripts/bench_networks.sh'}`{' with QUICK=1 (smoke run: not a full result)' if m.get('quick') else ''}"
        f" on {m['date']}, commit `{m['commit']}`{' with uncommitted changes' if m.get('dirty') else ''}; "
        f"wall time {m.get('wall_s', 0) / 60:.1f} min ({phases}). Raw data: [raw.json](raw.json).",
        "",
        f"- CPU: {cpu['model']}, {cpu['cpus']} logical CPUs. ISA flags: {flags}.",
        "- sparq kernels chosen (ISA suffix of the kernel names, per op): "
        + ("; ".join(f"{op} {'/'.join(v)}" for op, v in isas.items()) or "none recorded") + ".",
        "- " + ("AMX: the CPU has AMX (amx_tile); the kernel names above say whether sparq used it."
                if has_amx else "AMX not run: no AMX on this CPU."),
        f"- Load average (1/5/15 min): {load(m.get('load_before'))} before, {load(m.get('load_after'))} after"
        f"{busy_note(m, cpu['cpus'])}. Process niceness {s.get('nice', 0)}.",
        f"- Threads: {', '.join(map(str, s['threads']))}. sparq: `sparq bench` (Session::run, f32 image in, "
        "logits out) with a oneTBB arena of T threads. "
        f"ONNX Runtime {m.get('ort_version') or '(not run)'} CPU provider through "
        + ("its Python package (`bench/networks/ort_bench.py`)" if m.get("ort_driver") == "python"
           else "onnxruntime-node (`bench/networks/ort_bench.js`)")
        + ": intra-op T threads with spinning workers (its default; at T > 1 "
        "also with sleeping workers, the faster kept per row), "
        "inter-op 1, sequential, graph optimization 'all', f32 input of the same shape.",
        f"- Method: for each network, batch and thread count, {s['rounds']} rounds; each round runs every "
        f"sparq variant and both ORT models once (rotated order), each for at least {s['min_time_s']} s and "
        f"{s['min_runs']} runs ({s.get('batch_min_runs', s['min_runs'])} at batch > 1) after a warm-up run, in a fresh process. Best and median are over the runs of "
        "all rounds, in ms per image (a batch run's time / batch). Speed-ups compare best times per image.",
    ]
    lines.append("- " + pinning_note(m.get("pinning")))
    between = core_to_core_note(m.get("core_to_core"))
    if between:
        lines.append("- " + between)
    if m.get("ort_missing"):
        lines.append(f"- ONNX Runtime did not run: {m['ort_missing']}")
    return "\n".join(lines)


def pinning_note(pinning):
    """Where the 1-thread runs ran: rotated over the CPUs round by round, or the scheduler's choice."""
    if not pinning:
        return ("CPU placement: the scheduler's (not pinned); on a machine whose CPUs differ in speed, "
                "1-thread ratios carry that noise.")
    cpus = pinning["cpus"]
    probe = ", ".join(f"CPU {cpu} {ms:.3f} ms" for cpu, ms in pinning["probe_best_ms"].items())
    return (f"CPU placement: round r's 1-thread runs (every peer's: sparq, ONNX Runtime, and the oneDNN "
            f"layer benchmarks) on CPU r mod {len(cpus)} of CPUs {', '.join(map(str, cpus))}, so the peers "
            f"compared within a round share a CPU and each peer's best covers every CPU; 2-thread runs on any "
            f"CPU. A probe at the start ({pinning['probe_model']} at 1 thread, best of two alternated runs "
            f"per CPU): {probe}.")


def core_to_core_note(probe):
    """What bench/core_to_core_bench.cpp measured before and after the networks, or None."""
    runs = [(when, f) for when, f in (probe or {}).items() if f]
    if not runs:
        return None
    first = runs[0][1]
    parts = [f"{f['remote_read_us'] / f['local_read_us']:.1f}x ({f['remote_read_us']:.1f} / "
             f"{f['local_read_us']:.1f} us) and {f['shared_write_us'] / f['local_write_us']:.1f}x "
             f"({f['shared_write_us']:.1f} / {f['local_write_us']:.1f} us) {when} the networks"
             for when, f in runs]
    return (f"Between CPUs {first['cpus'][0]} and {first['cpus'][1]} (`bench/core_to_core_bench.cpp`, a "
            f"{first['kib']} KiB buffer, medians of {first['reps']}): reading what the other CPU wrote "
            f"against reading what this CPU wrote, and writing lines both CPUs hold against lines only "
            f"this CPU holds: " + "; ".join(parts) + ". A sample split over two threads does both at "
            f"every layer boundary, so the batch-1 rows on 2 threads move with these ratios.")


def network_section(net, threads):
    shape = "x".join(str(d) for d in net.get("input_shape") or [])
    out = [f"## {net['display']} ({shape} input, {net.get('classes')} classes)", ""]
    if not net["onnx"]:
        out += ["No ONNX model exists for these shipped models (they were trained and exported by "
                "sparq-train straight to .sparq), so there is no ONNX Runtime peer: sparq only.", ""]
    cs = cells(net, threads)
    col = [f"b{b} t{t}" for b, t in cs]
    rows = []
    for vid, v in net["variants"].items():
        rows.append([variant_label(vid, v)] + [
            f"{ms(r['per_image_best_ms'])} / {ms(r['per_image_median_ms'])}" if r else "-"
            for r in (find(net, "sparq", vid, b, t) for b, t in cs)])
    for peer in ("ort_int8", "ort_fp32"):
        found = [find(net, peer, None, b, t) for b, t in cs]
        if any(found):
            rows.append([PEER_NAMES[peer]] + [
                f"{ms(r['per_image_best_ms'])} / {ms(r['per_image_median_ms'])}" if r else "-" for r in found])
    out += ["Milliseconds per image, best / median (b = batch, t = threads):", "",
            table(["config"] + col, rows), ""]
    if net["onnx"] and any(r["peer"] != "sparq" for r in net.get("results", [])):
        rows = [[variant_label(vid, v)] + [
            f"{ratio(speedup(net, vid, b, t, 'ort_int8'))} / {ratio(speedup(net, vid, b, t, 'ort_fp32'))}"
            for b, t in cs] for vid, v in net["variants"].items()]
        out += ["Speed-up of sparq, best time per image: vs ORT int8 / vs ORT fp32 (> 1: sparq faster):", "",
                table(["config"] + col, rows), ""]
    size_rows = []
    for vid, v in net["variants"].items():
        b = v["bytes"]
        size_rows.append([variant_label(vid, v), f"{b['sparq']:,}",
                          f"{b['onnx_fp32']:,}" if "onnx_fp32" in b else "-",
                          f"{b['onnx_qdq']:,}" if "onnx_qdq" in b else "-", as_imported(v)])
    out += ["Model files (bytes; the ONNX files of a pruned variant store its zeros), and the pruned "
            "3x3 layers as sparq sees them (`sparq inspect`):", "",
            table(["model", ".sparq", "ONNX fp32", "ONNX QDQ int8", "sparq's sparse 3x3 layers"], size_rows), ""]
    return "\n".join(out)


def as_imported(v):
    """'16 layers, k 1, sharing 16x4' from the model's `sparq inspect` facts."""
    facts = v.get("inspect")
    if not facts:
        return "-"
    if not facts["pruned_layers"]:
        return "none (dense model)"
    k = "/".join(str(d) for d in facts["densities"])
    return f"{facts['pruned_layers']} layers, k {k}, sharing {'/'.join(facts['sharing'])}"


# ---- per-layer breakdown ------------------------------------------------------------

def time_by_op(layers):
    """{op: [layers, summed median seconds]}."""
    by_op = {}
    for l in layers:
        e = by_op.setdefault(l["op"], [0, 0.0])
        e[0] += 1
        e[1] += l["median_seconds"]
    return by_op


def breakdown(net, vid):
    r = find(net, "sparq", vid, 1, 1)
    if not r or not r.get("layers"):
        return None
    layers = r["layers"]
    total = sum(l["median_seconds"] for l in layers)
    top = sorted(layers, key=lambda l: -l["median_seconds"])[:TOP_LAYERS]
    by_op = time_by_op(layers)
    label = variant_label(vid, net["variants"][vid])
    out = [f"### {net['display']}, {label}, batch 1, 1 thread", "",
           f"Sum of the layers' medians {total * 1e3:.3f} ms (the whole run, best, "
           f"{r['per_image_best_ms']:.3f} ms). Top {len(top)} layers:", "",
           table(["layer", "op", "kernel", "median us", "share %"],
                 [[l["name"], l["op"], f"`{l['kernel']}`", f"{l['median_seconds'] * 1e6:.1f}",
                   f"{100 * l['median_seconds'] / total:.1f}"] for l in top]), "",
           "Time by op:", "",
           table(["op", "layers", "median us", "share %"],
                 [[op, n, f"{t * 1e6:.1f}", f"{100 * t / total:.1f}"]
                  for op, (n, t) in sorted(by_op.items(), key=lambda e: -e[1][1])]), ""]
    sparse = by_op.get("sparse_conv3x3", [0, 0.0])[1]
    out += [f"Sparse 3x3 convolutions: {100 * sparse / total:.1f} % of the time; all other ops "
            f"{100 * (total - sparse) / total:.1f} %.", ""]
    return "\n".join(out)


def threads_by_op(net, vid):
    """Batch 1, per op: the layers' summed medians at 1 and at 2 threads, so a
    2-thread row that misses its target shows which ops lost."""
    one, two = find(net, "sparq", vid, 1, 1), find(net, "sparq", vid, 1, 2)
    if not one or not two or not one.get("layers") or not two.get("layers"):
        return None
    t1, t2 = time_by_op(one["layers"]), time_by_op(two["layers"])
    rows = []
    for op, (n, a) in sorted(t1.items(), key=lambda e: -e[1][1]):
        b = t2.get(op, [0, 0.0])[1]
        rows.append([op, n, f"{a * 1e6:.1f}", f"{b * 1e6:.1f}", ratio(a / b) if b > 0 else "-"])
    total1 = sum(l["median_seconds"] for l in one["layers"])
    total2 = sum(l["median_seconds"] for l in two["layers"])
    rows.append(["all", sum(n for n, _ in t1.values()), f"{total1 * 1e6:.1f}", f"{total2 * 1e6:.1f}",
                 ratio(total1 / total2) if total2 > 0 else "-"])
    label = variant_label(vid, net["variants"][vid])
    out = [f"### {net['display']}, {label}, batch 1: 1 thread against 2 threads", "",
           "Summed layer medians per op (> 1x: faster on 2 threads):", "",
           table(["op", "layers", "1 thread us", "2 threads us", "speed-up"], rows), ""]
    busy = two.get("thread_busy_ms")
    if busy and total1 > 0:
        each = " and ".join(f"{b * 1e3:.1f}" for b in busy)
        together = sum(busy) * 1e-3
        out += [f"Inside the parallel regions the {len(busy)} threads worked {each} us per run "
                f"(medians), {together * 1e6:.1f} us together: {together / total1:.2f}x the "
                f"{total1 * 1e6:.1f} us of one thread. The rest of the 2-thread run's "
                f"{total2 * 1e6:.1f} us is waiting at region ends and steps run on one thread.", ""]
    return "\n".join(out)


# ---- targets ------------------------------------------------------------------------

# Variant id suffixes of the two kinds of activation scales, and how a target row says which.
SCALES_NOTE = {"": "", "_static": " (static scales)"}


def measured_scales(net, vid):
    """The suffixes ("" dynamic, "_static") under which `vid` was measured; [""]
    when neither was, so that the target row still says "not measured"."""
    found = [sfx for sfx in SCALES_NOTE if net and vid + sfx in net["variants"]]
    return found or [""]


def net_by_name(raw, name):
    return next((n for n in raw["networks"] if n["name"] == name), None)


def batch_pairs(raw):
    """("network variant tT", sparq at batch 1, sparq at batch 16) of every network,
    variant and thread count measured at both batches."""
    for net in raw["networks"]:
        for vid in net["variants"]:
            for t in sorted({r["threads"] for r in net.get("results", [])}):
                b1, b16 = find(net, "sparq", vid, 1, t), find(net, "sparq", vid, 16, t)
                if b1 and b16:
                    yield f"{net['name']} {vid} t{t}", b1, b16


def span(values, digits=2):
    """"lo-hi" of `values`, or the one value where they are all alike."""
    lo, hi = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return lo if lo == hi else f"{lo}-{hi}"


def targets(raw):
    rows = []
    r18 = net_by_name(raw, "resnet18")
    for vid, key, what in (("k1_shared", "r18_k1_shared", "ResNet-18 b1 t1, k1 shared vs ORT int8"),
                           ("k9_random", "r18_k9", "ResNet-18 b1 t1, k9 vs ORT int8")):
        for scales in measured_scales(r18, vid):
            v = speedup(r18, vid + scales, 1, 1, "ort_int8") if r18 else None
            rows.append([what + SCALES_NOTE[scales], f">= {TARGETS[key]}x", ratio(v),
                         verdict(v, TARGETS[key])])
    # Batch 16 per image below batch 1, every network, k and thread count.
    # The verdict compares best runs; the count by medians is shown beside
    # it: a batch-1 best is one image's luckiest run, a batch-16 run
    # averages 16 images, and on a noisy host the two statistics disagree
    # (on the Xeon at 126d7ac, 88 of 108 by best runs, 78 by medians).
    checked, worst, missed, met_by_median = 0, None, [], 0
    for where, b1, b16 in batch_pairs(raw):
        checked += 1
        q = b1["per_image_best_ms"] / b16["per_image_best_ms"]  # > 1: batch 16 faster per image
        met_by_median += b1["per_image_median_ms"] > b16["per_image_median_ms"]
        if worst is None or q < worst[0]:
            worst = (q, where)
        if q <= 1:
            missed.append(f"{where} ({q:.2f}x)")
    if checked:
        rows.append(["batch 16 faster per image than batch 1 (sparq, every network, k, threads)",
                     "> 1.0x each", f"{checked - len(missed)} of {checked}; lowest {worst[0]:.2f}x ({worst[1]}); "
                     f"by medians {met_by_median} of {checked}",
                     "met" if not missed else "missed: " + ", ".join(missed)])
    else:
        rows.append(["batch 16 faster per image than batch 1", "> 1.0x each", "-", "not measured"])
    for vid in ("k1_shared", "k9_random"):
        for b in (1, 16):
            one = find(r18, "sparq", vid, b, 1) if r18 else None
            two = find(r18, "sparq", vid, b, 2) if r18 else None
            v = one["per_image_best_ms"] / two["per_image_best_ms"] if one and two else None
            judged = verdict(v, TARGETS["two_threads"])
            rounds = placement_scaling(raw, vid) if b == 1 else []
            if rounds:
                met = sum(x >= TARGETS["two_threads"] for x in rounds)
                judged += f"; {met} of {len(rounds)} placement rounds >= {TARGETS['two_threads']}x (below)"
            rows.append([f"ResNet-18 {vid.replace('_', ' ')} b{b}: 2 threads vs 1",
                         f">= {TARGETS['two_threads']}x", ratio(v), judged])
    mob = net_by_name(raw, "mobilenet_v1")
    for b in (1, 16):
        for scales in measured_scales(mob, "dense"):
            v = speedup(mob, "dense" + scales, b, 1, "ort_int8") if mob else None
            rows.append([f"MobileNet-v1 b{b} t1 vs ORT int8{SCALES_NOTE[scales]}",
                         f">= {TARGETS['mobilenet']}x", ratio(v), verdict(v, TARGETS["mobilenet"])])
    dense = (raw.get("layers") or {}).get("dense_ops", {})
    for shape, what, output, names, peer in dense_and_pool_layers():
        s, o = dense_pair(dense, shape, output, names)
        v = o["best_us"] / s["best_us"] if s and o else None
        rows.append([f"dense layer vs {peer}: {what}, {output} output",
                     f">= {TARGETS['dense_layer']}x", ratio(v), verdict(v, TARGETS["dense_layer"])])
    out = ["## Targets of the issue", "",
           "Measured in this run; where a target is missed, the per-layer breakdown below shows "
           "which layers dominate.", "",
           table(["target", "goal", "measured", "verdict"], rows), ""]
    for vid in BREAKDOWN_VARIANTS:
        shares = op_shares(r18, vid) if r18 and vid in r18["variants"] else None
        if shares:
            top = ", ".join(f"{op} {share:.0f} %" for op, share in shares[:4])
            out += [f"Where ResNet-18 {vid.replace('_', ' ')} spends batch 1, 1 thread: {top}.", ""]
    why = missed_reasons(raw)
    if why:
        out += ["### Why the missed targets are missed", "", *why, ""]
    fresh = fresh_inputs(raw)
    if fresh:
        out += [fresh, ""]
    placement = thread_placement(raw)
    if placement:
        out += [placement, ""]
    return "\n".join(out)


def missed_reasons(raw):
    """One paragraph per kind of target this run missed: by how much, which layers
    dominate and why, from the run's own figures (empty where every target is met)."""
    reasons = [k9_reason(raw), batch_reason(raw), two_threads_reason(raw), *dense_reasons(raw)]
    return [r for r in reasons if r]


def k9_reason(raw):
    """ResNet-18 at k = 9 against ORT int8; None where met or not measured."""
    r18 = net_by_name(raw, "resnet18")
    k9 = [speedup(r18, "k9_random" + s, 1, 1, "ort_int8") for s in measured_scales(r18, "k9_random")] if r18 else []
    k9 = [v for v in k9 if v is not None]
    if not k9 or min(k9) >= TARGETS["r18_k9"]:
        return None
    text = (f"- **ResNet-18 at k = 9 against ORT int8** ({ratio(min(k9))} at the lowest): nothing is "
            "pruned at k = 9, so sparq's 4-bit layers do every multiply-add ORT's int8 layers do and "
            "the margin is the kernels' efficiency alone.")
    shares = op_shares(r18, "k9_random") or []
    sparse_share = next((share for op, share in shares if op == "sparse_conv3x3"), None)
    if sparse_share is None:
        return text
    sc = (raw.get("layers") or {}).get("sparse_conv", {})
    kernel = [sc[f"onednn_int8/{shape}/t1"]["best_us"] / sc[f"sparq/{shape}/k9/random/t1"]["best_us"]
              for shape in SPARSE_LAYERS
              if f"onednn_int8/{shape}/t1" in sc and f"sparq/{shape}/k9/random/t1" in sc]
    text += f" The 3x3 convolutions take {sparse_share:.0f} % of the time"
    return text + (f"; alone, they run at {span(kernel)}x oneDNN int8's speed (\"Layers against oneDNN\")."
                   if kernel else ".")


def batch_reason(raw):
    """Batch 16 against batch 1 on the target's rows; None where every row is met."""
    checked, missed, missed_by_median, b1_runs, b16_runs = 0, 0, [], [], []
    for where, b1, b16 in batch_pairs(raw):
        checked += 1
        missed += b1["per_image_best_ms"] <= b16["per_image_best_ms"]
        if b1["per_image_median_ms"] <= b16["per_image_median_ms"]:
            q = b1["per_image_median_ms"] / b16["per_image_median_ms"]
            missed_by_median.append(f"{where} ({q:.2f}x)")
        b1_runs.append(b1.get("runs", 0))
        b16_runs.append(b16.get("runs", 0))
    if not missed:
        return None
    text = ("- **Batch 16 against batch 1** (missed on "
            f"{missed} of {checked} rows by best times): a batch whose sample fills a core's L2 with "
            "its tensors runs sample after sample through the whole network (a chunk of one sample, "
            "`runtime/session/batch_chunks.hpp`), so per image it does batch 1's work, and it reads "
            "every image from memory where batch 1 re-reads one cached input" +
            (" (\"16 inputs in turn\" below)." if raw.get("fresh_inputs") else "."))
    if all(b1_runs) and all(b16_runs):
        text += (" The rest is the statistic: a batch-1 best is the fastest of "
                 f"{statistics.median(b1_runs):.0f} runs of one image, a batch-16 best the fastest "
                 f"of {statistics.median(b16_runs):.0f} runs of 16 (medians over the rows), and the "
                 "more runs of a noisy time, the lower their minimum, not their median.")
    text += f" By medians {checked - len(missed_by_median)} of {checked} rows are met"
    return text + (f" (missed: {', '.join(missed_by_median)})." if missed_by_median else ".")


def two_threads_reason(raw):
    """ResNet-18 at batch 1 on 2 threads against 1, with the placement rounds split by
    the core-to-core probe; None where both variants meet the target."""
    r18 = net_by_name(raw, "resnet18")
    two = [(vid, find(r18, "sparq", vid, 1, 1), find(r18, "sparq", vid, 1, 2))
           for vid in ("k1_shared", "k9_random")] if r18 else []
    two = [(vid, a["per_image_best_ms"] / b["per_image_best_ms"]) for vid, a, b in two if a and b]
    if not any(v < TARGETS["two_threads"] for _, v in two):
        return None
    text = ("- **Two threads at batch 1** ("
            + ", ".join(f"{vid.replace('_', ' ')} {ratio(v)}" for vid, v in two) +
            "): both threads compute a share of every layer's output channels from the whole "
            "input, so at every layer each reads the half of its input the other core wrote, and "
            "the 2-thread time follows what that costs on the host.")
    probes = [(r["probe"]["shared_write_us"] / r["probe"]["local_write_us"],
               {vid: v["t1_best_ms"] / v["t2_best_ms"] for vid, v in r["variants"].items()})
              for r in (raw.get("thread_placement") or {}).get("rounds", [])]
    near = [scaling for cost, scaling in probes if cost <= 4]
    far = [scaling for cost, scaling in probes if cost > 4]
    for label, group in (("share a cache (writes to shared lines at most 4x the local cost)", near),
                         ("share none (more than 4x)", far)):
        if group:
            spans = "; ".join(f"{vid.replace('_', ' ')} {span([g[vid] for g in group])}x" for vid in group[0])
            rounds = "the placement round" if len(group) == 1 else f"the {len(group)} placement rounds"
            text += f" In {rounds} where the two CPUs {label}: {spans}."
    return text


def dense_reasons(raw):
    """The dense layers below the target: the 1x1 layers, whose cause the run measures
    (their input pack), and any other."""
    dense = (raw.get("layers") or {}).get("dense_ops", {})
    slow = {True: [], False: []}
    for shape, what, output, names, _ in dense_and_pool_layers():
        s, o = dense_pair(dense, shape, output, names)
        if s and o and o["best_us"] / s["best_us"] < TARGETS["dense_layer"]:
            slow[shape.startswith("1x1")].append(f"{what}, {output} ({ratio(o['best_us'] / s['best_us'])})")
    reasons = []
    if slow[True]:
        text = (f"- **1x1 layers against oneDNN** ({'; '.join(slow[True])}): sparq's activations are "
                "planes, one per channel, and its 1x1 tiles read channel quads, so every 1x1 layer "
                "first interleaves its input; oneDNN's input is in its own blocked layout before its "
                "timed loop. Planes of at most 256 pixels take channel-lane tiles, whose epilogue "
                "transposes each vector of 16 channels back into pixel rows of the planes; and u8 "
                "output pays the rounding check (\"Layers against oneDNN\").")
        costs = pack_costs(dense)
        if costs:
            shares = [100 * pack / run for _, _, pack, run, _ in costs]
            ratios = [r for *_, r in costs]
            text += (f" The input pack alone takes {span(shares, 0)} % of the 1x1 runs; without it "
                     f"they would run at {span(ratios)}x oneDNN's speed.")
        reasons.append(text)
    if slow[False]:
        reasons.append(f"- **Other dense layers against oneDNN** ({'; '.join(slow[False])}): no figure of "
                       "this run explains these; \"Layers against oneDNN\" names both libraries' kernels.")
    return reasons


def placement_scaling(raw, vid):
    """Each placement round's 2-thread speed-up of ResNet-18 variant `vid` (best
    times), in round order; [] where the phase did not run."""
    p = raw.get("thread_placement") or {}
    return [r["variants"][vid]["t1_best_ms"] / r["variants"][vid]["t2_best_ms"]
            for r in p.get("rounds", []) if vid in r["variants"]]


def thread_placement(raw):
    """ResNet-18 at batch 1 on 1 and 2 threads, round by round next to the
    core-to-core probe taken just before (run_suite's placement phase), or None
    where it did not run."""
    p = raw.get("thread_placement")
    if not p or not p.get("rounds"):
        return None
    variants = list(p["rounds"][0]["variants"])
    rows, by_variant = [], {vid: [] for vid in variants}
    for i, r in enumerate(p["rounds"], 1):
        f = r["probe"]
        cells = [str(i), f"{f['remote_read_us'] / f['local_read_us']:.1f}x",
                 f"{f['shared_write_us'] / f['local_write_us']:.1f}x"]
        for vid in variants:
            v = r["variants"][vid]
            scaling = v["t1_best_ms"] / v["t2_best_ms"]
            by_variant[vid].append((scaling, f["shared_write_us"] / f["local_write_us"]))
            cells += [f"{v['t1_best_ms']:.3f} / {v['t2_best_ms']:.3f}", f"{scaling:.2f}x"]
        rows.append(cells)
    header = ["round", "reading the other CPU's lines", "writing lines both hold"]
    for vid in variants:
        name = vid.replace("_", " ")
        header += [f"{name}: 1 / 2 threads (ms)", f"{name}: 2 threads vs 1"]
    ranges = []
    for vid, points in by_variant.items():
        low, high = min(points), max(points)
        ranges.append(f"{vid.replace('_', ' ')} {low[0]:.2f}x (shared writes {low[1]:.1f}x) to "
                      f"{high[0]:.2f}x (shared writes {high[1]:.1f}x)")
    return "\n".join([
        "Two threads and where the host placed the two CPUs: a sample split over two threads hands data "
        "between the cores at every layer, so batch 1 on 2 threads follows what that costs, which on a "
        "virtual machine depends on whether the host runs the two CPUs on cores that share a cache. Round "
        "by round, `bench/core_to_core_bench.cpp` (against the same CPU's own lines) and then ResNet-18 at "
        "batch 1 (best ms):", "",
        table(header, rows), "",
        "2 threads against 1 over these rounds: " + "; ".join(ranges) + "."])


def fresh_inputs(raw):
    """Batch 1 on one input against batch 1 on several inputs in turn and batch 16
    (run_suite's fresh-inputs phase), or None where it did not run."""
    f = raw.get("fresh_inputs")
    if not f or not f.get("variants"):
        return None
    n = f["distinct_inputs"]
    rows = []
    for vid, v in f["variants"].items():
        one, many, batch = v["one_input"], v["distinct_inputs"], v["batch16"]
        rows.append([vid.replace("_", " ")] +
                    [f"{x['best_ms']:.3f} / {x['median_ms']:.3f}" for x in (one, many, batch)] +
                    [f"{many['best_ms'] / batch['best_ms']:.2f}x / {many['median_ms'] / batch['median_ms']:.2f}x"])
    return "\n".join([
        "Batch 1 re-runs one input, which stays in the cache between runs; a batch reads each of its "
        f"images from memory, as batch 1 does when it is given {n} inputs in turn. ResNet-18, 1 thread, "
        "interleaved in one window (ms per image, best / median; batch 16 against batch 1 on "
        f"{n} inputs: > 1x, batch 16 is faster):", "",
        table(["variant", "batch 1, one input", f"batch 1, {n} inputs in turn", "batch 16",
               f"batch 16 vs batch 1 on {n} inputs"], rows)])


def op_shares(net, vid):
    """[(op, % of the layers' summed medians)] at batch 1, 1 thread, largest first."""
    r = find(net, "sparq", vid, 1, 1)
    if not r or not r.get("layers"):
        return None
    total = sum(l["median_seconds"] for l in r["layers"])
    by_op = time_by_op(r["layers"])
    return sorted(((op, 100 * t / total) for op, (_, t) in by_op.items()), key=lambda e: -e[1])


# ---- layers against oneDNN ----------------------------------------------------------

def u8_cost_sentence(dense):
    """What writing u8 instead of f32 costs each library (best u8 / best f32 time over
    the layers measured both ways on both sides), and why sparq's costs more; None
    where no layer has all four."""
    costs = {"sparq": [], "oneDNN": []}
    for shape, _, outputs in DENSE_LAYERS:
        if "u8" not in outputs:
            continue
        (s32, o32), (s8, o8) = dense_pair(dense, shape, "f32"), dense_pair(dense, shape, "u8")
        if s32 and o32 and s8 and o8:
            costs["sparq"].append(s8["best_us"] / s32["best_us"])
            costs["oneDNN"].append(o8["best_us"] / o32["best_us"])
    if not costs["sparq"]:
        return None
    spans = {k: f"{min(v):.2f}-{max(v):.2f}x" for k, v in costs.items()}
    return (f"Writing u8 instead of f32 takes sparq {spans['sparq']} of its f32 time and oneDNN "
            f"{spans['oneDNN']} of its own (best times, per layer). sparq's bytes are the reference's, "
            "x / s rounded half to even: the product by the scale's reciprocal, a check for values "
            "within 2^-12 of a half-integer per group of vectors, and the narrowing to bytes "
            "(docs/NUMERICS.md, section 2); oneDNN rounds its scaled product without a check. The "
            "check is what sparq's u8 rows pay that oneDNN's do not.")


def pack_costs(dense):
    """(what, output, pack us, whole run us, oneDNN best / (run - pack)) of every 1x1 layer
    whose input pack (sparq_pack, timed alone) and both runs were measured."""
    costs = []
    for shape, what, outputs in DENSE_LAYERS:
        pack = dense.get(f"sparq_pack/{shape}")
        if not pack:
            continue
        for output in outputs:
            s, o = dense_pair(dense, shape, output)
            if s and o:
                costs.append((what, output, pack["best_us"], s["best_us"],
                              o["best_us"] / (s["best_us"] - pack["best_us"])))
    return costs


def pack_cost_sentence(dense):
    """The 1x1 layers' input pack against each layer's whole run, and the ratio to
    oneDNN without it; None where not measured."""
    costs = pack_costs(dense)
    if not costs:
        return None
    return ("sparq's activations are planes and its 1x1 tiles read channel quads, so each 1x1 "
            "layer's run starts by packing its input, which oneDNN's blocked input does not need. "
            "The pack alone (`sparq_pack`, best times) takes " +
            "; ".join(f"{what}, {output}: {pack:.1f} of {run:.1f} us ({100 * pack / run:.0f} %), "
                      f"without it {ratio(r)} against oneDNN" for what, output, pack, run, r in costs) + ".")


def layers_section(raw):
    lay = raw.get("layers")
    if not lay:
        return "## Layers against oneDNN\n\nNot run (LAYERS=0).\n"
    out = ["## Layers against oneDNN", "",
           f"Dense layers: {lay['settings']['dense_ops']}. 3x3 layers: {lay['settings']['sparse_conv']}. "
           "Times in us, best / median over the repetitions of all rounds; ratio = oneDNN best / sparq best.", ""]
    d = lay["dense_ops"]
    rows = []
    for shape, what, output, names, _ in dense_and_pool_layers():
        s, o = dense_pair(d, shape, output, names)
        if not s or not o:
            continue
        rows.append([what, output, f"{s['best_us']:.1f} / {s['median_us']:.1f}", f"`{s['label']}`",
                     f"{o['best_us']:.1f} / {o['median_us']:.1f}", f"`{o['label']}`",
                     ratio(o["best_us"] / s["best_us"])])
    out += [table(["layer (1 thread)", "output", "sparq", "sparq kernel", "oneDNN", "oneDNN impl",
                   "ratio"], rows), "",
            "oneDNN runs the convolutions and the classifier in int8, the pools on the pooled "
            "dtype (f32 planes in its 16-channel blocks, u8 channels-last).", ""]
    u8_cost = u8_cost_sentence(d)
    if u8_cost:
        out += [u8_cost, ""]
    pack = pack_cost_sentence(d)
    if pack:
        out += [pack, ""]
    sc = lay["sparse_conv"]
    rows = []
    for shape in SPARSE_LAYERS:
        for t in (1, 2):
            o = sc.get(f"onednn_int8/{shape}/t{t}")
            if not o:
                continue
            row = [f"{shape} t{t}", f"{o['best_us']:.1f} / {o['median_us']:.1f}", o.get("omp_wait_policy", "-")]
            kernels = []
            for v in ("k9/random", "k1/shared"):
                s = sc.get(f"sparq/{shape}/{v}/t{t}")
                row += [f"{s['best_us']:.1f} / {s['median_us']:.1f}", ratio(o["best_us"] / s["best_us"])] if s else ["-", "-"]
                kernels.append(f"`{s['label']}`" if s else "-")
            rows.append(row + [", ".join(kernels)])
    if rows:
        out += ["ResNet-18's 3x3 layers (64 ch at 56x56 ... 512 ch at 7x7), the kernel alone:", "",
                table(["layer", "oneDNN int8", "OMP wait policy", "sparq k9", "ratio", "sparq k1 shared", "ratio", "sparq kernels"], rows), ""]
    return "\n".join(out)


# ---- the plot -----------------------------------------------------------------------

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def plot_series(raw):
    """(label, color, dash pattern, [(k, speed-up)]) per network, sharing and kind of
    activation scales, batch 1, 1 thread ("" solid)."""
    series = []
    nets = [n for n in raw["networks"] if n["onnx"]]
    for i, net in enumerate(nets):
        color = COLORS[i % len(COLORS)]
        if "dense" in net["variants"] or "dense_static" in net["variants"]:
            for vid, dash, note in (("dense", "", ""), ("dense_static", "2,3", ", static scales")):
                v = speedup(net, vid, 1, 1, "ort_int8") if vid in net["variants"] else None
                if v is not None:
                    series.append((f"{net['display']}{note}", color, dash, [(9, v)]))
            continue
        for sharing, scales, dash in (("shared", "dynamic", ""), ("random", "dynamic", "6,4"),
                                      ("shared", "static", "2,3")):
            pts = []
            for vid, var in net["variants"].items():
                if var.get("scales", "dynamic") != scales:
                    continue
                if var["sharing"] == sharing or var["k"] == 9:
                    v = speedup(net, vid, 1, 1, "ort_int8")
                    if v is not None:
                        pts.append((var["k"], v))
            if pts:
                label = f"{net['display']}, {sharing}" + (", static scales" if scales == "static" else "")
                series.append((label, color, dash, sorted(pts, reverse=True)))
    return series


def svg(raw):
    series = plot_series(raw)
    w, h, left, right, top, bottom = 720, 420, 60, 250, 40, 50
    # k runs from 9 (dense, left) to 1 (right), linear in k.
    ks = sorted({k for _, _, _, pts in series for k, _ in pts} | {9, 1}, reverse=True)
    ymax = max([1.2] + [v for _, _, _, pts in series for _, v in pts]) * 1.1
    x = lambda k: left + (9 - k) * (w - left - right) / 8  # noqa: E731
    y = lambda v: top + (h - top - bottom) * (1 - v / ymax)  # noqa: E731
    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{left}" y="20" font-size="14">sparq speed-up vs ONNX Runtime int8, batch 1, 1 thread</text>']
    step = 0.5 if ymax <= 6 else 1.0
    t = 0.0
    while t <= ymax:
        e.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{w - right}" y2="{y(t):.1f}" '
                 f'stroke="{"#888" if t == 1.0 else "#e5e5e5"}"/>')
        e.append(f'<text x="{left - 8}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}x</text>')
        t += step
    for k in ks:
        e.append(f'<text x="{x(k):.1f}" y="{h - bottom + 18}" text-anchor="middle">k={k}</text>')
    e.append(f'<text x="{(left + w - right) / 2:.1f}" y="{h - 10}" text-anchor="middle">'
             'taps kept per 3x3 kernel (k = 9: dense)</text>')
    for i, (label, color, pattern, pts) in enumerate(series):
        dash = f' stroke-dasharray="{pattern}"' if pattern else ""
        if len(pts) > 1:
            path = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in pts)
            e.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for k, v in pts:
            e.append(f'<circle cx="{x(k):.1f}" cy="{y(v):.1f}" r="4" fill="{color}"><title>'
                     f'{escape(label)} k={k}: {v:.2f}x</title></circle>')
        ly = top + 10 + 20 * i
        e.append(f'<line x1="{w - right + 15}" y1="{ly}" x2="{w - right + 45}" y2="{ly}" stroke="{color}" '
                 f'stroke-width="2"{dash}/>')
        e.append(f'<text x="{w - right + 52}" y="{ly + 4}">{escape(label)}</text>')
    if not series:
        e.append(f'<text x="{left + 20}" y="{h / 2}">no ONNX Runtime figures in this run</text>')
    e.append("</svg>")
    return "\n".join(e) + "\n"


# ---- the report ---------------------------------------------------------------------

def other_machines(out_dir):
    """Lines linking the reports in OUT_DIR's subfolders (runs on other machines, e.g.
    amx/ from scripts/run_bundle.sh), each with the CPU line of its header."""
    lines = []
    for sub in sorted(pathlib.Path(out_dir).glob("*/REPORT.md")):
        cpu = next((l[len("- CPU: "):] for l in sub.read_text().splitlines() if l.startswith("- CPU: ")),
                   "CPU not stated")
        link = f"{sub.parent.name}/REPORT.md"
        lines.append(f"- Another machine: [{link}]({link}), {cpu.split('. ISA flags')[0]}.")
    return lines


def render(raw, elsewhere=()):
    threads = raw["meta"]["settings"]["threads"]
    parts = [header(raw), *elsewhere, "", targets(raw),
             "## Speed-up against density", "",
             "![speed-up vs ORT int8 against k](speedup_vs_density.svg)", "",
             "[speedup_vs_density.svg](speedup_vs_density.svg): sparq's speed-up over ORT int8 at batch 1, "
             "1 thread, per network (solid: 16x4-shared patterns, dashed: random, dotted: 16x4-shared with "
             "static activation scales; MobileNet-v1 is one dense "
             "point). The Fashion-MNIST models have no ORT peer.", ""]
    parts += [network_section(net, threads) for net in raw["networks"]]
    r18 = net_by_name(raw, "resnet18")
    sections = [breakdown(r18, vid) for vid in BREAKDOWN_VARIANTS if vid in r18["variants"]] if r18 else []
    if any(sections):
        parts += ["## Per-layer breakdown of ResNet-18", "",
                  "From `sparq bench` at batch 1, 1 thread: each layer's median over the runs of a round, "
                  "then the median over rounds (RunStats of Session::run).", ""]
        parts += [s for s in sections if s]
    by_threads = [threads_by_op(r18, vid) for vid in BREAKDOWN_VARIANTS if vid in r18["variants"]] if r18 else []
    if any(by_threads):
        parts += ["## ResNet-18 at batch 1 on 2 threads, per op", "",
                  "The same per-layer medians at 1 and 2 threads (one arena of T threads; each node "
                  "splits its own work). An op that is slower on 2 threads spends more on moving its "
                  "operands between the cores' caches than it saves.", ""]
        parts += [s for s in by_threads if s]
    parts.append(layers_section(raw))
    return "\n".join(parts).rstrip() + "\n"


def write(raw, out_dir):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "REPORT.md").write_text(render(raw, other_machines(out_dir)))
    (out_dir / "speedup_vs_density.svg").write_text(svg(raw))


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    raw_path = pathlib.Path(argv[1])
    write(json.loads(raw_path.read_text()), argv[2] if len(argv) == 3 else raw_path.parent)


if __name__ == "__main__":
    main(sys.argv)
