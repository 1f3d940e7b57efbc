"""Times Wu 2017 on a 1920x1080 grey image on one core, beside a per-pixel count.

Run from the repository root::

    .venv/bin/python benchmarks/bench_wu2017.py [--repeats 5] [--crop 256]

The image is ``cv2.resize`` of scikit-image's astronaut (grey, OpenCV's RGB2GRAY) to 1920x1080,
as in ../shared/data/jnd-reference/README.md ("Speed of the ports"). One core: OpenCV, OpenMP and
BLAS are limited to one thread before numpy/OpenCV load. Prints figures; asserts nothing.

Two things are timed:

1. ``wu2017`` (the whole model) and each stage of it, median of ``--repeats`` runs;
2. the distinct-orientation count (the model's only neighbourhood "set" operation) done two ways
   on the same codes: the vectorized bit-OR + popcount of :mod:`jndtf.priors.pattern`, and a
   straightforward per-pixel Python loop. The loop is timed on a ``--crop`` x ``--crop`` crop
   and extrapolated linearly to 1920x1080 (it is linear in the number of pixels); the
   vectorized count is timed on the crop too and on the full frame.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)

from jndtf.baselines.wu2017 import wu2017  # noqa: E402
from jndtf.priors import contrast, edges, luminance, pattern  # noqa: E402


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of `repeats` calls."""
    return _median_times(fn, repeats)[0]


def _median_times(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and process-CPU seconds (the CPU time is the honest figure on a
    machine shared with other jobs, where the wall clock also counts waiting)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def _test_image() -> np.ndarray:
    from skimage.data import astronaut

    grey = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (1920, 1080))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--crop", type=int, default=256, help="side of the per-pixel crop")
    args = parser.parse_args()

    grey = _test_image()
    luma = grey.astype(np.float64)
    n_full = grey.size
    print(f"image: astronaut grey resized to {grey.shape[1]}x{grey.shape[0]}, one core")
    print(f"cv2 threads: {cv2.getNumThreads()}, numpy {np.__version__}, opencv {cv2.__version__}")

    wu2017(grey)  # warm-up (imports, allocator)
    wall, cpu = _median_times(lambda: wu2017(grey), args.repeats)
    print(
        f"\nwu2017 (whole model, uint8 in -> HxWx1 float32): {wall * 1e3:8.1f} ms wall, "
        f"{cpu * 1e3:8.1f} ms CPU (medians of {args.repeats})"
    )

    stages: dict[str, Callable[[], object]] = {
        "luminance adaptation": lambda: luminance.luminance_adaptation_f64(luma, "wu2017", None),
        "luminance contrast": lambda: contrast.luminance_contrast_f64(luma),
        "orientation codes": lambda: pattern._orientation_codes(luma),
        "pattern complexity count+Pc": lambda: pattern.smooth_complexity_count_f64(
            pattern.pattern_complexity_count_f64(luma)
        ),
        "edge height": lambda: edges.edge_height_f64(luma),
        "canny (MATLAB-style)": lambda: edges.canny_f64(luma, 0.25, None, edges.CANNY_SIGMA),
        "edge protection (all)": lambda: edges.edge_protection_f64(luma),
    }
    print("stages (medians, each timed alone; wall / CPU):")
    for name, fn in stages.items():
        wall, cpu = _median_times(fn, args.repeats)
        print(f"  {name:30s} {wall * 1e3:8.1f} / {cpu * 1e3:8.1f} ms")

    codes_full = pattern._orientation_codes(luma)
    s = args.crop
    y0, x0 = (grey.shape[0] - s) // 2, (grey.shape[1] - s) // 2
    codes_crop = np.ascontiguousarray(codes_full[y0 : y0 + s, x0 : x0 + s])
    loop = pattern._count_distinct_codes_loop(codes_crop)  # also checks the two agree
    vec = pattern.count_distinct_codes(codes_crop)
    if not np.array_equal(loop, vec):
        print("WARNING: the per-pixel and vectorized counts differ on the crop")
    t_loop = _median_time(lambda: pattern._count_distinct_codes_loop(codes_crop), 1)
    t_vec_crop = _median_time(lambda: pattern.count_distinct_codes(codes_crop), args.repeats)
    t_vec_full = _median_time(lambda: pattern.count_distinct_codes(codes_full), args.repeats)
    scale = n_full / codes_crop.size
    print(f"\ndistinct-code count (3x3), same codes, {s}x{s} crop -> x{scale:.1f} to 1080p:")
    print(
        f"  per-pixel Python loop : {t_loop * 1e3:10.1f} ms on the crop, "
        f"{t_loop * scale:8.2f} s extrapolated to 1080p"
    )
    print(
        f"  vectorized bit-OR     : {t_vec_crop * 1e3:10.3f} ms on the crop, "
        f"{t_vec_full * 1e3:8.1f} ms measured at 1080p"
    )
    print(f"  speed-up at 1080p     : {t_loop * scale / t_vec_full:10.0f}x")


if __name__ == "__main__":
    main()
