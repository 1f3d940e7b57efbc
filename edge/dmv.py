"""DMV-JND on the edge: CAM classifiers -> merged CAM c -> DMV-JND-NET E-D -> e, TensorFlow-free.

Jin et al., "Just Noticeable Difference for Deep Machine Vision" (TCSVT 2022): the E-D takes the
image stacked with the merged CAM ``c = 1/N sum_n c_n`` (eq. (2); ``c_n`` the class activation
map of classifier n for its own top-1 class, upsampled to the image, min-max normalized) and
returns a signed perturbation e in pixel units; ``x_hat = x + e`` (eqs. (3)-(4)) keeps the
classifiers' labels. :class:`DmvJnd` runs that chain with LiteRT:

- the classifiers are :class:`jndtf.edge.classifier.Classifier` files exported WITH their CAM
  output (:func:`jndtf.export.cam.export_cam_classifier`: ``logits`` and the per-class
  ``cam``), so one inference gives the label and the map;
- the E-D is the ``.tflite`` of ``jndtf export dmv`` (4-channel input RGB/255 + c, output e
  ``(1, H, W, 3)``, manifest ``outputs.kind == "dmv_jnd"``).

**Frame sizes** (the classifiers and the E-D were trained on 32x32 CIFAR images; both nets are
fully convolutional). Two layouts:

- ``"frame"`` (default): each classifier sees the whole frame resized to its input size (area
  averaging when shrinking; that is also the frame the stage's RCA is measured on), its CAM is
  upsampled to the frame's size, and the E-D runs once on the whole frame (a dynamic-size
  export; a fixed-size one must match the frame or the call stops, naming both sizes). One
  classifier and one E-D inference per frame: the cheap layout, and the one whose e is aimed at
  the label the frame-level classifier gives.
- ``"tiles"``: the frame is cut into tiles of the classifier's input size (32x32; the last row
  and column are padded by edge replication, and e is cropped back), every tile gets its own
  label and CAM, and the E-D runs per tile (fixed-size export: the tile must be its size) or
  once on the whole frame with the tiled CAM (dynamic export). Closest to training (each tile
  is a CIFAR-sized image), but ~240 classifier runs per 640x360 frame.

Example:
    >>> with DmvJnd("dmv-int8.tflite", ["resnet-cam-int8.tflite"]) as dmv:
    ...     r = dmv.compute(frame)            # uint8 RGB HxWx3
    ...     x_hat = np.clip(np.rint(frame + r.e), 0, 255).astype(np.uint8)
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from jndtf.edge.classifier import Classifier, ClassifierError
from jndtf.edge.interpreter import LiteRTModel

from jndtf.io import file_sha256

LAYOUTS = ("frame", "tiles")

#: Side of the box of :func:`toward_local_mean` (pixels).
LOCAL_MEAN_SIZE = 5


class DmvError(ValueError):
    """A DMV-JND model or classifier that cannot be used: the message names the file."""


@dataclass(frozen=True)
class DmvResult:
    """One frame through :class:`DmvJnd`.

    Attributes:
        e: float32 ``HxWx3``, the signed DMV-JND perturbation in 0..255 pixel units.
        cam: float32 ``HxW``, the merged CAM c in [0, 1] (eq. (2)).
        labels: per classifier, the label of the whole frame (layout ``"frame"``) or None
            (``"tiles"``: one label per tile, not kept).
        probabilities: per classifier, its class probabilities (``"frame"``) or None.
        timings_ms: ``cam`` (classifiers), ``dmv`` (E-D), ``total``.
    """

    e: np.ndarray
    cam: np.ndarray
    labels: tuple
    probabilities: tuple
    timings_ms: dict = field(default_factory=dict)


def resolve_edge_model(ref: str | os.PathLike, what: str) -> Path:
    """A ``.tflite`` the user named: an existing file, else a shipped edge export of that name
    (``jndtf/weights/<family>/edge/<name>-tflite-int8.tflite``; ``<name>-cam`` too, the
    classifiers' CAM exports), so ``--classifier resnet --dmv dmv`` work once they ship.

    Raises:
        DmvError: neither; the message lists the shipped names.
    """
    path = Path(ref)
    if path.is_file():
        return path
    from jndtf.refs import shipped_models

    shipped = shipped_models("litert")
    for name in (str(ref), f"{ref}-cam"):
        if name in shipped:
            return shipped[name]
    names = ", ".join(sorted(shipped)) or "none"
    raise DmvError(f"{what} {ref}: no such file, and no shipped edge model of that name ({names})")


def _read_dmv_manifest(path: Path) -> dict:
    mpath = path.with_suffix(".json")
    if not mpath.is_file():
        return {}
    try:
        data = json.loads(mpath.read_text())
    except (OSError, ValueError) as err:
        raise DmvError(f"{mpath}: not a readable JSON manifest ({err})") from None
    if not isinstance(data, dict):
        raise DmvError(f"{mpath}: the manifest must be a JSON object")
    if data.get("task") == "classification":
        raise DmvError(
            f"{path}: its manifest describes an image classifier, not DMV-JND-NET's E-D: pass "
            "it as --classifier and the `jndtf export dmv` file as --dmv"
        )
    kind = (data.get("outputs") or {}).get("kind")
    if kind != "dmv_jnd":
        raise DmvError(
            f"{path}: its manifest says output kind {kind!r}, not 'dmv_jnd': pass the "
            "DMV-JND-NET export (`jndtf export dmv ...`) as --dmv"
        )
    if "sha256" in data and file_sha256(path) != str(data["sha256"]).lower():
        raise DmvError(
            f"{path}: sha256 does not match its manifest {mpath.name}; the file changed after "
            "export - re-export it"
        )
    return data


class DmvJnd:
    """DMV-JND-NET with its CAM classifiers on LiteRT (module docstring).

    Args:
        dmv: the E-D ``.tflite`` (``jndtf export dmv``; manifest beside it checked when present).
        classifiers: one or more classifiers with a CAM output (:class:`Classifier` objects or
            ``.tflite`` paths); eq. (2) averages their CAMs.
        num_threads: interpreter threads of each model.
        layout: ``"frame"`` or ``"tiles"`` (module docstring).
        scale: ``"frame"`` only: the E-D runs on the frame resized by `scale` (area
            averaging; at least 8 px a side) and e is upsampled back bilinearly - the E-D's
            cost falls as ``scale²`` (about 15 GMAC at 640x360 for preset ``dmv``), e gets
            smoother (it then bounds detail no finer than ``1/scale`` pixels).

    Raises:
        DmvError: not a 4-channel-in, 3-channel-out E-D, a manifest of another kind, a
            classifier without the CAM output, or a bad layout.
    """

    def __init__(
        self,
        dmv: str | os.PathLike,
        classifiers: Sequence[Classifier | str | os.PathLike] | Classifier | str | os.PathLike,
        *,
        num_threads: int = 2,
        layout: str = "frame",
        scale: float = 1.0,
    ):
        if layout not in LAYOUTS:
            raise DmvError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
            raise DmvError(f"scale must be a number in (0, 1], got {scale!r}")
        if layout == "tiles" and scale != 1:
            raise DmvError("scale < 1 is for the frame layout (tiles are the classifier's size)")
        self.layout = layout
        self.scale = float(scale)
        self.path = resolve_edge_model(dmv, "--dmv")
        self.manifest = _read_dmv_manifest(self.path)
        try:
            self._dmv = LiteRTModel(self.path, num_threads=num_threads)
        except ValueError as err:
            raise DmvError(f"{self.path}: not a usable .tflite ({err})") from None
        if self._dmv.channels != 4 or self._dmv.output_channels != 3:
            raise DmvError(
                f"{self.path}: takes {self._dmv.channels} channels and gives "
                f"{self._dmv.output_channels}; DMV-JND-NET's E-D takes 4 (RGB/255 + CAM) and "
                "gives e (3) - is this a JND map model?"
            )
        if isinstance(classifiers, (str, os.PathLike, Classifier)):
            classifiers = [classifiers]
        if not classifiers:
            raise DmvError("DMV-JND needs at least one CAM classifier (eq. (2))")
        self._owned = []
        self.classifiers: list[Classifier] = []
        for c in classifiers:
            if not isinstance(c, Classifier):
                c = Classifier(resolve_edge_model(c, "classifier"), num_threads=num_threads)
                self._owned.append(c)
            if not c.has_cam:
                self.close()
                raise DmvError(
                    f"{c.path}: this classifier has no CAM output, which DMV-JND needs; export "
                    "it with jndtf.export.cam.export_cam_classifier"
                )
            self.classifiers.append(c)
        self.tile = self.classifiers[0].input_size  # (width, height)
        if self.layout == "tiles" and self._dmv.fixed_size not in (None, self.tile[::-1]):
            h, w = self._dmv.fixed_size
            raise DmvError(
                f"{self.path}: exported at {w}x{h}, but tiles are the classifier's "
                f"{self.tile[0]}x{self.tile[1]}; export the E-D at that size (`jndtf export "
                f"dmv ... --size {self.tile[0]}x{self.tile[1]}`) or dynamic (`--dynamic`)"
            )

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """``(width, height)`` of a fixed-size E-D export, None for dynamic."""
        fs = self._dmv.fixed_size
        return None if fs is None else (fs[1], fs[0])

    def _merged_cam(self, image: np.ndarray) -> tuple[np.ndarray, list, list]:
        h, w = image.shape[:2]
        total = np.zeros((h, w), np.float64)
        labels, probs = [], []
        for clf in self.classifiers:
            label, p, c = clf.classify_with_cam(image, size=(w, h))
            total += c
            labels.append(label)
            probs.append(p)
        return (total / len(self.classifiers)).astype(np.float32), labels, probs

    def _ed(self, image: np.ndarray, cam: np.ndarray) -> np.ndarray:
        x = np.empty((1, *image.shape[:2], 4), np.float32)
        x[0, ..., :3] = image.astype(np.float32) / np.float32(255.0)
        x[0, ..., 3] = cam
        return self._dmv.run(x)[0]

    def compute(self, frame: np.ndarray) -> DmvResult:
        """e and the merged CAM of one uint8 RGB ``HxWx3`` frame.

        Raises:
            DmvError: layout ``"frame"`` with a fixed-size E-D of another size than the frame.
        """
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"a frame must be uint8 RGB HxWx3, got {frame.dtype} {frame.shape}")
        if self._dmv is None:
            raise ValueError(f"{self.path.name}: DmvJnd is closed")
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        if self.layout == "frame":
            sw, sh = max(8, round(w * self.scale)), max(8, round(h * self.scale))
            fs = self.fixed_size
            if fs is not None and fs != (sw, sh):
                at = "" if self.scale == 1 else f" at scale {self.scale:g}"
                raise DmvError(
                    f"{self.path.name} was exported at {fs[0]}x{fs[1]} and the E-D's input is "
                    f"{sw}x{sh} (a {w}x{h} frame{at}): export the E-D at that size (`jndtf "
                    f"export dmv ... --size {sw}x{sh}`) or dynamic (`--dynamic`), resize the "
                    "frames (--size), or use the tiles layout"
                )
            small = frame
            if (sw, sh) != (w, h):
                small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
            cam, labels, probs = self._merged_cam(small)
            t1 = time.perf_counter()
            e = self._ed(small, cam)
            if (sw, sh) != (w, h):
                e = cv2.resize(e, (w, h), interpolation=cv2.INTER_LINEAR)
                cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            tw, th = self.tile
            ph, pw = -h % th, -w % tw
            padded = cv2.copyMakeBorder(frame, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
            cam = np.empty(padded.shape[:2], np.float32)
            for y in range(0, padded.shape[0], th):
                for x in range(0, padded.shape[1], tw):
                    cam[y : y + th, x : x + tw] = self._merged_cam(padded[y : y + th, x : x + tw])[
                        0
                    ]
            t1 = time.perf_counter()
            if self.fixed_size is None:
                e = self._ed(padded, cam)
            else:
                e = np.empty((*padded.shape[:2], 3), np.float32)
                for y in range(0, padded.shape[0], th):
                    for x in range(0, padded.shape[1], tw):
                        sl = (slice(y, y + th), slice(x, x + tw))
                        e[sl] = self._ed(padded[sl], cam[sl])
            e, cam = e[:h, :w], cam[:h, :w]
            labels = probs = [None] * len(self.classifiers)
        t2 = time.perf_counter()
        ms = {"cam": (t1 - t0) * 1e3, "dmv": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
        return DmvResult(np.ascontiguousarray(e, np.float32), cam, tuple(labels), tuple(probs), ms)

    def describe(self) -> dict:
        """What runs, for reports: files, layout, sizes."""
        return {
            "dmv": str(self.path),
            "dmv_size": list(self.fixed_size) if self.fixed_size else "dynamic",
            "classifiers": [str(c.path) for c in self.classifiers],
            "classifier_input": list(self.tile),
            "layout": self.layout,
            "scale": self.scale,
        }

    def close(self) -> None:
        """Releases the E-D and the classifiers this object opened (idempotent)."""
        for c in self._owned:
            c.close()
        self._owned = []
        if getattr(self, "_dmv", None) is not None:
            self._dmv.close()
            self._dmv = None

    def __enter__(self) -> DmvJnd:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tolerance(frame: np.ndarray, tolerance) -> np.ndarray:
    t = np.asarray(tolerance, np.float32)
    if t.ndim == 2:
        t = t[..., None]
    if t.ndim == 0:
        t = np.full((*frame.shape[:2], 1), t, np.float32)
    if t.shape[:2] != frame.shape[:2] or t.shape[2] not in (1, 3):
        raise ValueError(f"tolerance shape {t.shape} does not fit the frame {frame.shape}")
    if not np.isfinite(t).all() or t.min() < 0:
        raise ValueError("tolerance must be finite and >= 0 (pixel units)")
    return t


def toward_local_mean(frame: np.ndarray, tolerance, size: int = LOCAL_MEAN_SIZE) -> np.ndarray:
    """Moves each pixel toward its local mean by at most `tolerance`: removes detail below it.

    ``y = x + clip(m - x, -t, t)`` per channel, with ``m`` the ``size x size`` box mean of the
    channel (borders reflected, OpenCV's ``BORDER_REFLECT_101``) and ``t`` the tolerance (for
    DMV-JND ``|e|`` times a factor). Eq. (14) of hmJND-Net with a sliding box instead of 8x8
    blocks. For uint8 frames the step is rounded and ``t`` floored (``x + clip(rint(m - x),
    -floor(t), floor(t))``), so no pixel moves more than ``t`` and the result stays in 0..255;
    a flat patch (``m = x``) does not change; ``t >= |m - x|`` gives the box mean.

    Args:
        frame: uint8 (or float 0..255) RGB ``HxWx3``.
        tolerance: ``HxW``, ``HxWx1``, ``HxWx3`` or a number, pixel units, >= 0.
        size: box side (odd, >= 1).

    Returns:
        The processed frame, same shape and dtype.
    """
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 1, got {size!r}")
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be RGB HxWx3, got {frame.shape}")
    t = _tolerance(frame, tolerance)
    x = frame.astype(np.float32)
    m = cv2.blur(x, (size, size), borderType=cv2.BORDER_REFLECT_101)
    if frame.dtype == np.uint8:
        t = np.floor(t + np.float32(1e-4))
        step = np.clip(np.rint(m - x), -t, t)
        return np.clip(x + step, 0, 255).astype(np.uint8)
    return (x + np.clip(m - x, -t, t)).astype(frame.dtype, copy=False)


def perturbed(frame: np.ndarray, e: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Eq. (4) for a uint8 frame: ``clip(rint(x + scale·e), 0, 255)`` (rounding moves a pixel
    by at most 0.5 more than ``scale·|e|``)."""
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale!r}")
    y = frame.astype(np.float32) + np.float32(scale) * np.asarray(e, np.float32)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


__all__ = [
    "LAYOUTS",
    "LOCAL_MEAN_SIZE",
    "ClassifierError",
    "DmvError",
    "DmvJnd",
    "DmvResult",
    "perturbed",
    "resolve_edge_model",
    "toward_local_mean",
]
