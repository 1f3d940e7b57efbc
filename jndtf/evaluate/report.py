"""Tables, bar charts and the Markdown report of a JND evaluation (ACoL-JND paper, §4.4).

:func:`write_report` writes, atomically (:func:`jndtf.io.atomic_write_bytes`,
:func:`jndtf.io.save_image`):

- ``per_image.csv``: one row per image and model: achieved PSNR and MSE of the injected image,
  λ of eq. (7), mean JND, seconds for the map, then every metric;
- ``average.csv``: one row per model, the mean over the images of each column above;
- ``report.md``: the settings, the average table (best in bold), the ranking per metric and a
  per-image table per metric;
- ``bars_<metric>.png``: one bar chart per metric, models on the x axis, bar = mean over the
  images, dots = the images, the best bar marked (Figs. 4-6 of the paper, drawn with OpenCV);
- ``report.json``: settings, directions and every record, for scripts.

Metric columns are headed ``<metric> (lower is better)`` or ``<metric> (higher is better)``
(:func:`column_name`), from :func:`jndtf.iqa.info`: §4.4 reads NLPD and MAD lower-is-better
and VIF higher-is-better.

Example:
    >>> files = write_report(report, Path("out/eval"))
    >>> sorted(files)[:3]
    ['average_csv', 'bars_mad', 'bars_nlpd']
"""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from jndtf.evaluate.protocol import EvalReport
from jndtf.io import atomic_write_bytes, save_image
from jndtf.sysinfo import cpu_line

#: Columns of every record before the metric columns: (CSV header, record attribute).
BASE_COLUMNS = (
    ("injected_psnr_db", "psnr"),
    ("injected_mse", "mse"),
    ("lambda", "scale"),
    ("mean_jnd", "mean_jnd"),
    ("jnd_seconds", "seconds"),
)


def direction(higher_is_better: bool) -> str:
    """``"higher is better"`` or ``"lower is better"``."""
    return "higher is better" if higher_is_better else "lower is better"


def column_name(report: EvalReport, metric: str) -> str:
    """CSV/Markdown header of a metric column, e.g. ``"nlpd (lower is better)"``."""
    return f"{metric} ({direction(report.higher_is_better[metric])})"


def per_image_rows(report: EvalReport) -> list[dict]:
    """Rows of ``per_image.csv`` (full-precision floats)."""
    rows = []
    for r in report.records:
        row = {"image": r.image, "model": r.model}
        row.update({head: float(getattr(r, attr)) for head, attr in BASE_COLUMNS})
        row.update({column_name(report, m): float(r.scores[m]) for m in report.metrics})
        rows.append(row)
    return rows


def average_rows(report: EvalReport) -> list[dict]:
    """Rows of ``average.csv``: per model, the mean over the images of every column."""
    rows = []
    for model in report.models:
        recs = [r for r in report.records if r.model == model]
        row: dict = {"model": model, "images": len(recs)}
        row.update(
            {head: float(np.mean([getattr(r, attr) for r in recs])) for head, attr in BASE_COLUMNS}
        )
        row.update({column_name(report, m): report.average(model, m) for m in report.metrics})
        rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    """Rows (dicts with the same keys) -> CSV text; floats written with ``repr`` (exact)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def fmt(value: float) -> str:
    """The Markdown number format of scores: 4 decimals."""
    return f"{value:.4f}"


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _best_strings(values: list[float], higher: bool) -> set[str]:
    best = max(values) if higher else min(values)
    return {fmt(best)}


def wins(report: EvalReport, model: str, other: str, metric: str) -> int:
    """On how many images `model` scores strictly better than `other` by `metric` (a tie is
    no win)."""
    higher = report.higher_is_better[metric]
    count = 0
    for image in report.images:
        a = report.record(image, model).scores[metric]
        b = report.record(image, other).scores[metric]
        count += (a > b) if higher else (a < b)
    return int(count)


def metric_convention(metric: str) -> str:
    """How metric `metric` scores an RGB pair (``jndtf.iqa.info(metric).colour``), e.g. MAD on
    grey (``MAD_index.m``) vs ``mad_rgb``, the mean over R, G, B the papers' tables use."""
    from jndtf.evaluate.protocol import OUTSIDE_METRICS

    if metric in OUTSIDE_METRICS:
        return OUTSIDE_METRICS[metric]
    try:
        from jndtf import iqa

        return iqa.info(metric).colour
    except (ImportError, KeyError):
        return "see the metric's documentation"


