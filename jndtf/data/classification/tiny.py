"""A tiny offline labelled set for tests and the demo: rendered digits on photo backgrounds.

scikit-learn (whose 8x8 digits the issue suggests) is not a jndtf dependency, so the set is
synthesized instead: each image is a random 32x32 crop of one of the bundled sample photos
(:mod:`jndtf.samples`, scikit-image's wheel, no download), darkened or lightened, with one digit
0..9 drawn on it by OpenCV (a random Hershey font, scale, stroke, offset, a rotation within
+-15 degrees, and a colour contrasting with the crop's mean). Label = the digit, class names
``"0"`` .. ``"9"``. Deterministic in ``seed``; about 0.1 s for 300 images.
"""

from __future__ import annotations

import cv2
import numpy as np

from jndtf.data.classification.types import DatasetError, Labelled

_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)


def tiny_digits(per_class: int = 30, seed: int = 0, size: int = 32) -> Labelled:
    """Synthesizes ``10 * per_class`` labelled RGB images (module docstring says how).

    Returns:
        ``(images uint8 N x size x size x 3 RGB, labels int64 N, ["0", ..., "9"])``, classes
        interleaved (label ``i % 10``).

    Example:
        >>> x, y, names = tiny_digits(per_class=30)
        >>> x.shape, np.bincount(y)
        ((300, 32, 32, 3), array([30, 30, 30, 30, 30, 30, 30, 30, 30, 30]))
    """
    from jndtf.samples import SAMPLE_NAMES, sample_images

    if per_class < 1 or size < 16:
        raise DatasetError(
            f"tiny_digits: per_class must be >= 1 and size >= 16 (got {per_class}, {size})"
        )
    photos = list(sample_images(SAMPLE_NAMES).values())
    rng = np.random.default_rng(seed)
    n = 10 * per_class
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.arange(n, dtype=np.int64) % 10
    for k in range(n):
        photo = photos[rng.integers(len(photos))]
        crop_side = int(rng.integers(size, 4 * size))
        y0 = rng.integers(photo.shape[0] - crop_side)
        x0 = rng.integers(photo.shape[1] - crop_side)
        bg = cv2.resize(
            photo[y0 : y0 + crop_side, x0 : x0 + crop_side],
            (size, size),
            interpolation=cv2.INTER_AREA,
        )
        bg = np.clip(bg.astype(np.float32) * rng.uniform(0.5, 1.1), 0, 255)
        ink = (255.0, 255.0, 255.0) if bg.mean() < 128 else (0.0, 0.0, 0.0)
        ink = tuple(
            float(c) * rng.uniform(0.8, 1.0) + (0 if c else rng.uniform(0, 40)) for c in ink
        )
        glyph = np.zeros((size, size), np.uint8)
        font = _FONTS[rng.integers(len(_FONTS))]
        scale = rng.uniform(0.7, 1.0) * size / 32 * (1.6 if font == cv2.FONT_HERSHEY_PLAIN else 1.0)
        thick = int(rng.integers(1, 4))
        (tw, th), _ = cv2.getTextSize(str(labels[k]), font, scale, thick)
        org = (
            int((size - tw) / 2 + rng.integers(-3, 4)),
            int((size + th) / 2 + rng.integers(-3, 4)),
        )
        cv2.putText(glyph, str(labels[k]), org, font, scale, 255, thick, cv2.LINE_AA)
        rot = cv2.getRotationMatrix2D((size / 2, size / 2), float(rng.uniform(-15, 15)), 1.0)
        glyph = cv2.warpAffine(glyph, rot, (size, size)).astype(np.float32)[..., None] / 255.0
        out = bg * (1 - glyph) + np.asarray(ink, np.float32) * glyph
        images[k] = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return Labelled(images, labels, [str(d) for d in range(10)])
