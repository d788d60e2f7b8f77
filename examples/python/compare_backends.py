"""Run one model on each backend: accuracy, speed, agreement with the
reference backend, and what the chip model (device backend) estimates.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/compare_backends.py \
        [MODEL] [IMAGES]
"""
import sys
import time

import numpy as np
import sparq

model_path = sys.argv[1] if len(sys.argv) > 1 else "examples/models/fashion_k3.sparq"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
data = "/usr/share/datasets/fashion-mnist"
model = sparq.Model.load(model_path)
images = sparq.preprocess(model, sparq.read_idx_images(f"{data}/t10k-images-idx3-ubyte.gz")[:count])
labels = sparq.read_idx_labels(f"{data}/t10k-labels-idx1-ubyte.gz")[:count]

results = {}
print(f"{model.name}, {count} images, batch 64, one thread")
print(f"{'backend':<10} {'accuracy':>9} {'images/s':>10} {'same bits as reference':>23}")
for backend in ["reference", "cpu", "device"]:
    # The device backend computes with the cpu kernels and adds the chip's figures.
    session = sparq.Session(model, backends=[backend, "cpu", "reference"], threads=1)
    outputs, chip_seconds = [], 0.0
    start = time.perf_counter()
    for first in range(0, count, 64):
        (logits,), stats = session.run(images[first : first + 64], stats=True)
        outputs.append(logits)
        chip_seconds += sum(s["device_seconds"] for s in stats["steps"])
    seconds = time.perf_counter() - start
    logits = np.concatenate(outputs)
    results[backend] = logits
    accuracy = (logits.argmax(axis=1) == labels).mean()
    same = logits.tobytes() == results["reference"].tobytes()
    print(f"{backend:<10} {accuracy:>9.4f} {count / seconds:>10.0f} {str(same):>23}")
    if backend == "device":
        print(f"  the chip model: {chip_seconds * 1e3:.2f} ms simulated for the {count} images")

report = sparq.simulate(model)
total = report["total"]
print(f"chip at {report['config']['clock']['name']}: {total['cycles']} cycles per image, "
      f"{total['tops_per_watt']:.2f} TOPS/W")
