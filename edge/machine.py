"""Machine-vision mode of the edge runtime: a LiteRT classifier and the DMV pre-processing stage.

DMV-JND (Jin, Zhang, Fu et al., "Just Noticeable Difference for Deep Machine Vision", IEEE TCSVT
2022) asks how much a frame may change before a *classifier* notices. Two pieces:

- :class:`Classifier`: a ``.tflite`` image classifier run by the LiteRT interpreter, its
  pre-processing described by a small manifest beside it (schema below) or inferred from the input
  tensor; ``classify(frame) -> (label_index, probabilities)``.
- :class:`MachineVisionStage`: pre-processes each frame under a JND map (for a DMV-JND ``.tflite``
  the map comes from :class:`jndtf.edge.runtime.JndMapper` run on that model), classifies the
  frame before and after, and keeps the Relative Classification Accuracy (RCA) and the bytes the
  stream loop reports (:meth:`MachineVisionStage.add_bytes`).

RCA is eq. (16) of the DMV-JND paper, ``acc_n = 100 % / P · Σ pre(l̂, l)``: the fraction of the
``P`` frames whose label after processing, ``l̂``, equals the label the same classifier gives the
unprocessed frame, ``l`` (Section I: "RCA is calculated with classifier-generated labels instead of
... human-annotated ones"). Eq. (17) averages it over the paper's four classifiers; one stage has
one classifier, so its RCA is eq. (16) alone (run one stage per classifier and average for eq. 17).

Classifier manifest (``NAME.json`` beside ``NAME.tflite``, schema ``jndtf.classifier/1``)::

    {
      "schema": "jndtf.classifier/1",      # optional
      "task": "classification",            # required: identifies a classifier manifest
      "file": "NAME.tflite",               # optional; must name the model file when present
      "sha256": "<hex digest of the file>",  # optional; checked before loading when present
      "input": {
        "size": [H, W],                    # optional; must match a fixed input tensor
        "range": [0, 1],                   # float values the network expects for pixels 0..255:
                                           #   [0, 1], [-1, 1] or [0, 255] (any lo < hi works)
        "resize": "auto"                   # "auto" (area when shrinking, else bilinear),
      },                                   #   "area", "bilinear" or "nearest"
      "output": "probabilities",           # or "logits" (softmax applied); default "auto"
      "labels": ["cat", "dog", ...]        # optional; K names for the K outputs
    }

:func:`write_classifier_manifest` writes one (atomically, with the sha256). Without a manifest the
range comes from the input tensor: float32 -> ``[0, 1]``; int8/uint8 with quantization parameters
-> the range whose ends the parameters represent (``scale·(q_min - zero)``, ``scale·(q_max -
zero)``: ``1/255, -128`` is ``[0, 1]``); uint8 without parameters -> raw pixels.

Example:
    >>> with Classifier("clf.tflite") as clf:
    ...     stage = MachineVisionStage(clf, mode="quantize", factor=2.0)
    ...     out, rec = stage.process(frame, jnd)        # jnd: HxWx1 float32, 0..255 units
    ...     stage.add_bytes(len(jpeg(frame)), len(jpeg(out)))
    ...     stage.summary().rca
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from jndtf.apply import preprocess_jpeg, quantize_by_jnd
from jndtf.io import atomic_write_bytes, check_image

SCHEMA = "jndtf.classifier/1"
TASK = "classification"
RESIZE = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST,
}
#: Input ranges recognised from an integer input tensor's quantization parameters.
KNOWN_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))
MODES = ("quantize", "eq14")


class ClassifierError(ValueError):
    """A file that cannot serve as a classifier: the message names the file and the problem."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _interpreter(path: Path, num_threads: int):
    """LiteRT's interpreter, falling back to tflite_runtime; a clear ImportError otherwise."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ImportError(
                'jndtf needs `ai_edge_litert` to run .tflite classifiers: pip install "jndtf[edge]"'
            ) from None
    try:
        interp = Interpreter(model_path=str(path), num_threads=int(num_threads))
    except (ValueError, RuntimeError) as err:
        raise ClassifierError(f"{path}: not a loadable .tflite model ({err})") from None
    return interp


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
        record["input"]["size"] = [int(input_size[0]), int(input_size[1])]
    if labels is not None:
        record["labels"] = [str(v) for v in labels]
    record.update(extra or {})
    path = model_path.with_suffix(".json")
    atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode())
    return path


def _range_from_quantization(detail: dict, where: str) -> tuple[float, float]:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale:
        if dtype == np.uint8:
            return (0.0, 255.0)  # integer pixels as they are
        raise ClassifierError(f"{where}: {dtype} input without quantization parameters")
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
    int8/uint8 input, quantized with the tensor's scale and zero point. Integer outputs are
    dequantized; logits get a softmax.

    Args:
        path: the ``.tflite`` file (``NAME.json`` beside it is read and checked when present).
        num_threads: interpreter threads.
        input_range: overrides the manifest's/inferred input range, e.g. ``(-1, 1)``.

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
        self._interp = _interpreter(self.path, num_threads)
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ClassifierError(
                f"{name}: a classifier has one input and one output, this model has "
                f"{len(inp)} and {len(out)}"
            )
        oshape = [int(s) for s in out[0]["shape_signature"]]
        if len(oshape) != 2 or oshape[0] not in (1, -1) or oshape[1] < 2:
            raise ClassifierError(
                f"{name}: output shape {oshape} is not class scores [1, K] with K >= 2 - this is "
                "not an image classifier (a JND model gives a map [1, H, W, C])"
            )
        sig = [int(s) for s in inp[0]["shape_signature"]]
        if len(sig) != 4 or sig[0] not in (1, -1) or sig[3] != 3:
            raise ClassifierError(f"{name}: input shape {sig} is not an RGB image [1, H, W, 3]")
        size = m_input.get("size")
        if -1 in sig[1:3]:
            if size is None:
                raise ClassifierError(
                    f"{name}: the input has dynamic H, W {sig} and no manifest gives "
                    "input.size; write one with write_classifier_manifest(path, input_size=(H, W))"
                )
            self._interp.resize_tensor_input(inp[0]["index"], [1, int(size[0]), int(size[1]), 3])
        elif size is not None and [int(size[0]), int(size[1])] != sig[1:3]:
            raise ClassifierError(
                f"{name}: the manifest's input.size {list(size)} differs from the model's "
                f"input {sig[1:3]}"
            )
        self._interp.allocate_tensors()
        self._input = self._interp.get_input_details()[0]
        self._output = self._interp.get_output_details()[0]
        self.num_classes = int(self._output["shape"][1])
        self.input_size = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        self.input_dtype = np.dtype(self._input["dtype"])
        if input_range is not None:
            self.input_range = _check_range(input_range, name)
        elif "range" in m_input:
            self.input_range = _check_range(m_input["range"], f"{name} manifest")
        elif self.input_dtype == np.float32:
            self.input_range = (0.0, 1.0)
        else:
            self.input_range = _range_from_quantization(self._input, name)
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
        """Frame (uint8/float 0..255, ``HxW`` or ``HxWx3``) -> the input tensor's array."""
        img = check_image(frame, source="frame", min_side=1)
        h, w = self.input_size
        if img.shape[:2] != (h, w):
            if self.resize == "auto":
                shrink = img.shape[0] >= h and img.shape[1] >= w
                flag = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            else:
                flag = RESIZE[self.resize]
            img = cv2.resize(img, (w, h), interpolation=flag)
        lo, hi = self.input_range
        x = img.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
        if self.input_dtype != np.float32:
            scale, zero = self._input["quantization"]
            if scale:
                x = np.round(x / scale + zero)
            info = np.iinfo(self.input_dtype)
            x = np.clip(x, info.min, info.max)
        return x[None].astype(self.input_dtype)

    def classify(self, frame: np.ndarray) -> tuple[int, np.ndarray]:
        """Label index (argmax) and class probabilities (float32 ``K``, summing to 1)."""
        self._interp.set_tensor(self._input["index"], self.preprocess(frame))
        self._interp.invoke()
        y = self._interp.get_tensor(self._output["index"])[0]
        if np.dtype(self._output["dtype"]) != np.float32:
            scale, zero = self._output["quantization"]
            y = (y.astype(np.float32) - zero) * np.float32(scale or 1.0)
        y = y.astype(np.float64)
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
        self._interp = None

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class MachineVisionRecord:
    """One processed frame.

    Attributes:
        frame_index: 0-based count of frames this stage processed.
        label_original: the classifier's label of the unprocessed frame (``l`` of eq. 16).
        label_processed: its label of the processed frame (``l̂`` of eq. 16).
        agree: ``label_processed == label_original`` (``pre(l̂, l)`` of eq. 16).
        max_abs_change: largest ``|processed - frame|`` over pixels and channels, grey levels.
        max_allowed: the bound the mode guarantees, ``factor / 2 · max(JND)``, grey levels.
        confidence_original: probability of `label_original` on the unprocessed frame.
        confidence_processed: probability of `label_processed` on the processed frame.
    """

    frame_index: int
    label_original: int
    label_processed: int
    agree: bool
    max_abs_change: float
    max_allowed: float
    confidence_original: float
    confidence_processed: float

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (for JSON-lines stats)."""
        return asdict(self)


@dataclass(frozen=True)
class MachineVisionSummary:
    """What a stage saw over a stream.

    Attributes:
        mode: ``"quantize"`` or ``"eq14"``; factor: the step in JND units.
        frames: frames processed (``P`` of eq. 16); agreed: frames whose label was kept.
        rca: eq. (16) of DMV-JND as a fraction 0..1 (``agreed / frames``; NaN with no frame).
        max_abs_change: largest change of any pixel in any frame, grey levels.
        byte_frames: frames the stream loop reported bytes for.
        bytes_original, bytes_processed: encoded bytes without and with pre-processing.
        bytes_saved: ``bytes_original - bytes_processed`` (negative: processing cost bytes).
        saving: ``bytes_saved / bytes_original`` (NaN with no bytes reported).
    """

    mode: str
    factor: float
    frames: int
    agreed: int
    rca: float
    max_abs_change: float
    byte_frames: int
    bytes_original: int
    bytes_processed: int
    bytes_saved: int
    saving: float

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


class MachineVisionStage:
    """Pre-processes frames under a (DMV-)JND map and tracks RCA and bytes saved.

    Modes (both change no pixel by more than ``factor / 2 · JND``):

    - ``"quantize"``: :func:`jndtf.apply.quantize_by_jnd`, a per-pixel uniform quantizer of step
      ``factor · JND``; DMV-JND, Section I: "the quantization step is set as twice of the DMV-JND
      ... to guarantee that the quantization-caused errors are still tolerated by the DMV"
      (factor 2, the default).
    - ``"eq14"``: :func:`jndtf.apply.preprocess_jpeg`, eq. (14) of hmJND-Net (8x8 block means)
      with the tolerance ``factor / 2 · JND`` (exactly eq. 14 at factor 2); flatter blocks cost
      JPEG fewer bytes, where pixel-domain quantization adds high-frequency error.

    Args:
        classifier: a :class:`Classifier` or the path of its ``.tflite``.
        mode: ``"quantize"`` or ``"eq14"``.
        factor: quantization step in JND units (> 0).
        num_threads: interpreter threads when `classifier` is a path.

    Example:
        >>> stage = MachineVisionStage("clf.tflite")
        >>> out, rec = stage.process(frame, mapper.process(frame).jnd)
        >>> rec.agree, stage.summary().rca
    """

    def __init__(
        self,
        classifier: Classifier | str | os.PathLike,
        *,
        mode: Literal["quantize", "eq14"] = "quantize",
        factor: float = 2.0,
        num_threads: int = 2,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(factor, bool) or not (
            isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0
        ):
            raise ValueError(f"factor must be a positive number (2 in the paper), got {factor!r}")
        self._owns = not isinstance(classifier, Classifier)
        self.classifier = (
            Classifier(classifier, num_threads=num_threads) if self._owns else classifier
        )
        self.mode = mode
        self.factor = float(factor)
        self._frames = self._agreed = self._byte_frames = 0
        self._bytes_original = self._bytes_processed = 0
        self._max_change = 0.0

    def apply(self, frame: np.ndarray, jnd: np.ndarray) -> np.ndarray:
        """The processed frame alone (no classification, counters untouched)."""
        if self.mode == "quantize":
            return quantize_by_jnd(frame, jnd, factor=self.factor)
        tolerance = np.asarray(jnd, dtype=np.float64) * (self.factor / 2.0)
        return preprocess_jpeg(frame, tolerance)

    def process(self, frame: np.ndarray, jnd: np.ndarray) -> tuple[np.ndarray, MachineVisionRecord]:
        """Processes one frame and classifies it before and after.

        Args:
            frame: uint8 RGB ``HxWx3`` (float 0..255 also works; float32 out then).
            jnd: its JND map, float ``HxW``, ``HxWx1`` or ``HxWx3`` in 0..255 units, >= 0.

        Returns:
            ``(processed_frame, record)``: same shape and dtype as `frame`, and the
            :class:`MachineVisionRecord`.
        """
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be an RGB image HxWx3, got shape {frame.shape}")
        out = self.apply(frame, jnd)
        label, probs = self.classifier.classify(frame)
        label_p, probs_p = self.classifier.classify(out)
        change = float(np.abs(out.astype(np.float64) - frame.astype(np.float64)).max())
        record = MachineVisionRecord(
            frame_index=self._frames,
            label_original=label,
            label_processed=label_p,
            agree=label == label_p,
            max_abs_change=change,
            max_allowed=float(np.max(jnd)) * self.factor / 2.0,
            confidence_original=float(probs[label]),
            confidence_processed=float(probs_p[label_p]),
        )
        self._frames += 1
        self._agreed += int(record.agree)
        self._max_change = max(self._max_change, change)
        return out, record

    def add_bytes(self, original: int, processed: int) -> None:
        """Adds one frame's encoded sizes: without and with pre-processing (same encoder)."""
        for name, v in (("original", original), ("processed", processed)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} bytes must be a non-negative integer, got {v!r}")
        self._byte_frames += 1
        self._bytes_original += int(original)
        self._bytes_processed += int(processed)

    def summary(self) -> MachineVisionSummary:
        """Frames, RCA (eq. 16 of DMV-JND) and bytes saved so far."""
        saved = self._bytes_original - self._bytes_processed
        return MachineVisionSummary(
            mode=self.mode,
            factor=self.factor,
            frames=self._frames,
            agreed=self._agreed,
            rca=self._agreed / self._frames if self._frames else math.nan,
            max_abs_change=self._max_change,
            byte_frames=self._byte_frames,
            bytes_original=self._bytes_original,
            bytes_processed=self._bytes_processed,
            bytes_saved=saved,
            saving=saved / self._bytes_original if self._bytes_original else math.nan,
        )

    def close(self) -> None:
        """Closes the classifier if this stage opened it."""
        if self._owns:
            self.classifier.close()

    def __enter__(self) -> MachineVisionStage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "Classifier",
    "ClassifierError",
    "MachineVisionRecord",
    "MachineVisionStage",
    "MachineVisionSummary",
    "read_classifier_manifest",
    "write_classifier_manifest",
]
