"""Benchmark results as a table and a CSV file (shared by ``jndtf bench models`` and ``stream``).

A benchmark returns *rows*: plain dicts ``column -> value`` (numbers, strings or None). This
module turns raw timings into latency statistics, rows into a rich table for the terminal and
into a CSV file (written atomically). No numbers are computed here beyond the statistics of
:func:`latency_stats`; the benchmark fills the rows.

Example:
    >>> stats = latency_stats([0.010, 0.012, 0.011])
    >>> stats["median_ms"], stats["runs"]
    (11.0, 3)
    >>> cols = [Column("runtime", "runtime"), Column("median_ms", "median ms", ".1f")]
    >>> table = render_table([{"runtime": "onnx", **stats}], cols, title="latency")
    >>> path = write_csv([{"runtime": "onnx", **stats}], "out/latency.csv")
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Percentile reported next to the median (``p90_ms``).
TAIL_PERCENTILE = 90.0


def latency_stats(times_s: Iterable[float]) -> dict:
    """Summary of repeated wall-clock timings, in milliseconds.

    The median and the 90th percentile (linear interpolation between order statistics, numpy's
    default) are the figures to quote; the mean is kept for completeness (it is pulled up by the
    occasional slow run on a shared machine).

    Args:
        times_s: one duration per run, in seconds (warm-up runs already left out).

    Returns:
        ``{"runs", "median_ms", "p90_ms", "mean_ms", "min_ms", "max_ms"}``.

    Raises:
        ValueError: no timings, or a timing that is negative, NaN or infinite.

    Example:
        >>> latency_stats([0.02, 0.01])["mean_ms"]
        15.0
    """
    t = np.asarray(list(times_s), np.float64).ravel()
    if t.size == 0:
        raise ValueError("latency_stats needs at least one timing")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"timings must be finite and >= 0 seconds, got {t.tolist()}")
    ms = t * 1000.0
    return {
        "runs": int(t.size),
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, TAIL_PERCENTILE)),
        "mean_ms": float(np.mean(ms)),
        "min_ms": float(np.min(ms)),
        "max_ms": float(np.max(ms)),
    }


@dataclass(frozen=True)
class Column:
    """One column of a result table.

    Attributes:
        key: the row key it shows.
        header: the column title.
        fmt: format spec of numbers (``".1f"``); strings are shown as they are.
        justify: ``"right"`` (numbers) or ``"left"``.
    """

    key: str
    header: str
    fmt: str = ""
    justify: str = "right"


def format_cell(value, fmt: str = "") -> str:
    """A cell's text: ``""`` for None/NaN, ``format(value, fmt)`` for numbers, else ``str``."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if fmt and isinstance(value, (int, float, np.integer, np.floating)):
        return format(value, fmt)
    return str(value)


def render_table(
    rows: Sequence[Mapping], columns: Sequence[Column | str], title: str | None = None
):
    """A :class:`rich.table.Table` of `rows`, one line per row, in the order of `columns`.

    Args:
        rows: result rows (missing keys show as empty cells).
        columns: :class:`Column` objects, or keys (header = key, no number format).
        title: shown above the table.

    Returns:
        ``rich.table.Table`` (print it with a rich ``Console``).
    """
    from rich.table import Table

    cols = [c if isinstance(c, Column) else Column(str(c), str(c)) for c in columns]
    table = Table(title=title)
    for c in cols:
        table.add_column(c.header, justify=c.justify)
    for row in rows:
        table.add_row(*(format_cell(row.get(c.key), c.fmt) for c in cols))
    return table


def csv_columns(rows: Sequence[Mapping]) -> list[str]:
    """Every key of `rows`, in first-seen order (the CSV header when none is given)."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(str(key), None)
    return list(seen)


def write_csv(
    rows: Sequence[Mapping], path: str | os.PathLike, columns: Sequence[str] | None = None
) -> Path:
    """Writes `rows` as CSV (header line, one line per row) atomically; returns the path.

    Floats are written with ``repr`` precision, None as an empty field.

    Args:
        rows: result rows.
        path: the ``.csv`` file (its folder is created).
        columns: the columns, in order (default :func:`csv_columns`); keys outside them are
            left out, missing keys are empty.

    Raises:
        ValueError: no rows and no columns (nothing to write).
    """
    from jndtf.io import atomic_write_bytes

    cols = list(columns) if columns is not None else csv_columns(rows)
    if not cols:
        raise ValueError("write_csv: no rows and no columns; nothing to write")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in cols})
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv`; numbers come back as float (int when whole
    and written without a decimal point), empty fields as None, other text as str."""

    def parse(text: str):
        if text == "":
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return text

    with open(path, newline="", encoding="utf-8") as f:
        return [{k: parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


__all__ = [
    "TAIL_PERCENTILE",
    "Column",
    "csv_columns",
    "format_cell",
    "latency_stats",
    "read_csv",
    "render_table",
    "write_csv",
]
