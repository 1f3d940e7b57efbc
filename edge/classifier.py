"""A LiteRT image classifier for the machine-vision mode, and its small manifest schema.

:class:`Classifier` runs a ``.tflite`` image classifier with the LiteRT interpreter (no
TensorFlow): ``classify(frame) -> (label_index, probabilities)``. Its pre-processing comes from a
manifest beside the model or, without one, from the input tensor.

Classifier manifest (``NAME.json`` beside ``NAME.tflite``, schema ``jndtf.classifier/1``)::

    {
      "schema": "jndtf.classifier/1",      # optional
      "task": "classification",            # required: identifies a classifier manifest
      "file": "NAME.tflite",               # optional; must name the model file when present
      "sha256": "<hex digest of the file>",  # optional; checked before loading when present
      "input": {
        "size": [H, W],                    # optional; must match a fixed input tensor (H first:
                                           #   the shipped layout; the API takes (width, height))
        "range": [0, 1],                   # float values the network expects for pixels 0..255:
                                           #   [0, 1], [-1, 1] or [0, 255] (any lo < hi works)
        "resize": "auto"                   # "auto" (area when shrinking, else bilinear),
      },                                   #   "area", "bilinear" or "nearest"
      "output": "probabilities",           # or "logits" (softmax applied); default "auto"
      "labels": ["cat", "dog", ...]        # optional; K names for the K outputs
    }

A classifier exported with its class activation maps (:func:`jndtf.export.cam.
export_cam_classifier`: a second output ``(1, h, w, K)``, Zhou et al.'s ``sum_k w_kc f_k`` per
class, and a ``cam`` record in the manifest) also gives, in the same inference, the normalized
CAM of its top-1 class: :meth:`Classifier.classify_with_cam` (what DMV-JND's eq. (2) averages,
:mod:`jndtf.edge.dmv`). The two outputs are told apart by rank.

:func:`write_classifier_manifest` writes one (atomically, with the sha256). Without a manifest the
range comes from the input tensor: float32 -> ``[0, 1]``; int8/uint8 with quantization parameters
-> the range whose ends the parameters represent (``scale·(q_min - zero)``, ``scale·(q_max -
zero)``: ``1/255, -128`` is ``[0, 1]``).

Example:
    >>> write_classifier_manifest("clf.tflite", labels=["cat", "dog"], input_range=(-1, 1))
    >>> with Classifier("clf.tflite") as clf:
    ...     index, probs = clf.classify(frame)      # uint8 RGB HxWx3
    ...     clf.label_name(index), float(probs[index])
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from jndtf.edge.interpreter import LiteRTModel, quant_params

from jndtf.io import atomic_write_bytes, check_image
from jndtf.io import file_sha256 as _sha256

SCHEMA = "jndtf.classifier/1"
TASK = "classification"
RESIZE = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST,
}
#: Input ranges recognised from an integer input tensor's quantization parameters.
KNOWN_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))


class ClassifierError(ValueError):
    """A file that cannot serve as a classifier: the message names the file and the problem."""


def _check_range(value, where: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ClassifierError(f"{where}: input range must be [lo, hi], got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ClassifierError(f"{where}: input range must be finite with lo < hi, got {value!r}")
    return lo, hi


def read_classifier_manifest(model_path: str | os.PathLike) -> dict | None:
    """The classifier manifest beside `model_path` (``NAME.json``), checked; None when absent.

    Raises:
        ClassifierError: unreadable JSON, a manifest of another kind (e.g. a JND model's export
            manifest), one that names another file, or a sha256 that does not match the file.
    """
    model_path = Path(model_path)
    path = model_path.with_suffix(".json")
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ClassifierError(f"{path}: not a readable JSON manifest ({err})") from None
    if not isinstance(data, dict):
        raise ClassifierError(f"{path}: the manifest must be a JSON object")
    if data.get("task") != TASK:
        kind = data.get("schema") or "no 'task' key"
        family = f", family {data['family']!r}" if data.get("family") else ""
        raise ClassifierError(
            f"{model_path}: its manifest {path.name} ({kind}{family}) does not describe an image "
            f'classifier (expected "task": "{TASK}"); a JND model cannot be used as the '
            "classifier - pass the classifier's .tflite"
        )
    if "file" in data and data["file"] != model_path.name:
        raise ClassifierError(
            f"{model_path}: its manifest describes {data['file']!r}, not {model_path.name!r}"
        )
    if "sha256" in data:
        digest = _sha256(model_path)
        if digest != str(data["sha256"]).lower():
            raise ClassifierError(
                f"{model_path}: sha256 {digest[:16]}... does not match the manifest's "
                f"{str(data['sha256'])[:16]}...; the file was changed after its manifest was "
                "written - refusing to load (re-export it or rewrite the manifest)"
            )
    return data


def write_classifier_manifest(
    model_path: str | os.PathLike,
    *,
    labels: list[str] | None = None,
    input_range: tuple[float, float] = (0.0, 1.0),
    input_size: tuple[int, int] | None = None,
    output: Literal["auto", "probabilities", "logits"] = "auto",
    resize: str = "auto",
    extra: dict | None = None,
) -> Path:
    """Writes ``NAME.json`` beside `model_path` (schema in the module docstring), atomically.

    The file's sha256 goes into the manifest, so :class:`Classifier` refuses a changed file.
    `input_size` is ``(width, height)`` (the edge runtime's order); the manifest stores it as
    ``input.size = [H, W]``, its on-disk layout.

    Returns:
        The manifest's path.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ClassifierError(f"{model_path}: no such model file")
    lo, hi = _check_range(input_range, str(model_path))
    if output not in ("auto", "probabilities", "logits"):
        raise ValueError(f"output must be 'auto', 'probabilities' or 'logits', got {output!r}")
    if resize != "auto" and resize not in RESIZE:
        raise ValueError(f"resize must be 'auto' or one of {sorted(RESIZE)}, got {resize!r}")
    record = {
        "schema": SCHEMA,
        "task": TASK,
        "file": model_path.name,
        "sha256": _sha256(model_path),
        "input": {"range": [lo, hi], "resize": resize},
        "output": output,
    }
    if input_size is not None:
        record["input"]["size"] = [int(input_size[1]), int(input_size[0])]  # on disk: [H, W]
    if labels is not None:
        record["labels"] = [str(v) for v in labels]
    record.update(extra or {})
    path = model_path.with_suffix(".json")
    atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode())
    return path


