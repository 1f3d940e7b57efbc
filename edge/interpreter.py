"""The LiteRT interpreter behind the edge runtime: loading, shape policy and int8 I/O.

The interpreter comes from :mod:`jndtf.litert`, jndtf's one LiteRT loader:
``ai_edge_litert.interpreter.Interpreter`` (the ``[edge]`` extra, numpy 2, no TensorFlow), with
``tflite_runtime.interpreter.Interpreter`` as a fallback import only (DESIGN.md). ``tf.lite`` is
never used (deprecated, and it would pull TensorFlow).

:class:`LiteRTModel` runs one NHWC float32 batch of one through a ``.tflite`` file:

- a model converted at a fixed ``[1, H, W, C]`` refuses any other H, W (resizing a fixed-shape
  model gives garbage or crashes, DESIGN.md);
- a dynamic ``[1, -1, -1, C]`` model is resized with ``resize_tensor_input`` +
  ``allocate_tensors`` only when the input shape changes (re-allocating costs milliseconds);
- integer I/O (``tflite-int8`` exported with ``int8_io=True``) is quantized
  ``q = clip(round(x / scale + zero_point))`` and dequantized ``y = (q - zero_point) * scale``
  with the interpreter's own parameters, which the runtime checks against the manifest's.

Example:
    >>> model = LiteRTModel("jnd-tflite-fp32.tflite", num_threads=2)
    >>> y = model.run(x[None])             # (1, H, W, 6) float32 -> (1, H, W, 3) float32
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jndtf.litert import (
    INSTALL_HINT,
    interpreter_class,
    open_interpreter,
    quiet_litert_info,
)


def quant_params(detail: dict) -> tuple[float, int] | None:
    """``(scale, zero_point)`` of an integer tensor, None for a float tensor.

    Raises:
        ValueError: an integer tensor without per-tensor parameters (per-channel I/O is not a
            thing jndtf exports).
    """
    if np.dtype(detail["dtype"]) == np.float32:
        return None
    q = detail.get("quantization_parameters") or {}
    scales = np.asarray(q.get("scales", []), np.float64).ravel()
    zeros = np.asarray(q.get("zero_points", []), np.int64).ravel()
    if scales.size != 1 or zeros.size != 1:
        scale, zero = detail.get("quantization", (0.0, 0))
        if not scale:
            raise ValueError(
                f"tensor {detail['name']!r} is {np.dtype(detail['dtype']).name} without one "
                "scale and zero point; re-export the model with float or per-tensor int8 I/O"
            )
        return float(scale), int(zero)
    return float(scales[0]), int(zeros[0])


class LiteRTModel:
    """A ``.tflite`` JND network: ``(1, H, W, C)`` float32 in, ``(1, H, W, C_out)`` float32 out.

    Args:
        path: the ``.tflite`` file.
        num_threads: interpreter threads (>= 1).

    Attributes:
        fixed_size: ``(H, W)`` of a fixed-shape model, None for dynamic H, W.
        channels: input channels C; ``output_channels``: C_out.
        input_quant, output_quant: ``(scale, zero_point)`` of integer I/O, None for float.

    Not thread-safe: one thread at a time calls :meth:`run` (the runtime keeps it so).

    Raises:
        ImportError: no LiteRT interpreter (names the pip command).
        ValueError: a file LiteRT cannot load, or a model that is not batch-1 NHWC.
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int = 1):
        self.path = Path(path)
        self.interpreter = open_interpreter(self.path, num_threads=int(num_threads))
        self._refresh()
        sig = [int(s) for s in self._in.get("shape_signature", self._in["shape"])]
        if len(sig) != 4 or sig[0] not in (1, -1):
            raise ValueError(f"{self.path}: expected a batch-1 NHWC input, got shape {sig}")
        self.channels = int(sig[3])
        self.output_channels = int(self._out["shape"][-1])
        self.fixed_size = None if sig[1] < 0 or sig[2] < 0 else (sig[1], sig[2])
        self.input_quant = quant_params(self._in)
        self.output_quant = quant_params(self._out)
        self._dtype_in = np.dtype(self._in["dtype"])

    def _refresh(self) -> None:
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self._shape = tuple(int(s) for s in self._in["shape"])

    def run(self, x: np.ndarray) -> np.ndarray:
        """Runs one batch: ``(1, H, W, C)`` float32 (the network input) -> float32 output.

        Raises:
            ValueError: a wrong rank/channel count, or another H, W for a fixed-size model.
        """
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[3] != self.channels:
            raise ValueError(
                f"{self.path.name} takes (1, H, W, {self.channels}) float32, got {x.shape}"
            )
        if tuple(x.shape) != self._shape:
            if self.fixed_size is not None:
                raise ValueError(
                    f"{self.path.name} was exported at the fixed size {self.fixed_size} and "
                    f"cannot run {tuple(x.shape[1:3])}; export with input_size=None for a "
                    "dynamic H, W"
                )
            self.interpreter.resize_tensor_input(self._in["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._refresh()
        if self.input_quant is not None:
            scale, zero = self.input_quant
            info = np.iinfo(self._dtype_in)
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(self._dtype_in)
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out["index"])
        if self.output_quant is not None:
            scale, zero = self.output_quant
            y = (y.astype(np.float32) - np.float32(zero)) * np.float32(scale)
        return np.asarray(y, np.float32)

    def close(self) -> None:
        """Drops the interpreter (its memory is freed when nothing else holds it)."""
        self.interpreter = None


__all__ = [
    "INSTALL_HINT",
    "LiteRTModel",
    "interpreter_class",
    "open_interpreter",
    "quant_params",
    "quiet_litert_info",
]
