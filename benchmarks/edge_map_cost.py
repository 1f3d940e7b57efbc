"""What the edge runtime's cheap settings cost in JND-map accuracy against the real thing.

The reference is the teacher (``--teacher``, default the shipped ACoL-JND) in Keras (float32,
TensorFlow) at the frame's full resolution, every frame. Each edge setting maps the same frames
of the synthesized camera clip with the TensorFlow-free runtime; the table gives the JND-map PSNR
(peak 255) and mean absolute error against the reference, and the runtime's fps (2 LiteRT
threads, end to end: priors + inference + output, as ``jndtf stream`` runs it).

Without ``--model`` (or with the teacher's name) the rows are the teacher's own cheap settings
(dynamic fp32 at full / reduced size, the shipped int8 at 320x180 with map reuse). With
``--model`` a second JND model (e.g. ``acol_student`` or ``acol_student:runs/s1/model.keras``, a
distilled student) is exported here to int8 and fp32 at the frame size (int8 calibrated on
``--calib-data``; a fixed size, as the edge deploys it), and runs at full resolution every
frame; its Keras float32 maps are measured too, so the table separates the distillation error
(Keras student vs teacher) from the int8 error (int8 vs Keras student, the last column).

    python benchmarks/edge_map_cost.py [--seconds 2] [--size 640x360]
    python benchmarks/edge_map_cost.py --model acol_student [--calib-data DIR] [--teacher acol]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def _psnr_mae(maps, reference) -> tuple[float, float]:
    err = np.concatenate([(m - r).ravel() for m, r in zip(maps, reference, strict=True)])
    mse = float(np.mean(err**2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    return psnr, float(np.mean(np.abs(err)))


def main() -> None:
    from jndtf.refs import DEFAULT_JND_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length at 15 fps")
    parser.add_argument("--size", default="640x360", help="frame WIDTHxHEIGHT (default 640x360)")
    parser.add_argument(
        "--teacher",
        default=DEFAULT_JND_MODEL,
        help=f"reference JND model, Keras fp32 at full size (default {DEFAULT_JND_MODEL})",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a second JND model to measure at full size every frame (registered name with "
        "shipped weights, .keras file or SPEC:PATH, e.g. acol_student); default: the teacher's "
        "own settings only",
    )
    parser.add_argument(
        "--calib-data",
        default=None,
        help="folder of photos calibrating --model's int8 export (default: the bundled samples)",
    )
    parser.add_argument("--threads", type=int, default=2, help="LiteRT threads (default 2)")
    args = parser.parse_args()

    from jndtf.edge import JndMapper, JndMapperOptions, RunningMode, open_source
    from jndtf.export import export_model

    from jndtf.evaluate.learned import load_learned
    from jndtf.io import parse_size
    from jndtf.samples import synthesize_clip

    w, h = parse_size(args.size)
    student = args.model if args.model not in (None, args.teacher) else None
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthesize_clip(Path(tmp) / "clip.mp4", seconds=args.seconds, size=(w, h))
        with open_source(clip.path, mode="file") as source:
            frames = [f.image for f in source]
        teacher = load_learned(args.teacher)
        reference = [np.asarray(teacher(f), np.float64) for f in frames]
        shipped = f"{DEFAULT_JND_MODEL} (shipped int8 320x180)"
        keras_maps = None
        if student is None:
            (dynamic,) = export_model(
                args.teacher, ["tflite-fp32"], out_dir=Path(tmp) / "dyn", input_size=None,
                parity=False,
            )  # fmt: skip
            settings = [
                ("fp32 dynamic, full size, every frame", str(dynamic.path), 1.0, 1),
                ("fp32 dynamic, jnd_scale 0.5", str(dynamic.path), 0.5, 1),
                ("fp32 dynamic, jnd_scale 0.25, reuse 4", str(dynamic.path), 0.25, 4),
                (f"{shipped}, every frame", DEFAULT_JND_MODEL, 1.0, 1),
                (f"{shipped}, reuse 2 (default)", DEFAULT_JND_MODEL, 1.0, 2),
                (f"{shipped}, reuse 4", DEFAULT_JND_MODEL, 1.0, 4),
            ]
        else:
            label = student.split(":")[0] if ":" in student else Path(student).stem
            student_keras = load_learned(student)
            t0 = time.perf_counter()
            keras_maps = [np.asarray(student_keras(f), np.float64) for f in frames]
            keras_fps = len(frames) / (time.perf_counter() - t0)
            (int8,) = export_model(
                student, ["tflite-int8"], out_dir=Path(tmp) / "int8", input_size=(w, h),
                calib_data=args.calib_data, parity=False,
            )  # fmt: skip
            (fp32,) = export_model(
                student, ["tflite-fp32"], out_dir=Path(tmp) / "fp32", input_size=(w, h),
                parity=False,
            )  # fmt: skip
            settings = [
                (f"{label} int8 {w}x{h}, every frame", str(int8.path), 1.0, 1),
                (f"{label} fp32 {w}x{h}, every frame", str(fp32.path), 1.0, 1),
                (f"{shipped}, reuse 2 (default)", DEFAULT_JND_MODEL, 1.0, 2),
            ]
        print(
            f"{len(frames)} frames {w}x{h}; reference: {args.teacher} Keras fp32 at {w}x{h}, "
            "every frame"
        )
        last = "  vs Keras" if keras_maps is not None else ""
        print(f"{'setting':<48} {'map PSNR':>9} {'MAE':>6} {'fps':>6}{last}")
        if keras_maps is not None:
            psnr, mae = _psnr_mae(keras_maps, reference)
            print(f"{label + ' Keras fp32 (TensorFlow)':<48} {psnr:>8.1f}  {mae:>5.2f} "
                  f"{keras_fps:>6.1f}")  # fmt: skip
        for name, model, scale, reuse in settings:
            opts = JndMapperOptions(
                model=model,
                num_threads=args.threads,
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
            psnr, mae = _psnr_mae(maps, reference)
            line = f"{name:<48} {psnr:>8.1f}  {mae:>5.2f} {fps:>6.1f}"
            if keras_maps is not None and model != DEFAULT_JND_MODEL:
                line += f"  {_psnr_mae(maps, keras_maps)[0]:>7.1f}"
            print(line)


if __name__ == "__main__":
    main()
