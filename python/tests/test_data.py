"""IDX data sets, images and the model's preprocessing from Python."""
import gzip

import numpy as np
import pytest
import sparq
from conftest import TEST_IMAGES


def test_fashion_mnist_test_set(fashion_test_set):
    images, labels = fashion_test_set
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels.max() == 9
    # The same bytes as the file holds after its 16-byte header.
    raw = np.frombuffer(gzip.open(TEST_IMAGES).read(), np.uint8)[16:]
    assert np.array_equal(images.reshape(-1), raw)


def test_preprocess_applies_the_model_normalisation(fashion_model_path, fashion_test_set):
    model = sparq.Model.load(fashion_model_path)
    images = fashion_test_set[0][:5]
    x = sparq.preprocess(model, images)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    p = model.preprocessing
    expected = (images.astype(np.float32) * np.float32(p["scale"]) - np.float32(p["mean"][0])) / (
        np.float32(p["std"][0]))
    np.testing.assert_allclose(x[:, 0], expected, rtol=1e-6, atol=1e-6)


def test_malformed_idx_files(tmp_path):
    with pytest.raises(sparq.IoError):
        sparq.read_idx_images(tmp_path / "missing-idx3-ubyte")
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 12)  # a label file's magic
    with pytest.raises(sparq.InvalidArgumentError, match="bad-images-idx3-ubyte"):
        sparq.read_idx_images(bad)


def test_preprocess_rejects_non_pixels(fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    with pytest.raises(sparq.InvalidArgumentError, match="uint8"):
        sparq.preprocess(model, np.zeros((1, 28, 28), np.float32))
    with pytest.raises(sparq.InvalidArgumentError, match="dimensions"):
        sparq.preprocess(model, np.zeros((28, 28), np.uint8))


def test_load_image(tmp_path):
    pgm = tmp_path / "gray.pgm"
    pgm.write_bytes(b"P5\n3 2\n255\n" + bytes([0, 10, 20, 30, 40, 255]))
    image = sparq.load_image(pgm)
    assert image.shape == (2, 3, 1)
    assert image[:, :, 0].tolist() == [[0, 10, 20], [30, 40, 255]]
