"""Per-frame latency of a JND network in every runtime, side by side (``jndtf bench models``).

For each frame size (default 640x360 and 1280x720) the benchmark

1. makes a real photo of that size (the bundled ``motorcycle_left`` photo, or ``image``,
   centre-cropped to the aspect ratio and resized) and times the numpy priors,
   :func:`jndtf.priors.inputs.model_input` (the edge runtime pays them every frame);
2. exports the model at that fixed size for every TFLite/ONNX runtime asked for (a fixed-shape
   model is ~2x faster than a dynamic one resized at run time, DESIGN.md; ``dynamic=True``
   adds one dynamic-shape export per format), or takes pre-exported files (``model_files``,
   checked against their manifests);
3. times the network on that photo's input: ``warmup`` untimed calls, then ``runs`` timed
   ones, with the same thread count in every runtime (LiteRT ``num_threads``, onnxruntime
   ``intra_op_num_threads``, TensorFlow intra-op threads in a child process).

A family whose input is not RGB + HVS priors (hmJND-Net: RGB + saliency, depth and
segmentation maps) has its input built, and timed, by its registered builder
(:meth:`jndtf.models.registry.ModelSpec.make_input`: the classical modality providers, what
the edge runtime pays per frame with a default export). A registered model that jndtf ships no
weights for (``hmjnd`` today) is timed as an **untrained build** of its preset (random
weights: latency does not depend on their values, quality would): its rows are labelled
``NAME-untrained`` and a note says so; give ``NAME:PATH.keras`` to time trained weights.

Each row gives the median and 90th percentile latency, fps = 1000 / median, the network's
multiply-accumulates per pixel (the family's own count, e.g.
:meth:`jndtf.models.registry.ModelSpec.macs_per_pixel`: 87,147 for ACoL-JND), GMAC per frame =
MAC/px * H * W / 1e9, achieved GMAC/s = GMAC per frame / median seconds, and the priors' median.

Example:
    >>> result = bench_models(ModelBenchSettings("acol", sizes=((640, 360),), runs=20))
    >>> [(r["runtime"], round(r["median_ms"])) for r in result.rows]
    >>> result.notes                       # runtimes skipped (missing extra), with the reason
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jndtf.bench.frames import benchmark_photo, frame_from_photo, time_input, time_priors
from jndtf.bench.report import latency_stats
from jndtf.bench.runners import (
    missing_module,
    missing_module_of,
    time_keras,
    time_onnx,
    time_tflite,
)
from jndtf.bench.source import (
    EXTRA_RUNTIMES,
    RUNTIMES,
    ModelSource,
    model_source,
    resolve_files,
)
from jndtf.io import MIN_SIDE, parse_size
from jndtf.refs import DEFAULT_JND_MODEL

#: Frame sizes as (width, height): 640x360 and 1280x720.
DEFAULT_SIZES = ((640, 360), (1280, 720))


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``"640x360,1280x720"`` -> ``((640, 360), (1280, 720))`` = (width, height); duplicates
    dropped."""
    sizes = [parse_size(s, "--sizes") for s in str(text).split(",") if s.strip()]
    if not sizes:
        raise ValueError("no frame size given; use e.g. --sizes 640x360,1280x720")
    return tuple(dict.fromkeys(sizes))


