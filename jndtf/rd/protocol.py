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

Outputs (atomic writes): ``points.csv`` (every encode), ``bdrate.csv``, ``report.md``,
``plots/<input>.png`` (rate-quality, one panel per metric).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jndtf.codecs import bdrate as bd
from jndtf.codecs.image import SUBSAMPLING, check_encoder, decode_image, encode_jpeg
from jndtf.codecs.quality import UNITS, Ssimulacra2Reference, check_metrics, measure
from jndtf.io import atomic_write_bytes
from jndtf.rd.inputs import RDInput, load_inputs

Progress = Callable[[str, int, int], None]

#: Suffix of a metric measured against a synthetic clip's noise-free frames instead of its
#: (noisy) original: removing sensor noise is a loss against the original, a gain against this.
CLEAN = "@clean"

POINT_FIELDS = (
    "input",
    "kind",
    "width",
    "height",
    "frames",
    "curve",
    "method",
    "strength",
    "encoder",
    "setting",
    "value",
    "bytes",
    "rate",
    "rate_unit",
)


@dataclass
class RDResult:
    """What :func:`run_rd` measured: every point, every BD-rate row, the files written."""

    points: list[dict] = field(default_factory=list)
    bdrates: list[dict] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Curve:
    label: str
    method: str  # "none" for encoders / anchors
    strength: float | None
    encoder: str
    role: str  # "plain" | "anchor" | "method" | "hull"


def _fmt(v: float) -> str:
    return f"{v:g}"


#: Clip-only methods: the stateful JND-bounded temporal filter of
#: :class:`jndtf.apply.methods.TemporalFilter` (mode, block), run over the frames in order.
TEMPORAL_METHODS = {
    "temporal": ("hold", 1),
    "temporal-clamp": ("clamp", 1),
    "temporal-mb": ("hold", 16),
}


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
                curves.append(_Curve(f"{m.name} s={_fmt(s)}", m.name, s, "x264-plain", "method"))
        return curves
    curves = [_Curve(encoder, "none", None, encoder, "plain")]
    for a in anchors:
        if a != encoder:
            curves.append(_Curve(a, "none", None, a, "anchor"))
    for m in methods:
        if m.kind == "temporal":
            continue  # needs a clip
        for s in strengths:
            curves.append(_Curve(f"{m.name} s={_fmt(s)}", m.name, s, encoder, "method"))
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


def run_rd(
    inputs: Iterable[str | os.PathLike | RDInput],
    *,
    jnd_model: str,
    methods: Sequence[str],
    strengths: Sequence[float],
    encoder: str = "libjpeg-turbo",
    qualities: Sequence[int] = tuple(range(30, 96, 5)),
    metrics: Sequence[str] = ("ssimulacra2", "ms_ssim", "psnr"),
    out_dir: str | os.PathLike = "out/rd",
    anchors: Sequence[str] = ("jpegli",),
    x264_anchors: Sequence[str] = ("x264-aq1", "x264-aq2", "x264-aq3"),
    crfs: Sequence[int] = (18, 23, 28, 33, 38),
    preset: str = "medium",
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
        strengths: the map multipliers swept for each method.
        encoder: the plain JPEG encoder (``libjpeg-turbo`` or ``jpegli``) methods run on.
        qualities: JPEG qualities (images).
        metrics: quality metrics (:data:`jndtf.codecs.quality.METRICS`), higher = better.
        out_dir: where ``points.csv``, ``bdrate.csv``, ``report.md``, ``plots/`` go.
        anchors: other JPEG encoders measured as curves of their own (images).
        x264_anchors: names of :data:`jndtf.codecs.video.X264_ANCHORS` (clips).
        crfs: x264 CRFs (clips).
        preset: x264 preset of every clip encode (plain, anchors and methods alike).
        crop: ``(height, width)`` centre crop of inputs given as paths (never a resize).
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
    strengths = [float(s) for s in strengths]
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
            encoder=encoder,
            subsampling=SUBSAMPLING,
            anchors=list(anchors),
            x264_anchors=list(x264_anchors),
            qualities=qualities,
            crfs=crfs,
            preset=preset,
            metrics=list(metrics),
            crop=list(crop) if crop else None,
            quality_every=quality_every,
            command=command,
        )
    )
    started = time.perf_counter()
    for item, curves in plan:
        h, w = item.size
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
    result.bdrates = _bdrates(result.points, names, [m.name for m in method_objs], metrics, windows)
    result.files = _write(out, result, names, metrics, plots)
    return result