def markdown(report: EvalReport) -> str:
    """The Markdown report: settings, average table (best bold), rankings, per-image tables."""
    s = report.settings
    target = f"PSNR {s.psnr} dB" if s.psnr is not None else f"MSE {s.mse}"
    source = str(s.data) if s.data is not None else "the bundled sample photos"
    arrows = {m: "↑" if report.higher_is_better[m] else "↓" for m in report.metrics}
    lines = [
        "# JND model comparison (ACoL-JND paper §4.4 protocol)",
        "",
        f"{len(report.images)} images from {source}; {len(report.models)} models. Each JND map "
        f"was injected by eq. (7), D = O + λ·R·J, at {target} (every injected image within "
        f"{report.max_psnr_error_db():.4f} dB of {report.settings.target_psnr:.4f} dB), "
        f"seed {s.seed}, {s.signs.replace('_', '-')} signs, "
        f"{'uint8' if s.quantize else 'float'} output; each metric scores (original, injected). "
        "At equal noise energy a better JND model scores better. ↓ lower is better, ↑ higher is "
        f"better; **bold** = best. Run time {report.seconds:.1f} s."
        + (
            " At an MSE target this is also eq. (13) of hmJND-Net (Xie, Wang et al., AAAI 2023; "
            "MSE 100 there)."
            if s.mse is not None
            else ""
        ),
        "",
        "## Average over the images",
        "",
    ]
    head = ["model", "injected PSNR (dB)"] + [
        f"{m} {arrows[m]} ({direction(report.higher_is_better[m])})" for m in report.metrics
    ]
    best = {
        m: _best_strings([report.average(x, m) for x in report.models], report.higher_is_better[m])
        for m in report.metrics
    }
    rows = []
    for model in report.models:
        row = [model, f"{report.average(model, 'psnr_db'):.3f}"]
        for m in report.metrics:
            v = fmt(report.average(model, m))
            row.append(f"**{v}**" if v in best[m] else v)
        rows.append(row)
    lines += _md_table(head, rows)
    if report.model_notes:
        lines += ["", "## Models", ""]
        lines += _md_table(
            ["model", "map"],
            [[m, report.model_notes.get(m, "").replace("|", "\\|")] for m in report.models],
        )
    lines += ["", "## How each metric sees colour", ""]
    lines += _md_table(
        ["metric", "convention"], [[m, metric_convention(m)] for m in report.metrics]
    )
    lines += ["", "## Ranking (best first)", ""]
    for m in report.metrics:
        lines.append(
            f"- {m} ({direction(report.higher_is_better[m])}): " + " > ".join(report.ranking(m))
        )
    if len(report.models) > 1:
        first = report.models[0]
        lines += [
            "",
            f"## Head to head: images where {first} (the first model) scores better",
            "",
        ]
        rows = [
            [other]
            + [f"{wins(report, first, other, m)}/{len(report.images)}" for m in report.metrics]
            for other in report.models[1:]
        ]
        lines += _md_table([f"{first} vs", *report.metrics], rows)
    lines += ["", "## Per image", ""]
    for m in report.metrics:
        lines += [f"### {m} {arrows[m]} ({direction(report.higher_is_better[m])})", ""]
        rows = []
        for image in report.images:
            vals = [report.record(image, model).scores[m] for model in report.models]
            top = _best_strings(vals, report.higher_is_better[m])
            rows.append([image] + [f"**{fmt(v)}**" if fmt(v) in top else fmt(v) for v in vals])
        mean_row = ["mean"] + [fmt(report.average(x, m)) for x in report.models]
        lines += _md_table(["image", *report.models], [*rows, mean_row])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Bar charts (OpenCV)

#: Bar colours (RGB), matplotlib's tab10 order; the ``uniform`` control is drawn grey.
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
)
CONTROL_COLOUR = (160, 160, 160)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (30, 30, 30)


def _text_size(text: str, scale: float, thickness: int = 1) -> tuple[int, int]:
    (w, h), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    return w, h


def _put(img, text, x, y, scale=0.45, colour=_INK, thickness=1, anchor="left") -> None:
    w, _ = _text_size(text, scale, thickness)
    if anchor == "centre":
        x -= w // 2
    elif anchor == "right":
        x -= w
    cv2.putText(img, text, (int(x), int(y)), _FONT, scale, colour, thickness, cv2.LINE_AA)


def _nice_step(span: float, count: int = 5) -> float:
    raw = span / count
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw:
            return m * mag
    return 10.0 * mag


