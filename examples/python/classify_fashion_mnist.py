"""Classify the Fashion-MNIST test set with a sparq model, from Python.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/classify_fashion_mnist.py
"""
import sys
import time

import sparq

model_path = sys.argv[1] if len(sys.argv) > 1 else "examples/models/fashion_k3.sparq"
data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
model = sparq.Model.load(model_path)
session = sparq.Session(model)  # backends cpu, then reference; all cores
images = sparq.preprocess(model, sparq.read_idx_images(f"{data}/t10k-images-idx3-ubyte.gz"))
labels = sparq.read_idx_labels(f"{data}/t10k-labels-idx1-ubyte.gz")
correct, start = 0, time.perf_counter()
for first in range(0, len(images), 256):
    (logits,) = session.run(images[first : first + 256])  # a view: no copy
    correct += int((logits.argmax(axis=1) == labels[first : first + 256]).sum())
seconds = time.perf_counter() - start
print(f"{model.name}: accuracy {correct / len(images):.4f} ({correct}/{len(images)}), "
      f"{len(images) / seconds:.0f} images/s")
