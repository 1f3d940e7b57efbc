"""Peak memory per megapixel of every JND model, as `jndtf jnd` / `jndtf baseline` run them.

For each model and each image size, a fresh child process imports jndtf (and Keras for the
learned models), loads the model, then runs :func:`jndtf.jobs.write_jnd` (decode, map, write the
.npy and .png) on a synthesized photo-like PNG of that size, and reports its peak resident set
(``VmHWM`` of ``/proc/self/status``) before and after the job. With two or more sizes the table
gives the fit ``peak ≈ fixed + slope · MP`` (least squares): ``slope`` is the memory a megapixel
costs (image, map, outputs, whole-image priors), ``fixed`` the interpreter, libraries, model and
one tile's or band's working set. The stated bound of the CLI is built from these numbers.

Usage:
    OMP_NUM_THREADS=2 nice -n 10 python benchmarks/memory_per_mp.py --sizes 2,6
    python benchmarks/memory_per_mp.py --models yang2005,acol --sizes 1,4 --tile 1024

Prints the CPU and its SIMD flags, a Markdown table and writes nothing else (the synthesized
images live in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from jndtf.baselines import available as classical_models
from jndtf.refs import DEFAULT_JND_MODEL
from jndtf.sysinfo import cpu_line

CLASSICAL = classical_models()

_CHILD = r"""
import json, sys, time
from pathlib import Path

def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM")

path, out, model, tile = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from jndtf import jobs
jobs.jnd_function(model)  # import and load the model first: part of the fixed cost
before = hwm_mb()
t0 = time.perf_counter()
rec = jobs.write_jnd(Path(path), Path(out), model, tile=tile, max_megapixels=1e9)
print(json.dumps({"before_mb": before, "peak_mb": hwm_mb(),
                  "seconds": time.perf_counter() - t0}))
"""


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB image of any size from scikit-image's real photos, tiled with random flips
    and a little noise (so no two tiles are identical and Canny finds ordinary edges)."""
    from skimage import data

    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    photos = [cv2.resize(p, (512, 512), interpolation=cv2.INTER_AREA) for p in photos]
    out = np.empty((height, width, 3), np.uint8)
    for y in range(0, height, 512):
        for x in range(0, width, 512):
            p = photos[rng.integers(len(photos))]
            if rng.random() < 0.5:
                p = p[:, ::-1]
            h, w = min(512, height - y), min(512, width - x)
            out[y : y + h, x : x + w] = p[:h, :w]
    noise = rng.integers(-2, 3, size=(height, 1, 1), dtype=np.int16)
    return np.clip(out.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def write_png(path: Path, image: np.ndarray) -> None:
    ok = cv2.imwrite(
        str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]
    )
    if not ok:
        raise OSError(f"cannot write {path}")


def run_child(path: Path, out: Path, model: str, tile: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(out), model, str(tile)],
        capture_output=True,
        text=True,
        env=env,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{model} on {path.name} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def fit(mps: list[float], peaks: list[float]) -> tuple[float, float]:
    if len(mps) < 2:
        return float("nan"), float("nan")
    slope, fixed = np.polyfit(mps, peaks, 1)
    return float(fixed), float(slope)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join([*CLASSICAL, DEFAULT_JND_MODEL]))
    ap.add_argument("--sizes", default="2,6", help="image sizes in megapixels (4:3)")
    ap.add_argument("--tile", type=int, default=1024, help="--tile of the CLI (0: whole image)")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sizes = [float(s) for s in args.sizes.split(",")]
    print(f"CPU: {cpu_line()}; Python {platform.python_version()}; tile {args.tile}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = []
        for mp in sizes:
            w = round(math.sqrt(mp * 1e6 * 4 / 3))
            h = round(mp * 1e6 / w)
            path = tmp / f"img_{w}x{h}.png"
            write_png(path, photo_like(h, w))
            images.append((path, w * h / 1e6, f"{w}x{h}"))
        for model in models:
            mps, peaks = [], []
            for path, mp, label in images:
                t0 = time.perf_counter()
                r = run_child(path, tmp / "out", model, args.tile)
                mps.append(mp)
                peaks.append(r["peak_mb"])
                print(
                    f"  {model:<12} {label:>11} ({mp:5.2f} MP): peak {r['peak_mb']:8.0f} MB "
                    f"(after loading {r['before_mb']:6.0f} MB), job {r['seconds']:6.1f} s "
                    f"({r['seconds'] / mp:5.1f} s/MP), child {time.perf_counter() - t0:5.1f} s",
                    flush=True,
                )
            fixed, slope = fit(mps, peaks)
            rows.append((model, fixed, slope, peaks, mps))
    print()
    print("| model | fixed (MB) | per MP (MB/MP = B/px) | peak at each size (MB) |")
    print("|---|---:|---:|---|")
    for model, fixed, slope, peaks, mps in rows:
        each = ", ".join(f"{p:.0f} @ {m:.1f} MP" for p, m in zip(peaks, mps, strict=True))
        print(f"| {model} | {fixed:.0f} | {slope:.1f} | {each} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
