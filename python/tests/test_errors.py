"""Every sparq error code arrives as its own Python exception, carrying the
kind and sparq's message; the subclasses are also the builtin exceptions a
Python caller would catch."""
import numpy as np
import pytest
import sparq

KINDS = [
    ("invalid argument", sparq.InvalidArgumentError, ValueError),
    ("invalid model", sparq.InvalidModelError, ValueError),
    ("unsupported", sparq.UnsupportedError, NotImplementedError),
    ("i/o error", sparq.IoError, OSError),
    ("internal error", sparq.InternalError, RuntimeError),
]


@pytest.mark.parametrize("kind,cls,builtin", KINDS, ids=[k[0] for k in KINDS])
def test_each_error_code_maps_to_its_class(kind, cls, builtin):
    with pytest.raises(cls) as info:
        sparq._sparq._raise_error(kind, "what went wrong")
    assert isinstance(info.value, sparq.Error)
    assert isinstance(info.value, builtin)
    assert info.value.kind == kind == cls.kind
    assert str(info.value) == "what went wrong"


def test_missing_model_file_is_an_io_error(tmp_path):
    with pytest.raises(sparq.IoError, match="missing.sparq"):
        sparq.Model.load(tmp_path / "missing.sparq")


def test_corrupt_model_is_an_invalid_model_error():
    with pytest.raises(sparq.InvalidModelError):
        sparq.Model.from_bytes(b"not a sparq model at all, just some bytes")


def test_truncated_model_is_an_invalid_model_error(fashion_model_path):
    data = fashion_model_path.read_bytes()
    with pytest.raises(sparq.InvalidModelError):
        sparq.Model.from_bytes(data[: len(data) // 2])


def test_wrong_input_shape_is_an_invalid_argument(fashion_model_path):
    session = sparq.Session(sparq.Model.load(fashion_model_path), threads=1)
    with pytest.raises(sparq.InvalidArgumentError, match=r"\[1, 1, 27, 28\] does not match"):
        session.run(np.zeros((1, 1, 27, 28), np.float32))


def test_unknown_backend_is_an_invalid_argument(fashion_model_path):
    with pytest.raises(sparq.Error, match="no-such-backend") as info:
        sparq.Session(sparq.Model.load(fashion_model_path), backends=["no-such-backend"])
    assert info.value.kind in ("invalid argument", "unsupported")


def test_model_no_backend_can_run_is_unsupported():
    b = sparq.ModelBuilder()
    b.mark_output(b.softmax(b.input([10])))
    # The device runs convolutions, not softmax; without a host fallback
    # nothing can run the node.
    with pytest.raises(sparq.UnsupportedError, match="softmax"):
        sparq.Session(b.build(), backends=["device"])


def test_invalid_graph_is_an_invalid_model():
    b = sparq.ModelBuilder()
    x = b.input([4])
    with pytest.raises(sparq.InvalidModelError):
        b.conv2d(x, np.ones((2, 4, 3, 3), np.float32))  # a conv on a vector


def test_bad_option_is_an_invalid_argument(fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    with pytest.raises(sparq.InvalidArgumentError, match="threads"):
        sparq.Session(model, threads=-1)
    with pytest.raises(sparq.InvalidArgumentError, match="activation 'gelu'"):
        sparq.ModelBuilder().activation(0, "gelu")
    with pytest.raises(sparq.InvalidArgumentError, match="mode"):
        sparq.simulate(model, mode="fast")
