"""Cost of the four CAM classifiers of DMV-JND (jndtf.models.classifiers): parameters, MACs per
32x32 image, CPU time of one training step at batch 50 (eager graph and XLA), and the time per
CIFAR-10 epoch it implies (45,000 training images = 900 steps), to size the training.

``python benchmarks/cam_classifiers_step.py [--presets alexnet,vgg,resnet,densenet] [--steps 10]
[--no-xla]`` prints a Markdown table with the CPU and its SIMD flags. Random data: the step's
cost does not depend on the pixels. Timing is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _step_seconds(preset: str, x, y, steps: int, xla: bool) -> tuple[float, float, int]:
    import keras

    from jndtf.models.classifiers import build_cam_classifier

    keras.utils.set_random_seed(0)
    model = build_cam_classifier(preset)
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=xla,
    )
    for _ in range(2):  # tracing and warm-up
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), model.count_params()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="alexnet,vgg,resnet,densenet")
    parser.add_argument("--batch", type=int, default=50, help="Batch size (paper: 50).")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps after 2 warm-ups.")
    parser.add_argument("--no-xla", action="store_true", help="Skip the jit_compile=True rows.")
    args = parser.parse_args(argv)

    import numpy as np

    from jndtf.models.classifiers import macs_per_pixel
    from jndtf.sysinfo import cpu_line

    print(cpu_line(), "| load average", os.getloadavg())
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)
    steps_per_epoch = 45_000 / args.batch
    print(
        f"| preset | params | MMAC / 32x32 image | s / step, batch {args.batch} (median, min) "
        "| min / epoch (45,000 images) |"
    )
    print("|---|---|---|---|---|")
    for xla in (False,) if args.no_xla else (False, True):
        for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
            med, low, params = _step_seconds(preset, x, y, args.steps, xla)
            name = f"{preset} (XLA)" if xla else preset
            print(
                f"| {name} | {params:,} | {macs_per_pixel(preset) * 1024 / 1e6:.1f} | "
                f"{med:.3f}, {low:.3f} | {med * steps_per_epoch / 60:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
