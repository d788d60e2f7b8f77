"""Evaluate a sparq classifier on a Dask cluster: accuracy, throughput per
worker and in total. See README.md for starting a cluster on several machines.

    # a local cluster of 2 worker processes, checked against one process:
    PYTHONPATH=build/release/python:examples/distributed /usr/bin/python3 \
        examples/distributed/dask_eval.py --local 2 --check
    # an existing cluster:
    ... dask_eval.py --scheduler tcp://10.0.0.1:8786
"""
import argparse
import json
import sys

import numpy as np
from distributed import Client, LocalCluster

import sparq_dask


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", help="address of a running dask-scheduler")
    where.add_argument("--local", type=int, metavar="N", help="start N local worker processes")
    parser.add_argument("--model", default="examples/models/fashion_k3.sparq")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--count", type=int, default=None, help="first N test samples (all)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="sparq threads per worker")
    parser.add_argument("--check", action="store_true",
                        help="also run in this process and require identical predictions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    if args.local:
        cluster = LocalCluster(n_workers=args.local, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(args.scheduler)
    with client:
        result = sparq_dask.evaluate_on_cluster(client, args.model, args.data, args.count,
                                                args.batch, args.threads)
    same = None
    if args.check:
        local = sparq_dask.evaluate_locally(args.model, args.data, args.count, args.batch,
                                            args.threads)
        same = bool(np.array_equal(local["predictions"], result["predictions"]))
    if args.json:
        out = {k: v for k, v in result.items() if k != "predictions"}
        out["same_as_single_process"] = same
        print(json.dumps(out, indent=2))
    else:
        print(f"accuracy {result['accuracy']:.4f} ({result['correct']}/{result['count']}), "
              f"{result['images_per_second']:.0f} images/s in total "
              f"({result['wall_seconds']:.2f} s wall)")
        for worker, w in sorted(result["per_worker"].items()):
            print(f"  {worker}: {w['images']} images, {w['images_per_second']:.0f} images/s "
                  f"inside run()")
        if same is not None:
            print("identical to the single-process run" if same else "DIFFERS from one process")
    return 0 if same in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main())
