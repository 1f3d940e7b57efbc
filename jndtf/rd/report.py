"""What ``jndtf eval rd`` writes, and merging the points of several runs into one report.

Outputs (atomic writes, :func:`jndtf.io.atomic_write_bytes`): ``points.csv`` (every encode,
columns :data:`POINT_FIELDS` + one per metric), ``bdrate.csv`` (:data:`BD_FIELDS`, rows of
:func:`jndtf.rd.scoring.bd_rate_rows`), ``settings.json``, ``report.md`` (:func:`markdown`) and
``plots/<input>.png`` (rate-quality, one panel per metric). :func:`report_from_points` rebuilds
all of them from the ``points.csv`` of earlier runs without encoding anything again.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jndtf.io import atomic_write_bytes
from jndtf.rd.scoring import bd_rate_rows, hull_points, metric_unit, point_value

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


#: Columns of ``bdrate.csv``.
BD_FIELDS = (
    "input",
    "curve",
    "reference",
    "metric",
    "interpolation",
    "bd_rate_percent",
    "overlap_lo",
    "overlap_hi",
    "note",
)


@dataclass
class RDResult:
    """What :func:`run_rd` measured: every point, every BD-rate row, the files written."""

    points: list[dict] = field(default_factory=list)
    bdrates: list[dict] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def format_number(v: float) -> str:
    """A strength or setting as written in curve labels and the report (``%g``)."""
    return f"{v:g}"


#: Settings that must agree for runs to be merged (the rest — inputs, methods, strengths,
#: anchors — may differ and are united).
MERGE_KEYS = ("encoder", "qualities", "crfs", "preset", "metrics", "crop", "quality_every")


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
        ValueError: runs whose sweep settings (:data:`MERGE_KEYS`) differ.
    """
    points: list[dict] = []
    settings = None
    jnd_models: list[str] = []
    for run in map(Path, runs):
        s = json.loads((run / "settings.json").read_text())
        if settings is None:
            settings = dict(s)
        for key in MERGE_KEYS:
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
    result.bdrates = bd_rate_rows(points, names, settings["methods"], metrics, windows)
    result.files = write_outputs(Path(out_dir), result, names, metrics, plots)
    return result


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
        # s["crop"] is [H, W] on disk (the report's layout); shown WIDTHxHEIGHT like --crop
        crop = f"centre {s['crop'][1]}x{s['crop'][0]} (WIDTHxHEIGHT), no resize"
    if s.get("command"):
        lines += ["```", s["command"], "```", ""]
    lines += [
        f"- JND map: `{s['jnd_model']}`; methods: {', '.join(s['methods']) or '(none)'} at "
        f"strengths {', '.join(format_number(v) for v in s['strengths'])}"
        + (
            f" ('auto' = {format_number(s['strength_auto'])}, the calibrated s of "
            f"`{s['jnd_model']}`)"
            if s.get("strength_auto") is not None
            else ""
        ),
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
        unit = f" {metric_unit(metric)}" if metric_unit(metric) else ""
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
                [point_value(p, metric) for p in sel],
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
                r, q = hull_points(rows, name, m_name, metric)
                ax.plot(r, q, lw=2.2, ls="--", label=f"{m_name} hull")
        ax.set_xscale("log")
        ax.set_xlabel(f"rate ({unit}, log)")
        ax.set_ylabel(metric + (f" ({metric_unit(metric)})" if metric_unit(metric) else ""))
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{name} ({w}x{h}) — quality vs the original")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write_outputs(out: Path, result: RDResult, names, metrics, plots: bool) -> list[Path]:
    """Writes every output of a run (or a merge) into `out`; returns the paths written."""
    files = []
    fields = [*POINT_FIELDS, *metrics]
    atomic_write_bytes(out / "points.csv", _csv(result.points, fields))
    files.append(out / "points.csv")
    atomic_write_bytes(out / "bdrate.csv", _csv(result.bdrates, BD_FIELDS))
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


__all__ = [
    "BD_FIELDS",
    "CLEAN",
    "MERGE_KEYS",
    "POINT_FIELDS",
    "RDResult",
    "format_number",
    "load_points",
    "markdown",
    "report_from_points",
    "write_outputs",
]
