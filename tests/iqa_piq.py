"""piq (PyTorch Image Quality) as an independent reference, without torchvision.

``import piq`` imports torchvision (for its FID/LPIPS feature extractors), which has no CPU wheel
here. The metric modules themselves need only torch, so this loads them from piq's folder without
running ``piq/__init__.py``. Install (dev only, not in pyproject)::

    pip install torch==2.13.0 && pip install --no-deps piq
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

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


def load_piq_function(name: str):
    """piq's function for jndtf metric `name`, or None if torch/piq or that metric is missing."""
    if name not in PIQ_FUNCTIONS or importlib.util.find_spec("torch") is None:
        return None
    if "piq" not in sys.modules:
        spec = importlib.util.find_spec("piq")
        if spec is None or not spec.submodule_search_locations:
            return None
        pkg = types.ModuleType("piq")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["piq"] = pkg
    module, function = PIQ_FUNCTIONS[name]
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        return None
