"""Cost of DMV-JND-NET's E-D: parameters, MACs per 32x32 image, CPU time of one training step.

``python benchmarks/dmv_step.py [--preset dmv] [--batch 50] [--steps 10]`` prints the figures
with the CPU and its SIMD flags. The step is eq. (7)'s total loss (:func:`jndtf.losses.dmv.
dmv_loss`, Loss1 + Loss2 + Loss3) on random 32x32 images and CAMs, through ONE frozen stand-in
classifier (conv 32 + conv 64 + GAP + dense 10; printed separately): the paper's step runs four
CAM classifiers on x and x̂, whose cost depends on the classifiers chosen, so the E-D's share
(forward + backward + Adam) is what this measures. Timing is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/dmv_step.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--preset", default="dmv", help="DMV-JND-NET preset (dmv, dmv_tiny).")
    parser.add_argument("--batch", type=int, default=50, help="Batch size (paper: 50).")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps after 2 warm-ups.")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.steps < 1:
        parser.error("--batch and --steps must be >= 1")

    import keras
    import numpy as np
    import tensorflow as tf

    from jndtf.losses.dmv import dmv_loss
    from jndtf.models.dmv.network import build_dmv_net, perturb
    from jndtf.models.dmv.presets import macs_per_pixel
    from jndtf.sysinfo import cpu_line

    keras.utils.set_random_seed(0)
    net = build_dmv_net(args.preset)
    clf = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    clf.trainable = False
    opt = keras.optimizers.Adam(1e-5, weight_decay=1e-3)  # the paper's settings
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 256, (args.batch, 32, 32, 3)).astype(np.float32))
    cam = tf.constant(rng.random((args.batch, 32, 32), dtype=np.float32))
    inp = tf.concat([x / 255.0, cam[..., None]], axis=-1)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            e = net(inp, training=True)
            logits_hat = clf(perturb(x, e) / 255.0)
            loss = tf.reduce_mean(
                dmv_loss(clf(x / 255.0), logits_hat, cam, e, jnd_unit=127.5, from_logits=True)
            )
        grads = tape.gradient(loss, net.trainable_weights)
        opt.apply_gradients(zip(grads, net.trainable_weights, strict=True))
        return loss

    @tf.function
    def classifier_only():
        return clf(x / 255.0)

    for _ in range(2):
        step()
        classifier_only()
    times, ctimes = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step().numpy()
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        classifier_only().numpy()
        ctimes.append(time.perf_counter() - t0)
    macs = macs_per_pixel(args.preset)
    print(cpu_line())
    print(f"threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads() or 'all'}")
    print(
        f"preset {args.preset}: {net.count_params():,} parameters "
        f"({sum(int(np.prod(w.shape)) for w in net.trainable_weights):,} trainable)"
    )
    print(f"MACs: {macs:,.0f} per pixel, {macs * 32 * 32 / 1e6:.1f} M per 32x32 image")
    print(
        f"training step, batch {args.batch} (E-D forward+backward+Adam, eq. (7) via one frozen "
        f"stand-in classifier): median {np.median(times) * 1e3:.0f} ms, "
        f"min {min(times) * 1e3:.0f} ms over {args.steps} steps"
    )
    print(f"  of which one stand-in classifier forward: median {np.median(ctimes) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
