"""ONNX export of the SavedModel with tf2onnx (opset 17), and an onnxruntime runner.

tf2onnx 1.17 runs as ``python -m tf2onnx.convert`` in its own process (it converts the
SavedModel in ~5 s; onnxruntime 1.32 matched Keras to 5e-7, DESIGN.md). A ``[1, -1, -1, C]``
SavedModel signature gives an ONNX input with dynamic H, W.

Example:
    >>> export_onnx("saved_model", "acol-onnx.onnx")
    >>> OnnxRunner("acol-onnx.onnx")(x).shape        # x: (1, H, W, 6) float32
    (1, H, W, 3)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ONNX_OPSET = 17


def export_onnx(saved_model: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Converts a SavedModel to ``path`` (written by tf2onnx; the caller renames it into place).

    Raises:
        ImportError: tf2onnx or onnxruntime missing (names ``pip install "jndtf[onnx]"``).
        RuntimeError: tf2onnx failed (its stderr tail).
    """
    from jndtf._deps import require

    require("tf2onnx", "ONNX export")
    require("onnxruntime", "ONNX parity check")
    path = Path(path)
    cmd = [
        sys.executable,
        "-m",
        "tf2onnx.convert",
        "--saved-model",
        str(saved_model),
        "--output",
        str(path),
        "--opset",
        str(ONNX_OPSET),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not path.is_file():
        raise RuntimeError(f"tf2onnx failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return path


class OnnxRunner:
    """Runs an ONNX JND model on ``(1, H, W, C)`` float32 inputs (onnxruntime, CPU).

    Args:
        path: the ``.onnx`` file.
        num_threads: intra-op threads (None: onnxruntime's default).
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if num_threads is not None:
            opts.intra_op_num_threads = int(num_threads)
        self.path = Path(path)
        self.sess = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        inp = self.sess.get_inputs()[0]
        self.name = inp.name
        self.shape = list(inp.shape)

    @property
    def dynamic(self) -> bool:
        """True when H or W of the input is not a fixed number."""
        return not all(isinstance(s, int) and s > 0 for s in self.shape[1:3])

    def io_details(self) -> dict:
        """Name, dtype and shape (None = dynamic) of the input and output tensors."""

        def rec(t) -> dict:
            dims = [s if isinstance(s, int) and s > 0 else None for s in t.shape]
            return {"name": t.name, "dtype": "float32", "shape": dims}

        return {"input": rec(self.sess.get_inputs()[0]), "output": rec(self.sess.get_outputs()[0])}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.sess.run(None, {self.name: np.asarray(x, np.float32)})[0]


__all__ = ["ONNX_OPSET", "OnnxRunner", "export_onnx"]
