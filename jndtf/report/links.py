"""Dead links of an HTML page: every ``<img src>``, ``<a href>``, ``<link href>`` (and
``<source src>``) that is a relative path must name an existing file, and every ``#fragment``
must name an ``id`` on the page.

Links with a scheme (``data:``, ``https:``, ``mailto:``) are not files and are left alone;
``file:`` URLs and absolute paths are checked like relative ones. The check reads the HTML with
:mod:`html.parser` (standard library), so it sees what a browser sees, not a regular expression's
guess.

Example:
    >>> dead_links("out/report.html")
    []
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: (tag, attribute) pairs that load or point at a file.
LINK_ATTRIBUTES = {("img", "src"), ("a", "href"), ("link", "href"), ("source", "src")}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if (tag, name) in LINK_ATTRIBUTES and value is not None:
                self.links.append(value)

    handle_startendtag = handle_starttag


def page_links(html: str) -> tuple[list[str], set[str]]:
    """(every link value in document order, every ``id``/``name`` on the page)."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.links, parser.ids


def link_target(link: str, base_dir: Path) -> Path | None:
    """The file a link names, resolved against `base_dir`; None when it is not a file link
    (``data:``, ``https:``, a bare ``#fragment``)."""
    parts = urlsplit(link)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if len(parts.scheme) > 1 or parts.netloc:
        return None  # data:, https:, mailto:, //host/...: not a file here
    if parts.scheme:  # one letter: a Windows drive ("C:/x.png"), still a path
        return Path(unquote(link))
    if not parts.path:
        return None  # "#id" or "?query"
    path = Path(unquote(parts.path))
    # lexical, as a browser resolves ".." in a URL (the page's folder need not exist yet)
    return Path(os.path.normpath(path if path.is_absolute() else Path(base_dir) / path))


def dead_links_in(html: str, base_dir: str | os.PathLike) -> list[str]:
    """The links of `html` that do not resolve, as they are written in the page: a file link
    (relative to `base_dir`, the page's folder) to no existing file, or a ``#fragment`` that no
    element's ``id`` carries, or an empty link. Each dead link is listed once, in page order."""
    links, ids = page_links(html)
    base = Path(base_dir)
    dead: list[str] = []
    for link in links:
        target = link_target(link, base)
        if not link.strip():
            ok = False  # src="" loads nothing (a browser shows a broken image)
        elif target is None:
            parts = urlsplit(link)
            ok = bool(parts.scheme or parts.netloc) or not parts.fragment or parts.fragment in ids
        else:
            ok = target.is_file()
        if not ok and link not in dead:
            dead.append(link)
    return dead


def dead_links(html_path: str | os.PathLike) -> list[str]:
    """The dead links of the HTML file `html_path` (:func:`dead_links_in` with its folder).

    Raises:
        FileNotFoundError: no such file.
    """
    path = Path(html_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such HTML file")
    return dead_links_in(path.read_text(encoding="utf-8"), path.parent)


__all__ = ["LINK_ATTRIBUTES", "dead_links", "dead_links_in", "link_target", "page_links"]
