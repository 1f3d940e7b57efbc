"""Why the A-IQA term of eq. (6) was ~1e-5: each metric of L1 on eq. (3)'s and eq. (7)'s images.

Runs a JND model (default: the shipped ACoL-JND) on 176 x 176 crops of scikit-image's photos and
prints, for the model's map, a tenth of it (the scale of a freshly initialised network) and a
uniform 7-grey-level map, injected by eq. (3) (``x_o + x_j``) and with random signs (eq. (7),
``x_o + R·x_j``): the PSNR, the A-IQA route, the A-IQA loss L1 and each metric's loss, and
η·L2 (eq. (5)) beside them. Nothing is asserted: this prints numbers.

Usage::

    python -m jndtf.train.acol.diagnose                      # shipped weights
    python -m jndtf.train.acol.diagnose --model runs/acol/model.keras --crops 4
"""

from __future__ import annotations

import argparse

import numpy as np

from jndtf.metrics import psnr as psnr_db

#: the metrics of jndtf's A-IQA groups (jndtf.models.aiqa.loss.DEFAULT_GROUP_METRICS)
METRICS = ("vifp", "nlpd", "gmsd", "ms_ssim", "fsim", "ssim")


def _crops(per_photo: int, size: int = 176, seed: int = 0):
    from skimage import data

    from jndtf.models.inputs import acol_input

    rng = np.random.default_rng(seed)
    xs, ins = [], []
    for img in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket()):
        inp = acol_input(img)
        for _ in range(per_photo):
            t = rng.integers(0, img.shape[0] - size)
            left = rng.integers(0, img.shape[1] - size)
            xs.append(img[t : t + size, left : left + size].astype(np.float32))
            ins.append(inp[t : t + size, left : left + size])
    return np.stack(xs), np.stack(ins)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default=None, help="a .keras JND model (default: shipped)")
    parser.add_argument("--crops", type=int, default=2, help="crops per photo (default 2)")
    parser.add_argument("--eta", type=float, default=0.1, help="η of eq. (6) (default 0.1)")
    args = parser.parse_args(argv)

    from pathlib import Path

    import keras
    from keras import ops

    import jndtf.models.acol.layers  # registers the layers
    from jndtf.losses import gradient_loss
    from jndtf.losses.iqa_loss import metric_loss
    from jndtf.models.aiqa.loss import DEFAULT_GROUP_METRICS, AIQALoss, route

    shipped = Path(jndtf.models.acol.layers.__file__).resolve().parents[2] / "weights" / "acol"
    path = args.model or str(shipped / "acol.keras")
    net = keras.saving.load_model(path, compile=False)
    x, inp = _crops(args.crops)
    jnd = np.asarray(net(inp))
    aiqa = AIQALoss()
    groups = list(DEFAULT_GROUP_METRICS)
    signs = np.where(np.random.default_rng(1).random(x.shape) < 0.5, -1.0, 1.0).astype("f4")
    print(
        f"model {path}: {len(x)} crops of 176x176; map mean per channel "
        f"{np.round(jnd.mean((0, 1, 2)), 2).tolist()}"
    )
    l2 = float(ops.mean(gradient_loss(x, jnd)))
    print(f"eta * L2 (eq. 5) of the model's map: {args.eta * l2:.3e}")
    cases = (("model map", jnd), ("0.1 x map", 0.1 * jnd), ("uniform 7", np.full_like(jnd, 7.0)))
    for label, j in cases:
        for how, d in (("eq.3 add", x + j), ("eq.7 signs", x + signs * j)):
            r = groups[int(route(aiqa.classifier, x, d))]
            l1 = float(ops.mean(aiqa.call(x, d)))
            psnr = psnr_db(np.asarray(x), np.asarray(d))
            per = " ".join(f"{m} {float(ops.mean(metric_loss(x, d, m))):.1e}" for m in METRICS)
            print(f"{label:10s} {how:10s} PSNR {psnr:5.2f} route {r:12s} L1 {l1:.2e} | {per}")


if __name__ == "__main__":
    main()
