"""examples/distributed on a local cluster of two worker processes: the
gathered predictions equal the single-process run's exactly, and on the full
Fashion-MNIST test set the accuracy equals `sparq eval`'s."""
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import FASHION_MNIST, SOURCE_DIR

sys.path.insert(0, str(SOURCE_DIR / "examples" / "distributed"))
distributed = pytest.importorskip("distributed")
import sparq_dask  # noqa: E402


@pytest.fixture(scope="module")
def client(fashion_test_set):
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_cluster_slice_equals_one_process(client, fashion_model_path):
    cluster = sparq_dask.evaluate_on_cluster(client, str(fashion_model_path), str(FASHION_MNIST),
                                             count=1500, batch=100)
    local = sparq_dask.evaluate_locally(str(fashion_model_path), str(FASHION_MNIST), count=1500,
                                        batch=100)
    assert len(cluster["per_worker"]) == 2, "both workers took shards"
    assert cluster["predictions"].shape == (1500,)
    assert np.array_equal(cluster["predictions"], local["predictions"])
    assert cluster["correct"] == local["correct"]


def test_full_test_set_accuracy_equals_sparq_eval(client, fashion_model_path, cli_binary):
    cluster = sparq_dask.evaluate_on_cluster(client, str(fashion_model_path), str(FASHION_MNIST))
    assert cluster["count"] == 10000
    expected = json.loads(subprocess.run(
        [cli_binary, "eval", str(fashion_model_path), str(FASHION_MNIST), "--json"],
        check=True, capture_output=True, text=True).stdout)
    assert cluster["accuracy"] == expected["accuracy"]
    assert cluster["correct"] == expected["correct"]
