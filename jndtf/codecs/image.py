"""JPEG encoders a user would pick, behind one function, and a decoder for measuring quality.

Both encoders write baseline JPEG with **4:2:0 chroma subsampling** (2x2 luma, 1x1 Cb/Cr in the
SOF header), so they differ only in how they choose quantization:

- ``"libjpeg-turbo"``: ``cv2.imencode(".jpg")`` (OpenCV's bundled libjpeg-turbo), quality 1..100
  with the IJG tables, ``IMWRITE_JPEG_SAMPLING_FACTOR_420`` set explicitly.
- ``"libjpeg-turbo-opt"``: the same with ``IMWRITE_JPEG_OPTIMIZE`` (optimized Huffman tables,
  ``cjpeg -optimize``): the same quantized coefficients, so the same decoded pixels, in fewer
  bytes (~5-7 % on photos). Any method that writes optimized Huffman tables must be measured
  against this one too, or it is credited with a saving every user already has.
- ``"jpegli"``: ``pyjpegli.encode`` (libjxl's jpegli: adaptive quantization from a perceptual
  model) at the same nominal quality. pyjpegli 0.3.2 exposes no subsampling option; its output
  is 4:2:0 at every quality (checked in tests/test_codecs.py from the SOF header).

Images cross this module as uint8 RGB ``HxWx3`` (DESIGN.md).

Example:
    >>> data = encode_jpeg(image, 85, encoder="jpegli")
    >>> decode_image(data).shape == image.shape
    True
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np

#: Every JPEG encoder this module knows, in the order reports list them.
KNOWN_ENCODERS = ("libjpeg-turbo", "libjpeg-turbo-opt", "jpegli")

#: The plain JPEG encoder every comparison starts from (OpenCV's libjpeg-turbo, 4:2:0).
DEFAULT_ENCODER = "libjpeg-turbo"

#: encoder -> (Python module, the pip command that installs it)
_PACKAGE = {"jpegli": ("pyjpegli", 'pip install "jndtf[rd]" (or pip install pyjpegli)')}

#: Chroma subsampling both encoders use (written in reports next to every JPEG figure).
SUBSAMPLING = "4:2:0"


class EncoderError(ValueError):
    """An encoder that is unknown or not installed, or data it cannot code or decode."""


def _installed(encoder: str) -> bool:
    module = _PACKAGE.get(encoder, (None,))[0]
    return module is None or importlib.util.find_spec(module) is not None


#: The JPEG encoders installed here (``libjpeg-turbo`` always; ``jpegli`` with pyjpegli).
ENCODERS: tuple[str, ...] = tuple(e for e in KNOWN_ENCODERS if _installed(e))


def _import_pyjpegli():
    try:
        import pyjpegli
    except ImportError as err:
        raise ImportError(
            f"the jpegli encoder needs the pyjpegli package, which is not installed: run "
            f"{_PACKAGE['jpegli'][1]}"
        ) from err
    return pyjpegli


def check_encoder(encoder: str) -> str:
    """Returns `encoder` if it is known and installed.

    Raises:
        EncoderError: an unknown name (the message lists the known ones).
        ImportError: a known encoder whose package is missing (the message names the pip command).
    """
    if encoder not in KNOWN_ENCODERS:
        raise EncoderError(
            f"unknown JPEG encoder {encoder!r}; choose one of {', '.join(KNOWN_ENCODERS)}"
        )
    if encoder == "jpegli":
        _import_pyjpegli()
    return encoder


def _check_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise EncoderError(f"JPEG encoders take uint8 RGB HxWx3 images, got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


def encode_jpeg(image_u8_rgb: np.ndarray, quality: int, encoder: str = DEFAULT_ENCODER) -> bytes:
    """The JPEG file (4:2:0, baseline) of a uint8 RGB image at a nominal quality 1..100.

    Args:
        image_u8_rgb: uint8 RGB ``HxWx3``.
        quality: the encoder's quality setting, an integer 1..100 (IJG scale for both).
        encoder: ``"libjpeg-turbo"``, ``"libjpeg-turbo-opt"`` (OpenCV) or ``"jpegli"``.

    Raises:
        EncoderError: bad image, quality or encoder name.
        ImportError: ``encoder="jpegli"`` without pyjpegli (names the pip command).

    Example:
        >>> len(encode_jpeg(np.zeros((64, 64, 3), np.uint8), 90)) > 0
        True
    """
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise EncoderError(f"JPEG quality must be an integer 1..100, got {quality!r}")
    if not 1 <= int(quality) <= 100:
        raise EncoderError(f"JPEG quality must be an integer 1..100, got {quality}")
    check_encoder(encoder)
    a = _check_rgb(image_u8_rgb)
    if encoder == "jpegli":
        pyjpegli = _import_pyjpegli()
        return bytes(pyjpegli.encode(a.tobytes(), a.shape[1], a.shape[0], int(quality)))
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        int(quality),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
        cv2.IMWRITE_JPEG_OPTIMIZE,
        int(encoder == "libjpeg-turbo-opt"),
    ]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(a, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise EncoderError("OpenCV could not JPEG-encode the image")
    return buf.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """Decodes an image file held in memory (JPEG, PNG, ...) to uint8 RGB ``HxWx3`` by OpenCV.

    One decoder for every encoder, so a quality difference is the encoder's, not the decoder's.

    Raises:
        EncoderError: empty or undecodable data.
    """
    buf = np.frombuffer(bytes(data), np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if bgr is None:
        raise EncoderError(
            f"could not decode the {buf.size}-byte image (not an image, or truncated)"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def sampling_factors(data: bytes) -> list[tuple[int, int]]:
    """The (horizontal, vertical) sampling factor of each component from a JPEG's SOF header,
    e.g. ``[(2, 2), (1, 1), (1, 1)]`` for 4:2:0.

    Raises:
        EncoderError: no SOF marker before the scan (not a JPEG).
    """
    b = bytes(data)
    if b[:2] != b"\xff\xd8":
        raise EncoderError("not a JPEG file (no SOI marker)")
    i = 2
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            break
        marker, length = b[i + 1], (b[i + 2] << 8) | b[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            n = b[i + 9]
            return [(b[i + 11 + 3 * k] >> 4, b[i + 11 + 3 * k] & 15) for k in range(n)]
        if marker == 0xDA:
            break
        i += 2 + length
    raise EncoderError("no SOF header found before the scan (not a JPEG file)")
