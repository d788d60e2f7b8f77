"""Arrays sparq cannot take in place are refused with a message that says what
is wrong and how to fix it; nothing is silently converted."""
import numpy as np
import pytest
import sparq


@pytest.fixture(scope="module")
def session(fashion_model_path):
    return sparq.Session(sparq.Model.load(fashion_model_path), threads=1)


def good():
    return np.zeros((2, 1, 28, 28), np.float32)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.uint8, np.int32])
def test_wrong_dtype(session, dtype):
    with pytest.raises(sparq.InvalidArgumentError, match=f"dtype is {np.dtype(dtype).name}.*float32"):
        session.run(good().astype(dtype))


def test_big_endian_float32_is_refused(session):
    with pytest.raises(sparq.InvalidArgumentError, match="float32"):
        session.run(good().astype(">f4"))


def test_python_list_is_refused(session):
    with pytest.raises(sparq.InvalidArgumentError, match="expected a numpy.ndarray, got list"):
        session.run(good().tolist())


@pytest.mark.parametrize("shape", [(1, 28, 28), (2, 1, 28, 27), (2, 3, 28, 28), (0, 1, 28, 28)])
def test_wrong_shape(session, shape):
    with pytest.raises(sparq.InvalidArgumentError, match="shape|batch"):
        session.run(np.zeros(shape, np.float32))


def test_non_contiguous(session):
    strided = np.zeros((4, 1, 28, 28), np.float32)[::2]
    with pytest.raises(sparq.InvalidArgumentError, match="not C-contiguous"):
        session.run(strided)
    fortran = np.asfortranarray(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(sparq.InvalidArgumentError, match="not C-contiguous"):
        session.run(fortran)


def test_unaligned(session):
    raw = np.zeros(2 * 28 * 28 * 4 + 1, np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(2, 1, 28, 28)
    assert not unaligned.flags.aligned
    with pytest.raises(sparq.InvalidArgumentError, match="not aligned"):
        session.run(unaligned)


@pytest.mark.parametrize(
    "value,word", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")]
)
def test_non_finite_values_are_named_with_their_index(session, value, word):
    x = good()
    x[1, 0, 3, 5] = value
    flat = 28 * 28 + 3 * 28 + 5
    with pytest.raises(sparq.InvalidArgumentError, match=f"element {flat} .* is {word}"):
        session.run(x)


def test_finite_check_can_be_skipped(session):
    x = good()
    x[0, 0, 0, 0] = np.nan
    (out,) = session.run(x, check_finite=False)  # dynamic quantization ignores NaN
    assert out.shape == (2, 10)


def test_largest_finite_values_pass(session):
    x = good()
    x[0, 0, 0, 0] = np.finfo(np.float32).max
    x[1, 0, 0, 0] = -np.finfo(np.float32).max
    x[1, 0, 0, 1] = np.finfo(np.float32).tiny / 2  # subnormal
    session.run(x)
