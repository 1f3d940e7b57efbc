"""Finding and reading what ``jndtf eval jnd``, ``jndtf eval rd`` and ``jndtf bench`` wrote.

Each kind of output is recognised by its files (:data:`KNOWN_OUTPUTS`), never by the folder's
name:

- ``eval jnd`` (:mod:`jndtf.evaluate.report`): ``report.json`` (with ``records`` and
  ``averages``) beside ``average.csv`` and ``per_image.csv``; charts ``bars_<metric>.png``;
- ``eval rd`` (:mod:`jndtf.rd.report`): ``points.csv``, ``bdrate.csv`` and ``settings.json``;
  plots ``plots/<input>.png``;
- ``bench models`` / ``bench stream`` (:mod:`jndtf.bench.report`): a CSV file (any name; the
  defaults are ``models.csv`` and ``stream.csv``) whose header has the benchmark's columns.

Every reader returns :class:`Section` objects: plain text and numbers, no HTML (the page is
:mod:`jndtf.report.page`'s job). Numbers are shown with :func:`number`. Nothing here imports
TensorFlow, Keras, matplotlib or the producers' modules.

Example:
    >>> sections = read_run(Path("out/rd"))
    >>> sections[0].kind, [t.caption for t in sections[0].tables][:1]
    ('eval rd', ['BD-rate at equal psnr (cubic)'])
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

#: What each kind of output is recognised by (shown in the error for a folder with none).
KNOWN_OUTPUTS = {
    "eval jnd": "report.json + average.csv + per_image.csv (jndtf eval jnd)",
    "eval rd": "points.csv + bdrate.csv + settings.json (jndtf eval rd)",
    "bench models": "a .csv with the columns runtime, median_ms, p90_ms, fps (jndtf bench models)",
    "bench stream": "a .csv with the columns setting, fps, bytes_change_pct, verdict "
    "(jndtf bench stream)",
}

#: Columns that identify a benchmark CSV (a subset of each producer's ``ROW_COLUMNS``).
BENCH_SIGNATURES = {
    "bench models": ("runtime", "median_ms", "p90_ms", "fps"),
    "bench stream": ("setting", "fps", "bytes_change_pct", "verdict"),
}

#: Columns of the main benchmark tables, in order (the whole CSV is shown folded below them).
BENCH_COLUMNS = {
    "bench models": (
        "model", "runtime", "shape", "size", "threads", "runs", "median_ms", "p90_ms", "fps",
        "mac_per_px", "gmac_per_frame", "gmac_per_s", "priors_ms",
    ),
    "bench stream": (
        "setting", "model", "codec", "size", "jnd_scale", "reuse", "frames", "fps",
        "fps_no_compare", "map_psnr_db", "bytes_change_pct", "psnr_change_db",
        "equal_psnr_change_pct", "verdict",
    ),
}  # fmt: skip

#: How to read the BD-rate tables (shown above the first).
BD_NOTE = (
    "BD-rate: negative = fewer bits than the reference at equal quality (green), positive = "
    "more (red). Each cell: BD-rate (the quality range it was integrated over); 'mean' = the "
    "mean over the inputs that have one. 'kind': an anchor is what a user would pick instead "
    "of jndtf (jpegli, x264 AQ); a method counts only if it beats the plain encoder and the "
    "anchors. Hover a cell for its note."
)

#: Number formats of the benchmark columns (the terminal tables' precision); other numbers
#: follow :func:`number`.
BENCH_FORMATS = {
    "median_ms": ".1f", "p90_ms": ".1f", "mean_ms": ".1f", "min_ms": ".1f", "max_ms": ".1f",
    "fps": ".1f", "fps_no_compare": ".1f", "mac_per_px": ".0f", "gmac_per_frame": ".1f",
    "gmac_per_s": ".1f", "priors_ms": ".1f", "priors_p90_ms": ".1f", "jnd_scale": ".2f",
    "map_psnr_db": ".2f", "bytes_change_pct": ".1f", "psnr_change_db": ".2f",
    "equal_psnr_change_pct": ".1f",
}  # fmt: skip

#: Keys (JSON) or columns (CSV) under which an output may record the CPU it ran on.
CPU_KEYS = ("cpu", "cpu_line")


@dataclass
class Table:
    """A table to show: a caption, the header and the rows as display strings.

    Attributes:
        caption: shown above the table.
        header: column titles.
        rows: one list of cell texts per row (already formatted).
        numeric: per column, True when it holds numbers (right-aligned).
        marks: ``{(row, column): css class}`` of cells to mark (``best``, ``saves``,
            ``loses``); a cell's note goes in `notes`.
        notes: ``{(row, column): text}`` shown as the cell's tooltip (the BD-rate note).
        folded: shown collapsed (``<details>``): long tables a reader opens on demand.
        note: a line under the caption.
    """

    caption: str
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    marks: dict[tuple[int, int], str] = field(default_factory=dict)
    notes: dict[tuple[int, int], str] = field(default_factory=dict)
    folded: bool = False
    note: str = ""


@dataclass
class Section:
    """One output of one run, as the page shows it.

    Attributes:
        kind: a key of :data:`KNOWN_OUTPUTS`.
        source: the folder (or CSV file) it was read from.
        command: the command line recorded in the output; None when it records none.
        cpu: the CPU line recorded in the output (:func:`jndtf.sysinfo.cpu_line`); None when
            it records none.
        facts: ``(name, value)`` lines: the settings of the run.
        tables: the tables, in order.
        plots: the images (PNG files) of the run, in order.
        notes: warnings the output carries (shown highlighted).
    """

    kind: str
    source: Path
    command: str | None = None
    cpu: str | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def number(value) -> str:
    """A number as the page shows it: ints as they are, floats with 4 decimals when
    0.01 <= |v| < 1e5, else 4 significant digits; NaN/inf as ``nan``/``inf``; text unchanged.

    Example:
        >>> number(26.060195), number(1.3e-05), number(944), number("jpegli")
        ('26.0602', '1.3e-05', '944', 'jpegli')
    """
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0 or 0.01 <= abs(value) < 1e5:
            return f"{value:.4f}"
        return f"{value:.4g}"
    return str(value)


def parse_cell(text: str):
    """A CSV field -> int, float or the text (empty -> None)."""
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


#: Columns kept as text (names: an input called "1e3" is not the number 1000).
TEXT_COLUMNS = frozenset(
    ("input", "image", "model", "curve", "reference", "method", "encoder", "metric",
     "interpolation", "note", "setting", "runtime", "shape", "size", "codec", "file",
     "verdict", "warning", "rate_unit", "kind")
)  # fmt: skip


def read_csv_rows(path: Path) -> tuple[list[str], list[dict]]:
    """(header, rows) of a CSV file, fields parsed by :func:`parse_cell` except the
    :data:`TEXT_COLUMNS` (kept as written).

    Raises:
        ValueError: the file is not readable as CSV text (names the file).
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = [
                {k: (v if k in TEXT_COLUMNS else parse_cell(v)) for k, v in row.items()}
                for row in reader
            ]
            header = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a CSV text file ({e})") from None
    return header, rows


