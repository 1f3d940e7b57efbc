"""Picture-level JND (PJND) of JPEG compression under a JND-map or IQA-threshold criterion.

The picture-level JND of a compressed picture is the strongest compression at which the change
is not yet noticeable (survey of PJND and IQA, seed 003; the MCL-JCI data set of Jin et al. 2016
records the first such point of every photo subjectively). Without observers jndtf stands in a
criterion: lowering the JPEG quality factor from 100, the PJND is the lowest quality reached
before the criterion first fails.

Criteria (any ``f(original, decoded) -> float`` with a threshold works):

- :func:`visible_fraction`: the fraction of pixels whose error exceeds ``scale · JND``, from any
  JND model's map (pass while it stays at or below a small fraction);
- :func:`psnr_db`: PSNR in dB (pass while it stays at or above a threshold).

The thresholds are the user's choice: no subjective PJND data is available here to calibrate
them, so none is presented as "the" visibility threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from jndtf.metrics import psnr

Criterion = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True, eq=False)
class PictureJND:
    """The result of :func:`picture_jnd_jpeg`.

    Attributes:
        quality: the lowest JPEG quality (1..100) reached before the criterion first failed,
            or None when the first quality tried already fails.
        nbytes: size of the JPEG file at `quality` (0 when `quality` is None).
        image: the decoded uint8 RGB picture at `quality` (None when `quality` is None).
        failed_at: the first quality that failed, or None if every quality tried passed.
        scores: criterion value of every quality tried, in the order tried.
    """

    quality: int | None
    nbytes: int
    image: np.ndarray | None
    failed_at: int | None
    scores: dict[int, float]


def jpeg_round_trip(image: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """Encodes uint8 RGB ``HxWx3`` (or grey ``HxW``) as JPEG at `quality` with OpenCV's libjpeg
    (default 4:2:0 chroma subsampling) and decodes it; returns (decoded, number of bytes)."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    colour = image.ndim == 3
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if colour else image
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV failed to encode the JPEG")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    return (cv2.cvtColor(dec, cv2.COLOR_BGR2RGB) if colour else dec), int(buf.size)


def visible_fraction(jnd: np.ndarray, *, scale: float = 1.0) -> Criterion:
    """Criterion: fraction of pixels whose absolute error exceeds ``scale · JND``.

    A one-channel (luma) map, ``HxW`` or ``HxWx1``, is compared with the error of the BT.601
    luma ``0.299 R + 0.587 G + 0.114 B`` (so JPEG's chroma subsampling, which leaves luma
    alone, is not counted against a luma threshold); an ``HxWx3`` map with the error of each
    RGB channel.

    Args:
        jnd: JND map in 0..255 units, ``HxW``, ``HxWx1`` or ``HxWx3``.
        scale: multiple of the JND counted as visible.

    Returns:
        ``f(original, decoded) -> float`` in 0..1, lower is better.
    """
    j = np.asarray(jnd, dtype=np.float64)
    if j.ndim == 3 and j.shape[2] == 1:
        j = j[..., 0]
    if j.ndim not in (2, 3) or (j.ndim == 3 and j.shape[2] != 3):
        raise ValueError(f"JND map must be HxW, HxWx1 or HxWx3, got shape {np.shape(jnd)}")
    if not np.all(np.isfinite(j)) or (j.size and j.min() < 0):
        raise ValueError("JND map must be finite and >= 0")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    weights = np.array([0.299, 0.587, 0.114])

    def score(original: np.ndarray, decoded: np.ndarray) -> float:
        err = decoded.astype(np.float64) - original.astype(np.float64)
        if j.ndim == 2 and err.ndim == 3:
            err = err @ weights
        if err.shape != j.shape:
            raise ValueError(f"JND map {j.shape} does not fit the error {err.shape}")
        return float(np.mean(np.abs(err) > scale * j))

    return score


def psnr_db(original: np.ndarray, decoded: np.ndarray) -> float:
    """Criterion: PSNR in dB (peak 255) between the two pictures, higher is better
    (:func:`jndtf.metrics.psnr`; ``inf`` when identical)."""
    return psnr(original, decoded)


def picture_jnd_jpeg(
    image: np.ndarray,
    criterion: Criterion,
    threshold: float,
    *,
    higher_is_better: bool = False,
    qualities: Iterable[int] = range(100, 0, -1),
) -> PictureJND:
    """Lowest JPEG quality whose decoded picture still passes `criterion` (picture-level JND).

    Qualities are tried in the given order (default 100 down to 1) and the search stops at the
    first failure: the PJND is the last passing quality before it, the "first noticeable
    point" convention of subjective PJND studies.

    Args:
        image: uint8 RGB ``HxWx3`` (or grey ``HxW``) picture.
        criterion: ``f(original, decoded) -> float``, e.g. ``visible_fraction(jnd)`` or
            :func:`psnr_db`.
        threshold: the picture passes while the score is ``<= threshold`` (or ``>=`` when
            `higher_is_better`).
        higher_is_better: direction of the score (True for PSNR/SSIM-like scores).
        qualities: qualities to try, in order of increasing compression.

    Returns:
        :class:`PictureJND`.

    Example:
        >>> res = picture_jnd_jpeg(astronaut, visible_fraction(wu2017_jnd), 0.05)
        >>> res.quality, res.nbytes
        (90, 68052)
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(
            f"expected a uint8 RGB HxWx3 or grey HxW image, got {img.dtype} {img.shape}"
        )
    scores: dict[int, float] = {}
    best: tuple[int, int, np.ndarray] | None = None
    for q in qualities:
        decoded, nbytes = jpeg_round_trip(img, q)
        s = float(criterion(img, decoded))
        scores[int(q)] = s
        ok = s >= threshold if higher_is_better else s <= threshold
        if not ok:
            return _result(best, int(q), scores)
        best = (int(q), nbytes, decoded)
    return _result(best, None, scores)


def _result(best, failed_at, scores) -> PictureJND:
    if best is None:
        return PictureJND(None, 0, None, failed_at, scores)
    return PictureJND(best[0], best[1], best[2], failed_at, scores)
