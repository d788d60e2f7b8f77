#!/usr/bin/python3
"""Writes the ONNX import fixtures: small CNNs exported by torch.onnx.export
at opsets 11 and 13 (and three of them at 17), each with one input and
PyTorch's output as raw little-endian float32 files.

Run with Debian's python3-torch:  /usr/bin/python3 tests/onnx/make_fixtures.py
The files are committed, so the C++ tests need no torch at run time.
Every model runs in eval mode with randomised BatchNorm statistics, so folding
BatchNorm is exercised with non-trivial mean / variance.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def conv_bn(cin, cout, k=3, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.f(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = nn.Sequential(*conv_bn(cin, cout, 3, stride), nn.ReLU())
        self.b = nn.Sequential(*conv_bn(cout, cout, 3, 1))
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(*conv_bn(cin, cout, 1, stride))

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        return F.relu(self.b(self.a(x)) + s)


class ResNet(nn.Module):
    """stem + stages of BasicBlocks + global pool + linear (ResNet-18 / CIFAR ResNet-20 layouts)."""

    def __init__(self, in_ch, widths, blocks, classes, imagenet_stem):
        super().__init__()
        if imagenet_stem:
            self.stem = nn.Sequential(nn.Conv2d(in_ch, widths[0], 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(*conv_bn(in_ch, widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class MobileNetV1(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2)]
        layers = [*conv_bn(3, 8, 3, 2), nn.ReLU6()]
        for cin, cout, s in cfg:
            layers += [*conv_bn(cin, cin, 3, s, groups=cin), nn.ReLU6(), *conv_bn(cin, cout, 1), nn.ReLU6()]
        self.f = nn.Sequential(*layers)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.avg_pool2d(self.f(x), 4)
        return self.fc(x.view(x.size(0), -1))


class Vgg11Bn(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32, "M"]
        layers, cin = [], 3
        for c in cfg:
            if c == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                cin = c
        self.f = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(), nn.Linear(32, 32), nn.ReLU(), nn.Dropout(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(torch.flatten(self.f(x), 1))


class HeadIdioms(nn.Module):
    """Concat of two branches, a standalone BatchNorm, average pooling without
    counting padding, sigmoid gating, mean over dims, squeeze, view, clamp,
    scalar arithmetic and log_softmax."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(3, 10, 1)
        self.bn = nn.BatchNorm2d(16)
        self.pool = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.gate = nn.Conv2d(16, 16, 1)
        self.fc1 = nn.Linear(16, 12)
        self.fc2 = nn.Linear(12, 5)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), torch.sigmoid(self.b(x))], dim=1)
        y = self.pool(self.bn(y))
        y = y * torch.sigmoid(self.gate(y))
        y = torch.clamp(y - 0.25, min=-1.0, max=2.0) * 1.5
        y = y.mean(dim=(2, 3), keepdim=True)
        y = y.squeeze(3).squeeze(2)
        y = y + 0.1 * torch.sigmoid(y)
        y = F.relu(self.fc1(y.view(y.size(0), -1)))
        return F.log_softmax(self.fc2(y), dim=1)


def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.8 + 0.4)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.8 + 0.6)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def prune_taps(model, k, out_group=1, in_group=1):
    """Keeps the k largest-|w| taps of every 3x3 kernel (in groups of
    out_group x in_group kernels sharing positions) of every non-first 3x3 conv."""
    first = True
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.groups == 1:
            if first:
                first = False
                continue
            w = m.weight.data
            o, i = w.shape[0], w.shape[1]
            mask = torch.zeros_like(w)
            for og in range(0, o, out_group):
                for ig in range(0, i, in_group):
                    score = w[og:og + out_group, ig:ig + in_group].abs().sum(dim=(0, 1)).flatten()
                    keep = torch.topk(score, k).indices
                    flat = torch.zeros(9)
                    flat[keep] = 1
                    mask[og:og + out_group, ig:ig + in_group] = flat.view(3, 3)
            w.mul_(mask)


