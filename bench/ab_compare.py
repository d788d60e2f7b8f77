#!/usr/bin/python3
"""Compares two builds of one Google Benchmark binary, benchmark by benchmark.

    bench/ab_compare.py OLD_BINARY NEW_BINARY --filter REGEX [--rounds 10]

Each benchmark the filter selects runs alone in a fresh process of each
binary, the two alternated for --rounds rounds with the order flipped every
round. On a shared or virtual machine the process that runs first in a round
is often measurably faster than the second (a fixed order once showed a
4-8 % "regression" that flipping the order made vanish), and a process that
runs many benchmarks in a row carries one benchmark's state into the next;
per-benchmark processes in alternating order remove both biases.

Reported per benchmark: each binary's best time over all rounds (the minimum
of --repetitions short repetitions per process), new best / old best, the
median over rounds of the paired ratio new / old, and in how many rounds the
new binary was faster. With --json the same figures go to stdout as JSON.
"""
import argparse
import json
import statistics
import subprocess
import sys


def list_benchmarks(binary, regex):
    out = subprocess.run([binary, f"--benchmark_filter={regex}", "--benchmark_list_tests=true"],
                         check=True, capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def best_time(binary, name, repetitions, min_time):
    """The minimum real time (in the benchmark's unit) of one fresh process."""
    # Anchored so that a benchmark whose name prefixes another runs alone.
    regex = "^" + "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in name) + "$"
    out = subprocess.run([
        binary, f"--benchmark_filter={regex}", f"--benchmark_repetitions={repetitions}",
        f"--benchmark_min_time={min_time}", "--benchmark_format=json"
    ],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    times = [
        b["real_time"] for b in json.loads(out)["benchmarks"]
        if b.get("run_type", "iteration") == "iteration"
    ]
    if not times:
        raise RuntimeError(f"{binary}: no iteration of {name}")
    return min(times)


def compare(old, new, names, rounds, repetitions, min_time, progress=None):
    results = []
    for index, name in enumerate(names):
        pairs = []
        for r in range(rounds):
            order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
            times = {label: best_time(binary, name, repetitions, min_time) for label, binary in order}
            pairs.append((times["old"], times["new"]))
            if progress:
                progress(f"[{index + 1}/{len(names)}] {name} round {r + 1}/{rounds}: "
                         f"old {times['old']:.2f} new {times['new']:.2f}")
        best_old = min(p[0] for p in pairs)
        best_new = min(p[1] for p in pairs)
        results.append({
            "name": name,
            "rounds": rounds,
            "best_old": best_old,
            "best_new": best_new,
            "ratio_of_best": best_new / best_old,
            "median_paired_ratio": statistics.median(n / o for o, n in pairs),
            "new_faster_rounds": sum(1 for o, n in pairs if n < o),
        })
    return results


def geomean(values):
    product = 1.0
    for v in values:
        product *= v
    return product**(1.0 / len(values)) if values else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the baseline benchmark binary")
    parser.add_argument("new", help="the benchmark binary under test")
    parser.add_argument("--filter", required=True, help="benchmark name regex (Google Benchmark's)")
    parser.add_argument("--rounds", type=int, default=10, help="alternations per benchmark")
    parser.add_argument("--repetitions", type=int, default=3, help="repetitions per process")
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds per repetition")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.repetitions < 1 or args.min_time <= 0:
        parser.error("--rounds and --repetitions must be >= 1 and --min-time > 0")
    names = list_benchmarks(args.old, args.filter)
    missing = sorted(set(names) - set(list_benchmarks(args.new, args.filter)))
    if not names or missing:
        parser.error(f"no benchmark matches {args.filter!r} in {args.old}" if not names else
                     f"{args.new} lacks {', '.join(missing)}")
    results = compare(args.old, args.new, names, args.rounds, args.repetitions, args.min_time,
                      progress=lambda line: print(line, file=sys.stderr))
    summary = {
        "geomean_ratio_of_best": geomean([r["ratio_of_best"] for r in results]),
        "geomean_median_paired_ratio": geomean([r["median_paired_ratio"] for r in results]),
    }
    if args.json:
        json.dump({"benchmarks": results, **summary}, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'benchmark':50s} {'old best':>9s} {'new best':>9s} {'new/old':>8s} "
          f"{'median pair':>11s} {'new faster':>10s}")
    for r in results:
        print(f"{r['name']:50s} {r['best_old']:9.2f} {r['best_new']:9.2f} "
              f"{r['ratio_of_best']:8.3f} {r['median_paired_ratio']:11.3f} "
              f"{r['new_faster_rounds']:>4d} of {r['rounds']}")
    print(f"geomean new/old: best {summary['geomean_ratio_of_best']:.3f}, "
          f"median pair {summary['geomean_median_paired_ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
