"""Toy photo/mask pairs from scikit-image's bundled images: **pipeline checks only, not a
saliency dataset** (see :mod:`jndtf.data.saliency_pairs`)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from jndtf.data.saliency_pairs.reading import MIN_PAIR_SIDE
from jndtf.io import save_image

#: Grey textures of scikit-image (bundled) used as backgrounds of the toy pairs.
TOY_BACKGROUNDS = ("grass", "gravel", "brick")

#: Colour photos of scikit-image (bundled) cut into the toy objects.
TOY_OBJECTS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


def _toy_shape(rng: np.random.Generator, h: int, w: int, horse: np.ndarray) -> np.ndarray:
    """A uint8 0/1 object mask: the horse silhouette (a real binary mask of scikit-image,
    scaled, maybe flipped, placed at random) or an ellipse."""
    mask = np.zeros((h, w), np.uint8)
    scale = rng.uniform(0.35, 0.7)
    if rng.random() < 0.5:
        sh, sw = max(4, round(h * scale)), max(4, round(w * scale))
        shape = cv2.resize(horse, (sw, sh), interpolation=cv2.INTER_NEAREST)
        if rng.random() < 0.5:
            shape = shape[:, ::-1]
        y = int(rng.integers(0, h - sh + 1))
        x = int(rng.integers(0, w - sw + 1))
        mask[y : y + sh, x : x + sw] = shape
    else:
        axes = (max(2, round(w * scale / 2)), max(2, round(h * scale * rng.uniform(0.5, 1) / 2)))
        centre = (
            int(rng.integers(axes[0], w - axes[0] + 1)),
            int(rng.integers(axes[1], h - axes[1] + 1)),
        )
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask


def _random_window(rng, img: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random window of `img` with the aspect ratio h:w, resized to h x w."""
    ih, iw = img.shape[:2]
    s = rng.uniform(0.5, 1.0) * min(ih / h, iw / w)
    ch, cw = max(1, round(h * s)), max(1, round(w * s))
    y = int(rng.integers(0, ih - ch + 1))
    x = int(rng.integers(0, iw - cw + 1))
    return cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)


def write_toy_pairs(
    folder: str | os.PathLike,
    *,
    count: int = 12,
    size: tuple[int, int] = (96, 128),
    seed: int = 0,
    include_coins: bool = True,
) -> tuple[Path, Path]:
    """Writes pseudo photo/mask pairs for pipeline checks, in the DUTS layout.

    **Not a saliency dataset** (module docstring): each photo is a grey texture of
    scikit-image (grass, gravel, brick) with a window of a colour photo (astronaut, chelsea,
    coffee, rocket, immunohistochemistry) pasted inside an object shape, whose exact mask is the
    ground truth; shapes are scikit-image's horse silhouette (``skimage.data.horse()``, a real
    binary mask) or ellipses. With `include_coins`, one more pair is scikit-image's coins photo
    with an Otsu-thresholded mask (a simple rule, so its mask is approximate). All files come
    from the scikit-image wheel; nothing is downloaded.

    Args:
        folder: output folder; ``images/`` (``*.jpg``, quality 95) and ``masks/`` (``*.png``,
            0 / 255) are created in it.
        count: composite pairs (>= 1).
        size: ``(height, width)`` of every pair, pixels (>= :data:`MIN_PAIR_SIDE`).
        seed: seed of every random choice.
        include_coins: add the coins pair (``toy_coins``).

    Returns:
        ``(images_dir, masks_dir)``.

    Example:
        >>> images, masks = write_toy_pairs("toy", count=8, size=(64, 64))
        >>> len(find_pairs(images, masks))
        9
    """
    import skimage.data as skd

    h, w = (int(v) for v in size)
    if min(h, w) < MIN_PAIR_SIDE:
        raise ValueError(f"size must be at least {MIN_PAIR_SIDE} px a side, got {size}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    folder = Path(folder)
    images_dir, masks_dir = folder / "images", folder / "masks"
    images_dir.mkdir(parents=True, exist_ok=True)
    masks_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    horse = (~np.asarray(skd.horse())).astype(np.uint8)  # the horse is False on True
    backgrounds = [np.asarray(getattr(skd, n)()) for n in TOY_BACKGROUNDS]
    objects = [np.asarray(getattr(skd, n)())[..., :3] for n in TOY_OBJECTS]
    for i in range(count):
        bg = _random_window(rng, backgrounds[int(rng.integers(len(backgrounds)))], h, w)
        bg = np.repeat(bg[..., None], 3, axis=2)
        obj = _random_window(rng, objects[int(rng.integers(len(objects)))], h, w)
        mask = _toy_shape(rng, h, w, horse)
        photo = np.where(mask[..., None] == 1, obj, bg).astype(np.uint8)
        save_image(images_dir / f"toy_{i:04d}.jpg", photo)
        save_image(masks_dir / f"toy_{i:04d}.png", mask * 255)
    if include_coins:
        coins = cv2.resize(np.asarray(skd.coins()), (w, h), interpolation=cv2.INTER_AREA)
        _, m = cv2.threshold(coins, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        save_image(images_dir / "toy_coins.jpg", np.repeat(coins[..., None], 3, axis=2))
        save_image(masks_dir / "toy_coins.png", m)
    return images_dir, masks_dir


__all__ = ["TOY_BACKGROUNDS", "TOY_OBJECTS", "write_toy_pairs"]