#: Settings that must agree for runs to be merged (the rest — inputs, methods, strengths,
#: anchors — may differ and are united).
_MERGE_KEYS = ("encoder", "qualities", "crfs", "preset", "metrics", "crop", "quality_every")


def report_from_points(
    runs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    plots: bool = True,
    bd_windows: dict[str, tuple[float, float]] | None = None,
) -> RDResult:
    """Merges the ``points.csv`` of several ``eval rd`` runs (e.g. one run per image, or a run
    that adds an anchor to the same images) and writes the tables, report and plots of the
    union. A curve of an input that an earlier run already measured is taken from that run.

    Raises:
        FileNotFoundError: a run folder without ``points.csv`` / ``settings.json``.
        ValueError: runs whose sweep settings (:data:`_MERGE_KEYS`) differ.
    """
    points: list[dict] = []
    settings = None
    jnd_models: list[str] = []
    for run in map(Path, runs):
        s = json.loads((run / "settings.json").read_text())
        if settings is None:
            settings = dict(s)
        for key in _MERGE_KEYS:
            if s.get(key) != settings.get(key):
                raise ValueError(
                    f"{run}: {key} = {s.get(key)} but {runs[0]} has {settings.get(key)}; "
                    "merge runs of the same sweep"
                )
        for key in ("methods", "anchors", "x264_anchors", "strengths"):
            settings[key] = list(dict.fromkeys([*settings[key], *s[key]]))
        if s["methods"]:
            jnd_models.append(s["jnd_model"])
        have = {(p["input"], p["curve"]) for p in points}
        points += [
            p for p in load_points(run / "points.csv") if (p["input"], p["curve"]) not in have
        ]
    if settings is None:
        raise ValueError("no runs to merge")
    if len(set(jnd_models)) > 1:
        raise ValueError(f"the runs use different JND maps ({', '.join(set(jnd_models))})")
    settings["jnd_model"] = jnd_models[0] if jnd_models else settings["jnd_model"]
    settings["command"] = "merged from " + ", ".join(str(r) for r in runs)
    settings.pop("seconds", None)
    names = list(dict.fromkeys(p["input"] for p in points))
    result = RDResult(points=points, settings=settings)
    windows = {k: tuple(v) for k, v in (settings.get("bd_windows") or {}).items()}
    if bd_windows is not None:
        windows = {k: tuple(v) for k, v in bd_windows.items()}
        settings["bd_windows"] = {k: list(v) for k, v in windows.items()}
    metrics = tuple(settings["metrics"])
    if settings.get("metrics_vs_clean"):
        metrics = (*metrics, *(f"{m}{CLEAN}" for m in metrics))
    result.bdrates = _bdrates(points, names, settings["methods"], metrics, windows)
    result.files = _write(Path(out_dir), result, names, metrics, plots)
    return result


def _unit(metric: str) -> str:
    return UNITS.get(metric.split("@")[0], "")


def _value(p: dict, metric: str) -> float:
    v = p.get(metric, "")
    return math.nan if v == "" else float(v)


def _curve_points(points: list[dict], name: str, label: str, metric: str):
    rows = [p for p in points if p["input"] == name and p["curve"] == label]
    return [p["rate"] for p in rows], [_value(p, metric) for p in rows]


def _hull_points(points, name, method, metric):
    """The method's curve over all its strengths: at each quality the lowest rate any strength
    reaches (:func:`jndtf.codecs.bdrate.best_of`, 64 points on a quality grid)."""
    rows = [p for p in points if p["input"] == name and p["method"] == method]
    curves = []
    for label in dict.fromkeys(p["curve"] for p in rows):
        sel = [p for p in rows if p["curve"] == label]
        curves.append(([p["rate"] for p in sel], [_value(p, metric) for p in sel]))
    return bd.best_of(curves)