def export(name, model, shape, opset, gen, **kwargs):
    model.eval()
    x = torch.randn(1, *shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, f"{name}_op{opset}")
    torch.onnx.export(model, x, path + ".onnx", opset_version=opset, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                      **kwargs)
    x.numpy().astype("<f4").tofile(path + ".input.f32")
    y.numpy().astype("<f4").tofile(path + ".output.f32")


class FashionCnn(nn.Module):
    """The small CNN at Fashion-MNIST size (1x28x28), for the end-to-end
    import -> prune -> QAT -> export test of sparq-train."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                               nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                               nn.MaxPool2d(2), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.f(x), 1))


def read_idx_images(path):
    import gzip
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[o:o + 4], "big") for o in (4, 8, 12))
    return torch.from_numpy(np.frombuffer(data, np.uint8, n * h * w, 16).reshape(n, 1, h, w).copy())


def read_idx_labels(path):
    import gzip
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=8).astype(np.int64))


def fashion_cnn(data="/usr/share/datasets/fashion-mnist"):
    """Trained for one epoch on Fashion-MNIST (inputs pixel / 255, nothing
    else), as a user's model would be; exported at opset 13."""
    torch.manual_seed(14)
    model = FashionCnn()
    images = read_idx_images(os.path.join(data, "train-images-idx3-ubyte.gz")).float() / 255
    labels = read_idx_labels(os.path.join(data, "train-labels-idx1-ubyte.gz"))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    order = torch.randperm(images.size(0))
    for start in range(0, images.size(0), 128):
        index = order[start:start + 128]
        optimizer.zero_grad()
        F.cross_entropy(model(images[index]), labels[index]).backward()
        optimizer.step()
    gen = torch.Generator().manual_seed(14)
    export("fashion_cnn", model, (1, 28, 28), 13, gen)


def main():
    os.makedirs(OUT, exist_ok=True)
    fashion_cnn()
    for opset in (11, 13, 17):
        gen = torch.Generator().manual_seed(14 + opset)
        torch.manual_seed(14 + opset)
        models = {
            "small_cnn": (SmallCnn(), (1, 16, 16), {}),
            "resnet18": (ResNet(3, [8, 16, 16, 32], [2, 2, 2, 2], 10, True), (3, 32, 32), {}),
            "resnet20": (ResNet(3, [4, 8, 16], [3, 3, 3], 10, False), (3, 16, 16), {}),
            "mobilenet_v1": (MobileNetV1(), (3, 32, 32), {}),
            "vgg11_bn": (Vgg11Bn(), (3, 32, 32), {}),
            "resnet20_bn_unfolded": (ResNet(3, [4, 8, 16], [3, 3, 3], 10, False), (3, 16, 16),
                                     {"do_constant_folding": False,
                                      "training": torch.onnx.TrainingMode.PRESERVE}),
            "head_idioms": (HeadIdioms(), (3, 12, 12), {}),
        }
        if opset == 17:  # the newest opset sparq imports: three models are enough
            models = {k: models[k] for k in ("small_cnn", "mobilenet_v1", "head_idioms")}
        for name, (model, shape, kwargs) in models.items():
            randomise_bn(model, gen)
            export(name, model, shape, opset, gen, **kwargs)
        if opset == 17:
            continue
        # Already-pruned weights: k = 3 per kernel, and k = 4 shared by 16 x 4 kernels.
        pruned = ResNet(3, [16, 32], [1, 1], 10, False)
        randomise_bn(pruned, gen)
        prune_taps(pruned, 3)
        export("pruned_k3", pruned, (3, 12, 12), opset, gen)
        shared = ResNet(3, [16, 32], [1, 1], 10, False)
        randomise_bn(shared, gen)
        prune_taps(shared, 4, 16, 4)
        export("pruned_k4_shared16x4", shared, (3, 12, 12), opset, gen)


if __name__ == "__main__":
    sys.exit(main())
