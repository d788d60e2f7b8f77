"""A float32 forward pass over the small ONNX operator set the benchmark
networks use (Conv, Relu, Clip, Add, MaxPool, GlobalAveragePool, Flatten,
Gemm), in numpy, that keeps every intermediate tensor.

make_networks.py calibrates the static int8 activation scales with it
(MinMax, as ONNX Runtime's quantize_static does by default), so building the
models needs no runtime. It reads the saved ONNX graph itself, so the ranges
belong to exactly the network that is benchmarked.
"""

import numpy as np
from onnx import numpy_helper


def _attrs(node):
    out = {}
    for a in node.attribute:
        if a.type == a.INT:
            out[a.name] = a.i
        elif a.type == a.INTS:
            out[a.name] = list(a.ints)
        elif a.type == a.FLOAT:
            out[a.name] = a.f
    return out


def _pad(x, pads, value):
    # ONNX pads: [top, left, bottom, right] for the two spatial axes.
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _out_size(size, kernel, stride, pad_sum):
    return (size + pad_sum - kernel) // stride + 1


def conv2d(x, w, b, strides, pads, group):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    sh, sw = strides
    ho = _out_size(h, kh, sh, pads[0] + pads[2])
    wo = _out_size(wd, kw, sw, pads[1] + pads[3])
    xp = _pad(x, pads, 0.0)
    if group == 1:
        # im2col: [N, Ho, Wo, C*kh*kw] @ [C*kh*kw, O]
        cols = np.empty((n, ho, wo, c, kh, kw), dtype=np.float32)
        for i in range(kh):
            for j in range(kw):
                cols[..., i, j] = xp[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw].transpose(0, 2, 3, 1)
        y = cols.reshape(n * ho * wo, c * kh * kw) @ w.reshape(o, -1).T
        y = y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
    elif group == c and cg == 1 and o == c:
        y = np.zeros((n, o, ho, wo), dtype=np.float32)
        for i in range(kh):
            for j in range(kw):
                y += xp[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] * w[:, 0, i, j][None, :, None, None]
    else:
        raise ValueError(f"grouped convolution with group={group} is not supported here")
    if b is not None:
        y = y + b[None, :, None, None]
    return np.ascontiguousarray(y, dtype=np.float32)


def max_pool(x, kernel, strides, pads):
    n, c, h, wd = x.shape
    kh, kw = kernel
    sh, sw = strides
    ho = _out_size(h, kh, sh, pads[0] + pads[2])
    wo = _out_size(wd, kw, sw, pads[1] + pads[3])
    xp = _pad(x, pads, -np.inf)
    y = np.full((n, c, ho, wo), -np.inf, dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            np.maximum(y, xp[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw], out=y)
    return y


def run(model, x):
    """Runs the model's graph on x (float32 NCHW); returns {tensor name: array}
    with the input, every node output and the initializers."""
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env[model.graph.input[0].name] = np.asarray(x, dtype=np.float32)
    for node in model.graph.node:
        a = _attrs(node)
        ins = [env[name] if name else None for name in node.input]
        op = node.op_type
        if op == "Conv":
            k = ins[1].shape[2:]
            y = conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("strides", [1, 1]),
                       a.get("pads", [0, 0, 0, 0]), a.get("group", 1))
            assert list(k) == a.get("kernel_shape", list(k))
        elif op == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif op == "Clip":
            # The bounds are one-element tensors; .item() takes either rank (NumPy 2
            # no longer converts a rank-1 array with float()).
            y = np.clip(ins[0], ins[1].item(), ins[2].item())
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "MaxPool":
            y = max_pool(ins[0], a["kernel_shape"], a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]))
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "Gemm":
            assert a.get("transB", 0) == 1 and a.get("transA", 0) == 0
            y = ins[0] @ ins[1].T + ins[2]
        else:
            raise ValueError(f"operator {op} is not supported by the numpy forward pass")
        env[node.output[0]] = np.asarray(y, dtype=np.float32)
    return env
