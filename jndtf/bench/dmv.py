"""`jndtf bench dmv`: DMV-JND + its CAM classifier(s) on LiteRT, per 32x32 crop and per frame.

Issue 11 ("Deployment"): the speed of the edge DMV-JND (:class:`jndtf.edge.dmv.DmvJnd`: each
classifier's logits and CAM in one inference, the merged CAM of eq. (2), the E-D) with int8
LiteRT models on 2 threads, at the CIFAR crop size (32x32) and at a 640x360 frame, in both
layouts: ``frame`` (one classifier run on the frame resized to 32x32, the E-D on the whole
frame, or on the frame at half size with e upsampled: ``scale`` 0.5) and ``tiles`` (one
classifier run per 32x32 tile, 240 per 640x360 frame, the E-D on the
whole frame with the tiled CAM). Not a test: timings on a shared machine are noisy.

Models: the given ``.tflite`` files (a classifier exported with its CAM output by
:func:`jndtf.export.cam.export_cam_classifier`, the E-D of ``jndtf export dmv``), or, without
them, freshly built UNTRAINED networks of the named presets exported int8 here (speed does not
depend on the weights; the rows say ``weights: untrained``), the E-D at the fixed size each row
runs it at (fixed int8 is LiteRT's fast path: 3x faster than a dynamic-shape export at
640x360). That needs the ``[train]`` extra.

Example:
    >>> rows = bench_dmv(DmvBenchSettings(runs=10))
    >>> [(r["layout"], r["size"], round(r["total_ms_median"], 1)) for r in rows]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.settings import option

#: CSV columns, in order.
ROW_COLUMNS = (
    "layout",
    "size",
    "scale",
    "classifiers",
    "dmv",
    "dmv_shape",
    "weights",
    "threads",
    "runs",
    "cam_ms_median",
    "dmv_ms_median",
    "total_ms_median",
    "total_ms_p90",
    "fps",
    "classifier_runs",
    "cpu",
)

#: (layout, (width, height), E-D scale) rows of the default table.
DEFAULT_CASES = (
    ("frame", (32, 32), 1.0),
    ("frame", (640, 360), 1.0),
    ("frame", (640, 360), 0.5),
    ("tiles", (640, 360), 1.0),
)


def _paths(value) -> tuple[Path, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(Path(str(v).strip()) for v in items if str(v).strip())


@dataclass(frozen=True)
class DmvBenchSettings:
    """What to time (module docstring)."""

    dmv: Path | None = option(
        "--dmv",
        default=None,
        help="DMV-JND-NET E-D .tflite (jndtf export dmv) \\[default: an untrained DMV_PRESET, "
        "exported int8 here].",
    )
    classifiers: tuple[Path, ...] = option(
        "--classifiers",
        default=(),
        cli_type=str,
        parse=_paths,
        show=lambda v: ",".join(map(str, v)),
        help="Comma-separated classifier .tflite files exported with their CAM output "
        "\\[default: an untrained CLASSIFIER_PRESET, exported int8 here].",
    )
    classifier_preset: str = option(
        "--classifier-preset", default="resnet", help="Classifier built when none is given."
    )
    dmv_preset: str = option("--dmv-preset", default="dmv", help="E-D built when none is given.")
    threads: int = option("--threads", default=2, min=1, help="LiteRT threads of every model.")
    runs: int = option("--runs", default=20, min=1, help="Timed frames per row.")
    warmup: int = option("--warmup", default=3, min=1, help="Untimed frames before them.")

    def __post_init__(self):
        object.__setattr__(self, "classifiers", _paths(self.classifiers))
        if self.dmv is not None and not Path(self.dmv).is_file():
            raise ValueError(f"--dmv {self.dmv}: no such file")
        for p in self.classifiers:
            if not Path(p).is_file():
                raise ValueError(f"--classifiers {p}: no such file")


def _classifier_files(settings: DmvBenchSettings, folder: Path) -> list[Path]:
    """The given classifiers, or an untrained one of the preset exported int8 with its CAM."""
    if settings.classifiers:
        return [Path(c) for c in settings.classifiers]
    from jndtf._deps import require

    require("keras", "building the untrained networks of `jndtf bench dmv`")
    from jndtf.export.cam import export_cam_classifier
    from jndtf.models.classifiers import build_cam_classifier

    model = build_cam_classifier(settings.classifier_preset)
    path = folder / f"{settings.classifier_preset}-cam-int8.tflite"
    return [export_cam_classifier(model, path, int8=True, num_calibration=8)]


def _export_untrained(settings: DmvBenchSettings, folder: Path) -> tuple[Path, list[Path]]:
    """``(E-D, classifiers)``: the given files, else int8 exports of untrained networks of the
    settings' presets (speed only; the E-D with a dynamic size)."""
    import json

    classifiers = _classifier_files(settings, folder)
    dmv = settings.dmv
    if dmv is None:
        from jndtf.export.quantization import QuantizationConfig
        from jndtf.export.tflite import convert_saved_model, export_saved_model
        from jndtf.models.dmv.network import build_dmv_net

        net = build_dmv_net(settings.dmv_preset)
        rng = np.random.default_rng(0)
        calib = [rng.uniform(0, 1, (1, 32, 32, 4)).astype(np.float32) for _ in range(8)]
        saved = export_saved_model(net, folder / "dmv-saved", None, 4)
        dmv = folder / f"{settings.dmv_preset}-int8.tflite"
        dmv.write_bytes(convert_saved_model(saved, QuantizationConfig.for_int8(calib)))
        dmv.with_suffix(".json").write_text(json.dumps({"outputs": {"kind": "dmv_jnd"}}))
    return Path(dmv), classifiers


