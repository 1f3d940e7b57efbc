"""Per-frame cost of each JND-guided method at 640x360 (median of --reps runs, one thread).

Run: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/methods_cost.py``. Prints the CPU and its
SIMD flags, then for each method the time it ADDS to the plain encoder (the map itself excluded:
its cost is the model's, see ``jndtf bench stream``), and the plain encode for scale. Wall-clock
medians, and the process's CPU time beside them (on a shared machine wall time also counts the
waits for a core). ``dct (before)`` is the implementation the fast path replaced (kept as the
frozen reference of tests/test_dct_fast.py), timed in the same run.
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
    return med_ms_cpu(fn, reps)[0]


def med_ms_cpu(fn, reps: int) -> tuple[float, float]:
    """Median wall and median CPU milliseconds of `reps` calls (after one warm-up call)."""
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def _reference_dct():
    """``_ref_encode`` of tests/test_dct_fast.py (the dct method before #13), or None."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tests" / "test_dct_fast.py"
    try:
        spec = importlib.util.spec_from_file_location("_dct_reference", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod._ref_encode
    except Exception as err:  # optional: tests/ or pytest may be absent
        print(f"dct (before): skipped ({err})")
        return None


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
    ref = _reference_dct()
    for enc in ("libjpeg-turbo", "jpegli"):
        plain, plain_cpu = med_ms_cpu(lambda e=enc: resolve_encoder(e)(img, a.quality), a.reps)
        print(f"{enc}: plain encode {plain:.1f} ms (CPU {plain_cpu:.1f} ms)")
        runs = [(name, get_method(name)) for name in available_methods()]
        if ref is not None:
            runs.append(("dct (before)", None))
        for name, m in runs:
            if m is None:
                fn = lambda e=enc: ref(img, jnd, 1.0, a.quality, e)  # noqa: E731
                kind = "jpeg"
            else:
                fn = lambda m=m, e=enc: m.encode(img, jnd, 1.0, a.quality, e)  # noqa: E731
                kind = m.kind
            total, total_cpu = med_ms_cpu(fn, a.reps)
            print(
                f"  {name:<12} ({kind}): +{total - plain:6.1f} ms over the plain encode "
                f"(CPU +{total_cpu - plain_cpu:5.1f} ms)"
            )
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
