"""Prints every jndtf IQA metric next to the original MATLAB values (../shared/data/iqa-golden).

Run from the repository root::

    .venv/bin/python benchmarks/iqa_golden.py

The pairs go in as uint8 RGB, as the MATLAB originals read the PNG files (so each metric rounds
its grey conversion as MATLAB's rgb2gray does). SSIM is shown twice: the default (Wang's ssim.m,
with its automatic downsampling) and ``downsample=False`` (the older ssim_index.m, which the
table's SSIM row reproduces). Why each remaining gap is what it is: tests/iqa_tolerances.py.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from jndtf import iqa
from jndtf.io import load_image

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "iqa-golden"


def main() -> None:
    with open(GOLDEN / "reference_values.csv") as f:
        rows = {r["metric"]: r for r in csv.DictReader(f)}
    images = ("I03", "I04", "I06")
    ref = np.stack([load_image(GOLDEN / "ref" / f"{i}.png") for i in images])
    dist = np.stack([load_image(GOLDEN / "dist" / f"{i}.png") for i in images])
    variants = [(name, iqa.get(name), {}) for name in iqa.available() if name in rows]
    variants.append(("ssim (downsample=False)", iqa.get("ssim"), {"downsample": False}))
    print(f"{'metric':<26}" + "".join(f"{i:>34}" for i in images))
    for label, fn, kwargs in variants:
        ours = np.asarray(fn(ref, dist, **kwargs), dtype=np.float64)
        table = rows[label.split()[0]]
        cells = []
        for k, image in enumerate(images):
            want = float(table[image])
            rel = (ours[k] - want) / abs(want) if want else float("nan")
            cells.append(f"{ours[k]:.6g} / {want:.6g} ({rel:+.1e})")
        print(f"{label:<26}" + "".join(f"{c:>34}" for c in cells))


if __name__ == "__main__":
    main()
