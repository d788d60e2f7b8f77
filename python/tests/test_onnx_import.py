"""sparq.import_onnx on files written by torch.onnx.export (tests/onnx/fixtures,
made by tests/onnx/make_fixtures.py with PyTorch's own outputs beside them)."""
import numpy as np
import pytest

import sparq

from conftest import SOURCE_DIR

FIXTURES = SOURCE_DIR / "tests" / "onnx" / "fixtures"


def fixture(name):
    onnx = FIXTURES / f"{name}.onnx"
    x = np.fromfile(FIXTURES / f"{name}.input.f32", dtype=np.float32)
    want = np.fromfile(FIXTURES / f"{name}.output.f32", dtype=np.float32)
    return onnx, x, want


def as_batch(model, flat):
    return flat.reshape([-1] + list(model.input["shape"]))


@pytest.mark.parametrize("name", ["small_cnn_op13", "resnet20_bn_unfolded_op11", "head_idioms_op13"])
def test_float_import_matches_pytorch(name):
    onnx, x, want = fixture(name)
    model, layers = sparq.import_onnx(onnx)
    assert layers and all(layer["sparq_op"] for layer in layers)
    (got,) = sparq.Session(model, backends=["cpu", "reference"]).run(as_batch(model, x))
    got = got.reshape(-1)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want))


def test_quantized_import_reports_pruning_and_backends_agree_bit_for_bit():
    onnx, x, _ = fixture("pruned_k4_shared16x4_op13")
    model, layers = sparq.import_onnx(onnx, quantize="w4a8", name="shared")
    assert model.name == "shared"
    sparse = [layer for layer in layers if layer["sparq_op"] == "sparse_conv3x3"]
    assert sparse, "no 3x3 convolution became a sparse layer"
    for layer in sparse:
        assert layer["density"] == 4
        out_channels = layer["output_shape"][0]
        if out_channels % 16 == 0 and layer["input_shape"][0] % 4 == 0:
            assert layer["sharing"] == (16, 4)
    batch = as_batch(model, x)
    (cpu,) = sparq.Session(model, backends=["cpu"]).run(batch)
    (ref,) = sparq.Session(model, backends=["reference"]).run(batch)
    assert cpu.tobytes() == ref.tobytes()


def test_import_errors_raise_sparq_exceptions(tmp_path):
    with pytest.raises(sparq.IoError):
        sparq.import_onnx(tmp_path / "missing.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes((FIXTURES / "small_cnn_op13.onnx").read_bytes()[:300])
    with pytest.raises(sparq.InvalidModelError, match="truncated.onnx"):
        sparq.import_onnx(truncated)
    with pytest.raises(sparq.InvalidArgumentError, match="w4a2"):
        sparq.import_onnx(FIXTURES / "small_cnn_op13.onnx", quantize="w4a2")
