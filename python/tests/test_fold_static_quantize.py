"""The session's fold_static_quantize, fold_residual_add and fold_max_pool
options and the fused-output attribute of a sparse layer, as Python sees
them. The folds themselves (and their bit equality) are tested in
tests/unit/fused_output_test.cpp, tests/unit/fused_residual_test.cpp and
tests/unit/fused_max_pool_test.cpp."""
import numpy as np
import sparq


def _with_and_without(model, inputs, fold):
    """One-thread sessions with every fold and with `fold` off, and their
    outputs for `inputs`."""
    folded = sparq.Session(model, threads=1)
    plain = sparq.Session(model, threads=1, **{fold: False})
    (on,) = folded.run(inputs)
    (off,) = plain.run(inputs)
    return folded, plain, on, off


def test_sessions_with_and_without_the_fold_agree_and_layers_report_their_output():
    rng = np.random.default_rng(11)
    w = rng.standard_normal((8, 4, 3, 3), dtype=np.float32) * 0.1
    pruned, mask = sparq.prune_to_density(w, 3)
    layer = sparq.make_sparse_conv3x3(pruned, mask, np.zeros(8, np.float32), activation="relu")
    assert layer.output_quantization is None  # f32 output
    b = sparq.ModelBuilder()
    x = b.input([4, 6, 6])
    y = b.sparse_conv3x3(b.quantize(x, bits=8), layer, name="conv")
    # A static scale: the session folds the quantize into the layer.
    b.mark_output(b.quantize(y, bits=8, scale=0.01))
    model = b.build(name="tiny", labels=[])
    inputs = rng.standard_normal((2, 4, 6, 6), dtype=np.float32)
    folded = sparq.Session(model, threads=1)
    plain = sparq.Session(model, threads=1, fold_static_quantize=False)
    (on,), stats = folded.run(inputs, stats=True)
    (off,) = plain.run(inputs)
    assert on.tobytes() == off.tobytes()
    names = [step["name"] for step in stats["steps"]]
    assert len(names) == 2 and names[-1] == "conv"  # input quantize, then the fused layer
    assert len(plain.placements) == 3


def test_the_residual_fold_is_one_step_with_the_same_bits():
    rng = np.random.default_rng(12)
    w = rng.standard_normal((4, 4, 3, 3), dtype=np.float32) * 0.1
    pruned, mask = sparq.prune_to_density(w, 3)
    layer = sparq.make_sparse_conv3x3(pruned, mask, np.zeros(4, np.float32))
    b = sparq.ModelBuilder()
    x = b.input([4, 6, 6])
    y = b.sparse_conv3x3(b.quantize(x, bits=8), layer, name="conv")
    b.mark_output(b.add(y, x, activation="relu", name="add"))
    model = b.build(name="tiny", labels=[])
    inputs = rng.standard_normal((2, 4, 6, 6), dtype=np.float32)
    folded, plain, on, off = _with_and_without(model, inputs, "fold_residual_add")
    assert on.tobytes() == off.tobytes()
    # The input quantize, then the layer with the add fused under its name.
    assert [p["node"] for p in folded.placements][1:] == ["conv"]
    assert folded.placements[1]["kernel"].endswith("_add")
    assert [p["node"] for p in plain.placements][1:] == ["conv", "add"]


def test_the_max_pool_fold_is_one_step_with_the_same_bits():
    rng = np.random.default_rng(13)
    w = rng.integers(-127, 128, size=(6, 3, 3, 3)).astype(np.int8)
    b = sparq.ModelBuilder()
    x = b.input([3, 12, 12])
    y = b.conv2d(
        b.quantize(x, bits=8, signed=True),
        w,
        padding=(1, 1),
        activation="relu",
        weight_scales=np.full(6, 0.01, np.float32),
        name="conv",
    )
    b.mark_output(b.pool2d(y, "max", kernel=(3, 3), stride=(2, 2), padding=(1, 1), name="pool"))
    model = b.build(name="tiny", labels=[])
    inputs = rng.standard_normal((2, 3, 12, 12), dtype=np.float32)
    folded, plain, on, off = _with_and_without(model, inputs, "fold_max_pool")
    assert on.shape == (2, 6, 6, 6)
    assert on.tobytes() == off.tobytes()
    # The input quantize, then the layer with the pool fused under its name.
    assert [p["node"] for p in folded.placements][1:] == ["conv"]
    assert "_max_pool" in folded.placements[1]["kernel"]
    assert [p["node"] for p in plain.placements][1:] == ["conv", "pool"]
