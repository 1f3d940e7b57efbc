"""Quick rate-quality sweep of the JND-guided methods (jndtf.apply.methods) against plain JPEG.

For every image: a JND map per model, then for each method:strength and each encoder
(libjpeg-turbo via OpenCV, jpegli) a JPEG quality sweep; rate in bits per pixel, quality as
SSIMULACRA2 of the decoded image against the ORIGINAL. BD-rate (``bjontegaard``, pchip, overlapping
range only) of every curve against plain libjpeg-turbo and plain jpegli, per image and averaged.
Anchors "turbo+huff"/"jpegli+huff" are the plain files rewritten with optimized Huffman tables
(jpeglib, no coefficient changed), so the share of a dct saving that is only Huffman coding shows.

Run (tuning set = the first 12 photos, half size for speed; held-out = the last 8, full size):

    nice -n 10 python benchmarks/methods_rd.py --set tune --scale 0.5 --model yang2005 \
        --methods dct:0.5 dct:1 eq14:0.25 smooth:0.5 --out rd_tune.csv
    nice -n 10 python benchmarks/methods_rd.py --set test --model yang2005 --methods dct:1

Prints the CPU, a per-image table and the means; writes a CSV of every point with --out.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from jndtf.sysinfo import cpu_line as cpu_name

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "train-photos"
QUALITIES = (30, 40, 50, 60, 70, 80, 88, 94)


def score(original: np.ndarray, decoded: np.ndarray) -> float:
    """SSIMULACRA2 (the ``ssimulacra2`` package) of decoded against original, both uint8 RGB."""
    from PIL import Image
    from ssimulacra2 import compute_ssimulacra2

    bufs = []
    for a in (original, decoded):
        b = io.BytesIO()
        Image.fromarray(a).save(b, format="PPM")
        b.seek(0)
        bufs.append(b)
    return float(compute_ssimulacra2(*bufs))


def load(path: Path, scale: float, crop: str | None = None) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"error: cannot read {path}")
    if scale != 1.0:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if crop:  # the centre crop of `jndtf eval rd --crop` (never a resize)
        w, h = (int(v) for v in crop.lower().split("x"))
        y0, x0 = max(0, (rgb.shape[0] - h) // 2), max(0, (rgb.shape[1] - w) // 2)
        rgb = np.ascontiguousarray(rgb[y0 : y0 + h, x0 : x0 + w])
    return rgb


def curve_points(args):
    """(label, encoder, [(q, bpp, ssimulacra2, seconds)]) for one image and one curve."""
    path, scale, crop, model, label, method, strength, encoder, qualities = args
    from jndtf.apply.methods import decode_jpeg, get_method
    from jndtf.apply.methods.dct import suppress_jpeg
    from jndtf.jobs import compute_jnd

    image = load(path, scale, crop)
    jnd = compute_jnd(image, model) if method not in ("none", "huff") else None
    pixels = image.shape[0] * image.shape[1]
    rows = []
    for q in qualities:
        t0 = time.perf_counter()
        if method == "none":
            data = get_method("none").encode(
                image, np.zeros(image.shape[:2], np.float32), 0, q, encoder
            )
        elif method == "huff":
            plain = get_method("none").encode(
                image, np.zeros(image.shape[:2], np.float32), 0, q, encoder
            )
            data = suppress_jpeg(plain, np.zeros((*image.shape[:2], 1), np.float32), 0.0)
        else:
            data = make_method(method).encode(image, jnd, strength, q, encoder)
        sec = time.perf_counter() - t0
        rows.append((q, 8 * len(data) / pixels, score(image, decode_jpeg(data)), sec))
    return path.name, label, encoder, rows


def make_method(spec: str):
    """``name`` or ``name[key=value,...]``: the registered method, or its class with settings."""
    from jndtf.apply.methods import get_method

    name, _, rest = spec.partition("[")
    m = get_method(name)
    if not rest:
        return m
    kw = {k: float(v) for k, v in (item.split("=") for item in rest.rstrip("]").split(","))}
    kw = {k: int(v) if k in ("max_level", "d") else v for k, v in kw.items()}
    kw = {k: bool(v) if k == "shrink" else v for k, v in kw.items()}
    return type(m)(**kw)


def bd(anchor, test) -> float:
    import bjontegaard

    ra, da = [r[1] for r in anchor], [r[2] for r in anchor]
    rt, dt = [r[1] for r in test], [r[2] for r in test]
    try:
        return float(
            bjontegaard.bd_rate(
                ra, da, rt, dt, method="pchip", require_matching_points=False, min_overlap=0.5
            )
        )
    except Exception:  # no usable overlap: reported as NaN, never as a number
        return math.nan


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--set",
        choices=("tune", "test"),
        default="tune",
        help="tune: the first 12 photos (sorted); test: the last 8 (default tune)",
    )
    p.add_argument(
        "--images", type=int, default=0, help="use only the first N of the set (0 = all)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="resize factor for speed (default 1)")
    p.add_argument("--crop", help="centre crop WIDTHxHEIGHT after --scale (as eval rd --crop)")
    p.add_argument(
        "--model", default="yang2005", help="JND model for compute_jnd (default yang2005)"
    )
    p.add_argument("--methods", nargs="+", default=["dct:1"], help="method:strength items")
    p.add_argument("--encoders", nargs="+", default=["libjpeg-turbo", "jpegli"])
    p.add_argument("--qualities", type=int, nargs="+", default=list(QUALITIES))
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--out", type=Path, help="CSV of every point")
    a = p.parse_args(argv)

    files = sorted(PHOTOS.glob("*.png"))
    files = files[:12] if a.set == "tune" else files[-8:]
    if a.images:
        files = files[: a.images]
    curves = [("none", "none", 0.0), ("huff", "huff", 0.0)]
    for item in a.methods:
        name, _, s = item.rpartition(":") if "]" in item or ":" in item else (item, "", "")
        curves.append((item, name, float(s or 1.0)))
    jobs = [
        (f, a.scale, a.crop, a.model, lab, m, s, e, a.qualities)
        for f in files
        for (lab, m, s) in curves
        for e in a.encoders
    ]
    print(
        f"CPU: {cpu_name()}; {len(files)} images ({a.set}), scale {a.scale}, model {a.model}, "
        f"{len(jobs)} curves, {a.workers} workers",
        flush=True,
    )
    results: dict = {}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as pool:
        for i, (img, lab, enc, rows) in enumerate(pool.map(curve_points, jobs), 1):
            results[(img, lab, enc)] = rows
            print(
                f"\r{i}/{len(jobs)} curves, {time.perf_counter() - t0:.0f} s",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    if a.out:
        tmp = a.out.with_suffix(a.out.suffix + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "curve", "encoder", "quality", "bpp", "ssimulacra2", "seconds"])
            for (img, lab, enc), rows in results.items():
                for r in rows:
                    w.writerow([img, lab, enc, *r])
        os.replace(tmp, a.out)

    names = sorted({k[0] for k in results})
    anchors = {"turbo": "libjpeg-turbo", "jpegli": "jpegli"}
    print("\nBD-rate % at equal SSIMULACRA2 (pchip, overlapping range; negative = fewer bits)")
    header = f"{'curve':<16}{'encoder':<15}" + "".join(f"{'vs ' + k:>12}" for k in anchors)
    print(header + "   per image vs own plain encoder")
    for lab, _, _ in curves:
        for enc in a.encoders:
            if lab == "none" and enc in anchors.values():
                pass
            means, per = [], []
            for anc in anchors.values():
                if anc not in a.encoders:
                    means.append(math.nan)
                    continue
                vals = [bd(results[(n, "none", anc)], results[(n, lab, enc)]) for n in names]
                means.append(
                    float(np.nanmean(vals)) if not all(map(math.isnan, vals)) else math.nan
                )
            per = [bd(results[(n, "none", enc)], results[(n, lab, enc)]) for n in names]
            print(
                f"{lab:<16}{enc:<15}"
                + "".join(f"{m:>12.2f}" for m in means)
                + "   "
                + " ".join(f"{v:+.1f}" for v in per)
            )
    print("\nmean SSIMULACRA2 / bpp at each quality (all images)")
    for lab, _, _ in curves:
        for enc in a.encoders:
            pts = np.array([[r[1], r[2], r[3]] for n in names for r in results[(n, lab, enc)]])
            pts = pts.reshape(len(names), len(a.qualities), 3).mean(axis=0)
            print(
                f"{lab:<16}{enc:<15}"
                + " ".join(
                    f"q{q}:{b:.3f}/{s:.1f}" for q, (b, s, _) in zip(a.qualities, pts, strict=True)
                )
            )
            print(f"{'':<31}mean encode+method time {pts[:, 2].mean() * 1e3:.0f} ms/image")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
