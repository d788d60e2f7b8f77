"""Static int8 QDQ twin of a float32 network, as ONNX Runtime's
quantize_static (QuantFormat.QDQ, activations QUInt8, weights QInt8
per-channel symmetric, MinMax calibration) writes it, so that ONNX Runtime's
QDQ graph transformer turns it into its integer kernels (QLinearConv, QGemm,
QLinearAdd, QLinearGlobalAveragePool, u8 MaxPool) at session creation.

The rules followed, each as quantize_static applies them:
- Activations: uint8, one scale and zero point per tensor from the MinMax
  range over the calibration batch, widened to include 0:
  scale = (max - min) / 255, zero_point = round(-min / scale).
- Weights: int8 per output channel (axis 0), symmetric over [-127, 127]:
  scale[o] = max|w[o]| / 127, zero point 0.
- Bias: int32, scale[o] = input scale * weight scale[o], zero point 0.
- A Relu or Clip right after a Conv / Gemm / Add that feeds only it is
  removed: the producer's output Q takes the activation's range, whose zero
  point 0 (and top at the clip) does the clamping.
- MaxPool and Flatten outputs reuse their input's scale and zero point (the
  integer operator is then exact and ORT drops the Q/DQ pair around them).
- Every quantized tensor has one QuantizeLinear; each consumer reads it
  through its own DequantizeLinear (what ORT's EnsureUniqueDQForNodeUnit
  would otherwise make).
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper

import numpy_forward

QUANTIZED_OPS = {"Conv", "Gemm", "Add", "MaxPool", "GlobalAveragePool", "Flatten"}
SAME_AS_INPUT = {"MaxPool", "Flatten"}
REMOVABLE_ACTIVATIONS = {"Relu", "Clip"}
FUSING_PRODUCERS = {"Conv", "Gemm", "Add"}


def calibrate(model, batch):
    """MinMax ranges of every tensor over the calibration batch."""
    env = numpy_forward.run(model, batch)
    init = {t.name for t in model.graph.initializer}
    return {name: (float(v.min()), float(v.max())) for name, v in env.items() if name not in init}


def uint8_params(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0
    if scale == 0.0:
        scale = 1.0
    zero_point = int(np.clip(np.round(-lo / scale), 0, 255))
    return np.float32(scale), np.uint8(zero_point)


def int8_weight(w):
    """Per-output-channel symmetric int8: (q, scale[O])."""
    absmax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1).astype(np.float64)
    scale = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def int32_bias(b, input_scale, weight_scale):
    scale = (np.float64(input_scale) * weight_scale.astype(np.float64)).astype(np.float32)
    q = np.round(b.astype(np.float64) / scale.astype(np.float64)).astype(np.int32)
    return q, scale


def quantize_model(model, batch):
    """The QDQ model of the float model `model`, calibrated on `batch`."""
    g = model.graph
    ranges = calibrate(model, batch)
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {}
    consumers = {}
    for node in g.node:
        for out in node.output:
            producer[out] = node
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    # Activations folded into their producer: producer output -> activation output.
    alias = {}
    removed = set()
    for node in g.node:
        if node.op_type in REMOVABLE_ACTIVATIONS:
            src = node.input[0]
            if src in producer and producer[src].op_type in FUSING_PRODUCERS and len(consumers[src]) == 1:
                alias[src] = node.output[0]
                removed.add(node.name)
            else:
                raise ValueError(f"{node.name}: activation that no quantized producer absorbs")

    def real(name):
        return alias.get(name, name)

    graph_input = g.input[0].name
    graph_output = g.output[0].name
    params = {}  # tensor -> (scale, zero point), each tensor quantized once
    nodes, new_inits = [], []

    def add_params(tensor, scale, zp):
        params[tensor] = (scale, zp)
        new_inits.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), tensor + "_scale"))
        new_inits.append(numpy_helper.from_array(np.array(zp, dtype=np.uint8), tensor + "_zero_point"))

    def quantize_output(tensor, float_name, same_as=None):
        if same_as is not None:
            scale, zp = params[same_as]
        else:
            scale, zp = uint8_params(*ranges[tensor])
        add_params(tensor, scale, zp)
        nodes.append(
            helper.make_node("QuantizeLinear", [float_name, tensor + "_scale", tensor + "_zero_point"],
                             [tensor + "_quantized"], name=tensor + "_QuantizeLinear"))

    def dequantized(tensor, reader):
        out = f"{tensor}_dequantized_for_{reader}"
        nodes.append(
            helper.make_node("DequantizeLinear", [tensor + "_quantized", tensor + "_scale", tensor + "_zero_point"],
                             [out], name=f"{tensor}_DequantizeLinear_for_{reader}"))
        return out

    def constant_dq(name, q, scale, zp, reader):
        new_inits.append(numpy_helper.from_array(q, name + "_quantized"))
        new_inits.append(numpy_helper.from_array(scale, name + "_scale"))
        new_inits.append(numpy_helper.from_array(zp, name + "_zero_point"))
        out = name + "_dequantized"
        nodes.append(
            helper.make_node("DequantizeLinear", [name + "_quantized", name + "_scale", name + "_zero_point"], [out],
                             name=name + "_DequantizeLinear", axis=0))
        return out

    quantize_output(graph_input, graph_input)
    for node in g.node:
        if node.name in removed:
            continue
        if node.op_type not in QUANTIZED_OPS:
            raise ValueError(f"{node.name}: operator {node.op_type} has no QDQ rule here")
        inputs = list(node.input)
        if node.op_type in ("Conv", "Gemm"):
            x = real(inputs[0])
            inputs[0] = dequantized(x, node.name)
            wq, ws = int8_weight(inits[inputs[1]])
            inputs[1] = constant_dq(inputs[1], wq, ws, np.zeros(ws.shape, np.int8), node.name)
            if len(inputs) > 2:
                bq, bs = int32_bias(inits[inputs[2]], params[x][0], ws)
                inputs[2] = constant_dq(inputs[2], bq, bs, np.zeros(bs.shape, np.int32), node.name)
        else:
            inputs = [dequantized(real(name), node.name) for name in inputs]
        out = real(node.output[0])
        float_out = out + "_float" if out == graph_output else out
        new = helper.make_node(node.op_type, inputs, [float_out], name=node.name)
        new.attribute.extend(node.attribute)
        nodes.append(new)
        same_as = real(node.input[0]) if node.op_type in SAME_AS_INPUT else None
        quantize_output(out, float_out, same_as)
    nodes.append(
        helper.make_node("DequantizeLinear",
                         [graph_output + "_quantized", graph_output + "_scale", graph_output + "_zero_point"],
                         [graph_output], name=graph_output + "_DequantizeLinear"))

    graph = helper.make_graph(nodes, g.name + "_qdq", list(g.input), list(g.output), new_inits)
    qmodel = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="sparq make_networks.py")
    qmodel.ir_version = model.ir_version
    onnx.checker.check_model(qmodel)
    return qmodel
