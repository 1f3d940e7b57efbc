"""Per-frame cost of each JND-guided method at 640x360 (median of --reps runs, one thread).

Run: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/methods_cost.py``. Prints the CPU and its
SIMD flags, then for each method the time it ADDS to the plain encoder (the map itself excluded:
its cost is the model's, see ``jndtf bench stream``), and the plain encode for scale.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from jndtf.apply.methods import TemporalFilter, available_methods, get_method, resolve_encoder
from jndtf.sysinfo import cpu_line as cpu

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "train-photos" / "001.png"


def med_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--quality", type=int, default=85)
    a = p.parse_args()
    cv2.setNumThreads(1)
    rgb = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    img = cv2.resize(rgb, (640, 360), interpolation=cv2.INTER_AREA)
    from jndtf.jobs import compute_jnd

    jnd = compute_jnd(img, "yang2005")
    print(f"CPU: {cpu()}; 640x360, JPEG q{a.quality}, median of {a.reps}, 1 thread")
    for enc in ("libjpeg-turbo", "jpegli"):
        plain = med_ms(lambda e=enc: resolve_encoder(e)(img, a.quality), a.reps)
        print(f"{enc}: plain encode {plain:.1f} ms")
        for name in available_methods():
            m = get_method(name)
            total = med_ms(lambda m=m, e=enc: m.encode(img, jnd, 1.0, a.quality, e), a.reps)
            print(f"  {name:<8} ({m.kind}): +{total - plain:6.1f} ms over the plain encode")
    tf = TemporalFilter(1.0)
    noisy = [
        np.clip(img + np.random.default_rng(i).normal(0, 2, img.shape), 0, 255).astype(np.uint8)
        for i in range(2)
    ]
    tf(noisy[0], jnd)
    print(f"TemporalFilter hold: {med_ms(lambda: tf(noisy[1], jnd), a.reps):.1f} ms/frame")
    try:
        from jndtf.apply.methods.x264roi import encode_h264_roi

        frames = [img] * 10
        t_plain = med_ms(lambda: encode_h264_roi(frames, [jnd] * 10, 28, strength=0), 3)
        t_roi = med_ms(lambda: encode_h264_roi(frames, [jnd] * 10, 28, strength=1), 3)
        print(
            f"x264 ROI (64 px cells): +{(t_roi - t_plain) / 10:.1f} ms/frame over plain x264 "
            f"({t_plain / 10:.1f} ms/frame, medium, encode+decode)"
        )
    except ImportError as err:
        print(f"x264 ROI: skipped ({err})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
