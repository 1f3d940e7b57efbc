"""The README's ACoL-JND pictures: original | JND map | eq. (7) noise at 26.06 dB, per photo.

Three of scikit-image's photos, which no training step of the shipped weights saw (they train on
``../shared/data/train-photos``), each beside Wu 2017's map at the same PSNR and the same noise
signs. The maps are computed on the whole photo; the figure shows a 320x240 crop at 1:1 pixels
(a resize would average the noise away), as JPEG q95 (the files stay small) in ``docs/figures/``:

    python benchmarks/acol_figures.py [--model acol] [--out docs/figures]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

#: photo -> (top, left) of the 320x240 crop shown: the cup's rim, a face, fur and eyes.
PHOTOS = {"coffee": (90, 150), "astronaut": (20, 120), "chelsea": (40, 100)}
CROP = (240, 320)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="acol", help="learned model (default: acol)")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--psnr", type=float, default=26.06)
    args = parser.parse_args()

    from jndtf.apply import inject
    from jndtf.demo import side_by_side
    from jndtf.io import atomic_write_bytes
    from jndtf.jobs import jnd_function
    from jndtf.samples import sample_images

    images = sample_images(tuple(PHOTOS))
    models = {args.model: jnd_function(args.model), "wu2017": jnd_function("wu2017")}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        rows = []
        for label, fn in models.items():
            jnd = np.asarray(fn(image), np.float32)
            res = inject(image, jnd, psnr=args.psnr, seed=0)
            (top, left), (h, w) = PHOTOS[name], CROP
            crop = (slice(top, top + h), slice(left, left + w))
            panel = side_by_side(image[crop], jnd[crop], res.image[crop])
            cv2.putText(
                panel, f"{label}: {res.psnr:.2f} dB", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                (255, 255, 255), 2, cv2.LINE_AA,
            )  # fmt: skip
            rows.append(panel)
        width = max(r.shape[1] for r in rows)
        rows = [
            np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows
        ]
        figure = np.concatenate(rows, axis=0)
        ok, data = cv2.imencode(".jpg", figure[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        path = args.out / f"acol_{name}.jpg"
        atomic_write_bytes(path, data.tobytes())
        print(f"wrote {path} ({len(data) / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
