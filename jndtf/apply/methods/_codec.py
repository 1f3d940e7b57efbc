"""The JPEG encoders the methods run on: libjpeg-turbo (through OpenCV) and jpegli (``pyjpegli``).

An encoder is named by a string (:data:`ENCODERS`) or given as a callable
``encoder(image_u8_rgb, quality) -> bytes``, so a caller with its own encoder settings (Pillow,
another libjpeg build) can pass it in and a method runs on exactly that encoder.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

#: Encoder names a method accepts; "opencv" is an alias of "libjpeg-turbo" (OpenCV bundles it).
ENCODERS = ("libjpeg-turbo", "jpegli")

Encoder = str | Callable[[np.ndarray, int], bytes]


def _check_rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"image must be uint8 RGB HxWx3, got {img.dtype} with shape {np.shape(image)}"
        )
    return np.ascontiguousarray(img)


def _check_quality(quality: int) -> int:
    if not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer 1..100, got {quality!r}")
    return int(quality)


def encode_turbo(image: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG of libjpeg-turbo as OpenCV calls it (4:2:0, standard Huffman tables)."""
    img = _check_rgb(image)
    ok, buf = cv2.imencode(
        ".jpg",
        cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, _check_quality(quality)],
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode the image as JPEG")
    return buf.tobytes()


def encode_jpegli(image: np.ndarray, quality: int) -> bytes:
    """JPEG of jpegli (``pyjpegli``: adaptive quantization, its own quant tables)."""
    try:
        import pyjpegli
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            'the jpegli encoder needs pyjpegli: pip install "jndtf[rd]" (or pip install pyjpegli)'
        ) from err
    img = _check_rgb(image)
    h, w = img.shape[:2]
    return bytes(pyjpegli.encode(img.tobytes(), w, h, _check_quality(quality)))


def resolve_encoder(encoder: Encoder) -> Callable[[np.ndarray, int], bytes]:
    """The callable behind an encoder name (or the callable itself)."""
    if callable(encoder):
        return encoder
    if encoder in ("libjpeg-turbo", "opencv", "turbo"):
        return encode_turbo
    if encoder == "jpegli":
        return encode_jpegli
    raise ValueError(f"unknown JPEG encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")


def encoder_name(encoder: Encoder) -> str:
    """A printable name of an encoder (a callable's ``__name__``)."""
    return encoder if isinstance(encoder, str) else getattr(encoder, "__name__", repr(encoder))


def decode_jpeg(data: bytes) -> np.ndarray:
    """uint8 RGB image of JPEG bytes (OpenCV / libjpeg-turbo decoder)."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise ValueError("OpenCV could not decode the JPEG data")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
