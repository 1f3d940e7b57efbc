"""The table of export formats: one row per format, with what it produces and what it needs.

The idea of ultralytics' ``export_formats()`` (one table instead of a pile of cases), not its
code. :func:`jndtf.export.export_model` looks every requested format up here; adding a format is
adding a row plus its converter. A ``tensorrt*`` engine is built from the ``onnx`` export of
the same run (:func:`jndtf.export.export_model` adds ``onnx`` when it is not asked for).

Example:
    >>> get_format("tflite-int8").quantization
    'int8'
    >>> [row["name"] for row in export_formats()][:2]
    ['tflite-fp32', 'tflite-fp16']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ExportFormat:
    """One row of the format table.

    Attributes:
        name: the format's name (``"tflite-int8"``), also the CLI's spelling.
        suffix: file suffix of the exported model.
        backend: converter family: ``"tflite"``, ``"onnx"`` or ``"tensorrt"``.
        quantization: ``"none"``, ``"float16"``, ``"dynamic"``, ``"int8"`` (the modes of
            :class:`jndtf.export.quantization.QuantizationConfig`; for TensorRT the builder's
            precision flags) or ``"int8-qat"`` (:func:`jndtf.export.qat.convert_qat`).
        dynamic_shape: whether the format can be exported with dynamic H, W.
        int8_io: whether int8 input/output tensors can be requested.
        needs_calibration: whether a representative dataset is needed.
        requires: Python modules the conversion imports.
        runtime: what runs the exported file.
        description: one line for listings.
    """

    name: str
    suffix: str
    backend: str
    quantization: str
    dynamic_shape: bool
    int8_io: bool
    needs_calibration: bool
    requires: tuple[str, ...]
    runtime: str
    description: str


def _row(*args) -> ExportFormat:
    return ExportFormat(*args)


#: name -> :class:`ExportFormat`, in listing order.
FORMATS = MappingProxyType(
    {
        f.name: f
        for f in (
            _row("tflite-fp32", ".tflite", "tflite", "none", True, False, False,
                 ("tensorflow",), "ai_edge_litert", "TFLite float32"),
            _row("tflite-fp16", ".tflite", "tflite", "float16", True, False, False,
                 ("tensorflow",), "ai_edge_litert", "TFLite float16 weights, float32 compute"),
            _row("tflite-dynamic", ".tflite", "tflite", "dynamic", True, False, False,
                 ("tensorflow",), "ai_edge_litert", "TFLite int8 weights, float activations"),
            _row("tflite-int8", ".tflite", "tflite", "int8", True, True, True,
                 ("tensorflow",), "ai_edge_litert",
                 "TFLite full-integer int8 PTQ (representative real images)"),
            _row("tflite-int8-qat", ".tflite", "tflite", "int8-qat", True, True, True,
                 ("tensorflow", "tensorflow_model_optimization", "tf_keras"), "ai_edge_litert",
                 "TFLite full-integer int8 by QAT (families with QAT export hooks)"),
            _row("onnx", ".onnx", "onnx", "none", True, False, False,
                 ("tensorflow", "tf2onnx"), "onnxruntime", "ONNX opset 17 via tf2onnx"),
            _row("tensorrt", ".engine", "tensorrt", "none", True, False, False,
                 ("tensorrt", "cuda"), "tensorrt", "TensorRT fp32 engine from the ONNX file (GPU)"),
            _row("tensorrt-fp16", ".engine", "tensorrt", "float16", True, False, False,
                 ("tensorrt", "cuda"), "tensorrt", "TensorRT engine, FP16 kernels allowed (GPU)"),
            _row("tensorrt-int8", ".engine", "tensorrt", "int8", True, False, True,
                 ("tensorrt", "cuda"), "tensorrt",
                 "TensorRT engine, INT8 by entropy calibration on the representative images (GPU)"),
        )
    }
)  # fmt: skip


def get_format(name: str) -> ExportFormat:
    """The row of format `name`.

    Raises:
        ValueError: unknown name (the message lists the formats).
    """
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown export format {name!r}; available: {', '.join(FORMATS)}"
        ) from None


def export_formats() -> list[dict]:
    """The table as a list of dicts (for ``jndtf export --list-formats`` and docs)."""
    return [asdict(f) for f in FORMATS.values()]


__all__ = ["FORMATS", "ExportFormat", "export_formats", "get_format"]
