"""JND-guided methods that aim at fewer JPEG bytes at EQUAL quality, looked up by name.

Core (numpy/OpenCV; optional packages imported lazily; no TensorFlow). Two kinds:

- ``"pixel"``: ``m.apply(image_u8, jnd, strength) -> uint8`` changes the picture, then any encoder
  codes it (``m.encode`` runs the named encoder on the result).
- ``"jpeg"``: ``m.encode(image_u8, jnd, strength, quality, encoder) -> bytes`` works inside the
  encoder (on its own 8x8 grid and quantization tables) and returns the JPEG file.

``image``: uint8 RGB ``HxWx3``. ``jnd``: float32 ``HxWxC`` (C = 1 or 3) in grey levels (0..255).
``strength`` s multiplies the map: every method keeps each pixel within ``s·JND`` of the input
(measured in the decoded image for the ``"jpeg"`` kind, against the plain encode at the same
quality), and ``s = 0`` gives the identity / the plain encoder's file.

Example:
    >>> from jndtf.apply.methods import get_method, available_methods
    >>> m = get_method("eq14")
    >>> data = m.encode(image, jnd, 0.5, 85, "libjpeg-turbo")
"""

from __future__ import annotations

import math

import numpy as np

from jndtf.apply.methods._codec import (
    ENCODERS,
    Encoder,
    decode_jpeg,
    encode_jpegli,
    encode_turbo,
    encoder_name,
    resolve_encoder,
)


class Method:
    """A JND-guided method: ``name``, ``kind`` (``"pixel"`` or ``"jpeg"``), ``description``."""

    name: str = ""
    kind: str = "pixel"
    description: str = ""

    def apply(self, image: np.ndarray, jnd: np.ndarray, strength: float) -> np.ndarray:
        """The processed uint8 RGB image (``"pixel"`` methods only)."""
        raise TypeError(
            f"method {self.name!r} works inside the JPEG encoder; call encode(), not apply()"
        )

    def encode(
        self,
        image: np.ndarray,
        jnd: np.ndarray,
        strength: float,
        quality: int,
        encoder: Encoder = "libjpeg-turbo",
    ) -> bytes:
        """JPEG bytes: ``apply``, then the encoder at `quality` (``"jpeg"`` methods override)."""
        return resolve_encoder(encoder)(self.apply(image, jnd, strength), quality)

    def __repr__(self) -> str:
        return f"<method {self.name} ({self.kind})>"


def check_inputs(
    image: np.ndarray, jnd: np.ndarray, strength: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Validated uint8 RGB image, float32 ``HxWxC`` JND (C = 1 or 3) and strength."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"image must be uint8 RGB HxWx3, got {img.dtype} with shape {np.shape(image)}"
        )
    j = np.asarray(jnd, dtype=np.float32)
    if j.ndim == 2:
        j = j[..., None]
    if j.ndim != 3 or j.shape[:2] != img.shape[:2] or j.shape[2] not in (1, 3):
        h, w = img.shape[:2]
        raise ValueError(
            f"JND map shape {np.shape(jnd)} does not fit image {h}x{w}: want {h}x{w}x1 or x3"
        )
    if not np.all(np.isfinite(j)) or (j.size and j.min() < 0):
        raise ValueError("JND map must be finite and >= 0")
    if not (isinstance(strength, (int, float, np.floating)) and math.isfinite(strength)):
        raise ValueError(f"strength must be a finite number, got {strength!r}")
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    return img, j, float(strength)


class NoneMethod(Method):
    """The untouched image: the plain encoder (the anchor every method is measured against)."""

    name = "none"
    kind = "pixel"
    description = "no processing: the plain encoder"

    def apply(self, image, jnd, strength):
        img, _, _ = check_inputs(image, jnd, strength)
        return img.copy()


class Eq14Method(Method):
    """Eq. (14) of hmJND-Net (block-mean shrinkage on the 8x8 grid) with the map times s.

    Wraps :func:`jndtf.apply.preprocess_jpeg` (per RGB channel, JPEG's 8x8 grid).
    """

    name = "eq14"
    kind = "pixel"
    description = "hmJND eq. (14): pixels move toward their 8x8 block mean by at most s·JND"

    def apply(self, image, jnd, strength):
        from jndtf.apply.preprocess import preprocess_jpeg

        img, j, s = check_inputs(image, jnd, strength)
        if s == 0:
            return img.copy()
        return preprocess_jpeg(img, j * np.float32(s))


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Adds `method` to the registry under ``method.name``."""
    if not method.name or method.kind not in ("pixel", "jpeg"):
        raise ValueError(f"a method needs a name and kind 'pixel' or 'jpeg', got {method!r}")
    _REGISTRY[method.name] = method
    return method


def available_methods() -> list[str]:
    """Names of the registered methods, registry order."""
    return list(_REGISTRY)


def get_method(name: str) -> Method:
    """The method registered as `name` (ValueError listing the names otherwise)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; choose one of {', '.join(available_methods())}"
        ) from None


register(NoneMethod())
register(Eq14Method())

from jndtf.apply.methods import dct  # noqa: E402, F401  (registers "dct")


class SmoothMethod(Method):
    """JND-bounded edge-preserving smoothing: ``clip(bilateral(x), x - s·J, x + s·J)``.

    Each pixel moves toward OpenCV's bilateral estimate (``d`` pixels, range sigma
    ``sigma_color`` grey levels, spatial sigma ``sigma_space``) but never farther than its
    budget ``s·J``, so noise and fine texture below the threshold flatten (fewer AC bits) while
    edges (where the bilateral filter keeps the value) stay.
    """

    name = "smooth"
    kind = "pixel"
    description = "edge-preserving (bilateral) smoothing, each pixel clamped to ±s·JND"

    def __init__(self, d: int = 5, sigma_color: float = 20.0, sigma_space: float = 2.0):
        self.d, self.sigma_color, self.sigma_space = d, sigma_color, sigma_space

    def apply(self, image, jnd, strength):
        import cv2

        img, j, s = check_inputs(image, jnd, strength)
        if s == 0:
            return img.copy()
        est = cv2.bilateralFilter(img, self.d, self.sigma_color, self.sigma_space)
        bound = np.floor(s * j + 1e-6)  # integer output: the integers within x ± s·J
        x = img.astype(np.float32)
        return np.clip(est.astype(np.float32), x - bound, x + bound).astype(np.uint8)


register(SmoothMethod())

#: The method `jndtf compress` uses for JPEG unless told otherwise: the only one measured to save
#: bits at equal SSIMULACRA2 against plain libjpeg-turbo (benchmarks/methods_rd.py, eval rd).
DEFAULT_METHOD = "dct"
#: For clips (a "pixel" method is needed before x264): none of eq14/smooth beat plain x264 at
#: equal quality in our measurements, so the honest default is the plain encoder.
DEFAULT_CLIP_METHOD = "none"

__all__ = [
    "DEFAULT_CLIP_METHOD",
    "DEFAULT_METHOD",
    "ENCODERS",
    "Method",
    "TemporalFilter",
    "available_methods",
    "check_inputs",
    "decode_jpeg",
    "encode_jpegli",
    "encode_turbo",
    "encoder_name",
    "get_method",
    "register",
    "resolve_encoder",
]

from jndtf.apply.methods.temporal import TemporalFilter  # noqa: E402
