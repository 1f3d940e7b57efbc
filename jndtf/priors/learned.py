"""A learned visual-attention prior f_va: a trained saliency network as a numpy function (core).

ACoL-JND takes its visual-attention prior f_va from PoolNet (ref. [33] of the ACoL-JND paper,
§3.2, eq. (1)). jndtf's default ``"saliency"`` prior is the classical spectral residual
(:func:`jndtf.priors.saliency`) because PoolNet's weights cannot be downloaded here;
:class:`SaliencyPrior` runs a saliency model that jndtf trained
(:func:`jndtf.train.saliency.train_saliency`, :func:`jndtf.models.saliency.build_poolnet`)
and has the **same contract** as :func:`jndtf.priors.saliency`: uint8 or float (0..255) image,
grey ``HxW`` or RGB ``HxWx3`` in, float32 ``HxW`` map in 0..1 out (1 = salient), so it can take
its place wherever a prior function is called.

This module is the TF-free part (numpy, OpenCV and the LiteRT interpreter of
:mod:`jndtf.litert`): it runs a ``.tflite`` file (the ``[edge]`` extra; a dynamic
``[1, -1, -1, 3]`` model runs at the working size, a fixed-shape one gets the image resized to
its size) or a Keras model already in memory (called, never imported). Loading a ``.keras`` file
needs Keras and lives in :mod:`jndtf.models.saliency_prior`, whose ``SaliencyPrior`` is this class
plus that loader.

**Working size.** The network runs on the image scaled so its long side is at most
`max_side` (default 384 px, about the size of the DUTS/ECSSD photos saliency networks are
trained and tested on, §4.1 of PoolNet; ``None`` = full resolution), and its map is resized back
(bilinear). This bounds the cost (``poolnet_small``: 5.2k MAC per working pixel, ~0.76 GMAC at
384 x 384) and keeps the objects at the scale the network learned.

**Plugging it into the network input.** ``model_input(image, priors, overrides={"saliency":
prior})`` (:func:`jndtf.priors.inputs.model_input`) takes the learned map instead of the
classical one, channel for channel (the ``"saliency"`` channel's full scale is 1). Any cache of
network inputs must add :attr:`SaliencyPrior.fingerprint` (sha256 of the model file + settings)
to its key, and a model manifest should record :meth:`SaliencyPrior.describe`, so training and
deployment use the same f_va.

Example:
    >>> prior = SaliencyPrior("poolnet_small.tflite")
    >>> s = prior(image)                   # uint8 RGB (H, W, 3) -> float32 (H, W) in 0..1
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np

from jndtf.io import check_image, file_sha256

#: Default long side of the working image, pixels.
DEFAULT_MAX_SIDE = 384

#: Smallest image side accepted.
MIN_SIDE = 8

#: What :meth:`SaliencyPrior.describe` records as the implementation (the same for the core class
#: and the Keras-loading subclass, so a net's fingerprint does not depend on who loaded it).
IMPLEMENTATION = "jndtf.priors.learned.SaliencyPrior"


def working_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """``(h, w)`` the network runs at: the image scaled so its long side is <= `max_side`
    (aspect ratio kept, sides rounded, at least 1); the image's own size when it already fits
    or `max_side` is None."""
    if max_side is None or max(height, width) <= max_side:
        return int(height), int(width)
    s = max_side / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


class SaliencyPrior:
    """A trained saliency network as a prior function ``image -> HxW`` map in 0..1.

    Args:
        model: path of a ``.tflite`` saliency model (input RGB 0..1 ``(N, H, W, 3)``, output
            ``(N, H, W, 1)`` in 0..1), or a Keras model in memory (a ``.keras`` path needs
            :class:`jndtf.models.saliency_prior.SaliencyPrior`).
        max_side: long side of the working image in pixels (None: the image's own size).
        rescale: min-max scale each map to 0..1 (the classical prior's convention; a constant
            map becomes 0); default False keeps the network's probabilities.
        num_threads: LiteRT threads for a ``.tflite`` model (None: LiteRT's default).

    Raises:
        FileNotFoundError: no such model file.
        ValueError: an unknown file type, a model that is not ``RGB -> 1 channel``, or a bad
            `max_side`.
        ImportError: the runtime for the file type is missing (names the pip extra).

    Example:
        >>> prior = SaliencyPrior("runs/saliency/poolnet_small.tflite", max_side=384)
        >>> prior(np.zeros((240, 320, 3), np.uint8)).shape
        (240, 320)
    """

    def __init__(
        self,
        model,
        *,
        max_side: int | None = DEFAULT_MAX_SIDE,
        rescale: bool = False,
        num_threads: int | None = None,
    ):
        if max_side is not None and (
            isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < MIN_SIDE
        ):
            raise ValueError(f"max_side must be an integer >= {MIN_SIDE} or None, got {max_side!r}")
        self.max_side = max_side
        self.rescale = bool(rescale)
        self._interp = None
        self._keras_model = None
        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            if not path.is_file():
                raise FileNotFoundError(f"saliency model {path} does not exist")
            self.path: Path | None = path
            self.model_sha256 = file_sha256(path)
            suffix = path.suffix.lower()
            if suffix == ".keras":
                self.backend = "keras"
                self._keras_model = self._load_keras(path)
            elif suffix == ".tflite":
                self.backend = "litert"
                self._interp = _load_litert(path, num_threads)
            else:
                raise ValueError(f"{path}: a saliency model is a .keras or .tflite file")
        else:
            if not (hasattr(model, "inputs") and callable(model)):
                raise ValueError(f"model must be a path or a keras.Model, got {type(model)}")
            self.path = None
            self.model_sha256 = None
            self.backend = "keras"
            self._keras_model = model
        self._check_io()

    # ------------------------------------------------------------------ model I/O

    def _load_keras(self, path: Path):
        """Loads a ``.keras`` file: not in the core (it needs Keras); the subclass
        :class:`jndtf.models.saliency_prior.SaliencyPrior` does it."""
        raise ValueError(
            f"{path}: a .keras saliency net needs Keras; load it with "
            'jndtf.models.saliency_prior.SaliencyPrior (pip install "jndtf[train]") or export '
            "it to .tflite for the TF-free runtime"
        )

    def _check_io(self) -> None:
        if self._keras_model is not None:
            cin = self._keras_model.inputs[0].shape[-1]
            cout = self._keras_model.outputs[0].shape[-1]
            self.fixed_size = None
            h, w = self._keras_model.inputs[0].shape[1:3]
            if h is not None and w is not None:
                self.fixed_size = (int(h), int(w))
        else:
            inp = self._interp.get_input_details()[0]
            out = self._interp.get_output_details()[0]
            cin, cout = int(inp["shape"][-1]), int(out["shape"][-1])
            sig = [int(v) for v in inp.get("shape_signature", inp["shape"])]
            dynamic = sig[1] < 0 or sig[2] < 0
            self.fixed_size = None if dynamic else (sig[1], sig[2])
            if inp["dtype"] != np.float32:
                raise ValueError(
                    f"{self.path}: the prior runs float32-input models; this one takes "
                    f"{np.dtype(inp['dtype']).name} (export with float input and output)"
                )
        if cin != 3 or cout != 1:
            raise ValueError(
                "a saliency model maps RGB (3 channels) to 1 channel; "
                f"this one maps {cin} -> {cout}"
            )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Runs the network on one float32 ``(h, w, 3)`` RGB image in 0..1 at its size.

        Returns:
            float32 ``(h, w)`` saliency in 0..1.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)[None]
        if self._keras_model is not None:
            y = np.asarray(self._keras_model(x, training=False))
        else:
            inp = self._interp.get_input_details()[0]
            if list(inp["shape"]) != list(x.shape):
                self._interp.resize_tensor_input(inp["index"], list(x.shape))
                self._interp.allocate_tensors()
            self._interp.set_tensor(inp["index"], x)
            self._interp.invoke()
            y = self._interp.get_tensor(self._interp.get_output_details()[0]["index"])
        return np.clip(np.asarray(y, np.float32)[0, ..., 0], 0.0, 1.0)

    # ------------------------------------------------------------------ the prior

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The prior map of one image.

        Args:
            image: uint8 or float (0..255) image, grey ``HxW`` or RGB ``HxWx3`` (alpha dropped,
                grey replicated, as :func:`jndtf.io.check_image`); sides >= 8.

        Returns:
            float32 ``HxW`` in 0..1, 1 = salient; the size of `image`.

        Raises:
            ImageError: not an image in 0..255.
        """
        rgb = check_image(image, min_side=MIN_SIDE)
        h, w = rgb.shape[:2]
        size = self.fixed_size or working_size(h, w, self.max_side)
        x = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        if size != (h, w):
            x = cv2.resize(x, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        s = self.predict(x)
        if s.shape != (h, w):
            s = cv2.resize(s, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.rescale:
            lo, hi = float(s.min()), float(s.max())
            s = (s - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(s)
        return np.clip(s, 0.0, 1.0).astype(np.float32)

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of the model file's sha256 and the settings that change the map: part of
        any input-cache key that holds this prior's maps."""
        blob = json.dumps(self.describe(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def describe(self) -> dict:
        """The prior as data, for a model manifest."""
        return {
            "prior": "saliency",
            "implementation": IMPLEMENTATION,
            "model": None if self.path is None else str(self.path),
            "model_sha256": self.model_sha256,
            "backend": self.backend,
            "max_side": self.max_side,
            "fixed_size": None if self.fixed_size is None else list(self.fixed_size),
            "rescale": self.rescale,
            "input": "RGB / 255, area-resized to the working size",
            "output": "sigmoid probability, bilinear-resized to the image size, 0..1",
        }

    def close(self) -> None:
        """Releases the model."""
        self._interp = None
        self._keras_model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _load_litert(path: Path, num_threads: int | None):
    from jndtf.litert import open_interpreter

    return open_interpreter(path, num_threads=num_threads)


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, max_side, rescale: bool) -> SaliencyPrior:
    return SaliencyPrior(path, max_side=max_side, rescale=rescale)


def load_saliency_prior(
    path: str | os.PathLike, *, max_side: int | None = DEFAULT_MAX_SIDE, rescale: bool = False
) -> SaliencyPrior:
    """A :class:`SaliencyPrior` for a ``.tflite`` file, loaded once per process (reloaded when
    the file changes): for callers that compute priors image after image. (A ``.keras`` file:
    :func:`jndtf.models.saliency_prior.load_saliency_prior`.)

    Example:
        >>> f_va = load_saliency_prior("poolnet_small.tflite")
        >>> maps = [f_va(img) for img in images]
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"saliency model {p} does not exist")
    return _cached(str(p), p.stat().st_mtime_ns, max_side, bool(rescale))


__all__ = [
    "DEFAULT_MAX_SIDE",
    "IMPLEMENTATION",
    "MIN_SIDE",
    "SaliencyPrior",
    "load_saliency_prior",
    "working_size",
]