def axis_range(values: list[float]) -> tuple[float, float, float, bool]:
    """(low, high, tick step, starts_at_zero) of a bar chart's value axis.

    The axis starts at 0 when the values are >= 0 and spread over more than 35 % of the
    largest; otherwise (scores of similar models often differ in the third digit) it is cut to
    the values' range plus a margin, at least 5 % of their magnitude, and the chart says so.
    """
    vmin, vmax = float(min(values)), float(max(values))
    if vmin >= 0 and vmax > 0 and (vmax - vmin) > 0.35 * vmax:
        step = _nice_step(vmax)
        return 0.0, math.ceil(vmax * 1.08 / step) * step, step, True
    span = vmax - vmin
    # At least 5 % of the magnitude on the axis, so differences in the noise (the PSNR of
    # every model at the target, say) are not blown up into tall bars.
    want = max(1.4 * span, 0.05 * max(abs(vmax), abs(vmin)), 1e-6)
    pad = 0.5 * (want - span)
    lo, hi = vmin - pad, vmax + pad
    if vmin >= 0:
        lo = max(lo, 0.0)
    step = _nice_step(hi - lo)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return lo, hi, step, lo == 0.0


def _tick_text(v: float, step: float) -> str:
    exponent = math.floor(math.log10(step))
    decimals = max(0, -exponent + (1 if step / 10**exponent == 2.5 else 0))
    return f"{v:.{decimals}f}"


