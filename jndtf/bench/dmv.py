"""`jndtf bench dmv`: DMV-JND + its CAM classifier(s) on LiteRT, per 32x32 crop and per frame.

Issue 11 ("Deployment"): the speed of the edge DMV-JND (:class:`jndtf.edge.dmv.DmvJnd`: each
classifier's logits and CAM in one inference, the merged CAM of eq. (2), the E-D) with int8
LiteRT models on 2 threads, at the CIFAR crop size (32x32) and at a 640x360 frame, in both
layouts: ``frame`` (one classifier run on the frame resized to 32x32, the E-D on the whole
frame) and ``tiles`` (one classifier run per 32x32 tile, 240 per 640x360 frame, the E-D on the
whole frame with the tiled CAM). Not a test: timings on a shared machine are noisy.

Models: the given ``.tflite`` files (a classifier exported with its CAM output by
:func:`jndtf.export.cam.export_cam_classifier`, the E-D of ``jndtf export dmv``), or, without
them, freshly built UNTRAINED networks of the named presets exported int8 here (speed does not
depend on the weights; the rows say ``weights: untrained``). That needs the ``[train]`` extra.

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
    "classifiers",
    "dmv",
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

#: (layout, (width, height)) rows of the default table.
DEFAULT_CASES = (("frame", (32, 32)), ("frame", (640, 360)), ("tiles", (640, 360)))


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


def _export_untrained(settings: DmvBenchSettings, folder: Path) -> tuple[Path, list[Path]]:
    """int8 exports of untrained networks of the settings' presets (speed only)."""
    import json

    from jndtf._deps import require

    require("keras", "building the untrained networks of `jndtf bench dmv`")
    from jndtf.export.cam import export_cam_classifier
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_saved_model, export_saved_model
    from jndtf.models.classifiers import build_cam_classifier
    from jndtf.models.dmv.network import build_dmv_net

    classifiers = list(settings.classifiers)
    if not classifiers:
        model = build_cam_classifier(settings.classifier_preset)
        path = folder / f"{settings.classifier_preset}-cam-int8.tflite"
        classifiers = [export_cam_classifier(model, path, int8=True, num_calibration=8)]
    dmv = settings.dmv
    if dmv is None:
        net = build_dmv_net(settings.dmv_preset)
        rng = np.random.default_rng(0)
        calib = [rng.uniform(0, 1, (1, 32, 32, 4)).astype(np.float32) for _ in range(8)]
        saved = export_saved_model(net, folder / "dmv-saved", None, 4)
        dmv = folder / f"{settings.dmv_preset}-int8.tflite"
        dmv.write_bytes(convert_saved_model(saved, QuantizationConfig.for_int8(calib)))
        dmv.with_suffix(".json").write_text(json.dumps({"outputs": {"kind": "dmv_jnd"}}))
    return Path(dmv), [Path(c) for c in classifiers]


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
) -> list[dict]:
    """One row per ``(layout, size)`` of `cases` (columns :data:`ROW_COLUMNS`): median CAM
    (classifiers) and E-D milliseconds, total median and p90, fps, classifier runs per frame."""
    from jndtf.edge.dmv import DmvJnd
    from jndtf.sysinfo import cpu_line

    rows = []
    with tempfile.TemporaryDirectory(prefix="jndtf-bench-dmv-") as tmp:
        untrained = settings.dmv is None or not settings.classifiers
        dmv_path, clf_paths = _export_untrained(settings, Path(tmp))
        for i, (layout, size) in enumerate(cases):
            if progress is not None:
                progress(f"{layout} {size[0]}x{size[1]}", i, len(cases))
            frames = _frames(size, settings.warmup + settings.runs)
            with DmvJnd(dmv_path, clf_paths, num_threads=settings.threads, layout=layout) as d:
                times = []
                for k, frame in enumerate(frames):
                    t0 = time.perf_counter()
                    r = d.compute(frame)
                    total = (time.perf_counter() - t0) * 1e3
                    if k >= settings.warmup:
                        times.append((r.timings_ms["cam"], r.timings_ms["dmv"], total))
                tile = d.tile
            t = np.asarray(times)
            tiles = -(-size[0] // tile[0]) * -(-size[1] // tile[1]) if layout == "tiles" else 1
            rows.append(
                {
                    "layout": layout,
                    "size": f"{size[0]}x{size[1]}",
                    "classifiers": ",".join(p.name for p in clf_paths),
                    "dmv": dmv_path.name,
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


__all__ = ["DEFAULT_CASES", "ROW_COLUMNS", "DmvBenchSettings", "bench_dmv"]
