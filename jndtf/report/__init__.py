"""One HTML page from what ``jndtf eval jnd``, ``jndtf eval rd`` and ``jndtf bench`` wrote.

- :mod:`jndtf.report.sources`: recognise each output by its files and read it into sections of
  facts, tables and plots (no HTML);
- :mod:`jndtf.report.page`: the self-contained page (no JavaScript, nothing from the network);
- :mod:`jndtf.report.links`: :func:`dead_links`, the relative links that resolve to no file;
- :mod:`jndtf.report.build`: :func:`build_report`, the three together, written atomically.

No TensorFlow, Keras or matplotlib: the page is built from the files alone.

Example:
    >>> from jndtf.report import build_report, dead_links
    >>> build_report(["out/rd", "out/bench"], "out/report.html", embed=True).nbytes > 0
    True
    >>> dead_links("out/report.html")
    []
"""

from jndtf._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "DeadLinksError": "build",
        "KNOWN_OUTPUTS": "sources",
        "ReportResult": "build",
        "Section": "sources",
        "Table": "sources",
        "build_report": "build",
        "dead_links": "links",
        "dead_links_in": "links",
        "read_run": "sources",
        "render_page": "page",
    },
)
