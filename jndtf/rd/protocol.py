"""The rate-quality protocol of ``jndtf eval rd`` (issue 13): what a codec engineer would measure.

For every input and every point of a sweep: process (a JND-guided method at a strength, or
nothing), encode with a real encoder, decode, and measure quality against the ORIGINAL input
(never against the pre-processed picture). Rates are bits per pixel for images and kbit/s for
clips. Curves:

- the plain encoder (``libjpeg-turbo`` or the one asked for; ``x264-plain`` for clips): the
  anchor of every BD-rate;
- the encoders a user would pick instead (``jpegli``; x264 with psy-rd and aq-mode 1/2/3 at the
  same preset): BD-rate against the plain encoder side by side;
- each method at each strength, and the method's hull: the lower envelope of its strengths'
  curves (:func:`jndtf.codecs.bdrate.best_of`: at each quality the lowest rate any strength
  reaches): a method swept over strength is worth its envelope.

BD-rate (:func:`jndtf.codecs.bdrate.bd_rate`, cubic and pchip) per input and averaged over the
inputs (the arithmetic mean of per-input BD-rates, as codec test conditions report), only over
each pair's overlapping quality range, which every figure carries. Method curves are also
compared with each anchor ("does it beat jpegli / x264 aq-mode 3?").

This module runs the sweep; :mod:`jndtf.rd.scoring` turns the points into BD-rate rows and
:mod:`jndtf.rd.report` writes them (atomic writes): ``points.csv`` (every encode),
``bdrate.csv``, ``report.md``, ``plots/<input>.png`` (rate-quality, one panel per metric).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.apply.methods.temporal import TEMPORAL_METHODS
from jndtf.codecs.image import (
    DEFAULT_ENCODER,
    SUBSAMPLING,
    check_encoder,
    decode_image,
    encode_jpeg,
)
from jndtf.codecs.quality import Ssimulacra2Reference, check_metrics, measure
from jndtf.codecs.video import SWEEP_PRESET
from jndtf.rd.inputs import RDInput, load_inputs
from jndtf.rd.report import (
    CLEAN,
    POINT_FIELDS,
    RDResult,
    format_number,
    load_points,
    markdown,
    report_from_points,
    write_outputs,
)
from jndtf.rd.scoring import bd_rate_rows
from jndtf.sysinfo import cpu_line

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class _Curve:
    label: str
    method: str  # "none" for encoders / anchors
    strength: float | None
    encoder: str
    role: str  # "plain" | "anchor" | "method" | "hull"


@dataclass(frozen=True)
class _Temporal:
    name: str
    kind: str = "temporal"


def _method_objects(methods: Sequence[str]) -> list:
    from jndtf.apply.methods import get_method

    out = []
    for name in methods:
        if name == "none":
            continue  # the plain encoder is always measured
        out.append(_Temporal(name) if name in TEMPORAL_METHODS else get_method(name))
    return out


def _process_clip(method, frames, jnd, strength) -> list:
    """A pixel method frame by frame, or a temporal filter over the frames in order."""
    if method.kind == "temporal":
        from jndtf.apply.methods import TemporalFilter

        mode, block = TEMPORAL_METHODS[method.name]
        f = TemporalFilter(strength, mode=mode, block=block)
        return [f(x, j) for x, j in zip(frames, jnd, strict=True)]
    return [method.apply(x, j, strength) for x, j in zip(frames, jnd, strict=True)]


def _curves_for(item: RDInput, methods, strengths, encoder, anchors, x264_anchors) -> list[_Curve]:
    if item.is_clip:
        curves = [_Curve("x264-plain", "none", None, "x264-plain", "plain")]
        for a in x264_anchors:
            if a != "x264-plain":
                curves.append(_Curve(a, "none", None, a, "anchor"))
        for m in methods:
            if m.kind not in ("pixel", "temporal"):
                continue  # JPEG-domain methods have no meaning for H.264
            for s in strengths:
                curves.append(
                    _Curve(f"{m.name} s={format_number(s)}", m.name, s, "x264-plain", "method")
                )
        return curves
    curves = [_Curve(encoder, "none", None, encoder, "plain")]
    for a in anchors:
        if a != encoder:
            curves.append(_Curve(a, "none", None, a, "anchor"))
    for m in methods:
        if m.kind == "temporal":
            continue  # needs a clip
        for s in strengths:
            curves.append(_Curve(f"{m.name} s={format_number(s)}", m.name, s, encoder, "method"))
    return curves


def _measure_frames(originals, decoded, metrics, every: int, refs: dict) -> dict[str, float]:
    values: dict[str, list[float]] = {m: [] for m in metrics}
    for i in range(0, len(originals), max(1, every)):
        ref = _reference(refs, i, originals[i], metrics)
        for m, v in measure(originals[i], decoded[i], metrics, ref).items():
            values[m].append(v)
    return {m: float(np.mean(v)) for m, v in values.items()}


def _reference(refs: dict, index: int, original, metrics):
    """The cached SSIMULACRA2 pyramid of frame `index` of the original (None without it)."""
    if "ssimulacra2" not in metrics:
        return None
    if index not in refs:
        refs[index] = Ssimulacra2Reference(original)
    return refs[index]


def _resolve_strengths(jnd_model: str, strengths) -> tuple[list[float], float | None]:
    """The strengths as numbers, ``"auto"`` replaced by `jnd_model`'s calibrated s (a value
    that is also given as a number is swept once); and that s (None without ``auto``).

    Raises:
        ValueError: ``auto`` without a recorded calibration (names `jndtf calibrate`).
    """
    auto = None
    out: list[float] = []
    for s in strengths:
        if isinstance(s, str):
            from jndtf.apply.calibrate import resolve_strength

            s = auto = resolve_strength(jnd_model, s)
        if float(s) not in out:
            out.append(float(s))
    return out, auto


#: The sweep's defaults, written once (`jndtf eval rd` reads them): JPEG qualities, metrics,
#: the JPEG and x264 anchors measured beside the plain encoder, and the clips' CRFs.
DEFAULT_QUALITIES = tuple(range(30, 96, 5))
DEFAULT_METRICS = ("ssimulacra2", "ms_ssim", "psnr")
DEFAULT_ANCHORS = ("jpegli",)
DEFAULT_X264_ANCHORS = ("x264-aq1", "x264-aq2", "x264-aq3")
DEFAULT_CRFS = (18, 23, 28, 33, 38)


def run_rd(
    inputs: Iterable[str | os.PathLike | RDInput],
    *,
    jnd_model: str,
    methods: Sequence[str],
    strengths: Sequence[float | str],
    encoder: str = DEFAULT_ENCODER,
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    metrics: Sequence[str] = DEFAULT_METRICS,
    out_dir: str | os.PathLike = "out/rd",
    anchors: Sequence[str] = DEFAULT_ANCHORS,
    x264_anchors: Sequence[str] = DEFAULT_X264_ANCHORS,
    crfs: Sequence[int] = DEFAULT_CRFS,
    preset: str = SWEEP_PRESET,
    crop: tuple[int, int] | None = None,
    quality_every: int = 1,
    plots: bool = True,
    bd_windows: dict[str, tuple[float, float]] | None = None,
    command: str = "",
    progress: Progress | None = None,
) -> RDResult:
    """Sweeps every input over the codec settings for each curve and writes the tables.

    Args:
        inputs: image files, video files, folders, or :class:`RDInput` objects.
        jnd_model: the JND source for the methods (``jndtf.jobs.compute_jnd`` names: classical
            ``yang2005``, ``wu2017``, ..., learned ``acol`` or a ``.keras`` path).
        methods: names from :func:`jndtf.apply.methods.available_methods` (``none`` = the
            plain encoder, always measured).
        strengths: the map multipliers swept for each method; ``"auto"`` stands for the
            calibrated s recorded for `jnd_model` (:func:`jndtf.apply.calibrate.resolve_strength`,
            recorded in the settings as ``strength_auto``).
        encoder: the plain JPEG encoder (``libjpeg-turbo`` or ``jpegli``) methods run on.
        qualities: JPEG qualities (images).
        metrics: quality metrics (:data:`jndtf.codecs.quality.METRICS`), higher = better.
        out_dir: where ``points.csv``, ``bdrate.csv``, ``report.md``, ``plots/`` go.
        anchors: other JPEG encoders measured as curves of their own (images).
        x264_anchors: names of :data:`jndtf.codecs.video.X264_ANCHORS` (clips).
        crfs: x264 CRFs (clips).
        preset: x264 preset of every clip encode (plain, anchors and methods alike).
        crop: ``(width, height)`` centre crop of inputs given as paths (never a resize).
        quality_every: clips: score every n-th frame (all frames are encoded).
        plots: write the rate-quality PNGs (needs matplotlib, which bjontegaard installs).
        bd_windows: ``{metric: (lo, hi)}``: also report BD-rates integrated only over that
            quality range (within each overlap), e.g. ``{"ssimulacra2": (60, 90)}``.
        command: the command line, recorded in the report.
        progress: ``progress(description, done, total)`` callback.

    Raises:
        ValueError / ImageError / ImportError: bad settings, unreadable inputs, a missing
            encoder or metric package (messages name the file, option or pip command).
    """
    from jndtf.codecs.video import X264_ANCHORS

    metrics = check_metrics(metrics)
    windows = {k: tuple(v) for k, v in (bd_windows or {}).items()}
    for k, (lo, hi) in windows.items():
        if k not in metrics:
            raise ValueError(f"--bd-window names {k!r}, which is not among --metrics")
        if not hi > lo:
            raise ValueError(f"--bd-window {k}={lo:g}:{hi:g} is empty")
    check_encoder(encoder)
    for a in anchors:
        check_encoder(a)
    for a in x264_anchors:
        if a not in X264_ANCHORS:
            raise ValueError(f"unknown x264 anchor {a!r}; choose from {', '.join(X264_ANCHORS)}")
    qualities = sorted({int(q) for q in qualities})
    crfs = sorted({int(c) for c in crfs})
    if not qualities or min(qualities) < 1 or max(qualities) > 100:
        raise ValueError("--quality must be JPEG qualities in 1..100")
    strengths, strength_auto = _resolve_strengths(jnd_model, strengths)
    if any(not math.isfinite(s) or s < 0 for s in strengths):
        raise ValueError(f"--strength values must be finite and >= 0, got {strengths}")
    method_objs = _method_objects(methods)
    if method_objs and not strengths:
        raise ValueError("give at least one --strength for the methods")
    items: list[RDInput] = []
    paths = []
    for i in inputs:
        (items if isinstance(i, RDInput) else paths).append(i)
    if paths:
        items += load_inputs(paths, crop=crop)
    if not items:
        raise ValueError("no input images or clips")
    out = Path(out_dir)
    plan = []
    for item in items:
        curves = _curves_for(item, method_objs, strengths, encoder, anchors, x264_anchors)
        plan.append((item, curves))
    total = sum(len(c) * (len(crfs) if it.is_clip else len(qualities)) for it, c in plan)
    done = 0
    result = RDResult(
        settings=dict(
            jnd_model=jnd_model,
            methods=[m.name for m in method_objs],
            strengths=strengths,
            strength_auto=strength_auto,
            encoder=encoder,
            subsampling=SUBSAMPLING,
            anchors=list(anchors),
            x264_anchors=list(x264_anchors),
            qualities=qualities,
            crfs=crfs,
            preset=preset,
            metrics=list(metrics),
            # the report's "crop" stays [H, W], its shipped layout (old reports still merge)
            crop=[int(crop[1]), int(crop[0])] if crop else None,
            quality_every=quality_every,
            command=command,
            cpu=cpu_line(),  # encoder speed and float kernels depend on it
        )
    )
    started = time.perf_counter()
    for item, curves in plan:
        w, h = item.size
        refs: dict = {}
        clean_refs: dict = {}
        jnd = None
        if any(c.role == "method" for c in curves):
            from jndtf.jobs import compute_jnd

            if progress:
                progress(f"{item.name}: JND map ({jnd_model})", done, total)
            jnd = [compute_jnd(f, jnd_model) for f in item.frames]
        for curve in curves:
            processed = item.frames
            method = None
            if curve.role == "method":
                method = next(m for m in method_objs if m.name == curve.method)
                if method.kind in ("pixel", "temporal"):
                    processed = _process_clip(method, item.frames, jnd, curve.strength)
            settings = crfs if item.is_clip else qualities
            for value in settings:
                if progress:
                    progress(f"{item.name}: {curve.label} @ {value}", done, total)
                row = {
                    "input": item.name,
                    "kind": "clip" if item.is_clip else "image",
                    "width": w,
                    "height": h,
                    "frames": len(item.frames),
                    "curve": curve.label,
                    "method": curve.method,
                    "strength": "" if curve.strength is None else curve.strength,
                    "encoder": curve.encoder,
                }
                if item.is_clip:
                    from jndtf.codecs.video import encode_h264

                    clip = encode_h264(
                        processed,
                        value,
                        preset=preset,
                        x264_params=X264_ANCHORS[curve.encoder],
                        fps=item.fps,
                    )
                    quality = _measure_frames(
                        item.frames, clip.decoded, metrics, quality_every, refs
                    )
                    if item.clean is not None:
                        vs_clean = _measure_frames(
                            item.clean, clip.decoded, metrics, quality_every, clean_refs
                        )
                        quality.update({f"{m}{CLEAN}": v for m, v in vs_clean.items()})
                    row.update(
                        setting="crf",
                        value=value,
                        bytes=clip.nbytes,
                        rate=clip.kbps(item.fps),
                        rate_unit="kbit/s",
                    )
                else:
                    if method is not None and method.kind == "jpeg":
                        data = method.encode(
                            item.frames[0], jnd[0], curve.strength, value, curve.encoder
                        )
                    else:
                        data = encode_jpeg(processed[0], value, curve.encoder)
                    ref = _reference(refs, 0, item.frames[0], metrics)
                    quality = measure(item.frames[0], decode_image(data), metrics, ref)
                    row.update(
                        setting="quality",
                        value=value,
                        bytes=len(data),
                        rate=8.0 * len(data) / (h * w),
                        rate_unit="bpp",
                    )
                row.update(quality)
                result.points.append(row)
                done += 1
        if progress:
            progress(f"{item.name}: done", done, total)
    result.settings["seconds"] = round(time.perf_counter() - started, 1)
    if progress:
        progress("BD-rate, tables and plots", done, total)
    names = [i.name for i in items]
    if any(i.clean is not None for i in items):
        metrics = (*metrics, *(f"{m}{CLEAN}" for m in metrics))
        result.settings["metrics_vs_clean"] = True
    result.settings["bd_windows"] = {k: list(v) for k, v in windows.items()}
    result.bdrates = bd_rate_rows(
        result.points, names, [m.name for m in method_objs], metrics, windows
    )
    result.files = write_outputs(out, result, names, metrics, plots)
    return result


__all__ = [
    "CLEAN",
    "POINT_FIELDS",
    "TEMPORAL_METHODS",
    "RDResult",
    "load_points",
    "markdown",
    "report_from_points",
    "run_rd",
]