def normalized_cam(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A raw CAM ``(h, w)`` upsampled bilinearly (half-pixel centers) to ``size = (width,
    height)`` and min-max normalized to [0, 1] (float32); constant before upsampling: zeros.
    The edge twin of :func:`jndtf.models.classifiers.cam` (Keras)."""
    raw = np.asarray(raw, np.float32)
    w, h = size
    if float(raw.max()) == float(raw.min()):
        return np.zeros((h, w), np.float32)
    up = cv2.resize(raw, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    lo, span = up.min(), up.max() - up.min()
    if span <= 0:
        return np.zeros((h, w), np.float32)
    return ((up - lo) / span).astype(np.float32)


def _range_from_quantization(
    quant: tuple[float, int], dtype: np.dtype | type, where: str
) -> tuple[float, float]:
    """The input range whose ends an integer tensor's ``(scale, zero_point)`` represent."""
    scale, zero = quant
    info = np.iinfo(dtype)
    span = (scale * (info.min - zero), scale * (info.max - zero))
    for lo, hi in KNOWN_RANGES:
        if abs(span[0] - lo) + abs(span[1] - hi) <= 0.05 * (hi - lo):
            return (lo, hi)
    raise ClassifierError(
        f"{where}: cannot tell the input range from the tensor's quantization (scale {scale:.4g}, "
        f"zero point {zero}: values {span[0]:.4g}..{span[1]:.4g}); write a manifest with "
        "write_classifier_manifest(path, input_range=...)"
    )


class Classifier:
    """A LiteRT image classifier: RGB frame in, ``(label_index, probabilities)`` out.

    Pre-processing: the frame (uint8 RGB ``HxWx3``, or float 0..255) is resized to the input
    tensor's ``H x W`` (``"auto"``: area averaging when shrinking, bilinear otherwise), mapped
    linearly from 0..255 to the input range ``[lo, hi]`` (``lo + x / 255 · (hi - lo)``) and, for an
    int8/uint8 input, quantized with the tensor's scale and zero point
    (:class:`jndtf.edge.interpreter.LiteRTModel`, the runtime's interpreter wrapper). Integer
    outputs are dequantized; logits get a softmax.

    Args:
        path: the ``.tflite`` file (``NAME.json`` beside it is read and checked when present).
        num_threads: interpreter threads.
        input_range: overrides the manifest's/inferred input range, e.g. ``(-1, 1)``.

    Attributes:
        input_size: ``(width, height)`` the frames are resized to (the edge runtime's order).

    Raises:
        ClassifierError: not a classifier (input not ``[1, H, W, 3]``, output not ``[1, K]``),
            a manifest that does not fit the file, or a sha256 mismatch.

    Example:
        >>> with Classifier("clf.tflite") as clf:
        ...     index, probs = clf.classify(frame)
        ...     clf.labels[index] if clf.labels else index
    """

    def __init__(
        self,
        path: str | os.PathLike,
        num_threads: int = 2,
        *,
        input_range: tuple[float, float] | None = None,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise ClassifierError(f"{self.path}: no such classifier file")
        name = self.path.name
        self.manifest = read_classifier_manifest(self.path)
        m = self.manifest or {}
        m_input = m.get("input") or {}
        try:
            self._model = LiteRTModel(self.path, num_threads=num_threads)
        except ValueError as err:
            raise ClassifierError(f"{name}: not a usable .tflite classifier ({err})") from None
        interp = self._model.interpreter
        inp, out = interp.get_input_details(), interp.get_output_details()
        if len(inp) != 1 or len(out) not in (1, 2):
            raise ClassifierError(
                f"{name}: a classifier has one input and one output (two with a CAM output), "
                f"this model has {len(inp)} and {len(out)}"
            )
        ranks = [len(d["shape_signature"]) for d in out]
        self._logits_detail = out[ranks.index(2)] if 2 in ranks else out[0]
        self._cam_detail = None
        if len(out) == 2:
            self._cam_detail = out[1 - out.index(self._logits_detail)]
        oshape = [int(s) for s in self._logits_detail["shape_signature"]]
        if len(oshape) != 2 or oshape[0] not in (1, -1) or oshape[1] < 2:
            raise ClassifierError(
                f"{name}: output shape {oshape} is not class scores [1, K] with K >= 2 - this is "
                "not an image classifier (a JND model gives a map [1, H, W, C])"
            )
        sig = [int(s) for s in inp[0]["shape_signature"]]
        if self._model.channels != 3:
            raise ClassifierError(f"{name}: input shape {sig} is not an RGB image [1, H, W, 3]")
        size = m_input.get("size")
        if self._model.fixed_size is None:
            if size is None:
                raise ClassifierError(
                    f"{name}: the input has dynamic H, W {sig} and no manifest gives "
                    "input.size; write one with write_classifier_manifest(path, "
                    "input_size=(width, height))"
                )
            hw = (int(size[0]), int(size[1]))  # the manifest's input.size is [H, W]
        else:
            hw = self._model.fixed_size  # (H, W) of the input tensor
            if size is not None and (int(size[0]), int(size[1])) != hw:
                raise ClassifierError(
                    f"{name}: the manifest's input.size {size[1]}x{size[0]} (WIDTHxHEIGHT) "
                    f"differs from the model's input {hw[1]}x{hw[0]}"
                )
        self.input_size = (hw[1], hw[0])
        self.num_classes = oshape[1]
        if self._cam_detail is not None:
            cshape = [int(v) for v in self._cam_detail["shape_signature"]]
            if len(cshape) != 4 or cshape[3] != self.num_classes:
                raise ClassifierError(
                    f"{name}: the second output {cshape} is not a per-class CAM "
                    f"[1, h, w, {self.num_classes}] (jndtf.export.cam.export_cam_classifier)"
                )
        self.input_dtype = np.dtype(inp[0]["dtype"])
        if input_range is not None:
            self.input_range = _check_range(input_range, name)
        elif "range" in m_input:
            self.input_range = _check_range(m_input["range"], f"{name} manifest")
        elif self.input_dtype == np.float32:
            self.input_range = (0.0, 1.0)
        else:
            self.input_range = _range_from_quantization(
                self._model.input_quant, self.input_dtype, name
            )
        self.resize = m_input.get("resize", "auto")
        if self.resize != "auto" and self.resize not in RESIZE:
            raise ClassifierError(f"{name} manifest: unknown input.resize {self.resize!r}")
        self.output_kind = m.get("output", "auto")
        if self.output_kind not in ("auto", "probabilities", "logits"):
            raise ClassifierError(f"{name} manifest: unknown output {self.output_kind!r}")
        labels = m.get("labels")
        if labels is not None and len(labels) != self.num_classes:
            raise ClassifierError(
                f"{name}: the manifest lists {len(labels)} labels for {self.num_classes} outputs"
            )
        self.labels = tuple(str(v) for v in labels) if labels is not None else None

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """Frame (uint8/float 0..255, ``HxW`` or ``HxWx3``) -> ``(1, H, W, 3)`` float32 network
        input in the input range (an integer input tensor quantizes it when run)."""
        img = check_image(frame, source="frame", min_side=1)
        w, h = self.input_size
        if img.shape[:2] != (h, w):
            if self.resize == "auto":
                shrink = img.shape[0] >= h and img.shape[1] >= w
                flag = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            else:
                flag = RESIZE[self.resize]
            img = cv2.resize(img, (w, h), interpolation=flag)
        lo, hi = self.input_range
        x = img.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
        return x[None]

    @property
    def has_cam(self) -> bool:
        """True when the model also outputs the per-class CAM (:mod:`jndtf.export.cam`)."""
        return self._cam_detail is not None

    def _output(self, detail: dict) -> np.ndarray:
        y = self._model.interpreter.get_tensor(detail["index"])
        q = quant_params(detail)
        if q is not None:
            y = (y.astype(np.float32) - np.float32(q[1])) * np.float32(q[0])
        return np.asarray(y, np.float32)

    def _run(self, frame: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise ValueError(f"{self.path.name}: the classifier is closed")
        self._model.run(self.preprocess(frame))  # quantizes the input, invokes
        return self._output(self._logits_detail)[0].astype(np.float64)

    def classify(self, frame: np.ndarray) -> tuple[int, np.ndarray]:
        """Label index (argmax) and class probabilities (float32 ``K``, summing to 1)."""
        return self._probabilities(self._run(frame))

    def classify_with_cam(
        self, frame: np.ndarray, size: tuple[int, int] | None = None
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """Label, probabilities and the top-1 class's normalized CAM.

        The CAM is the model's ``cam`` output (Zhou et al.'s ``sum_k w_kc f_k`` at feature
        resolution, :mod:`jndtf.export.cam`), channel = the label, upsampled bilinearly with
        half-pixel centers (``cv2.INTER_LINEAR``, as ``keras.ops.image.resize`` without
        antialiasing) to `size` and min-max normalized to [0, 1]; a map that is constant before
        upsampling is zeros. That is :func:`jndtf.models.classifiers.cam` of the frame as the
        classifier sees it (resized to :attr:`input_size`); a larger `size` upsamples further.

        Args:
            frame: uint8 RGB ``HxWx3``.
            size: ``(width, height)`` of the returned map (default: the frame's).

        Returns:
            ``(label, probabilities, cam)``; cam float32 ``(height, width)`` in [0, 1].

        Raises:
            ValueError: a model without the CAM output (export it with
                :func:`jndtf.export.cam.export_cam_classifier`).
        """
        if self._cam_detail is None:
            raise ValueError(
                f"{self.path.name}: this classifier has no CAM output; export it with "
                "jndtf.export.cam.export_cam_classifier (a second output, the per-class CAM)"
            )
        label, probs = self._probabilities(self._run(frame))
        raw = self._output(self._cam_detail)[0, :, :, label]
        w, h = size if size is not None else (frame.shape[1], frame.shape[0])
        return label, probs, normalized_cam(raw, (int(w), int(h)))

    def _probabilities(self, y: np.ndarray) -> tuple[int, np.ndarray]:
        kind = self.output_kind
        if kind == "auto":
            looks = y.min() >= -1e-3 and abs(y.sum() - 1.0) <= 2e-2
            kind = "probabilities" if looks else "logits"
        if kind == "logits":
            e = np.exp(y - y.max())
            y = e / e.sum()
        else:
            y = np.clip(y, 0.0, None)
            y = y / y.sum() if y.sum() > 0 else np.full_like(y, 1.0 / y.size)
        return int(np.argmax(y)), y.astype(np.float32)

    def label_name(self, index: int) -> str:
        """The manifest's name of class `index` (its number as text without labels)."""
        return self.labels[index] if self.labels else str(index)

    def close(self) -> None:
        """Releases the interpreter (idempotent)."""
        if self._model is not None:
            self._model.close()
            self._model = None

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "SCHEMA",
    "Classifier",
    "ClassifierError",
    "normalized_cam",
    "read_classifier_manifest",
    "write_classifier_manifest",
]