def _bdrates(points, names, method_names, metrics, windows=None) -> list[dict]:
    """BD-rate rows per input (+ means); `windows` ``{metric: (lo, hi)}`` adds rows integrated
    only over that quality range (interpolation written e.g. ``"cubic 60-90"``)."""
    windows = windows or {}
    rows: list[dict] = []
    for name in names:
        labels = list(dict.fromkeys(p["curve"] for p in points if p["input"] == name))
        plain = labels[0]
        anchors = [lab for lab in labels[1:] if "s=" not in lab]
        tests = [(lab, None) for lab in labels[1:]]
        present = {p["method"] for p in points if p["input"] == name}
        tests += [(f"{m} hull", m) for m in method_names if m in present]
        for metric in metrics:
            for label, hull_of in tests:
                if hull_of is None:
                    test = _curve_points(points, name, label, metric)
                else:
                    test = _hull_points(points, name, hull_of, metric)
                references = [plain]
                if label not in anchors:
                    references += anchors
                for ref in references:
                    anchor = _curve_points(points, name, ref, metric)
                    variants = [(i, None) for i in bd.METHODS]
                    if metric in windows:
                        variants += [(i, windows[metric]) for i in bd.METHODS]
                    for interp, window in variants:
                        row = {
                            "input": name,
                            "curve": label,
                            "reference": ref,
                            "metric": metric,
                            "interpolation": interp
                            + ("" if window is None else f" {window[0]:g}-{window[1]:g}"),
                            "bd_rate_percent": "",
                            "overlap_lo": "",
                            "overlap_hi": "",
                            "note": "",
                        }
                        try:
                            r = bd.bd_rate(*anchor, *test, method=interp, window=window)
                            row.update(
                                bd_rate_percent=round(r.percent, 3),
                                overlap_lo=round(r.overlap[0], 4),
                                overlap_hi=round(r.overlap[1], 4),
                            )
                        except ValueError as e:
                            row["note"] = str(e)
                        rows.append(row)
    # means over inputs of the same kind
    keys = list(
        dict.fromkeys((r["curve"], r["reference"], r["metric"], r["interpolation"]) for r in rows)
    )
    means = []
    for key in keys:
        sel = [
            r for r in rows if (r["curve"], r["reference"], r["metric"], r["interpolation"]) == key
        ]
        vals = [r["bd_rate_percent"] for r in sel if r["bd_rate_percent"] != ""]
        mean = {
            "input": "mean",
            "curve": key[0],
            "reference": key[1],
            "metric": key[2],
            "interpolation": key[3],
            "bd_rate_percent": round(float(np.mean(vals)), 3) if vals else "",
            "overlap_lo": round(min(r["overlap_lo"] for r in sel if r["overlap_lo"] != ""), 4)
            if vals
            else "",
            "overlap_hi": round(max(r["overlap_hi"] for r in sel if r["overlap_hi"] != ""), 4)
            if vals
            else "",
            "note": f"{len(vals)} of {len(sel)} inputs have a BD-rate; "
            f"{sum(v < 0 for v in vals)} save",
        }
        means.append(mean)
    return rows + means


