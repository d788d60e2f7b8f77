"""The binding returns exactly the bits the C++ API returns (the helper
sparq_py_reference runs Session::run on the same input file) on every shipped
model, for each backend and at batch 1 and 16."""
import pathlib
import subprocess

import numpy as np
import pytest
import sparq
from conftest import MODELS, TEST_IMAGES


def model_inputs(model, batch):
    """Real images when the data set is installed (inputs a model sees), else
    seeded noise of the input's shape."""
    if TEST_IMAGES.exists():
        return sparq.preprocess(model, sparq.read_idx_images(TEST_IMAGES)[:batch])
    rng = np.random.default_rng(5)
    return rng.standard_normal((batch, *model.input["shape"]), dtype=np.float32)


def cpp_outputs(binary, model_path, inputs, backends, tmp_path):
    input_file = tmp_path / "input.f32"
    inputs.tofile(input_file)
    prefix = tmp_path / "out"
    subprocess.run(
        [binary, str(model_path), str(input_file), str(prefix), ",".join(backends), "1"],
        check=True,
    )
    return sorted(tmp_path.glob("out.*.bin"), key=lambda p: int(p.name.split(".")[1]))


@pytest.mark.parametrize("model_path", MODELS, ids=lambda p: p.name)
@pytest.mark.parametrize("backends", [["cpu", "reference"], ["reference"]], ids="+".join)
@pytest.mark.parametrize("batch", [1, 16])
def test_outputs_are_bit_identical_to_the_cpp_api(
    reference_binary, model_path, backends, batch, tmp_path
):
    assert MODELS, "no shipped models found"
    model = sparq.Model.load(model_path)
    inputs = model_inputs(model, batch)
    outputs = sparq.Session(model, backends=backends, threads=1).run(inputs)
    files = cpp_outputs(reference_binary, model_path, inputs, backends, tmp_path)
    assert len(files) == len(outputs) == len(model.outputs)
    for out, file, spec in zip(outputs, files, model.outputs):
        assert out.shape == (batch, *spec["shape"])
        assert out.dtype == np.float32
        assert out.tobytes() == pathlib.Path(file).read_bytes()


def test_batch_rows_equal_single_runs(fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    session = sparq.Session(model, threads=1)
    inputs = model_inputs(model, 4)
    (together,) = session.run(inputs)
    for n in range(4):
        (alone,) = session.run(inputs[n : n + 1])
        assert alone.tobytes() == together[n : n + 1].tobytes()


def test_stats_name_every_step(fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    session = sparq.Session(model, backends=["cpu", "reference"], threads=1)
    outputs, stats = session.run(model_inputs(model, 2), stats=True)
    assert len(outputs) == 1
    assert stats["seconds"] > 0
    assert stats["arena_bytes"] == session.planned_bytes(2)
    names = [p["node"] for p in session.placements]
    assert [s["name"] for s in stats["steps"]] == names
    assert {s["backend"] for s in stats["steps"]} <= {"cpu", "reference"}
    assert sum(s["actual_macs"] for s in stats["steps"]) > 0
