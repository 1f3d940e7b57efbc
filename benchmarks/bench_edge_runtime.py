"""Time the edge runtime's real-time options on the synthesized camera clip (no TensorFlow).

For one model (an exported ``.tflite`` with its manifest, or a classical name) and one frame
size, runs :class:`jndtf.edge.JndMapper` on :func:`jndtf.samples.clip_frames` (pan + zoom, a
cut every second) with each setting and prints a markdown table: frames per second over the
clip, median per-frame milliseconds of priors / inference / resize for the frames that computed
a map, the share of maps computed, and the map's mean absolute difference (pixel units) from
full-resolution, per-frame inference (the reference row).

Settings: ``jnd_scale`` 1 / 0.5 / 0.25 (dynamic-size and classical models only), map reuse
(``reuse_interval`` 4 with the default scene-change threshold), and the priors pipelined with
inference (``parallel_priors``, :meth:`JndMapper.process_video`) against serial ``process()``.

Example (export the shipped ACoL-JND with dynamic H, W first; that step needs TensorFlow)::

    python -c "from jndtf.export import export_model; export_model('acol', ['tflite-fp32'],
               out_dir='out/edge', input_size=None, parity=False)"
    python benchmarks/bench_edge_runtime.py out/edge/acol-tflite-fp32.tflite --size 640x360
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from jndtf.edge import JndMapper, JndMapperOptions, RunningMode

from jndtf.samples import clip_frames

#: (label, options) of each row; the first is the reference.
SETTINGS = (
    ("full, serial", {"parallel_priors": False}),
    ("full, parallel priors", {"parallel_priors": True}),
    ("jnd_scale 0.5", {"jnd_scale": 0.5}),
    ("jnd_scale 0.25", {"jnd_scale": 0.25}),
    ("reuse 4 + scene cut", {"reuse_interval": 4}),
    ("jnd_scale 0.5 + reuse 4", {"jnd_scale": 0.5, "reuse_interval": 4}),
)


def run(model: str, frames: list[np.ndarray], threads: int, settings: dict) -> tuple:
    opts = JndMapperOptions(
        model=model, num_threads=threads, running_mode=RunningMode.VIDEO, **settings
    )
    with JndMapper.create_from_options(opts) as mapper:
        t0 = time.perf_counter()
        if settings.get("parallel_priors", True):
            results = list(mapper.process_video(frames))
        else:
            results = [mapper.process(f) for f in frames]
        seconds = time.perf_counter() - t0
    return results, seconds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="exported .tflite (manifest beside it) or a classical name")
    ap.add_argument("--size", default="640x360", help="frame WxH (default 640x360)")
    ap.add_argument("--seconds", type=float, default=2.0, help="clip length at 15 fps")
    ap.add_argument("--threads", type=int, default=2, help="LiteRT threads")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    frames = list(clip_frames(seconds=args.seconds, fps=15.0, size=(w, h)))
    with JndMapper.create_from_model_path(args.model) as probe:
        fixed = probe.input_size
        for f in frames[:2]:  # warm-up: first-call allocations, caches
            probe.process(f)
    print(f"model {args.model}, {len(frames)} frames of {w}x{h}, {args.threads} threads\n")
    print("| setting | fps | priors ms | inference ms | resize ms | maps computed | MAE vs full |")
    print("|---|---|---|---|---|---|---|")
    reference = None
    for label, settings in SETTINGS:
        if fixed is not None and "jnd_scale" in settings:
            continue  # a fixed-size model has its resolution chosen at export time
        results, seconds = run(args.model, frames, args.threads, settings)
        computed = [r for r in results if not r.reused]
        med = {
            k: statistics.median(r.timings_ms[k] for r in computed)
            for k in ("priors", "inference", "resize")
        }
        if reference is None:
            reference = results
        mae = statistics.fmean(
            float(np.mean(np.abs(a.jnd - b.jnd))) for a, b in zip(results, reference, strict=True)
        )
        print(
            f"| {label} | {len(frames) / seconds:.2f} | {med['priors']:.1f} | "
            f"{med['inference']:.1f} | {med['resize']:.1f} | {len(computed)}/{len(frames)} | "
            f"{mae:.3f} |"
        )


if __name__ == "__main__":
    main()