def parse_runtimes(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"keras,onnx"`` (or a list) -> ``("keras", "onnx")``, checked against :data:`RUNTIMES`
    and :data:`EXTRA_RUNTIMES`."""
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    known = RUNTIMES + EXTRA_RUNTIMES
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ValueError(f"unknown runtime(s) {bad or names}; choose from {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def size_label(size: tuple[int, int]) -> str:
    """``(640, 360)`` = (width, height) -> ``"640x360"``."""
    return f"{size[0]}x{size[1]}"


@dataclass(frozen=True)
class ModelBenchSettings:
    """What ``jndtf bench models`` measures.

    Attributes:
        model: registered name (shipped weights), ``.keras`` path or ``SPEC:PATH``; the source
            of the exports and of the Keras row. None with `model_files`: the files' manifests
            name their source ``.keras`` (used for the Keras row when it still exists).
        sizes: frame sizes ``(width, height)`` (``--sizes`` WIDTHxHEIGHT).
        runtimes: names from :data:`RUNTIMES` / :data:`EXTRA_RUNTIMES`.
        runs: timed calls per runtime and size (>= 1; the issue asks for >= 20).
        warmup: untimed calls before them (>= 1: the first call allocates and traces).
        threads: threads of every runtime.
        model_files: pre-exported ``.tflite``/``.onnx`` files (each with its manifest); when
            given, nothing is exported and only these files (plus Keras) are timed.
        export_dir: keep the exports here (reused while their manifest still matches the
            source); None exports to a temporary folder.
        num_calibration: int8 calibration crops of a speed-only export (few: calibration at
            720p is slow, and the accuracy of such an export is not what is measured).
        dynamic: also time one dynamic-shape export per format, resized to each size.
        image: photo the frames are made from (None: the bundled ``motorcycle_left``).
    """

    model: str | None = DEFAULT_JND_MODEL
    sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES
    runtimes: tuple[str, ...] = RUNTIMES
    runs: int = 20
    warmup: int = 3
    threads: int = 2
    model_files: tuple[Path, ...] = ()
    export_dir: Path | None = None
    num_calibration: int = 4
    dynamic: bool = False
    image: Path | None = None

    def __post_init__(self):
        if int(self.runs) < 1:
            raise ValueError(f"runs must be >= 1, got {self.runs}")
        if int(self.warmup) < 1:
            raise ValueError(f"warmup must be >= 1 (the first call allocates), got {self.warmup}")
        if int(self.threads) < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if int(self.num_calibration) < 1:
            raise ValueError(f"num_calibration must be >= 1, got {self.num_calibration}")
        if not self.sizes:
            raise ValueError("no frame size given")
        for w, h in self.sizes:
            if min(int(h), int(w)) < MIN_SIDE:
                raise ValueError(f"frame size {w}x{h}: both sides must be >= {MIN_SIDE}")
        parse_runtimes(self.runtimes)
        if self.model is None and not self.model_files:
            raise ValueError(
                f"give a model (e.g. {DEFAULT_JND_MODEL}) or pre-exported --model-file files"
            )


@dataclass
class ModelBenchResult:
    """Rows (one per runtime, shape and size, see :data:`ROW_COLUMNS`) and notes (runtimes
    skipped or failed, one line each)."""

    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


#: The keys of every row, in CSV order.
ROW_COLUMNS = (
    "model", "runtime", "shape", "size", "height", "width", "threads", "runs", "warmup",
    "median_ms", "p90_ms", "mean_ms", "min_ms", "max_ms", "fps", "mac_per_px",
    "gmac_per_frame", "gmac_per_s", "priors_ms", "priors_p90_ms", "file",
)  # fmt: skip


@dataclass(frozen=True)
class _Job:
    """One timing: a runtime on an exported file (or to export now, `export` True) or Keras."""

    runtime: str
    shape: str  # "fixed" or "dynamic"
    path: Path | None = None
    export: bool = False


def _runtimes(settings: ModelBenchSettings, source: ModelSource, notes: list[str]) -> list[str]:
    """The runtimes that can run here; a note for each one skipped and why."""
    from jndtf.export.formats import get_format

    keep = []
    for rt in parse_runtimes(settings.runtimes):
        why = missing_module("keras" if rt == "keras" else rt.split("-")[0])
        if why is None and rt == "keras" and source.keras_ref is None:
            why = "no Keras source model (give MODEL, or keep the .keras the manifests name)"
        if why is None and rt != "keras" and not settings.model_files:
            for module in get_format(rt).requires:
                why = why or missing_module_of(module, f"exporting {rt}")
        if why:
            notes.append(f"{rt} skipped: {why}")
        else:
            keep.append(rt)
    return keep


def _jobs(settings, runtimes, files, size, notes) -> list[_Job]:
    jobs = []
    for rt in runtimes:
        if rt == "keras":
            jobs.append(_Job("keras", "fixed"))
        elif files is not None:
            found = [f for f in files if f.runtime == rt and f.fits(size[::-1])]  # fits: (H, W)
            if not found:
                notes.append(f"{rt} at {size_label(size)}: no --model-file of that size")
            jobs.extend(_Job(rt, f.shape, f.path) for f in found)
        else:
            jobs.append(_Job(rt, "fixed", export=True))
            if settings.dynamic:
                jobs.append(_Job(rt, "dynamic", export=True))
    return jobs


def _time(job: _Job, x: np.ndarray, settings, keras_ref: str | None) -> list[float]:
    kw = {"runs": int(settings.runs), "warmup": int(settings.warmup), "threads": settings.threads}
    if job.runtime == "keras":
        return time_keras(keras_ref, x, **kw)["times_s"]
    if job.runtime == "onnx":
        return time_onnx(job.path, x, **kw)
    return time_tflite(job.path, x, **kw)


def _row(source: ModelSource, job: _Job, size, stats: dict, priors: dict, settings) -> dict:
    w, h = size
    mac = source.macs_per_pixel
    gmac = None if mac is None else mac * h * w / 1e9
    median_s = stats["median_ms"] / 1000.0
    row = {
        "model": source.name,
        "runtime": job.runtime,
        "shape": job.shape,
        "size": size_label(size),
        "height": h,
        "width": w,
        "threads": int(settings.threads),
        "warmup": int(settings.warmup),
        **stats,
        "fps": 1.0 / median_s if median_s > 0 else None,
        "mac_per_px": mac,
        "gmac_per_frame": gmac,
        "gmac_per_s": gmac / median_s if gmac is not None and median_s > 0 else None,
        "priors_ms": priors["median_ms"],
        "priors_p90_ms": priors["p90_ms"],
        "file": job.path.name if job.path is not None else source.keras_label,
    }
    return {k: row.get(k) for k in ROW_COLUMNS}


#: Modalities the benchmark builds from the photo alone (RGB and the provider maps).
_IMAGE_MODALITIES = ("rgb", "saliency_map", "depth", "segmentation")

#: Label suffix of a registered model timed without trained weights.
UNTRAINED = "untrained"


def _untrained_source(name: str, folder: Path, notes: list[str]) -> ModelSource:
    """The source of an untrained build of registered preset `name` (no shipped weights): the
    ``.keras`` (seed 0) and a manifest naming its preset, saved in `folder` (reused when already
    there, so a kept ``--export-dir`` reuses its exports).

    Raises:
        ImportError: no Keras (names the extra).
    """
    from jndtf._deps import require
    from jndtf.io import atomic_write_json
    from jndtf.models.registry import get_model_spec

    spec = get_model_spec(name)
    label = f"{name}-{UNTRAINED}"
    path = Path(folder) / f"{label}.keras"
    if not path.is_file():
        keras = require("keras", f"building an untrained {name} to time")
        from jndtf.train._common import atomic_save_model

        path.parent.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(0)
        atomic_save_model(spec.build(), path)
    atomic_write_json(
        path.with_suffix(".json"),
        {
            "model_name": label,
            "family": spec.family,
            "preset": spec.name,
            "trained": False,
            "note": "untrained build (random weights, seed 0) made by jndtf bench models to time "
            "a registered model that ships no weights",
        },
    )
    notes.append(
        f"{name}: jndtf ships no trained weights for it, so an UNTRAINED build (random weights) "
        f"is timed, rows labelled {label}: latency does not depend on the weights' values; "
        f"give {name}:PATH.keras to time trained weights"
    )
    return dataclasses.replace(model_source(f"{name}:{path}"), name=label)


def _source(settings: ModelBenchSettings, folder: Path, notes: list[str]):
    """``(ModelSource, pre-exported files or None)``; a registered name without shipped
    weights becomes an untrained build (:func:`_untrained_source`)."""
    from jndtf.refs import resolve_model

    if settings.model_files:
        return resolve_files(settings.model_files, settings.model)
    try:
        return model_source(settings.model), None
    except FileNotFoundError:
        ref = resolve_model(settings.model, runtime="keras", learned=True)
        if ref.kind != "family" or ref.path is not None or ref.preset is None:
            raise  # a missing file the user named: say so
        return _untrained_source(ref.preset, folder, notes), None


def _family_spec(source: ModelSource):
    """The registered spec of `source` when its input is built by its family's own builder
    (not RGB + priors), else None."""
    from jndtf.models.registry import DEFAULT_INPUT_BUILDER, get_model_spec

    if not source.preset:
        return None
    try:
        spec = get_model_spec(source.preset)
    except KeyError:
        return None
    return None if spec.input_builder == DEFAULT_INPUT_BUILDER else spec


def time_inputs(
    frame: np.ndarray, source: ModelSource, *, runs: int, warmup: int, threads: int | None = None
) -> tuple[dict, np.ndarray]:
    """Latency statistics of building the network input of `frame` and that input
    ``(1, H, W, C)`` float32: :func:`jndtf.bench.frames.time_priors` for RGB + priors, the
    family's registered builder (its classical modality providers) otherwise.

    Raises:
        ValueError: a family whose input needs more than the image (a CAM of classifiers):
            the message names the modality.
    """
    spec = _family_spec(source)
    if spec is None:
        return time_priors(frame, source, runs=runs, warmup=warmup, threads=threads)

    extra = [
        m for m in spec.modalities if m not in ("rgb", "saliency_map", "depth", "segmentation")
    ]
    if extra:
        raise ValueError(
            f"{spec.name}: its input needs {extra}, which the benchmark cannot build from a "
            "photo; time pre-exported files with --model-file instead"
        )
    return time_input(lambda: spec.make_input(frame), runs=runs, warmup=warmup, threads=threads)


def bench_models(
    settings: ModelBenchSettings,
    progress: Callable[[str, int, int], None] | None = None,
) -> ModelBenchResult:
    """Runs the benchmark of the module docstring.

    Args:
        settings: what to measure.
        progress: ``progress(description, done, total)`` before and after each step (priors,
            exports, timings), e.g. :func:`jndtf.cli._shared.stepper`.

    Returns:
        :class:`ModelBenchResult`: one row per (size, runtime, shape), in the order of
        `settings.sizes` and `settings.runtimes`; a note for each runtime skipped or failed.

    Raises:
        ValueError, KeyError, FileNotFoundError: bad settings, an unknown model, a model file
            that does not match its manifest.
    """
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jndtf-bench-") as tmp:
        folder = Path(settings.export_dir) if settings.export_dir is not None else Path(tmp)
        source, files = _source(settings, folder, notes)
        return _bench(settings, source, files, folder, notes, progress)


def _export_cache(source: ModelSource, folder: Path, num_calibration: int):
    """The :class:`jndtf.bench.exports.ExportCache` of `source` (a family with its own input
    builder is loaded by the family loader there)."""
    from jndtf.bench.exports import ExportCache

    return ExportCache(source, folder, num_calibration=num_calibration)


def _bench(settings, source, files, folder: Path, notes: list[str], progress):
    notes.extend(source.notes)
    runtimes = _runtimes(settings, source, notes)
    photo = benchmark_photo(settings.image)
    plan = [(size, _jobs(settings, runtimes, files, size, notes)) for size in settings.sizes]
    total = sum(1 + len(jobs) + sum(j.export for j in jobs) for _, jobs in plan)
    done = 0

    def report(text: str, advance: int = 0) -> None:
        nonlocal done
        done += advance
        if progress is not None:
            progress(text, done, total)

    rows: list[dict] = []
    if any(j.export for _, jobs in plan for j in jobs):
        notes.append(
            f"exports are for timing only: parity not checked, int8 calibrated on "
            f"{settings.num_calibration} crops (export a deployable model with jndtf.export)"
        )
    cache = None
    for size, jobs in plan:
        label = size_label(size)
        report(f"priors {label}")
        frame = frame_from_photo(photo, size[::-1])  # frame_from_photo takes (H, W)
        priors, x = time_inputs(
            frame,
            source,
            runs=int(settings.runs),
            warmup=int(settings.warmup),
            threads=int(settings.threads),
        )
        report(f"priors {label}", 1)
        for job in jobs:
            what = f"{job.runtime} {job.shape} {label}"
            if job.export:
                report(f"export {what}")
                cache = cache or _export_cache(source, folder, int(settings.num_calibration))
                try:
                    at = size if job.shape == "fixed" else None
                    job = _Job(job.runtime, job.shape, cache.get(job.runtime, at))
                except (RuntimeError, ValueError, ImportError, OSError) as err:
                    notes.append(f"{what}: export failed: {_one_line(err)}")
                    report(f"export {what}", 2)
                    continue
                report(f"export {what}", 1)
            report(what)
            try:
                times = _time(job, x, settings, source.keras_ref)
            except (RuntimeError, ValueError, ImportError, OSError) as err:
                notes.append(f"{what}: timing failed: {_one_line(err)}")
            else:
                rows.append(_row(source, job, size, latency_stats(times), priors, settings))
            report(what, 1)
    if cache is not None and cache.reused:
        notes.append(f"reused {len(cache.reused)} export(s) from {folder}")
    return ModelBenchResult(rows=rows, notes=notes)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."


__all__ = [
    "DEFAULT_SIZES",
    "EXTRA_RUNTIMES",
    "ROW_COLUMNS",
    "RUNTIMES",
    "ModelBenchResult",
    "ModelBenchSettings",
    "bench_models",
    "parse_runtimes",
    "parse_size",
    "parse_sizes",
    "size_label",
]
