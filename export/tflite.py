"""TFLite conversion of a Keras 3 model through its SavedModel export, and a LiteRT runner.

Route (DESIGN.md, keras-team/keras#19108): ``model.export(dir, format="tf_saved_model",
input_signature=[TensorSpec((1, H, W, C))])`` then ``TFLiteConverter.from_saved_model``. A fixed
``[1, H, W, C]`` signature is the default (fastest on device); ``input_size=None`` exports
``[1, -1, -1, C]``, resized at run time with ``resize_tensor_input``. A model converted at a fixed
size must never be resized (DESIGN.md): :class:`TFLiteRunner` refuses it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from jndtf.export.quantization import QuantizationConfig


def export_saved_model(
    model, directory: str | os.PathLike, input_size: tuple[int, int] | None, channels: int
) -> Path:
    """Writes the SavedModel of `model` with a batch-1 NHWC signature.

    Args:
        model: a Keras 3 model (TensorFlow backend).
        directory: output folder (created).
        input_size: ``(H, W)`` for a fixed shape, None for dynamic H, W.
        channels: input channels C.
    """
    import tensorflow as tf

    h, w = (None, None) if input_size is None else (int(input_size[0]), int(input_size[1]))
    spec = tf.TensorSpec((1, h, w, int(channels)), tf.float32, name="inputs")
    model.export(str(directory), format="tf_saved_model", input_signature=[spec], verbose=False)
    return Path(directory)


def convert_saved_model(saved_model: str | os.PathLike, quantization: QuantizationConfig) -> bytes:
    """Converts a SavedModel to TFLite bytes with `quantization` applied."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    quantization.apply(converter)
    return converter.convert()


def convert_model(
    model, input_size: tuple[int, int] | None, channels: int, quantization: QuantizationConfig
) -> bytes:
    """Keras model -> TFLite bytes (SavedModel in a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="jndtf-export-") as tmp:
        sm = export_saved_model(model, Path(tmp) / "saved_model", input_size, channels)
        return convert_saved_model(sm, quantization)


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from jndtf._deps import require

        require("ai_edge_litert", "running TFLite models")
        raise
    return Interpreter


def _qparams(detail: dict) -> dict:
    q = detail.get("quantization_parameters") or {}
    scales = np.asarray(q.get("scales", []), np.float64).ravel().tolist()
    zeros = np.asarray(q.get("zero_points", []), np.int64).ravel().tolist()
    return {
        "name": detail["name"],
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(s) for s in detail["shape_signature"]],
        "scale": scales[0] if len(scales) == 1 else scales or None,
        "zero_point": zeros[0] if len(zeros) == 1 else zeros or None,
    }


class TFLiteRunner:
    """Runs a TFLite JND model on network inputs with the LiteRT interpreter.

    Quantizes float input and dequantizes int output when the model has integer I/O, and resizes
    the input tensor of a dynamic-shape model to each input's H, W.

    Args:
        path: the ``.tflite`` file.
        num_threads: interpreter threads.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 2):
        self.path = Path(path)
        self.interpreter = _interpreter_class()(model_path=str(self.path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        sig = [int(s) for s in self.input["shape_signature"]]
        self.dynamic = sig[1] == -1 or sig[2] == -1
        self.fixed_size = None if self.dynamic else (sig[1], sig[2])
        self._shape = tuple(int(s) for s in self.input["shape"])

    def io_details(self) -> dict:
        """Name, dtype, shape signature, scale and zero point of the input and output tensors."""
        return {"input": _qparams(self.input), "output": _qparams(self.output)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(1, H, W, C)`` float32 network input -> ``(1, H, W, C_out)`` float32 map."""
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"input must be (1, H, W, C), got {x.shape}")
        if self.fixed_size is not None and tuple(x.shape[1:3]) != self.fixed_size:
            raise ValueError(
                f"{self.path.name} was exported at the fixed size {self.fixed_size}; got an input "
                f"of {tuple(x.shape[1:3])} (export with input_size=None for dynamic H, W)"
            )
        if self.dynamic and tuple(x.shape) != self._shape:
            self.interpreter.resize_tensor_input(self.input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            self._shape = tuple(x.shape)
        dtype = np.dtype(self.input["dtype"])
        if dtype != np.float32:
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        if np.dtype(self.output["dtype"]) != np.float32:
            scale, zero = self.output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, np.float32)


__all__ = ["TFLiteRunner", "convert_model", "convert_saved_model", "export_saved_model"]
