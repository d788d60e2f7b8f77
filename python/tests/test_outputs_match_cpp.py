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
    assert stats["thread_seconds"] == []  # one thread: no team of threads
    names = [p["node"] for p in session.placements]
    assert [s["name"] for s in stats["steps"]] == names
    assert {s["backend"] for s in stats["steps"]} <= {"cpu", "reference"}
    assert sum(s["actual_macs"] for s in stats["steps"]) > 0


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_chunks_change_no_bit(fashion_model_path, threads):
    """A batch run in chunks (and chunks side by side on two threads) gives the
    bits of the same samples run one at a time."""
    model = sparq.Model.load(fashion_model_path)
    inputs = model_inputs(model, 7)
    one_by_one = sparq.Session(model, threads=1, batch_chunk=1)
    expected = np.concatenate([one_by_one.run(inputs[i : i + 1])[0] for i in range(7)])
    for chunk in (0, 2, 3, 7):
        session = sparq.Session(model, threads=threads, batch_chunk=chunk)
        if chunk:
            assert session.batch_chunk(7) == chunk
        assert 1 <= session.batch_chunk(7) <= 7
        (out,) = session.run(inputs)
        assert out.tobytes() == expected.tobytes(), f"batch_chunk={chunk}"


def test_negative_batch_chunk_is_refused(fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    with pytest.raises(sparq.InvalidArgumentError, match="batch_chunk"):
        sparq.Session(model, batch_chunk=-1)
