"""Evaluation of a sparq classifier over an IDX data set split across a Dask
cluster. Imported by dask_eval.py and by the workers (the client uploads this
file), so the same code runs in one process and on the cluster.

Each worker holds one model and one session for its whole life: the
SparqSession plugin builds them once, when the worker joins (from the model
bytes the client sends, so workers need no copy of the model file). Tasks
only name a range of samples; every worker reads the data set from its own
disk (the same path on every machine, e.g. Debian's dataset-fashion-mnist).
"""
import functools
import os
import time

import numpy as np
import sparq
from distributed import WorkerPlugin, get_worker


class SparqSession(WorkerPlugin):
    """Loads the model once per worker and keeps one session on it."""

    name = "sparq-session"

    def __init__(self, model_bytes, threads=1):
        self.model_bytes = model_bytes
        self.threads = threads

    def setup(self, worker):
        worker.sparq_model = sparq.Model.from_bytes(self.model_bytes)
        worker.sparq_session = sparq.Session(worker.sparq_model, threads=self.threads)


@functools.lru_cache(maxsize=4)
def load_split(data_dir, split="t10k"):
    """The images and labels of one split, read once per process."""
    images = sparq.read_idx_images(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = sparq.read_idx_labels(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    return images, labels


def evaluate_range(model, session, data_dir, start, stop, batch):
    """Predictions for samples [start, stop) and the seconds spent in run()."""
    images, labels = load_split(data_dir)
    predictions = np.empty(stop - start, np.uint8)
    seconds = 0.0
    for first in range(start, stop, batch):
        last = min(first + batch, stop)
        x = sparq.preprocess(model, images[first:last])
        begin = time.perf_counter()
        (logits,) = session.run(x)
        seconds += time.perf_counter() - begin
        predictions[first - start : last - start] = logits.argmax(axis=1)
    correct = int((predictions == labels[start:stop]).sum())
    return {"start": start, "stop": stop, "predictions": predictions, "correct": correct,
            "seconds": seconds}


def evaluate_shard(data_dir, start, stop, batch):
    """A task: runs on a worker with that worker's session."""
    worker = get_worker()
    result = evaluate_range(worker.sparq_model, worker.sparq_session, data_dir, start, stop, batch)
    result["worker"] = worker.address
    return result


def shard_ranges(count, shards):
    edges = np.linspace(0, count, shards + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def combine(results, count, wall_seconds):
    results = sorted(results, key=lambda r: r["start"])
    predictions = np.concatenate([r["predictions"] for r in results])
    correct = sum(r["correct"] for r in results)
    per_worker = {}
    for r in results:
        w = per_worker.setdefault(r.get("worker", "local"), {"images": 0, "seconds": 0.0})
        w["images"] += r["stop"] - r["start"]
        w["seconds"] += r["seconds"]
    for w in per_worker.values():
        w["images_per_second"] = w["images"] / w["seconds"] if w["seconds"] > 0 else 0.0
    return {"count": count, "correct": correct, "accuracy": correct / count,
            "predictions": predictions, "wall_seconds": wall_seconds,
            "images_per_second": count / wall_seconds, "per_worker": per_worker}


def dataset_size(data_dir):
    return len(load_split(data_dir)[1])


def evaluate_on_cluster(client, model_path, data_dir, count=None, batch=256, threads=1,
                        shards_per_worker=4):
    """Splits the first `count` samples (all when None) into shards, runs them
    on the cluster's workers and gathers the results in order."""
    client.upload_file(__file__)  # workers import this module to run the tasks
    with open(model_path, "rb") as f:
        client.register_worker_plugin(SparqSession(f.read(), threads), name=SparqSession.name)
    count = count or dataset_size(data_dir)
    workers = len(client.scheduler_info()["workers"])
    start = time.perf_counter()
    futures = [client.submit(evaluate_shard, data_dir, a, b, batch, pure=False)
               for a, b in shard_ranges(count, workers * shards_per_worker)]
    results = client.gather(futures)
    return combine(results, count, time.perf_counter() - start)


def evaluate_locally(model_path, data_dir, count=None, batch=256, threads=1):
    """The same evaluation in this process, one session."""
    model = sparq.Model.load(model_path)
    session = sparq.Session(model, threads=threads)
    count = count or dataset_size(data_dir)
    start = time.perf_counter()
    result = evaluate_range(model, session, data_dir, 0, count, batch)
    return combine([result], count, time.perf_counter() - start)
