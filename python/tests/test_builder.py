"""Making a model from numpy weights: pruning, weight quantization, the tap
format, the builder, checked against independent numpy computations of the
rules in docs/NUMERICS.md and docs/SPARSE_FORMAT.md."""
import numpy as np
import pytest
import sparq


def random_weights(seed, shape=(8, 4, 3, 3)):
    # Distinct magnitudes, so "smallest tap" is never a tie.
    rng = np.random.default_rng(seed)
    w = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float32) + 1.0
    return (w * rng.choice([-0.01, 0.01], size=shape)).astype(np.float32)


def test_pruning_keeps_the_largest_taps_of_each_kernel():
    w = random_weights(1)
    pruned, mask = sparq.prune_to_density(w, 3)
    assert mask.dtype == np.uint8 and mask.shape == w.shape
    flat_w, flat_m = np.abs(w).reshape(-1, 9), mask.reshape(-1, 9)
    for kernel in range(flat_w.shape[0]):
        top3 = set(np.argsort(flat_w[kernel])[-3:])
        assert set(np.flatnonzero(flat_m[kernel])) == top3
    assert np.array_equal(pruned, w * mask)
    assert sparq.mask_density(mask) == 3
    assert np.abs(w).sum() > 0 and not np.shares_memory(pruned, w)


def test_pruning_with_sharing_keeps_one_pattern_per_group():
    w = random_weights(2)
    _, mask = sparq.prune_to_density(w, 2, sharing=(4, 2))
    assert sparq.mask_density(mask) == 2
    assert sparq.mask_respects_sharing(mask, (4, 2))
    assert not sparq.mask_respects_sharing(sparq.prune_to_density(w, 2)[1], (4, 2))
    # One round at a time reaches the same mask.
    m = None
    for _ in range(7):
        _, m = sparq.prune_round(w, m, sharing=(4, 2))
    assert np.array_equal(m, mask)


def test_quantize_weights_per_channel():
    w = random_weights(3)
    q, scales = sparq.quantize_weights(w, bits=4)
    assert q.dtype == np.int8 and q.shape == w.shape and scales.shape == (8,)
    assert np.abs(q).max() <= 7
    per_channel = np.abs(q).reshape(8, -1).max(axis=1)
    assert (per_channel == 7).all()  # the largest weight of a channel maps to qmax
    err = np.abs(q * scales[:, None, None, None] - w)
    assert (err <= scales[:, None, None, None] / 2 * (1 + 1e-6)).all()


def test_tap_packing_round_trip():
    w = random_weights(4)
    _, mask = sparq.prune_to_density(w, 4)
    q, _ = sparq.quantize_weights(w * mask, bits=4)
    taps = sparq.pack_taps(q, mask, 4)
    assert taps.shape == (8 * 4 * 4,)
    # One byte per kept tap: high nibble position, low nibble the s4 value.
    positions = (taps >> 4).reshape(-1, 4)
    values = ((taps & 0x0F).astype(np.int8) << 4 >> 4).reshape(-1, 4)
    for kernel in range(32):
        kept = np.flatnonzero(mask.reshape(-1, 9)[kernel])
        assert positions[kernel].tolist() == kept.tolist()
        assert values[kernel].tolist() == q.reshape(-1, 9)[kernel][kept].tolist()
    assert np.array_equal(sparq.unpack_taps(taps, 8, 4, 4), q * mask)
    with pytest.raises(sparq.InvalidArgumentError):
        sparq.pack_taps(q, mask, 3)  # the mask keeps 4


def numpy_sparse_conv(x, w_kept, bias, activation_relu):
    """Signed 8-bit dynamic activation quantization per sample, s4 weights per
    output channel, int accumulation, y = acc * (s_act * s_w) + b."""
    n, c, h, wd = x.shape
    s_act = (np.abs(x).reshape(n, -1).max(axis=1) / np.float32(127)).astype(np.float32)
    xq = np.clip(np.rint(x / s_act[:, None, None, None]), -127, 127).astype(np.int64)
    s_w = (np.abs(w_kept).reshape(w_kept.shape[0], -1).max(axis=1) / np.float32(7)).astype(
        np.float32)
    wq = np.clip(np.rint(w_kept / s_w[:, None, None, None]), -7, 7).astype(np.int64)
    padded = np.pad(xq, ((0, 0), (0, 0), (1, 1), (1, 1)))
    acc = np.zeros((n, w_kept.shape[0], h, wd), np.int64)
    for ky in range(3):
        for kx in range(3):
            acc += np.einsum("oi,nihw->nohw", wq[:, :, ky, kx], padded[:, :, ky:ky + h, kx:kx + wd])
    scale = (s_act[:, None] * s_w[None, :]).astype(np.float32)[:, :, None, None]
    y = acc.astype(np.float32) * scale + bias[None, :, None, None]
    return np.maximum(y, 0) if activation_relu else y


