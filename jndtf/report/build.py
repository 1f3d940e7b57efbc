"""``jndtf report``: one HTML page from the outputs of ``eval jnd``, ``eval rd`` and ``bench``.

:func:`build_report` reads every run (:func:`jndtf.report.sources.read_run`), renders the
page (:func:`jndtf.report.page.render_page`), checks that every relative link resolves from
where the page will live (:func:`jndtf.report.links.dead_links_in`) and only then writes it,
atomically (:func:`jndtf.io.atomic_write_bytes`): a page with a dead link is never written.

Example:
    >>> result = build_report(["out/rd", "out/eval"], "out/report.html")
    >>> result.path, [s.kind for s in result.sections]
    (PosixPath('out/report.html'), ['eval rd', 'eval jnd'])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jndtf.report.links import dead_links_in
from jndtf.report.page import render_page
from jndtf.report.sources import Section, read_run

#: Suffixes accepted for the page.
PAGE_SUFFIXES = (".html", ".htm")


class DeadLinksError(ValueError):
    """The page would link to files that do not exist (`links`, as written in the page)."""

    def __init__(self, path: Path, links: list[str]):
        self.links = links
        shown = ", ".join(repr(x) for x in links[:5]) + (" ..." if len(links) > 5 else "")
        super().__init__(
            f"{path}: not written, {len(links)} link(s) would not resolve: {shown} "
            "(a file moved or was deleted while the page was built; run again, or --embed)"
        )


@dataclass
class ReportResult:
    """What :func:`build_report` wrote: the page, the sections on it, its size in bytes."""

    path: Path
    sections: list[Section] = field(default_factory=list)
    nbytes: int = 0


def build_report(
    runs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    embed: bool = False,
    title: str = "jndtf report",
    progress: Callable[[str, int, int], None] | None = None,
) -> ReportResult:
    """Reads `runs`, writes the page `out` (atomically) and returns what it holds.

    Args:
        runs: output folders of ``jndtf eval jnd`` / ``eval rd`` / ``bench`` (a folder may
            hold several), or bench CSV files.
        out: the ``.html`` file.
        embed: inline the plots (data URIs) instead of linking them relative to `out`.
        title: the page's title.
        progress: ``progress(description, done, total)`` per run read.

    Raises:
        ValueError: no runs, `out` not ``.html``, a folder with no known output (the message
            lists what was looked for), a malformed output file, or dead links
            (:class:`DeadLinksError`).
        FileNotFoundError: a run that does not exist.
    """
    from jndtf.io import atomic_write_bytes
    from jndtf.sysinfo import cpu_line

    out = Path(out)
    if not runs:
        raise ValueError("give at least one run folder (jndtf eval jnd / eval rd / bench output)")
    if out.suffix.lower() not in PAGE_SUFFIXES:
        raise ValueError(f"--out {out}: the report is an .html file (e.g. -o report.html)")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give the .html file to write")
    sections: list[Section] = []
    for i, run in enumerate(runs):
        if progress:
            progress(f"reading {run}", i, len(runs))
        sections += read_run(run)
    if progress:
        progress("writing the page", len(runs), len(runs))
    html = render_page(sections, out, embed=embed, title=title, built_on=cpu_line())
    dead = dead_links_in(html, out.parent)
    if dead:
        raise DeadLinksError(out, dead)
    data = html.encode("utf-8")
    atomic_write_bytes(out, data)
    return ReportResult(out, sections, len(data))


__all__ = ["PAGE_SUFFIXES", "DeadLinksError", "ReportResult", "build_report"]
