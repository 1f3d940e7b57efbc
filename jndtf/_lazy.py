"""Lazy public names for a package's ``__init__`` (PEP 562), written once.

A package that must import cheaply (the model families: importing one loads no Keras; the edge
runtime: its settings are read for ``--help`` without OpenCV/PyAV) maps each public name to the
module defining it and loads that module on first use.

Example:
    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"build_acol": "network"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for `package`.

    Args:
        package: the package's ``__name__``.
        exports: public name -> module: a submodule name (``"network"``) or a full dotted path
            (``"jndtf.models.acol.loss"``) for a name re-exported from elsewhere.

    The first access imports the module and caches the value in the package, so later accesses
    are plain attribute reads.
    """
    exports = dict(exports)
    names = sorted(exports)

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if "." in module else f"{package}.{module}"
        value = getattr(importlib.import_module(path), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, names


__all__ = ["lazy_exports"]
