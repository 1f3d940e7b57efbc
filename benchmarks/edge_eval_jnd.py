"""The ACoL-JND paper's protocol (`jndtf eval jnd`) on the maps the edge runtime deploys.

`jndtf eval jnd` runs learned models in Keras at the image's full size. The edge runs other
things: the shipped ``acol`` int8 export at a fixed 320x180 (its map resized to the frame) and
the ``acol_student`` int8 export at the frame's full size. This script scores exactly those
maps (:class:`jndtf.edge.JndMapper`, IMAGE mode, no reuse) beside the teacher in Keras at full
size, Wu 2017 and the uniform control: each map injected by eq. (7) at 26.06 dB with the same
noise signs, scored by the IQA metrics and SSIMULACRA2, and a head-to-head count against the
first edge model.

    python benchmarks/edge_eval_jnd.py --data DIR [--size 640x360] [--metrics ...]

Images are centre-cropped to --size (no resize), as a camera frame of that size would be.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def edge_fn(model: str):
    from jndtf.edge import JndMapper

    mapper = JndMapper.create_from_model_path(model)
    return lambda image: np.asarray(mapper.process(image).jnd, np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of held-out photos")
    parser.add_argument("--size", default="640x360", help="frame WIDTHxHEIGHT (centre crop)")
    parser.add_argument("--metrics", default="nlpd,mad,vif,ms_ssim,ssimulacra2")
    parser.add_argument("--psnr", type=float, default=26.06)
    args = parser.parse_args()

    from jndtf.apply import inject
    from jndtf.evaluate.protocol import _score, resolve_metrics
    from jndtf.io import iter_images, load_image, parse_size
    from jndtf.jobs import jnd_function
    from jndtf.sysinfo import cpu_line

    w, h = parse_size(args.size, "--size")
    images = {}
    for p in sorted(iter_images(args.data)):
        im = load_image(p)
        if im.shape[0] < h or im.shape[1] < w:
            raise SystemExit(f"{p}: {im.shape[1]}x{im.shape[0]} is smaller than --size {args.size}")
        y, x = (im.shape[0] - h) // 2, (im.shape[1] - w) // 2
        images[p.stem] = im[y : y + h, x : x + w]
    models = {
        "acol_student int8 (full size)": edge_fn("acol_student"),
        "acol int8 320x180 (edge default)": edge_fn("acol"),
        "acol Keras (full size)": jnd_function("acol"),
        "wu2017": jnd_function("wu2017"),
        "uniform": lambda im: np.ones((*im.shape[:2], 1), np.float32),
    }
    metrics = resolve_metrics(args.metrics.split(","))
    scores = {m: {k: [] for k in metrics} for m in models}
    for name, image in images.items():
        injected = [
            inject(image, fn(image), psnr=args.psnr, seed=0).image for fn in models.values()
        ]
        for metric, (fn, _) in metrics.items():
            for model, value in zip(models, _score(metric, fn, name, image, injected), strict=True):
                scores[model][metric].append(value)
        print(f"scored {name}", flush=True)

    print(f"\n{len(images)} photos of {args.data}, centre {args.size}; {cpu_line()}")
    print(" | ".join(["model", *metrics]))
    for model in models:
        print(" | ".join([model, *[f"{np.mean(scores[model][m]):.4f}" for m in metrics]]))
    first = next(iter(models))
    print(f"\nimages where {first} scores better:")
    for other in list(models)[1:]:
        cells = []
        for m, (_, higher) in metrics.items():
            a, b = np.array(scores[first][m]), np.array(scores[other][m])
            cells.append(f"{m} {int(np.sum(a > b if higher else a < b))}/{len(a)}")
        print(f"  vs {other}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
