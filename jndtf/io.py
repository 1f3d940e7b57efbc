"""Image I/O at the package boundary: validated loading, colour conversion, atomic writes.

Data contract (DESIGN.md): images cross the public API as uint8 RGB ``HxWx3`` or float32 in the
same 0..255 scale; OpenCV's BGR order never leaks past this module. A JND map is float32 ``HxWxC``
in 0..255 pixel units (C = 1 for luma models, 3 for full-RGB models).

Conversions applied by :func:`load_image` (documented, never silent failures):

- grey (1 channel) -> replicated to RGB;
- RGBA / grey+alpha -> alpha dropped (composited on nothing: the colour values are kept);
- 16-bit -> scaled to 8 bit by ``round(v / 257)``;
- anything else (not an image, truncated file, unreadable) -> :class:`ImageError`.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

#: The smallest side any jndtf model accepts: the largest classical kernel (Wu 2013's 21x21
#: search window plus its 3-pixel patch radius) must fit at least once.
MIN_SIDE = 32

_UMASK = os.umask(0)
os.umask(_UMASK)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


#: Formats OpenCV writes without loss: an output whose exact pixel values matter (an image
#: injected at a target PSNR) must be one of these.
LOSSLESS_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".ppm")


def check_lossless(path: str | os.PathLike, what: str = "this output") -> Path:
    """Raises ValueError (naming `path` and the lossless formats) unless `path`'s suffix is a
    lossless format; returns `path` as a Path."""
    path = Path(path)
    if path.suffix.lower() not in LOSSLESS_SUFFIXES:
        kind = (
            "a lossy format"
            if path.suffix.lower() in (".jpg", ".jpeg", ".webp")
            else ("not a lossless image format")
        )
        raise ValueError(
            f"{path}: {path.suffix or 'no suffix'} is {kind}; {what} must be saved "
            f"losslessly, use one of {', '.join(LOSSLESS_SUFFIXES)}"
        )
    return path


class ImageError(ValueError):
    """An input that is not a usable image; the message names the file and the problem."""


class ImageWarning(UserWarning):
    """A usable image with something a user may want to know (e.g. data after its end marker);
    the message names the file. The CLI prints it as one ``warning:`` line."""


def _where(source: str | os.PathLike | None) -> str:
    return f"{source}: " if source is not None else ""


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """A frame size as the command line writes it, ``"640x360"`` (WIDTHxHEIGHT, as video sizes
    are written), -> ``(640, 360)`` = (width, height), every public signature's order. One
    spelling for every command (``jndtf export --size``, ``jndtf stream --size``,
    ``jndtf bench models --sizes``).

    Raises:
        ValueError: not two integers joined by ``x``, or a side under :data:`MIN_SIDE` (the
            priors' windows); the message names `option`.
    """
    parts = str(text).strip().lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{option} {text!r} is not WIDTHxHEIGHT in pixels (e.g. 640x360)")
    w, h = (int(p) for p in parts)
    if min(w, h) < MIN_SIDE:
        raise ValueError(
            f"{option} {text!r}: both sides must be >= {MIN_SIDE} pixels (the priors' window)"
        )
    return w, h


def check_image(
    image: np.ndarray, *, source: str | os.PathLike | None = None, min_side: int = MIN_SIDE
) -> np.ndarray:
    """Validates an in-memory image and returns it as uint8/float32 RGB ``HxWx3``.

    Accepts uint8, uint16 (scaled by 1/257) or float arrays (must already be in 0..255),
    shaped ``HxW`` (grey, replicated), ``HxWx1``, ``HxWx3`` or ``HxWx4`` (alpha dropped).

    Raises:
        ImageError: wrong rank or channel count, NaN/Inf, values outside 0..255, or a side
            shorter than `min_side`.
    """
    where = _where(source)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"{where}expected an image shaped HxW or HxWxC with C in 1..4, got shape {arr.shape}"
        )
    if arr.shape[2] in (2, 4):
        arr = arr[..., :-1]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    h, w = arr.shape[:2]
    if min(h, w) < min_side:
        raise ImageError(
            f"{where}image is {h}x{w} pixels; jndtf needs at least "
            f"{min_side}x{min_side} (the largest classical kernel must fit)"
        )
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:
        return np.round(arr / 257.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise ImageError(f"{where}image contains NaN or Inf values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 255.0:
            raise ImageError(
                f"{where}pixel values span {lo:.4g}..{hi:.4g}; jndtf expects the "
                "0..255 scale (multiply 0..1 images by 255)"
            )
        return np.ascontiguousarray(arr)
    raise ImageError(f"{where}unsupported pixel type {arr.dtype}")


def load_image(path: str | os.PathLike, *, min_side: int = MIN_SIDE) -> np.ndarray:
    """Reads an image file as uint8 RGB ``HxWx3`` (conversions in the module docstring).

    Raises:
        ImageError: missing file, not an image, truncated/corrupt data, or too small.

    Example:
        >>> img = load_image("photo.png")
        >>> img.shape, img.dtype
        ((512, 512, 3), dtype('uint8'))
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"{path}: file is empty")
    bgr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if bgr is None:
        raise ImageError(
            f"{path}: not a readable image (corrupt, truncated, or an unsupported "
            f"format; supported: {', '.join(IMAGE_SUFFIXES)})"
        )
    end = _data_end(path, data)
    if end is None:
        raise ImageError(
            f"{path}: the file is truncated (decoder reached the end of the data "
            "early); re-export or re-download it"
        )
    if end < data.size:
        warnings.warn(
            f"{path}: {data.size - end} bytes after the image's end marker (a trailer, as "
            "phones and cameras append) were ignored",
            ImageWarning,
            stacklevel=2,
        )
    if bgr.ndim == 3 and bgr.shape[2] == 3:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif bgr.ndim == 3 and bgr.shape[2] == 4:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    else:
        rgb = bgr
    return check_image(rgb, source=path, min_side=min_side)


