"""What the edge runtime's cheap settings cost in JND-map accuracy against the real thing.

The reference is the shipped ACoL-JND in Keras (float32, TensorFlow) at the frame's full
resolution, every frame. Each edge setting maps the same frames of the synthesized camera clip
with the TensorFlow-free runtime; the table gives the JND-map PSNR (peak 255) and mean absolute
error against the reference, and the runtime's fps (2 LiteRT threads).

    python benchmarks/edge_map_cost.py [--seconds 2] [--size 640x360]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length at 15 fps")
    parser.add_argument("--size", default="640x360", help="frame WIDTHxHEIGHT (default 640x360)")
    args = parser.parse_args()

    from jndtf.edge import JndMapper, JndMapperOptions, RunningMode, open_source
    from jndtf.export import export_model

    from jndtf.evaluate.learned import load_learned
    from jndtf.io import parse_size
    from jndtf.refs import DEFAULT_JND_MODEL
    from jndtf.samples import synthesize_clip

    w, h = parse_size(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthesize_clip(Path(tmp) / "clip.mp4", seconds=args.seconds, size=(w, h))
        with open_source(clip.path, mode="file") as source:
            frames = [f.image for f in source]
        keras = load_learned(DEFAULT_JND_MODEL)
        reference = [np.asarray(keras(f), np.float64) for f in frames]
        (dynamic,) = export_model(
            DEFAULT_JND_MODEL,
            ["tflite-fp32"],
            out_dir=Path(tmp) / "dyn",
            input_size=None,
            parity=False,
        )
        shipped = f"{DEFAULT_JND_MODEL} (shipped int8 320x180)"
        settings = [
            ("fp32 dynamic, full size, every frame", str(dynamic.path), 1.0, 1),
            ("fp32 dynamic, jnd_scale 0.5", str(dynamic.path), 0.5, 1),
            ("fp32 dynamic, jnd_scale 0.25, reuse 4", str(dynamic.path), 0.25, 4),
            (f"{shipped}, every frame", DEFAULT_JND_MODEL, 1.0, 1),
            (f"{shipped}, reuse 2 (default)", DEFAULT_JND_MODEL, 1.0, 2),
            (f"{shipped}, reuse 4", DEFAULT_JND_MODEL, 1.0, 4),
        ]
        print(f"{len(frames)} frames {w}x{h}; reference: Keras fp32 at {w}x{h}, every frame")
        print(f"{'setting':<48} {'map PSNR':>9} {'MAE':>6} {'fps':>6}")
        for name, model, scale, reuse in settings:
            opts = JndMapperOptions(
                model=model,
                num_threads=2,
                running_mode=RunningMode.VIDEO,
                jnd_scale=scale,
                reuse_interval=reuse,
            )
            maps = []
            with JndMapper.create_from_options(opts) as mapper:
                t0 = time.perf_counter()
                for i, frame in enumerate(frames):
                    maps.append(np.asarray(mapper.process(frame, i * 1000 / 15).jnd, np.float64))
                fps = len(frames) / (time.perf_counter() - t0)
            err = np.concatenate([(m - r).ravel() for m, r in zip(maps, reference, strict=True)])
            mse = float(np.mean(err**2))
            psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
            print(f"{name:<48} {psnr:>8.1f}  {float(np.mean(np.abs(err))):>5.2f} {fps:>6.1f}")


if __name__ == "__main__":
    main()