def _csv(rows: list[dict], fields: Sequence[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue().encode()


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    if row["bd_rate_percent"] == "":
        return "no overlap" if "overlap" in row["note"] else "n/a"
    rng = f"{row['overlap_lo']:.4g}–{row['overlap_hi']:.4g}"
    return f"{row['bd_rate_percent']:+.1f} % ({rng})"


def _mean_note(row: dict) -> str:
    n_with, _, n_all = row["note"].split()[:3]
    saves = row["note"].split("; ")[1].split()[0]
    return f"{saves} of {n_all} save" + ("" if n_with == n_all else f", {n_with} with overlap")


def markdown(result: RDResult, inputs: Sequence[str]) -> str:
    """The report: settings, then per metric and interpolation a BD-rate table."""
    s = result.settings
    lines = ["# Rate-quality report (jndtf eval rd)", ""]
    crop = "none (full size)"
    if s["crop"]:
        crop = f"centre {s['crop'][0]}x{s['crop'][1]} (HxW), no resize"
    if s.get("command"):
        lines += ["```", s["command"], "```", ""]
    lines += [
        f"- JND map: `{s['jnd_model']}`; methods: {', '.join(s['methods']) or '(none)'} at "
        f"strengths {', '.join(_fmt(v) for v in s['strengths'])}",
        f"- images: plain encoder `{s['encoder']}` ({s['subsampling']}), anchors "
        f"{', '.join(s['anchors']) or '(none)'}, qualities "
        f"{s['qualities'][0]}..{s['qualities'][-1]} ({len(s['qualities'])} points)",
        f"- clips: x264 preset {s['preset']}, plain = `x264-plain` (aq-mode=0:psy=0), anchors "
        f"{', '.join(s['x264_anchors'])}, CRF {s['crfs'][0]}..{s['crfs'][-1]}",
        f"- crop: {crop}",
        f"- quality is always measured against the ORIGINAL input; {len(result.points)} encodes "
        f"in {s.get('seconds', 0):.0f} s",
        "",
        "BD-rate: negative = fewer bits at equal quality. Each cell: BD-rate (overlap range of the "
        "metric it was integrated over). 'mean' = arithmetic mean of the per-input BD-rates "
        "(the note says how many inputs had one and how many save).",
        "",
    ]
    rows = result.bdrates
    for metric in dict.fromkeys(r["metric"] for r in result.bdrates):
        unit = f" {_unit(metric)}" if _unit(metric) else ""
        for interp in dict.fromkeys(r["interpolation"] for r in rows):
            sel = [r for r in rows if r["metric"] == metric and r["interpolation"] == interp]
            if not sel:
                continue
            lines += [f"## BD-rate at equal {metric}{unit} ({interp})", ""]
            pairs = list(dict.fromkeys((r["curve"], r["reference"]) for r in sel))
            lines.append("| curve | vs | " + " | ".join(inputs) + " | mean |")
            lines.append("|---|---|" + "---|" * (len(inputs) + 1))
            for curve, ref in pairs:
                cells = []
                for name in [*inputs, "mean"]:
                    hit = [
                        r
                        for r in sel
                        if r["curve"] == curve and r["reference"] == ref and r["input"] == name
                    ]
                    cell = _cell(hit[0]) if hit else ""
                    if name == "mean" and hit:
                        cell += f"; {_mean_note(hit[0])}"
                    cells.append(cell)
                lines.append(f"| {curve} | {ref} | " + " | ".join(cells) + " |")
            lines.append("")
    if result.files:
        plots = [f for f in result.files if f.suffix == ".png"]
        if plots:
            lines += ["## Rate-quality plots", ""]
            lines += [f"![{p.stem}](plots/{p.name})" for p in plots]
            lines.append("")
    return "\n".join(lines)


def _plot(points: list[dict], name: str, metrics, method_names) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = [p for p in points if p["input"] == name]
    labels = list(dict.fromkeys(p["curve"] for p in rows))
    w, h = int(rows[0]["width"]), int(rows[0]["height"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.2), squeeze=False)
    unit = rows[0]["rate_unit"]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for k, label in enumerate(labels):
            sel = [p for p in rows if p["curve"] == label]
            sel.sort(key=lambda p: p["rate"])
            is_method = "s=" in label
            ax.plot(
                [p["rate"] for p in sel],
                [_value(p, metric) for p in sel],
                marker="." if is_method else "o",
                ms=3 if is_method else 4,
                lw=0.8 if is_method else 1.6,
                ls=":" if is_method else "-",
                color="black" if k == 0 else None,
                label=label,
            )
        for m_name in method_names:
            msel = [p for p in rows if p["method"] == m_name]
            if msel:
                r, q = _hull_points(rows, name, m_name, metric)
                ax.plot(r, q, lw=2.2, ls="--", label=f"{m_name} hull")
        ax.set_xscale("log")
        ax.set_xlabel(f"rate ({unit}, log)")
        ax.set_ylabel(metric + (f" ({_unit(metric)})" if _unit(metric) else ""))
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{name} ({w}x{h}) — quality vs the original")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _write(out: Path, result: RDResult, names, metrics, plots: bool) -> list[Path]:
    files = []
    fields = [*POINT_FIELDS, *metrics]
    atomic_write_bytes(out / "points.csv", _csv(result.points, fields))
    files.append(out / "points.csv")
    bd_fields = [
        "input",
        "curve",
        "reference",
        "metric",
        "interpolation",
        "bd_rate_percent",
        "overlap_lo",
        "overlap_hi",
        "note",
    ]
    atomic_write_bytes(out / "bdrate.csv", _csv(result.bdrates, bd_fields))
    files.append(out / "bdrate.csv")
    if plots:
        for name in names:
            path = out / "plots" / f"{name}.png"
            atomic_write_bytes(
                path, _plot(result.points, name, metrics, result.settings["methods"])
            )
            files.append(path)
    atomic_write_bytes(out / "settings.json", json.dumps(result.settings, indent=1).encode())
    files.append(out / "settings.json")
    result.files = files
    report = markdown(result, list(names))
    atomic_write_bytes(out / "report.md", report.encode())
    files.append(out / "report.md")
    return files


def load_points(path: str | os.PathLike) -> list[dict]:
    """``points.csv`` back as rows with numbers parsed (for re-analysis)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v) if k not in ("input", "curve", "method", "encoder") else v
            except ValueError:
                pass
    return rows