def _data_end(path: Path, data: np.ndarray) -> int | None:
    """Where the image data of a JPEG/PNG file ends (just past its end marker), or None when
    the file stops before it: OpenCV decodes truncated files partially without an error.

    Bytes after the end marker are a trailer (phones and cameras append thumbnails, depth maps,
    maker data), not truncation. Other formats: the file's size (the decoder is trusted).
    """
    return image_data_end(data.tobytes(), path.suffix)


def image_data_end(raw: bytes, suffix: str) -> int | None:
    """:func:`_data_end` of an in-memory file whose name ends in `suffix` (``".jpg"``, ...):
    the offset just past a JPEG/PNG end marker, None when the data stops first (truncated),
    ``len(raw)`` for other formats."""
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return _jpeg_end(raw)
    if suffix == ".png":
        return _png_end(raw)
    return len(raw)


#: JPEG markers without a length field: SOI, EOI, TEM, RST0..7
_JPEG_STANDALONE = {0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)}


def _jpeg_end(raw: bytes) -> int | None:
    """Offset just past the EOI marker that ends the JPEG stream, walking its segments (ITU-T
    T.81 Annex B): length-prefixed segments are skipped whole (an EXIF thumbnail's own EOI is
    inside APP1), entropy-coded data after SOS runs to the next marker that is neither a
    stuffed ``FF00`` nor a restart marker. None when the data ends first."""
    n = len(raw)
    if raw[:2] != b"\xff\xd8":
        return None
    i = 2
    while i < n:
        if raw[i] != 0xFF:
            return None  # lost the marker chain: not a stream we can follow
        while i < n and raw[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= n:
            return None
        marker = raw[i]
        i += 1
        if marker == 0xD9:
            return i
        if marker in _JPEG_STANDALONE:
            continue
        if i + 2 > n:
            return None
        i += (raw[i] << 8) | raw[i + 1]
        if marker == 0xDA:  # SOS: skip the entropy-coded data to the next real marker
            while True:
                j = raw.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return None
                nxt = raw[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    i = j + 1 if nxt == 0xFF else j + 2
                    continue
                i = j
                break
    return None


def _png_end(raw: bytes) -> int | None:
    """Offset just past the IEND chunk (length, type, CRC), walking the chunks; None when the
    data ends first."""
    n, i = len(raw), 8
    while i + 8 <= n:
        length = int.from_bytes(raw[i : i + 4], "big")
        kind = raw[i + 4 : i + 8]
        i += 12 + length
        if kind == b"IEND":
            return i if i <= n else None
    return None


def iter_images(folder: str | os.PathLike) -> Iterator[Path]:
    """Yields the image files of a folder (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            yield p


def to_luma(image: np.ndarray) -> np.ndarray:
    """RGB (or grey) image -> float32 luma ``HxW`` in 0..255.

    uint8 RGB goes through ``cv2.cvtColor(RGB2GRAY)``: OpenCV's rounded 0.299 R + 0.587 G +
    0.114 B, the same grey the classical models' reference outputs were made from
    (../shared/data/jnd-reference). Float RGB uses the same weights without rounding.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[..., 0].astype(np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"expected HxW or HxWx3, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY).astype(np.float32)
    a = arr.astype(np.float32)
    return (0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]).astype(np.float32)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file in the same folder and a rename, so a
    crash never leaves a half-written output behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Saves a uint8 (or 0..255 float, rounded and clipped) RGB/grey image atomically.

    The format follows the suffix (PNG, JPEG, ...).
    """
    path = Path(path)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix or ".png", arr)
    if not ok:
        raise ImageError(f"{path}: OpenCV cannot encode this format")
    atomic_write_bytes(path, buf.tobytes())


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Saves an array as .npy atomically."""
    import io as _io

    buf = _io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def map_to_png(
    value: np.ndarray,
    *,
    vmax: float | None = None,
    units: str = "grey levels",
    label: str = "JND",
) -> np.ndarray:
    """A float map as the uint8 RGB picture every jndtf command writes beside its ``.npy``:
    :func:`jndtf.render.render_map` (inferno colour map, colour bar from 0 to `vmax` with its
    ticks and units; `vmax` None: the 99.5th percentile). The .npy keeps the real values."""
    from jndtf.render import render_map

    return render_map(value, units=units, vmax=vmax, label=label)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (hex), read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_json(path: str | os.PathLike, record: dict) -> None:
    """Writes `record` as indented JSON (one trailing newline) atomically
    (:func:`atomic_write_bytes`)."""
    import json

    atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode())


def write_map(
    out_dir: str | os.PathLike,
    name: str,
    value: np.ndarray,
    *,
    units: str = "grey levels",
    label: str | None = None,
    vmax: float | None = None,
) -> list[Path]:
    """Writes a float map as ``NAME.npy`` (exact float32 values) and ``NAME.png``
    (:func:`map_to_png`: colour map and colour bar in `units`; `label` defaults to `name`,
    `vmax` None: the 99.5th percentile), each atomically; returns both paths."""
    out_dir = Path(out_dir)
    npy, png = out_dir / f"{name}.npy", out_dir / f"{name}.png"
    save_npy(npy, np.asarray(value, np.float32))
    save_image(png, map_to_png(value, vmax=vmax, units=units, label=label or name))
    return [npy, png]