def _export_fixed_ed(preset: str, size: tuple[int, int], folder: Path) -> Path:
    """An untrained E-D of `preset` exported int8 at the fixed ``(width, height)`` `size`
    (a fixed-size int8 export runs LiteRT's fast kernels: on 2 cores the E-D of ``dmv`` took
    0.6 ms at 32x32 fixed against 16 ms dynamic, 143 ms at 640x360 against 460 ms)."""
    import json

    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_saved_model, export_saved_model
    from jndtf.models.dmv.network import build_dmv_net

    w, h = size
    path = folder / f"{preset}-int8-{w}x{h}.tflite"
    if path.is_file():
        return path
    rng = np.random.default_rng(0)
    calib = [rng.uniform(0, 1, (1, h, w, 4)).astype(np.float32) for _ in range(2)]
    saved = export_saved_model(build_dmv_net(preset), folder / f"ed-saved-{w}x{h}", (h, w), 4)
    path.write_bytes(convert_saved_model(saved, QuantizationConfig.for_int8(calib)))
    path.with_suffix(".json").write_text(json.dumps({"outputs": {"kind": "dmv_jnd"}}))
    return path


def _frames(size: tuple[int, int], n: int) -> list[np.ndarray]:
    """`n` crops of a bundled photo resized to `size` (area averaging)."""
    import cv2

    from jndtf.samples import sample_images

    photo = sample_images(["motorcycle_left"])["motorcycle_left"]
    w, h = size
    out = []
    for i in range(n):
        y0, x0 = (7 * i) % (photo.shape[0] // 4), (11 * i) % (photo.shape[1] // 4)
        crop = photo[y0 : y0 + 3 * photo.shape[0] // 4, x0 : x0 + 3 * photo.shape[1] // 4]
        out.append(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))
    return out


def bench_dmv(
    settings: DmvBenchSettings,
    cases=DEFAULT_CASES,
    progress: Callable[[str, int, int], None] | None = None,
    notes: list[str] | None = None,
) -> list[dict]:
    """One row per ``(layout, size[, scale])`` of `cases` (columns :data:`ROW_COLUMNS`): median CAM
    (classifiers) and E-D milliseconds, total median and p90, fps, classifier runs per frame.
    A case a given fixed-size E-D cannot run is skipped, with the reason appended to `notes`."""
    from jndtf.edge.dmv import DmvError, DmvJnd
    from jndtf.sysinfo import cpu_line

    rows = []
    with tempfile.TemporaryDirectory(prefix="jndtf-bench-dmv-") as tmp:
        untrained = settings.dmv is None or not settings.classifiers
        folder = Path(tmp)
        clf_paths = _classifier_files(settings, folder)
        for i, case in enumerate(cases):
            layout, size = case[0], case[1]
            scale = float(case[2]) if len(case) > 2 else 1.0
            if progress is not None:
                progress(f"{layout} {size[0]}x{size[1]} scale {scale:g}", i, len(cases))
            dmv_path = settings.dmv
            if dmv_path is None:  # untrained, int8, fixed at the size this case runs it at
                from jndtf.edge.classifier import Classifier

                with Classifier(clf_paths[0]) as c:
                    tile = c.input_size
                ed_size = (
                    tile
                    if layout == "tiles"
                    else (max(8, round(size[0] * scale)), max(8, round(size[1] * scale)))
                )
                dmv_path = _export_fixed_ed(settings.dmv_preset, ed_size, folder)
            dmv_path = Path(dmv_path)
            frames = _frames(size, settings.warmup + settings.runs)
            try:
                d = DmvJnd(
                    dmv_path, clf_paths, num_threads=settings.threads, layout=layout, scale=scale
                )
                d.compute(frames[0])  # a fixed size that does not fit fails here
            except DmvError as err:
                if notes is not None:
                    notes.append(f"skipped {layout} {size[0]}x{size[1]} scale {scale:g}: {err}")
                continue
            with d:
                times = []
                for k, frame in enumerate(frames):
                    t0 = time.perf_counter()
                    r = d.compute(frame)
                    total = (time.perf_counter() - t0) * 1e3
                    if k >= settings.warmup:
                        times.append((r.timings_ms["cam"], r.timings_ms["dmv"], total))
                tile, d_fixed = d.tile, d.fixed_size
            t = np.asarray(times)
            tiles = -(-size[0] // tile[0]) * -(-size[1] // tile[1]) if layout == "tiles" else 1
            rows.append(
                {
                    "layout": layout,
                    "size": f"{size[0]}x{size[1]}",
                    "scale": scale,
                    "classifiers": ",".join(p.name for p in clf_paths),
                    "dmv": dmv_path.name,
                    "dmv_shape": "dynamic" if d_fixed is None else "fixed {}x{}".format(*d_fixed),
                    "weights": "untrained (speed only)" if untrained else "given",
                    "threads": settings.threads,
                    "runs": settings.runs,
                    "cam_ms_median": float(np.median(t[:, 0])),
                    "dmv_ms_median": float(np.median(t[:, 1])),
                    "total_ms_median": float(np.median(t[:, 2])),
                    "total_ms_p90": float(np.percentile(t[:, 2], 90)),
                    "fps": 1e3 / float(np.median(t[:, 2])),
                    "classifier_runs": tiles * len(clf_paths),
                    "cpu": cpu_line(),
                }
            )
        if progress is not None:
            progress("done", len(cases), len(cases))
    return rows


#: Columns of :func:`rca_bytes_sweep`'s rows.
SWEEP_COLUMNS = (
    "mode",
    "factor",
    "images",
    "rca",
    "bytes_original",
    "bytes_processed",
    "bytes_change_pct",
    "psnr_db",
    "max_abs_change",
    "quality",
)


def _image_files(folder: Path, limit: int | None) -> list[Path]:
    from jndtf.io import IMAGE_SUFFIXES

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no image files (searched its subfolders too)")
    return files[:limit] if limit else files


def rca_bytes_sweep(
    classifier,
    dmv,
    images,
    *,
    modes: tuple[str, ...] = ("eq14", "smooth", "quantize", "perturb"),
    factors: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0),
    quality: int = 90,
    cam_classifiers: tuple = (),
    layout: str = "frame",
    max_images: int | None = None,
    num_threads: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[dict]:
    """RCA (eq. (16) of DMV-JND) beside the JPEG bytes at an unchanged quality setting, per
    machine-vision mode and factor, on a folder of images (e.g. the held-out CIFAR split).

    e is computed once per image (:class:`jndtf.edge.dmv.DmvJnd`); each ``(mode, factor)``
    processes the image as :class:`jndtf.edge.machine.MachineVisionStage` does, the classifier
    labels the result, and both images are coded with OpenCV JPEG at `quality`.
    ``bytes_change_pct`` < 0 is a saving; ``psnr_db`` is of the processed image against the
    original (peak 255). :func:`best_at_rca` picks the largest saving at a given RCA.

    Args:
        classifier: the CAM classifier ``.tflite`` (the RCA judge and the CAM source).
        dmv: the E-D ``.tflite``.
        images: a folder (searched recursively) or a list of uint8 RGB arrays.
        cam_classifiers: more CAM classifiers for eq. (2).

    Returns:
        One row per ``(mode, factor)`` with :data:`SWEEP_COLUMNS`.
    """
    import cv2

    from jndtf.edge.classifier import Classifier
    from jndtf.edge.dmv import DmvJnd
    from jndtf.edge.machine import MachineVisionStage
    from jndtf.io import load_image
    from jndtf.metrics import psnr_from_mse

    if isinstance(images, (str, Path)):
        frames = [load_image(p) for p in _image_files(Path(images), max_images)]
    else:
        frames = list(images)[:max_images] if max_images else list(images)

    def nbytes(im):
        ok, buf = cv2.imencode(".jpg", im[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError(f"OpenCV could not JPEG-encode a {im.shape} image")
        return len(buf)

    acc = {
        (m, f): {"agree": 0, "b0": 0, "b1": 0, "se": 0.0, "n": 0, "max": 0.0}
        for m in modes
        for f in factors
    }
    with (
        Classifier(classifier, num_threads=num_threads) as clf,
        DmvJnd(dmv, [clf, *cam_classifiers], num_threads=num_threads, layout=layout) as d,
    ):
        stages = {
            (m, f): MachineVisionStage(clf, mode=m, factor=f, dmv=d) for m in modes for f in factors
        }
        for i, frame in enumerate(frames):
            if progress is not None:
                progress("images", i, len(frames))
            r = d.compute(frame)
            label = r.labels[0] if r.labels[0] is not None else clf.classify(frame)[0]
            b0 = nbytes(frame)
            for key, st in stages.items():
                out = st.apply(frame, np.abs(r.e), r.e)
                a = acc[key]
                a["agree"] += int(clf.classify(out)[0] == label)
                a["b0"] += b0
                a["b1"] += nbytes(out)
                diff = out.astype(np.float64) - frame
                a["se"] += float(np.sum(diff * diff))
                a["n"] += diff.size
                a["max"] = max(a["max"], float(np.abs(diff).max()))
    rows = []
    for (m, f), a in acc.items():
        rows.append(
            {
                "mode": m,
                "factor": f,
                "images": len(frames),
                "rca": a["agree"] / len(frames) if frames else float("nan"),
                "bytes_original": a["b0"],
                "bytes_processed": a["b1"],
                "bytes_change_pct": 100.0 * (a["b1"] / a["b0"] - 1.0) if a["b0"] else float("nan"),
                "psnr_db": float(psnr_from_mse(a["se"] / a["n"])) if a["n"] else float("nan"),
                "max_abs_change": a["max"],
                "quality": int(quality),
            }
        )
    return rows


def best_at_rca(rows: list[dict], min_rca: float = 0.99) -> dict | None:
    """The row with the largest byte saving whose RCA is at least `min_rca` (None: none)."""
    ok = [r for r in rows if r["rca"] >= min_rca]
    return min(ok, key=lambda r: r["bytes_change_pct"]) if ok else None


__all__ = [
    "DEFAULT_CASES",
    "ROW_COLUMNS",
    "SWEEP_COLUMNS",
    "DmvBenchSettings",
    "bench_dmv",
    "best_at_rca",
    "rca_bytes_sweep",
]