def bar_chart(
    labels: list[str],
    values: list[float],
    *,
    title: str,
    subtitle: str = "",
    higher_is_better: bool | None = None,
    points: list[list[float]] | None = None,
    control: str | None = "uniform",
    height: int = 460,
) -> np.ndarray:
    """A bar chart as a uint8 RGB image (OpenCV drawing, no matplotlib).

    Args:
        labels: x-axis labels, one per bar.
        values: bar heights.
        title: first line (e.g. ``"nlpd (lower is better)"``).
        subtitle: second line.
        higher_is_better: marks the best bar ("best" above it, dark outline); None: no mark.
        points: per bar, the values drawn as dots on it (the per-image scores).
        control: label drawn in grey (the ``uniform`` control).
        height: image height in pixels; the width follows the number of bars.

    Returns:
        uint8 RGB ``HxWx3`` image.
    """
    if len(labels) != len(values) or not labels:
        raise ValueError(f"need one value per label, got {len(labels)} and {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"bar values must be finite, got {values}")
    points = points or [[] for _ in labels]
    shown = [lb if len(lb) <= 20 else lb[:18] + ".." for lb in labels]
    everything = list(values) + [p for ps in points for p in ps if math.isfinite(p)]
    lo, hi, step, at_zero = axis_range(everything)
    ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    tick_w = max(_text_size(_tick_text(t, step), 0.42)[0] for t in ticks)
    slot = max(84, max(_text_size(s, 0.48)[0] for s in shown) + 18)
    left, right, top, bottom = tick_w + 22, 24, 84, height - 56
    width = max(left + slot * len(labels) + right, 420, _text_size(title, 0.7, 2)[0] + 40)
    width = max(width, _text_size(subtitle, 0.45)[0] + 40)
    img = np.full((height, width, 3), 255, np.uint8)
    plot_w = width - left - right
    slot = plot_w / len(labels)

    def y_of(v: float) -> int:
        return round(bottom - (v - lo) / (hi - lo) * (bottom - top))

    _put(img, title, 20, 30, 0.7, thickness=2)
    if subtitle:
        _put(img, subtitle, 20, 54, 0.45, (90, 90, 90))
    for t in ticks:
        y = y_of(t)
        cv2.line(img, (left, y), (width - right, y), (225, 225, 225), 1, cv2.LINE_AA)
        _put(img, _tick_text(t, step), left - 8, y + 5, 0.42, (80, 80, 80), anchor="right")
    if not at_zero:
        _put(
            img,
            f"axis starts at {_tick_text(lo, step)}, not 0",
            width - right,
            top - 10,
            0.4,
            (150, 60, 60),
            anchor="right",
        )
    best = None
    if higher_is_better is not None:
        best = int(np.argmax(values) if higher_is_better else np.argmin(values))
    bar_w = max(10, int(slot * 0.58))
    for i, (label, v) in enumerate(zip(shown, values, strict=True)):
        cx = int(left + slot * (i + 0.5))
        x0, x1 = cx - bar_w // 2, cx + bar_w // 2
        colour = CONTROL_COLOUR if labels[i] == control else PALETTE[i % len(PALETTE)]
        y = y_of(v)
        cv2.rectangle(img, (x0, min(y, bottom)), (x1, max(y, bottom)), colour, -1)
        if i == best:
            cv2.rectangle(img, (x0, min(y, bottom)), (x1, max(y, bottom)), _INK, 2)
        ps = [p for p in points[i] if math.isfinite(p)]
        for k, p in enumerate(ps):
            px = x0 + int((k + 1) * (x1 - x0) / (len(ps) + 1))
            cv2.circle(img, (px, y_of(p)), 4, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(img, (px, y_of(p)), 3, _INK, -1, cv2.LINE_AA)
        label_y = min([y, bottom, *(y_of(p) - 4 for p in ps)]) - 8
        _put(img, fmt(v), cx, label_y, 0.45, thickness=2 if i == best else 1, anchor="centre")
        if i == best:
            _put(img, "best", cx, label_y - 18, 0.45, (150, 60, 60), 2, anchor="centre")
        _put(img, label, cx, bottom + 24, 0.48, anchor="centre")
    cv2.line(img, (left, bottom), (width - right, bottom), _INK, 1, cv2.LINE_AA)
    cv2.line(img, (left, top - 4), (left, bottom), _INK, 1, cv2.LINE_AA)
    return img


def metric_chart(report: EvalReport, metric: str) -> np.ndarray:
    """The bar chart of one metric: mean over the images per model, dots = the images."""
    hib = report.higher_is_better[metric]
    s = report.settings
    target = f"PSNR {s.psnr} dB" if s.psnr is not None else f"MSE {s.mse}"
    return bar_chart(
        list(report.models),
        [report.average(m, metric) for m in report.models],
        title=f"{metric} ({direction(hib)})",
        subtitle=f"mean over {len(report.images)} images (dots: each image); JND noise "
        f"injected by eq. (7) at {target}",
        higher_is_better=hib,
        points=[report.values(m, metric) for m in report.models],
    )


def report_json(report: EvalReport) -> dict:
    """Everything of the run as JSON-ready data."""
    settings = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(report.settings).items()
    }
    return {
        "protocol": "ACoL-JND paper §4.4: eq. (7) injection at equal PSNR, IQA of (O, D)",
        "settings": settings,
        "target_psnr_db": report.settings.target_psnr,
        "max_psnr_error_db": report.max_psnr_error_db(),
        "images": list(report.images),
        "models": list(report.models),
        "metrics": {m: direction(report.higher_is_better[m]) for m in report.metrics},
        "metric_conventions": {m: metric_convention(m) for m in report.metrics},
        "model_notes": dict(report.model_notes),
        "seconds": report.seconds,
        "command": shlex.join(sys.argv),
        "cpu": cpu_line(),
        "averages": report.averages(),
        "ranking": {m: report.ranking(m) for m in report.metrics},
        "first_model_wins": {
            other: {m: wins(report, report.models[0], other, m) for m in report.metrics}
            for other in report.models[1:]
        },
        "records": [{**asdict(r), "scores": dict(r.scores)} for r in report.records],
    }


def write_report(report: EvalReport, out_dir: Path) -> dict[str, Path]:
    """Writes the CSV tables, Markdown report, JSON and one bar chart per metric (atomically).

    Returns:
        kind -> path (``per_image_csv``, ``average_csv``, ``markdown``, ``json``,
        ``bars_<metric>``); also stored in ``report.files``.
    """
    out_dir = Path(out_dir)
    files = {
        "per_image_csv": out_dir / "per_image.csv",
        "average_csv": out_dir / "average.csv",
        "markdown": out_dir / "report.md",
        "json": out_dir / "report.json",
    }
    atomic_write_bytes(files["per_image_csv"], to_csv(per_image_rows(report)).encode())
    atomic_write_bytes(files["average_csv"], to_csv(average_rows(report)).encode())
    atomic_write_bytes(files["markdown"], markdown(report).encode())
    atomic_write_bytes(files["json"], (json.dumps(report_json(report), indent=2) + "\n").encode())
    for m in report.metrics:
        path = out_dir / f"bars_{m}.png"
        save_image(path, metric_chart(report, m))
        files[f"bars_{m}"] = path
    report.files.update(files)
    return files


__all__ = [
    "average_rows",
    "bar_chart",
    "column_name",
    "direction",
    "markdown",
    "metric_chart",
    "metric_convention",
    "per_image_rows",
    "report_json",
    "to_csv",
    "write_report",
]
