"""Optional dependencies: import them through here so a missing extra names its pip command."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

#: module name -> the extra of jndtf that installs it
EXTRA_OF = {
    "tensorflow": "train",
    "keras": "train",
    "tensorflow_model_optimization": "qat",
    "tf_keras": "qat",
    "ai_edge_litert": "edge",
    "tf2onnx": "onnx",
    "onnxruntime": "onnx",
    "ssimulacra2": "rd",
    "bjontegaard": "rd",
    "pyjpegli": "rd",
    "jpeglib": "rd",
    "pycvvdp": "cvvdp",
}


def _message(module: str, purpose: str) -> str:
    extra = EXTRA_OF.get(module.split(".")[0])
    why = f" for {purpose}" if purpose else ""
    hint = f'pip install "jndtf[{extra}]"' if extra else f"pip install {module.split('.')[0]}"
    return f"jndtf needs `{module}`{why}, which is not installed: run {hint}"


def require_installed(module: str, purpose: str = "") -> None:
    """Raises the ImportError of :func:`require` if `module` is not installed, without
    importing it (cheap: packages call it at import time to fail early with the pip command)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        raise ImportError(_message(module, purpose))


def require(module: str, purpose: str = "") -> ModuleType:
    """Imports `module` or raises an ImportError that names the extra to install.

    Args:
        module: importable name, e.g. "tensorflow".
        purpose: what the caller wanted it for, shown in the message.

    Example:
        >>> np = require("numpy")
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(_message(module, purpose)) from err
