"""Shared fixtures: where the sources, the shipped models, the data set and the
C++ helper binaries are. ctest sets SPARQ_SOURCE_DIR, SPARQ_PY_REFERENCE and
SPARQ_CLI; run by hand, the defaults assume build/release."""
import os
import pathlib

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("SPARQ_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BUILD_DIR = SOURCE_DIR / "build" / "release"
MODELS = sorted((SOURCE_DIR / "examples" / "models").glob("*.sparq"))
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
TEST_IMAGES = FASHION_MNIST / "t10k-images-idx3-ubyte.gz"
TEST_LABELS = FASHION_MNIST / "t10k-labels-idx1-ubyte.gz"


def _binary(env_name, default):
    path = os.environ.get(env_name) or str(default)
    return path if os.path.exists(path) else None


@pytest.fixture(scope="session")
def reference_binary():
    path = _binary("SPARQ_PY_REFERENCE", BUILD_DIR / "python" / "sparq_py_reference")
    if path is None:
        pytest.skip("sparq_py_reference not built (cmake --build ... --target sparq_py_reference)")
    return path


@pytest.fixture(scope="session")
def cli_binary():
    path = _binary("SPARQ_CLI", BUILD_DIR / "tools" / "cli" / "sparq")
    if path is None:
        pytest.skip("the sparq command line is not built (SPARQ_BUILD_TOOLS=OFF?)")
    return path


@pytest.fixture(scope="session")
def fashion_model_path():
    return SOURCE_DIR / "examples" / "models" / "fashion_k3.sparq"


@pytest.fixture(scope="session")
def fashion_test_set():
    if not TEST_IMAGES.exists():
        pytest.skip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
    import sparq

    return sparq.read_idx_images(TEST_IMAGES), sparq.read_idx_labels(TEST_LABELS)
