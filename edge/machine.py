"""Machine-vision mode of the edge runtime: DMV-JND pre-processing, RCA and bytes saved.

DMV-JND (Jin, Zhang, Fu et al., "Just Noticeable Difference for Deep Machine Vision", IEEE TCSVT
2022) asks how much a frame may change before a *classifier* notices.
:class:`MachineVisionStage` pre-processes each frame under a JND map (for a DMV-JND ``.tflite``
the map comes from :class:`jndtf.edge.runtime.JndMapper` run on that model), classifies the frame
before and after with a :class:`jndtf.edge.classifier.Classifier` (re-exported here), and keeps
the Relative Classification Accuracy (RCA) and the bytes the stream loop reports
(:meth:`MachineVisionStage.add_bytes`).

RCA is eq. (16) of the DMV-JND paper, ``acc_n = 100 % / P · Σ pre(l̂, l)``: the fraction of the
``P`` frames whose label after processing, ``l̂``, equals the label the same classifier gives the
unprocessed frame, ``l`` (Section I: "RCA is calculated with classifier-generated labels instead of
... human-annotated ones"). Eq. (17) averages it over the paper's four classifiers; one stage has
one classifier, so its RCA is eq. (16) alone (run one stage per classifier and average for eq. 17
with :func:`jndtf.metrics.mean_rca`). The formula lives in the core, :mod:`jndtf.metrics`
(:func:`~jndtf.metrics.rca_from_counts`), where offline evaluation uses it too.

Example:
    >>> with MachineVisionStage("clf.tflite", mode="quantize", factor=2.0) as stage:
    ...     out, rec = stage.process(frame, jnd)        # jnd: HxWx1 float32, 0..255 units
    ...     stage.add_bytes(len(jpeg(frame)), len(jpeg(out)))
    ...     stage.summary().rca
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np
from jndtf.edge.classifier import (
    Classifier,
    ClassifierError,
    read_classifier_manifest,
    write_classifier_manifest,
)
from jndtf.edge.preprocess import preprocess_frame

from jndtf.apply import preprocess_jpeg, quantize_by_jnd
from jndtf.metrics import rca_from_counts

MODES = ("quantize", "eq14", "smooth", "perturb")

#: Modes that need the signed DMV-JND e (not only a magnitude map).
DMV_ONLY_MODES = ("perturb",)


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
        jnd: ``"dmv"`` (the stage computed the DMV-JND e, map ``|e|``) or ``"given"``.
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
    jnd: str = "given"

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def _checked_jnd(jnd: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """float32 JND map ``HxW``/``HxWx1``/``HxWx3`` fitting a frame of `shape`, finite, >= 0."""
    j = np.asarray(jnd)
    h, w = shape[:2]
    if j.shape not in ((h, w), (h, w, 1), (h, w, 3)):
        raise ValueError(
            f"JND map shape {j.shape} does not fit image {tuple(shape)}: {h}x{w}, {h}x{w}x1 "
            f"or {h}x{w}x3"
        )
    if not np.issubdtype(j.dtype, np.number) or not np.all(np.isfinite(j)) or j.min() < 0:
        raise ValueError("JND map must be a finite numeric array >= 0 (0..255 grey levels)")
    return j.astype(np.float32, copy=False)


def _quantize_uint8(frame: np.ndarray, jnd: np.ndarray, factor: float) -> np.ndarray:
    """:func:`jndtf.apply.quantize_by_jnd` for uint8 frames in float32 (~3x faster).

    Nearest multiple of the step ``q = factor · J``, rounded to an integer within
    ``floor(q / 2)`` of the input, clipped to 0..255; ``J = 0`` leaves the pixel alone. Equal to
    the float64 reference except at near-ties that float32 rounds the other way (about one
    value in 10^5 on the sample clip): ``k · q`` within float32 precision of a half-integer
    (one grey level apart) or ``x / q`` of ``k + 1/2`` (the other multiple, also ``q / 2``
    away). Both keep the bound.
    """
    x = frame.astype(np.float32)
    step = jnd * np.float32(factor)
    if step.ndim == 2:
        step = step[..., None]
    moving = step > 0
    safe = np.where(moving, step, np.float32(1.0))
    y = np.rint(np.rint(x / safe) * safe)
    # the bound in float64 on the (usually one-channel) map, as the reference computes it
    slack = np.floor(jnd.astype(np.float64) * (factor / 2.0) + 1e-9).astype(np.float32)
    if slack.ndim == 2:
        slack = slack[..., None]
    y = np.minimum(np.maximum(y, x - slack), x + slack)
    y = np.where(moving, y, x)
    return np.clip(y, 0.0, 255.0).astype(np.uint8)


class MachineVisionStage:
    """Pre-processes frames under a (DMV-)JND map and tracks RCA and bytes saved.

    Modes (both change no pixel by more than ``factor / 2 · JND``):

    - ``"quantize"``: a per-pixel uniform quantizer of step ``factor · JND``
      (:func:`jndtf.apply.quantize_by_jnd`; uint8 frames take a float32 version of it); DMV-JND,
      Section I: "the quantization step is set as twice of the DMV-JND ... to guarantee that the
      quantization-caused errors are still tolerated by the DMV" (factor 2, the default).
    - ``"eq14"``: eq. (14) of hmJND-Net (8x8 block means) with the tolerance
      ``factor / 2 · JND`` (exactly eq. 14 at factor 2); flatter blocks cost JPEG fewer bytes,
      where pixel-domain quantization adds high-frequency error. uint8 frames take the stream's
      fast path :func:`jndtf.edge.preprocess.preprocess_frame` (within one grey level of the
      reference :func:`jndtf.apply.preprocess_jpeg`, which float frames take).

    - ``"smooth"``: each pixel moves toward its 5x5 box mean by at most ``factor / 2 · JND``
      (:func:`jndtf.edge.dmv.toward_local_mean`): removes detail without 8x8 block structure.
    - ``"perturb"`` (DMV-JND only): eq. (4), ``x_hat = x + factor / 2 · e`` (``x + e`` at
      factor 2, the paper's own use), rounded to uint8.

    **With a DMV-JND** (`dmv`: :class:`jndtf.edge.dmv.DmvJnd` or its E-D ``.tflite``): the
    stage computes e itself from the frame (the merged CAM of `classifier` and
    `cam_classifiers`, all exported with their CAM output) and the map of the modes is
    ``J = |e|`` per channel; :meth:`process` then ignores its `jnd` argument (pass None).
    In the ``"frame"`` layout the label of the unprocessed frame is the one the CAM was taken
    for (one classifier run saved).

    Args:
        classifier: a :class:`Classifier` or the path of its ``.tflite``.
        mode: one of :data:`MODES`.
        factor: quantization step in JND units (> 0).
        channels: ``"eq14"`` only: ``"rgb"`` (each channel against its own block means; takes
            1- and 3-channel JND maps) or ``"luma"`` (BT.601 Y only, chroma untouched; needs a
            1-channel map).
        num_threads: interpreter threads when `classifier` is a path.
        dmv: a :class:`jndtf.edge.dmv.DmvJnd` or the E-D ``.tflite`` (None: the caller gives
            the JND map of every frame).
        cam_classifiers: more CAM classifiers for eq. (2) (paths), with a `dmv` path.
        layout: the :class:`~jndtf.edge.dmv.DmvJnd` layout, with a `dmv` path.
        dmv_scale: the :class:`~jndtf.edge.dmv.DmvJnd` scale (E-D resolution / frame's).

    Example:
        >>> stage = MachineVisionStage("clf.tflite")
        >>> out, rec = stage.process(frame, mapper.process(frame).jnd)
        >>> rec.agree, stage.summary().rca
    """

    def __init__(
        self,
        classifier: Classifier | str | os.PathLike,
        *,
        mode: Literal["quantize", "eq14", "smooth", "perturb"] = "quantize",
        factor: float = 2.0,
        channels: Literal["rgb", "luma"] = "rgb",
        num_threads: int = 2,
        dmv=None,
        cam_classifiers: tuple = (),
        layout: str = "frame",
        dmv_scale: float = 1.0,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if channels not in ("rgb", "luma"):
            raise ValueError(f"channels must be 'rgb' or 'luma', got {channels!r}")
        if isinstance(factor, bool) or not (
            isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0
        ):
            raise ValueError(f"factor must be a positive number (2 in the paper), got {factor!r}")
        if mode in DMV_ONLY_MODES and dmv is None:
            raise ValueError(f"mode {mode!r} applies the signed DMV-JND e: give dmv=...")
        self._owns = not isinstance(classifier, Classifier)
        if self._owns and not os.path.isfile(classifier):  # a shipped edge model's name
            from jndtf.edge.dmv import resolve_edge_model

            classifier = resolve_edge_model(classifier, "--classifier")
        self.classifier = (
            Classifier(classifier, num_threads=num_threads) if self._owns else classifier
        )
        self.mode = mode
        self.factor = float(factor)
        self.channels = channels
        self.dmv = None
        self._owns_dmv = False
        if dmv is not None:
            from jndtf.edge.dmv import DmvJnd

            if isinstance(dmv, DmvJnd):
                self.dmv = dmv
            else:
                try:
                    self.dmv = DmvJnd(
                        dmv,
                        [self.classifier, *cam_classifiers],
                        num_threads=num_threads,
                        layout=layout,
                        scale=dmv_scale,
                    )
                except Exception:
                    self.close()
                    raise
                self._owns_dmv = True
        #: |e| of the last frame (HxWx3 float32) with a DMV-JND, for map outputs; else None.
        self.last_map: np.ndarray | None = None
        self._dmv_ms = 0.0
        self._frames = self._agreed = self._byte_frames = 0
        self._bytes_original = self._bytes_processed = 0
        self._max_change = 0.0

    def apply(self, frame: np.ndarray, jnd: np.ndarray, e: np.ndarray | None = None) -> np.ndarray:
        """The processed frame alone (no classification, counters untouched). `e`: the signed
        DMV-JND (``"perturb"``; the other modes use `jnd`, e.g. ``|e|``)."""
        frame = np.asarray(frame)
        if self.mode == "perturb":
            from jndtf.edge.dmv import perturbed

            if e is None:
                raise ValueError("mode 'perturb' needs the signed DMV-JND e")
            return perturbed(frame, e, self.factor / 2.0)
        if self.mode == "smooth":
            from jndtf.edge.dmv import toward_local_mean

            tol = np.asarray(jnd, np.float32) * np.float32(self.factor / 2.0)
            return toward_local_mean(frame, tol)
        if frame.dtype != np.uint8:  # float frames: the float64 references of jndtf.apply
            if self.mode == "quantize":
                return quantize_by_jnd(frame, jnd, factor=self.factor)
            tolerance = np.asarray(jnd, dtype=np.float64) * (self.factor / 2.0)
            return preprocess_jpeg(frame, tolerance, channels=self.channels)
        j = _checked_jnd(jnd, frame.shape)
        if self.mode == "quantize":
            return _quantize_uint8(frame, j, self.factor)
        return preprocess_frame(frame, j * np.float32(self.factor / 2.0), channels=self.channels)

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
        e = None
        known = None
        if self.dmv is not None:
            r = self.dmv.compute(frame)
            self._dmv_ms = r.timings_ms["total"]
            e = r.e
            jnd = np.abs(e)
            self.last_map = jnd
            if r.labels[0] is not None:  # "frame" layout: the stage's classifier, same input
                known = (r.labels[0], r.probabilities[0])
        elif jnd is None:
            raise ValueError("jnd is None: give the frame's JND map (or a dmv to the stage)")
        out = self.apply(frame, jnd, e)
        label, probs = known if known is not None else self.classifier.classify(frame)
        label_p, probs_p = self.classifier.classify(out)
        if out.dtype == frame.dtype == np.uint8:
            change = float(cv2.absdiff(out, frame).max())
        else:
            change = float(np.abs(out.astype(np.float64) - frame.astype(np.float64)).max())
        record = MachineVisionRecord(
            frame_index=self._frames,
            label_original=label,
            label_processed=label_p,
            agree=label == label_p,
            max_abs_change=change,
            max_allowed=float(np.max(jnd)) * self.factor / 2.0
            + (0.5 if self.mode == "perturb" else 0.0),  # perturb: rounding to uint8
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
            rca=rca_from_counts(self._agreed, self._frames),
            max_abs_change=self._max_change,
            byte_frames=self._byte_frames,
            bytes_original=self._bytes_original,
            bytes_processed=self._bytes_processed,
            bytes_saved=saved,
            saving=saved / self._bytes_original if self._bytes_original else math.nan,
            jnd="dmv" if self.dmv is not None else "given",
        )

    @property
    def dmv_ms(self) -> float:
        """Milliseconds the DMV-JND (classifiers' CAMs + E-D) took on the last frame."""
        return self._dmv_ms

    def close(self) -> None:
        """Closes the classifier and the DMV-JND if this stage opened them."""
        if getattr(self, "_owns_dmv", False) and self.dmv is not None:
            self.dmv.close()
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
