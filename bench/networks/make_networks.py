#!/usr/bin/python3
"""Writes the end-to-end benchmark networks as ONNX: a float32 model and its
static int8 QDQ twin (see qdq.py) for one architecture, tap count and
pattern sharing, with synthetic weights of the right structure.

  /usr/bin/python3 bench/networks/make_networks.py --arch resnet18 --k 1 \
      --sharing shared --seed 1 --out DIR

writes DIR/<arch>_k<K>_<sharing>.fp32.onnx and .qdq.onnx (mobilenet_v1 is
dense: DIR/mobilenet_v1_dense.*) and prints one JSON line describing them.

Every network is float32 NCHW, opset 13, input "input" [batch, C, H, W],
output "logits" [batch, classes], with BatchNorm already folded (each Conv
carries its bias). Weights are He-normal from the seed; every 3x3
convolution except the network's first and the depthwise ones keeps exactly
k of its 9 taps per kernel (patterns.py), the others are exactly 0. The He
fan-in counts only the kept taps, so activations keep their scale at any k.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import patterns  # noqa: E402
import qdq  # noqa: E402

OPSET = 13
CALIBRATION_IMAGES = 8


class Net:
    """Collects nodes and initializers of one float32 network."""

    def __init__(self, rng, k, sharing):
        self.rng, self.k, self.sharing = rng, k, sharing
        self.nodes, self.inits = [], []
        self.pruned_layers = 0
        self.first_conv = True

    def _init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def _he_normal(self, shape, fan_in):
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        # A kept tap must be a tap: redraw the (vanishingly rare) exact zeros.
        while not np.all(w):
            zeros = w == 0
            w[zeros] = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=int(zeros.sum()))
        return w

    def conv(self, x, name, out_channels, in_channels, kernel, stride=1, group=1):
        """Conv with bias (BatchNorm folded), 'same' padding for odd kernels."""
        cg = in_channels // group
        shape = (out_channels, cg, kernel, kernel)
        pruned = kernel == 3 and group == 1 and not self.first_conv
        self.first_conv = False
        if pruned:
            self.pruned_layers += 1
            w = self._he_normal(shape, cg * self.k)
            mask = patterns.tap_mask(self.rng, self.sharing, out_channels, cg, self.k)
            w = w * mask.reshape(shape)
        else:
            w = self._he_normal(shape, cg * kernel * kernel)
        b = self.rng.normal(0.0, 0.01, size=out_channels)
        pad = kernel // 2
        self.nodes.append(
            helper.make_node("Conv", [x, self._init(name + ".weight", w), self._init(name + ".bias", b)], [name],
                             name=name, kernel_shape=[kernel, kernel], strides=[stride, stride],
                             pads=[pad, pad, pad, pad], group=group))
        return name

    def relu(self, x):
        out = x + ".relu"
        self.nodes.append(helper.make_node("Relu", [x], [out], name=out))
        return out

    def relu6(self, x):
        out = x + ".relu6"
        lo = self._init(out + ".min", np.array(0.0))
        hi = self._init(out + ".max", np.array(6.0))
        self.nodes.append(helper.make_node("Clip", [x, lo, hi], [out], name=out))
        return out

    def add(self, a, b, name):
        self.nodes.append(helper.make_node("Add", [a, b], [name], name=name))
        return name

    def max_pool(self, x, name, kernel, stride, pad):
        self.nodes.append(
            helper.make_node("MaxPool", [x], [name], name=name, kernel_shape=[kernel, kernel],
                             strides=[stride, stride], pads=[pad, pad, pad, pad]))
        return name

    def classifier(self, x, in_features, classes, pool=True):
        if pool:
            self.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
            x = "gap"
        self.nodes.append(helper.make_node("Flatten", [x], ["flatten"], name="flatten", axis=1))
        w = self._he_normal((classes, in_features), in_features)
        b = self.rng.normal(0.0, 0.01, size=classes)
        self.nodes.append(
            helper.make_node("Gemm", ["flatten", self._init("fc.weight", w), self._init("fc.bias", b)], ["logits"],
                             name="fc", transB=1))

    def model(self, name, input_shape, classes):
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch"] + list(input_shape))
        out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])
        graph = helper.make_graph(self.nodes, name, [inp], [out], self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="sparq make_networks.py")
        m.ir_version = 8  # opset 13 models load in every runtime from ONNX 1.10 on
        onnx.checker.check_model(m)
        return m


def basic_block(net, x, name, in_ch, out_ch, stride):
    """ResNet basic block: two 3x3 convs, identity or 1x1 conv shortcut."""
    y = net.relu(net.conv(x, name + ".conv1", out_ch, in_ch, 3, stride))
    y = net.conv(y, name + ".conv2", out_ch, out_ch, 3)
    shortcut = x
    if stride != 1 or in_ch != out_ch:
        shortcut = net.conv(x, name + ".downsample", out_ch, in_ch, 1, stride)
    return net.relu(net.add(y, shortcut, name + ".add"))


def residual_stages(net, x, widths, blocks):
    """Stages of `blocks` basic blocks; the first block of every stage but the
    first has stride 2. The input has widths[0] channels."""
    in_ch = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = basic_block(net, x, f"layer{stage + 1}.{block}", in_ch, width, stride)
            in_ch = width
    return x


def resnet18(net):
    x = net.relu(net.conv("input", "conv1", 64, 3, 7, 2))
    x = net.max_pool(x, "maxpool", 3, 2, 1)
    x = residual_stages(net, x, [64, 128, 256, 512], 2)
    net.classifier(x, 512, 1000)
    return (3, 224, 224), 1000


def resnet20(net):
    x = net.relu(net.conv("input", "conv1", 16, 3, 3))
    x = residual_stages(net, x, [16, 32, 64], 3)
    net.classifier(x, 64, 10)
    return (3, 32, 32), 10


def vgg11(net):
    # The CIFAR variant of VGG-11: the five pools leave 512 x 1 x 1, and one
    # fully connected layer classifies (no 4096-wide hidden layers).
    x, in_ch, index = "input", 3, 0
    for item in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if item == "M":
            x = net.max_pool(x, f"features.pool{index}", 2, 2, 0)
        else:
            x = net.relu(net.conv(x, f"features.conv{index}", item, in_ch, 3))
            in_ch = item
        index += 1
    net.classifier(x, 512, 10, pool=False)
    return (3, 32, 32), 10


def mobilenet_v1(net):
    x = net.relu6(net.conv("input", "conv1", 32, 3, 3, 2))
    blocks = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)]
    blocks += [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    for i, (cin, cout, stride) in enumerate(blocks):
        x = net.relu6(net.conv(x, f"block{i + 1}.depthwise", cin, cin, 3, stride, group=cin))
        x = net.relu6(net.conv(x, f"block{i + 1}.pointwise", cout, cin, 1))
    net.classifier(x, 1024, 1000)
    return (3, 224, 224), 1000


ARCHITECTURES = {"resnet18": resnet18, "resnet20": resnet20, "vgg11": vgg11, "mobilenet_v1": mobilenet_v1}


def calibration_batch(seed, input_shape):
    return np.random.default_rng([seed, 1]).standard_normal((CALIBRATION_IMAGES,) + tuple(input_shape),
                                                            dtype=np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES))
    p.add_argument("--k", type=int, default=9, help="taps kept per 3x3 kernel, 1..9 (ignored for mobilenet_v1)")
    p.add_argument("--sharing", default="random", choices=["random", "shared"],
                   help="per-kernel patterns, or one per 16x4 block (ignored for mobilenet_v1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="output directory")
    a = p.parse_args(argv)
    if not 1 <= a.k <= 9:
        p.error(f"--k must be in 1..9, got {a.k}")
    if a.seed < 0:
        p.error("--seed must be non-negative")

    dense = a.arch == "mobilenet_v1"
    name = f"{a.arch}_dense" if dense else f"{a.arch}_k{a.k}_{a.sharing}"
    net = Net(np.random.default_rng(a.seed), a.k, a.sharing)
    input_shape, classes = ARCHITECTURES[a.arch](net)
    fp32 = net.model(name, input_shape, classes)
    quantized = qdq.quantize_model(fp32, calibration_batch(a.seed, input_shape))

    os.makedirs(a.out, exist_ok=True)
    fp32_path = os.path.join(a.out, name + ".fp32.onnx")
    qdq_path = os.path.join(a.out, name + ".qdq.onnx")
    onnx.save(fp32, fp32_path)
    onnx.save(quantized, qdq_path)
    print(json.dumps({
        "name": name,
        "fp32": fp32_path,
        "qdq": qdq_path,
        "input_shape": list(input_shape),
        "classes": classes,
        "pruned_layers": net.pruned_layers,
        "k": 9 if dense else a.k,
        "sharing": "dense" if dense else a.sharing,
        "seed": a.seed,
        "calibration_images": CALIBRATION_IMAGES,
    }))


if __name__ == "__main__":
    main()