def read_json(path: Path) -> dict:
    """A JSON object from `path`.

    Raises:
        ValueError: not valid JSON or not an object (names the file).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _recorded_cpu(*mappings) -> str | None:
    for m in mappings:
        for key in CPU_KEYS:
            if isinstance(m, dict) and m.get(key):
                return str(m[key])
    return None


def _table(
    caption: str,
    header: list[str],
    rows: list[dict],
    formats: dict[str, str] | None = None,
    **kwargs,
) -> Table:
    formats = formats or {}

    def cell(value, column: str) -> str:
        fmt = formats.get(column)
        if fmt and isinstance(value, float) and math.isfinite(value):
            return format(value, fmt)
        return number(value)

    cells = [[cell(r.get(h), h) for h in header] for r in rows]
    numeric = [
        all(isinstance(r.get(h), (int, float)) or r.get(h) is None for r in rows) and bool(rows)
        for h in header
    ]
    return Table(caption, list(header), cells, numeric, **kwargs)


def bench_kind(header: list[str]) -> str | None:
    """``"bench models"``, ``"bench stream"`` or None, from a CSV header."""
    for kind, columns in BENCH_SIGNATURES.items():
        if set(columns) <= set(header):
            return kind
    return None


# ---------------------------------------------------------------------------------------------
# eval jnd


def is_eval_jnd(folder: Path) -> bool:
    """True when `folder` holds the files of ``jndtf eval jnd``."""
    return all((folder / n).is_file() for n in ("report.json", "average.csv", "per_image.csv"))


def read_eval_jnd(folder: Path) -> Section:
    """The Section of an ``eval jnd`` folder: settings, the average table (best bold), the
    ranking, the per-image table (folded) and the bar charts."""
    data = read_json(folder / "report.json")
    if "averages" not in data or "metrics" not in data:
        raise ValueError(
            f"{folder / 'report.json'}: not written by jndtf eval jnd (no 'averages'/'metrics')"
        )
    settings = data.get("settings", {})
    metrics = dict(data["metrics"])  # name -> "higher is better" / "lower is better"
    section = Section(
        "eval jnd",
        folder,
        command=data.get("command") or settings.get("command"),
        cpu=_recorded_cpu(data, settings),
    )
    if data.get("protocol"):
        section.facts.append(("protocol", str(data["protocol"])))
    target = (
        f"PSNR {settings['psnr']} dB"
        if settings.get("psnr") is not None
        else f"MSE {settings.get('mse')}"
    )
    section.facts += [
        (
            "images",
            f"{len(data.get('images', []))} from {settings.get('data') or 'the bundled samples'}",
        ),
        ("models", ", ".join(data.get("models", []))),
        ("injection target", target),
        ("max |PSNR - target|", f"{number(data.get('max_psnr_error_db'))} dB"),
        ("seed, signs", f"{settings.get('seed')}, {settings.get('signs')}"),
        ("run time", f"{number(data.get('seconds'))} s"),
    ]
    header, rows = read_csv_rows(folder / "average.csv")
    table = _table("Average over the images", header, rows)
    for col, name in enumerate(header):
        metric = name.rsplit(" (", 1)[0]
        if metric not in metrics or not rows:
            continue
        values = [r.get(name) for r in rows]
        finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if not finite:
            continue
        best = (max if metrics[metric].startswith("higher") else min)(finite)
        for i, v in enumerate(values):
            if v == best:
                table.marks[(i, col)] = "best"
    table.note = "bold: the best model of each metric column"
    section.tables.append(table)
    ranking = data.get("ranking") or {}
    if ranking:
        section.tables.append(
            Table(
                "Ranking (best first)",
                ["metric", "direction", "ranking"],
                [[m, metrics.get(m, ""), " > ".join(r)] for m, r in ranking.items()],
                [False, False, False],
            )
        )
    conventions = data.get("metric_conventions") or {}
    if conventions:
        section.tables.append(
            Table(
                "How each metric sees colour",
                ["metric", "convention"],
                [[m, str(c)] for m, c in conventions.items()],
                [False, False],
            )
        )
    header, rows = read_csv_rows(folder / "per_image.csv")
    section.tables.append(_table("Per image", header, rows, folded=True))
    charts = [folder / f"bars_{m}.png" for m in metrics]
    section.plots = [p for p in charts if p.is_file()]
    section.plots += sorted(p for p in folder.glob("bars_*.png") if p not in charts)
    return section


# ---------------------------------------------------------------------------------------------
# eval rd


def is_eval_rd(folder: Path) -> bool:
    """True when `folder` holds the files of ``jndtf eval rd``."""
    return all((folder / n).is_file() for n in ("points.csv", "bdrate.csv", "settings.json"))


def _bd_cell(row: dict) -> tuple[str, str, str]:
    """(text, css class, note) of one BD-rate row."""
    value = row.get("bd_rate_percent")
    note = str(row.get("note") or "")
    if not isinstance(value, (int, float)):
        return ("no overlap" if "overlap" in note else "n/a"), "", note
    lo, hi = row.get("overlap_lo"), row.get("overlap_hi")
    text = f"{value:+.1f} %"
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
        text += f" ({lo:.4g}–{hi:.4g})"
    mark = "saves" if value < 0 else "loses" if value > 0 else ""
    return text, mark, note


def read_eval_rd(folder: Path) -> Section:
    """The Section of an ``eval rd`` folder: the command, the sweep, one BD-rate table per
    metric and interpolation (rows: each method and anchor against each reference; columns:
    the inputs and the mean), every point (folded) and the rate-quality plots."""
    s = read_json(folder / "settings.json")
    section = Section("eval rd", folder, command=s.get("command"), cpu=_recorded_cpu(s))
    anchors = [*s.get("anchors", []), *s.get("x264_anchors", [])]
    strengths = ", ".join(f"{v:g}" for v in s.get("strengths", []))
    qualities = s.get("qualities") or []
    crop = s.get("crop")
    section.facts += [
        ("JND map", str(s.get("jnd_model"))),
        ("methods", f"{', '.join(s.get('methods', [])) or '(none)'} at strengths {strengths}"),
        ("plain JPEG encoder", f"{s.get('encoder')} ({s.get('subsampling', '')})"),
        ("JPEG anchors", ", ".join(s.get("anchors", [])) or "(none)"),
        (
            "JPEG qualities",
            f"{qualities[0]}..{qualities[-1]} ({len(qualities)} points)" if qualities else "",
        ),
        ("clips", f"x264 preset {s.get('preset')}, anchors {', '.join(s.get('x264_anchors', []))}"),
        ("metrics", ", ".join(s.get("metrics", []))),
        ("crop", f"{crop[1]}x{crop[0]} (WIDTHxHEIGHT)" if crop else "none (full size)"),
        (
            "BD windows",
            ", ".join(f"{k} {v[0]:g}-{v[1]:g}" for k, v in (s.get("bd_windows") or {}).items())
            or "none",
        ),
    ]
    if "seconds" in s:
        section.facts.append(("run time", f"{number(s['seconds'])} s"))
    _, bd = read_csv_rows(folder / "bdrate.csv")
    _, points = read_csv_rows(folder / "points.csv")
    inputs = list(dict.fromkeys(str(p["input"]) for p in points))
    seen = {*inputs, "mean"}  # inputs with BD-rate rows but no points (none, normally)
    inputs += [n for n in dict.fromkeys(str(r["input"]) for r in bd) if n not in seen]
    for metric in dict.fromkeys(r["metric"] for r in bd):
        for interp in dict.fromkeys(r["interpolation"] for r in bd if r["metric"] == metric):
            sel = [r for r in bd if r["metric"] == metric and r["interpolation"] == interp]
            pairs = list(dict.fromkeys((r["curve"], r["reference"]) for r in sel))
            by_key = {(r["curve"], r["reference"], str(r["input"])): r for r in sel}
            header = ["curve", "kind", "vs", *inputs, "mean"]
            first = not any(t.caption.startswith("BD-rate") for t in section.tables)
            table = Table(
                f"BD-rate at equal {metric} ({interp})",
                header,
                [],
                [False, False, False] + [True] * (len(inputs) + 1),
                note=BD_NOTE if first else "",
            )
            for i, (curve, ref) in enumerate(pairs):
                kind = "anchor" if curve in anchors else "JND method"
                row = [str(curve), kind, str(ref)]
                for j, name in enumerate([*inputs, "mean"]):
                    hit = by_key.get((curve, ref, name))
                    if hit is None:
                        row.append("")
                        continue
                    text, mark, note = _bd_cell(hit)
                    if name == "mean" and note:
                        text += f"; {note}"
                    elif note:
                        table.notes[(i, 3 + j)] = note
                    if mark:
                        table.marks[(i, 3 + j)] = mark
                    row.append(text)
                table.rows.append(row)
            section.tables.append(table)
    point_header = [h for h in _points_header(folder / "points.csv")]
    section.tables.append(_table("Every encode (points.csv)", point_header, points, folded=True))
    plots = folder / "plots"
    named = [plots / f"{n}.png" for n in inputs]
    section.plots = [p for p in named if p.is_file()]
    if plots.is_dir():
        section.plots += sorted(p for p in plots.glob("*.png") if p not in named)
    return section


def _points_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


# ---------------------------------------------------------------------------------------------
# bench


def read_bench(path: Path, kind: str | None = None) -> Section:
    """The Section of a ``bench models`` / ``bench stream`` CSV: the main columns, the
    warnings the rows carry, and every column (folded).

    Raises:
        ValueError: the CSV has neither benchmark's columns (names them).
    """
    header, rows = read_csv_rows(path)
    kind = kind or bench_kind(header)
    if kind is None:
        raise ValueError(
            f"{path}: not a jndtf bench CSV; looked for {KNOWN_OUTPUTS['bench models']} or "
            f"{KNOWN_OUTPUTS['bench stream']}"
        )
    cpu = next((str(r[k]) for r in rows for k in CPU_KEYS if r.get(k)), None)
    section = Section(kind, path, cpu=cpu)
    section.facts.append(("file", path.name))
    section.facts.append(("rows", str(len(rows))))
    shown = [c for c in BENCH_COLUMNS[kind] if c in header]
    section.tables.append(_table(f"{kind} ({path.name})", shown, rows, BENCH_FORMATS))
    section.tables.append(_table(f"Every column ({path.name})", header, rows, folded=True))
    warnings: dict[str, list[str]] = {}  # one line per distinct warning, naming its rows
    for r in rows:
        if r.get("warning"):
            warnings.setdefault(str(r["warning"]), []).append(str(r.get("setting", "")))
    section.notes += [f"{', '.join(names)}: {text}" for text, names in warnings.items()]
    return section


# ---------------------------------------------------------------------------------------------


def read_run(path: str | os.PathLike) -> list[Section]:
    """Every known output in a run folder (or a bench CSV file given directly).

    A folder may hold several (an ``eval rd`` folder and a bench CSV beside it); bench CSVs are
    the folder's ``*.csv`` files (not the ``eval`` tables) with a benchmark's columns.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: no known output in it; the message lists what was looked for.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such folder or file")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise ValueError(
                f"{path}: give the output folder of jndtf eval jnd / eval rd, or a bench .csv"
            )
        return [read_bench(path)]
    sections = []
    taken: set[str] = set()
    if is_eval_jnd(path):
        sections.append(read_eval_jnd(path))
        taken |= {"average.csv", "per_image.csv"}
    if is_eval_rd(path):
        sections.append(read_eval_rd(path))
        taken |= {"points.csv", "bdrate.csv"}
    for csv_path in sorted(path.glob("*.csv")):
        if csv_path.name in taken:
            continue
        try:
            header, _ = read_csv_rows(csv_path)
        except ValueError:
            continue
        kind = bench_kind(header)
        if kind is not None:
            sections.append(read_bench(csv_path, kind))
    if not sections:
        looked = "; ".join(f"{k}: {v}" for k, v in KNOWN_OUTPUTS.items())
        raise ValueError(f"{path}: none of the known jndtf outputs found; looked for {looked}")
    return sections


__all__ = [
    "BENCH_COLUMNS",
    "BENCH_FORMATS",
    "BENCH_SIGNATURES",
    "KNOWN_OUTPUTS",
    "TEXT_COLUMNS",
    "Section",
    "Table",
    "bench_kind",
    "is_eval_jnd",
    "is_eval_rd",
    "number",
    "parse_cell",
    "read_bench",
    "read_csv_rows",
    "read_eval_jnd",
    "read_eval_rd",
    "read_json",
    "read_run",
]
