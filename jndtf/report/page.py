"""One self-contained HTML page from the :class:`~jndtf.report.sources.Section` objects of
several runs: no JavaScript, no fonts or styles from the network, every text escaped.

Images are linked by a path relative to the page (the page stays next to the run folders) or,
with ``embed=True``, inlined as ``data:image/png;base64`` URIs (one file to mail or attach).

Example:
    >>> html = render_page(read_run("out/rd"), Path("out/report.html"), title="jndtf report")
    >>> "<script" in html
    False
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

from jndtf.report.sources import Section, Table

#: The page's style (inline: the page loads nothing from anywhere).
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 24px auto; max-width: 1200px; padding: 0 16px; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { font-size: 21px; border-top: 2px solid #ccc; padding-top: 14px; margin-top: 32px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
code, pre { font: 13px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { background: #f4f4f4; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; }
.meta, .note { color: #555; font-size: 13px; }
.missing { color: #8a4b00; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; vertical-align: top; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { font-weight: 700; }
td.saves { background: #e3f4e1; }
td.loses { background: #fbe9e7; }
table.facts th { text-align: left; font-weight: 600; }
table.facts td { white-space: normal; }
ul.warnings li { color: #8a1c00; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 13px; }
details { margin: 6px 0 12px; }
summary { cursor: pointer; font-weight: 600; }
"""

#: MIME type of an inlined image, by suffix.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}


def image_src(path: Path, page_dir: Path, embed: bool) -> str:
    """The ``src`` of an image: a ``data:`` URI (`embed`) or its path relative to the page's
    folder, URL-quoted (a space or ``#`` in a file name stays a file name). The path is
    lexical (no symlinks resolved), as a browser resolves ``..`` in a URL."""
    if embed:
        mime = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(page_dir))
    return quote(Path(rel).as_posix(), safe="/")


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    lines = ["<table>", f"<caption>{escape(table.caption)}</caption>", f"<tr>{head}</tr>"]
    for i, row in enumerate(table.rows):
        cells = []
        for j, text in enumerate(row):
            classes = []
            if j < len(table.numeric) and table.numeric[j]:
                classes.append("num")
            if (i, j) in table.marks:
                classes.append(table.marks[(i, j)])
            attrs = f' class="{" ".join(classes)}"' if classes else ""
            if (i, j) in table.notes:
                attrs += f' title="{escape(table.notes[(i, j)])}"'
            cells.append(f"<td{attrs}>{escape(text)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    body = '<div class="scroll">\n' + "\n".join(lines) + "\n</div>"
    if table.note:
        body = f'<p class="note">{escape(table.note)}</p>\n{body}'
    if table.folded:
        summary = f"{escape(table.caption)} ({len(table.rows)} rows)"
        body = f"<details><summary>{summary}</summary>\n{body}\n</details>"
    return body


def _section(section: Section, anchor: str, page_dir: Path, embed: bool) -> str:
    out = [
        f'<section id="{anchor}">',
        f"<h2>{escape(section.kind)}: <code>{escape(str(section.source))}</code></h2>",
    ]
    out.append("<h3>What was run</h3>")
    if section.command:
        out.append(f"<pre>{escape(section.command)}</pre>")
    else:
        out.append(
            f'<p class="missing">Command: not recorded by this output ({escape(section.kind)} '
            "does not write it); what it does record is below.</p>"
        )
    if section.cpu:
        out.append(f"<p>CPU: <code>{escape(section.cpu)}</code></p>")
    else:
        out.append(
            '<p class="missing">CPU: not recorded by this output; timings in it are from a '
            "machine this page cannot name.</p>"
        )
    if section.facts:
        rows = "".join(
            f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in section.facts
        )
        out.append(f'<table class="facts">{rows}</table>')
    if section.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in section.notes)
        out.append(f'<h3>Warnings</h3>\n<ul class="warnings">{items}</ul>')
    if section.tables:
        out.append("<h3>Tables</h3>")
        out += [_table(t) for t in section.tables]
    if section.plots:
        out.append("<h3>Plots</h3>")
        for plot in section.plots:
            src = escape(image_src(plot, page_dir, embed))
            img = f'<img src="{src}" alt="{escape(plot.stem)}">'
            if not embed:
                img = f'<a href="{src}">{img}</a>'
            out.append(f"<figure>{img}<figcaption>{escape(plot.name)}</figcaption></figure>")
    out.append("</section>")
    return "\n".join(out)


def render_page(
    sections: Sequence[Section],
    page_path: str | os.PathLike,
    *,
    embed: bool = False,
    title: str = "jndtf report",
    built_on: str | None = None,
    built_at: datetime | None = None,
) -> str:
    """The HTML text of the page that will be written at `page_path`.

    Args:
        sections: what to show, in order (:func:`jndtf.report.sources.read_run`).
        page_path: where the page goes: image links are relative to its folder.
        embed: inline the images as data URIs instead of linking them.
        title: the page's title and heading.
        built_on: the CPU line of the machine building the page (shown as such, never as the
            machine that measured anything); None: not shown.
        built_at: the build time shown (default: now, UTC).
    """
    page_dir = Path(page_path).parent
    from jndtf import __version__

    when = (built_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"Built {when} by jndtf {__version__} from {len(sections)} output(s)"
    if built_on:
        meta += (
            f" on {built_on} (the machine that built this page; each section names the one "
            "that measured its figures, where the output records it)"
        )
    nav = "".join(
        f'<li><a href="#run-{i}">{escape(s.kind)}: {escape(str(s.source))}</a></li>'
        for i, s in enumerate(sections, 1)
    )
    body = "\n".join(_section(s, f"run-{i}", page_dir, embed) for i, s in enumerate(sections, 1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<h1>{escape(title)}</h1>\n<p class="meta">{escape(meta)}.</p>\n'
        f"<nav><ol>{nav}</ol></nav>\n{body}\n</body>\n</html>\n"
    )


__all__ = ["CSS", "IMAGE_TYPES", "image_src", "render_page"]
