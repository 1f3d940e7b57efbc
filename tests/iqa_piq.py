"""piq (PyTorch Image Quality) as an independent reference, without torchvision.

``import piq`` imports torchvision (for its FID/LPIPS feature extractors), which has no CPU wheel
here. The metric modules themselves need only torch, so this registers a stand-in ``piq``
package that imports piq's submodules one by one (skipping those that need torchvision) and
binds their names as ``piq/__init__.py`` would;
``import piq; piq.fsim(...)`` then works as usual for every metric that needs no torchvision.
Install (dev only, not in pyproject)::

    pip install torch==2.13.0 && pip install --no-deps piq
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

#: jndtf metric name -> (piq module, function name).
PIQ_FUNCTIONS = {
    "psnr": ("piq.psnr", "psnr"),
    "ssim": ("piq.ssim", "ssim"),
    "ms_ssim": ("piq.ms_ssim", "multi_scale_ssim"),
    "gmsd": ("piq.gmsd", "gmsd"),
    "vifp": ("piq.vif", "vif_p"),
    "fsim": ("piq.fsim", "fsim"),
    "vsi": ("piq.vsi", "vsi"),
}


def _install_lazy_piq() -> bool:
    """Registers the stand-in package (once); False if piq is not installed."""
    if "piq" in sys.modules:
        return True
    spec = importlib.util.find_spec("piq")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:
        importlib.import_module("piq")  # the real package, where torchvision is installed
        return True
    except ImportError:
        pass
    folder = Path(next(iter(spec.submodule_search_locations)))
    # piq/__init__.py is a list of "from .module import a, B": name -> module, without running it.
    where: dict[str, str] = {}
    for module, names in re.findall(
        r"^from \.(\w+) import (.+)$", (folder / "__init__.py").read_text(), re.M
    ):
        for name in names.split(","):
            where[name.strip()] = f"piq.{module}"
    pkg = types.ModuleType("piq")
    pkg.__path__ = [str(folder)]
    pkg.__file__ = str(folder / "__init__.py")
    sys.modules["piq"] = pkg
    failed: dict[str, ImportError] = {}
    for module in sorted(set(where.values())):
        try:
            importlib.import_module(module)
        except ImportError as err:  # the torchvision-based extractors (FID, LPIPS, ...)
            failed[module] = err
    for name, module in where.items():  # as piq/__init__.py would bind them
        if module not in failed:
            setattr(pkg, name, getattr(sys.modules[module], name))

    def __getattr__(name: str):
        if where.get(name) in failed:
            raise failed[where[name]]
        raise AttributeError(f"module 'piq' has no attribute {name!r}")

    pkg.__getattr__ = __getattr__
    return True


def load_piq_function(name: str):
    """piq's function for jndtf metric `name`, or None if torch/piq or that metric is missing."""
    if name not in PIQ_FUNCTIONS or importlib.util.find_spec("torch") is None:
        return None
    if not _install_lazy_piq():
        return None
    module, function = PIQ_FUNCTIONS[name]
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        return None


def require_piq(*names: str) -> tuple:
    """piq's function for each jndtf metric in `names`; skips the calling test if one is missing."""
    fns = tuple(load_piq_function(name) for name in names)
    if any(fn is None for fn in fns):
        pytest.skip("piq not installed: pip install torch==2.13.0 && pip install --no-deps piq")
    return fns