def test_a_model_built_from_numpy_weights_computes_the_numerics_contract():
    w = random_weights(5)
    bias = np.linspace(-0.5, 0.5, 8, dtype=np.float32)
    pruned, mask = sparq.prune_to_density(w, 3)
    layer = sparq.make_sparse_conv3x3(pruned, mask, bias, activation="relu")
    assert (layer.density, layer.out_channels, layer.in_channels) == (3, 8, 4)
    assert layer.activation == "relu" and layer.taps.shape == (8 * 4 * 3,)

    b = sparq.ModelBuilder()
    x = b.input([4, 6, 6])
    y = b.sparse_conv3x3(b.quantize(x, bits=8, signed=True), layer, name="conv")
    assert b.value(y)["shape"] == [8, 6, 6]
    b.mark_output(y)
    model = b.build(name="tiny", labels=[])
    inputs = np.random.default_rng(6).standard_normal((3, 4, 6, 6), dtype=np.float32)
    expected = numpy_sparse_conv(inputs, pruned, bias, True)
    for backends in (["reference"], ["cpu", "reference"]):
        (out,) = sparq.Session(model, backends=backends, threads=1).run(inputs)
        # The library fuses the last multiply-add (one rounding, fma).
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    # Through the file format and back: the same bits.
    again = sparq.Model.from_bytes(model.to_bytes())
    (a,) = sparq.Session(model, threads=1).run(inputs)
    (b2,) = sparq.Session(again, threads=1).run(inputs)
    assert a.tobytes() == b2.tobytes()


def test_static_quantize_uses_its_scale_for_every_sample():
    b = sparq.ModelBuilder()
    x = b.input([6])
    b.mark_output(b.dequantize(b.quantize(x, bits=8, scale=0.5, name="q")))
    model = b.build(name="static", labels=[])
    assert model.inspect()[0]["quantization"] == "static u8 s=0.5"
    assert model.inspect()[0]["activation_scale"] == 0.5
    # By hand: x / 0.5, rounded half to even, clamped to 0..255, times 0.5.
    inputs = np.array([[0.25, 0.75, 1.25, 300.0, -1.0, 3.0],
                       [0.01, 0.01, 0.01, 0.01, 0.01, 0.01]], np.float32)
    expected = np.array([[0.0, 1.0, 1.0, 127.5, 0.0, 3.0], [0.0] * 6], np.float32)
    for backends in (["reference"], ["cpu", "reference"]):
        (out,) = sparq.Session(model, backends=backends, threads=1).run(inputs)
        np.testing.assert_array_equal(out, expected)
    again = sparq.Model.from_bytes(model.to_bytes())
    assert again.inspect()[0]["activation_scale"] == 0.5
    with pytest.raises(sparq.InvalidModelError, match="node 'q': static scale is -1"):
        b2 = sparq.ModelBuilder()
        b2.mark_output(b2.quantize(b2.input([6]), scale=-1.0, name="q"))
        b2.build(name="bad", labels=[])


def test_float_layers_and_preprocessing_metadata():
    b = sparq.ModelBuilder()
    x = b.input([2, 4, 4])
    conv_w = np.random.default_rng(7).standard_normal((3, 2, 3, 3), dtype=np.float32)
    y = b.conv2d(x, conv_w, np.ones(3, np.float32), padding=(1, 1), activation="relu")
    y = b.pool2d(y, "max")
    y = b.flatten(y)
    fc_w = np.random.default_rng(8).standard_normal((5, 12), dtype=np.float32)
    y = b.softmax(b.fully_connected(y, fc_w))
    b.mark_output(y)
    model = b.build(name="float", labels=list("abcde"),
                    preprocessing={"scale": 1.0, "mean": [0.5, 0.5], "std": [1.0, 1.0]})
    assert model.labels == list("abcde")
    assert model.preprocessing["mean"] == [0.5, 0.5]
    inputs = np.random.default_rng(9).standard_normal((2, 2, 4, 4), dtype=np.float32)
    (out,) = sparq.Session(model, backends=["reference"], threads=1).run(inputs)
    # numpy: conv (pad 1) + bias + relu, 2x2 max pool, fc, softmax.
    padded = np.pad(inputs, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 3, 4, 4), np.float64)
    for ky in range(3):
        for kx in range(3):
            conv += np.einsum("oi,nihw->nohw", conv_w[:, :, ky, kx], padded[:, :, ky:ky + 4, kx:kx + 4])
    conv = np.maximum(conv + 1.0, 0)
    pooled = conv.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)).reshape(2, 12)
    logits = pooled @ fc_w.T
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)


def test_builder_errors_name_the_problem():
    b = sparq.ModelBuilder()
    x = b.input([4, 6, 6])
    with pytest.raises(sparq.InvalidArgumentError, match=r"expected shape \[O, I, 3, 3\]"):
        sparq.prune_to_density(np.zeros((2, 2, 5, 5), np.float32), 3)
    with pytest.raises(sparq.InvalidArgumentError, match="expected float32"):
        sparq.prune_to_density(np.zeros((2, 2, 3, 3), np.float64), 3)
    with pytest.raises(sparq.InvalidArgumentError, match="pool kind 'min'"):
        b.pool2d(x, "min")
    with pytest.raises(sparq.InvalidArgumentError, match="preprocessing: unknown key 'mu'"):
        b.build(preprocessing={"mu": 1})
