"""Image / mask pairs for salient-object detection (numpy + OpenCV only).

The salient-object datasets PoolNet trains and tests on (DUTS-TR/-TE, MSRA-B, ECSSD, HKU-IS,
PASCAL-S; Liu et al., CVPR 2019, §4.1) ship as two folders: photos (``*.jpg``) and
ground-truth masks (``*.png``), one mask per photo with the same file stem
(``DUTS-TR/DUTS-TR-Image/ILSVRC2012_test_00000004.jpg`` ↔
``DUTS-TR/DUTS-TR-Mask/ILSVRC2012_test_00000004.png``). This module pairs them by stem and
reads them:

- **Pairing** (:func:`find_pairs`): any image suffix of :data:`jndtf.io.IMAGE_SUFFIXES` in either
  folder (not recursive). Two files with one stem in the same folder, or a stem present in only
  one folder, raise :class:`PairingError` naming them (``strict=False`` skips unmatched stems
  with a warning instead). Photo and mask must have the same height and width:
  :class:`SizeMismatchError` names both files and both sizes (:func:`check_sizes` checks the
  whole set from the file headers, :func:`load_pair` each pair it reads).
- **Masks** (:func:`read_mask`): float32 ``HxW`` in 0..1, 1 = salient. 8-bit masks are divided
  by 255, except a mask whose largest value is 1, which is read as 0/1 labels; 16-bit masks
  are divided by 65535; a grey mask saved as RGB(A) is read from one channel (channels that
  differ raise :class:`jndtf.io.ImageError`). **Non-binary masks** (anti-aliased borders,
  averaged annotations) are kept as soft targets (binary cross-entropy accepts them) unless
  ``threshold`` is given, which binarizes ``mask >= threshold``. Metrics binarize the ground
  truth at 0.5 whatever the training targets (:func:`jndtf.train.saliency.mae`).
- **Training crops** (:class:`SaliencyPairDataset`): seeded random square crops with a random
  horizontal flip, a pure function of ``(seed, epoch, step)`` (so a resumed run sees the same
  batches); an image smaller than the crop is first enlarged (bilinear, mask too) so its short
  side equals the crop.
- **Toy pairs** (:func:`write_toy_pairs`): **pipeline checks only, not a saliency dataset.**
  No salient-object dataset can be downloaded here (DESIGN.md, "Offline world"); these
  composites of scikit-image's bundled photos with exact masks let the tests and the demo run
  the training end to end. A model trained on them learns "a colourful object on a grey texture",
  nothing about human attention.

Example:
    >>> pairs = find_pairs("DUTS-TR/DUTS-TR-Image", "DUTS-TR/DUTS-TR-Mask")
    >>> rgb, mask = load_pair(pairs[0])              # uint8 HxWx3, float32 HxW in 0..1
    >>> ds = SaliencyPairDataset(pairs, crop_size=224, batch_size=8, seed=0)
    >>> x, y = ds.batch(epoch=0, step=0)             # (8, 224, 224, 3) 0..1, (8, 224, 224, 1)
"""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from jndtf.io import IMAGE_SUFFIXES, ImageError, load_image, save_image

#: The smallest photo side accepted (the network itself takes any size; smaller crops would
#: leave the 1/32 top feature of :func:`jndtf.models.saliency.build_poolnet` a single pixel).
MIN_PAIR_SIDE = 16

#: Names shown in an error message before "... and N more".
_SHOW = 10


class PairingError(ValueError):
    """Photos and masks do not pair one to one by file stem (the message lists the stems)."""


class SizeMismatchError(ValueError):
    """A photo and its mask differ in height or width (the message names both files)."""


@dataclass(frozen=True)
class SaliencyPair:
    """One photo and its ground-truth mask, matched by file stem."""

    stem: str
    image: Path
    mask: Path


def _listing(names: Sequence[str]) -> str:
    names = sorted(names)
    shown = ", ".join(names[:_SHOW])
    return shown + (f" ... and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


def _by_stem(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist or is not a folder")
    out: dict[str, Path] = {}
    clashes: dict[str, list[str]] = {}
    for p in sorted(folder.iterdir()):
        if not (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
            continue
        if p.stem in out:
            clashes.setdefault(p.stem, [out[p.stem].name]).append(p.name)
        else:
            out[p.stem] = p
    if clashes:
        detail = "; ".join(f"{', '.join(v)}" for v in list(clashes.values())[:_SHOW])
        raise PairingError(
            f"{folder}: several {what} files share a stem, so the pairing is ambiguous: {detail}"
        )
    return out


def find_pairs(
    images_dir: str | os.PathLike, masks_dir: str | os.PathLike, *, strict: bool = True
) -> list[SaliencyPair]:
    """Pairs the photos of `images_dir` with the masks of `masks_dir` by file stem.

    Args:
        images_dir: folder of photos (e.g. ``DUTS-TR-Image``; JPEG, PNG, ...).
        masks_dir: folder of masks (e.g. ``DUTS-TR-Mask``; PNG, ...).
        strict: raise on a stem found in one folder only (default); False skips those stems
            with a warning.

    Returns:
        The pairs, sorted by stem.

    Raises:
        FileNotFoundError: a folder is missing.
        PairingError: no pair at all, duplicate stems within a folder, or (strict) unmatched
            stems; the message lists them.

    Example:
        >>> [p.stem for p in find_pairs("imgs", "masks")][:2]
        ['0001', '0002']
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    images = _by_stem(images_dir, "photo")
    masks = _by_stem(masks_dir, "mask")
    no_mask = sorted(set(images) - set(masks))
    no_image = sorted(set(masks) - set(images))
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(
                f"{len(no_mask)} photo(s) in {images_dir} have no mask: {_listing(no_mask)}"
            )
        if no_image:
            parts.append(
                f"{len(no_image)} mask(s) in {masks_dir} have no photo: {_listing(no_image)}"
            )
        msg = "; ".join(parts) + " (photos and masks are matched by file stem)"
        if strict:
            raise PairingError(msg + "; pass strict=False to skip the unmatched ones")
        warnings.warn("skipping unmatched files: " + msg, stacklevel=2)
    stems = sorted(set(images) & set(masks))
    if not stems:
        raise PairingError(
            f"no photo in {images_dir} has a mask with the same stem in {masks_dir} "
            f"({len(images)} photos, {len(masks)} masks)"
        )
    return [SaliencyPair(s, images[s], masks[s]) for s in stems]


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file from its header (Pillow), without decoding it;
    falls back to a full OpenCV decode where Pillow cannot read the format.

    Raises:
        ImageError: not a readable image.
    """
    path = Path(path)
    try:
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
        return int(h), int(w)
    except Exception:  # any Pillow failure: let OpenCV decide
        data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if arr is None:
            raise ImageError(f"{path}: not a readable image") from None
        return int(arr.shape[0]), int(arr.shape[1])


def _mismatch(pair: SaliencyPair, image_hw, mask_hw) -> str:
    return (
        f"{pair.image} is {image_hw[0]}x{image_hw[1]} but its mask {pair.mask} is "
        f"{mask_hw[0]}x{mask_hw[1]} (height x width)"
    )


def check_sizes(pairs: Sequence[SaliencyPair]) -> None:
    """Checks every photo against its mask from the file headers (fast: nothing is decoded).

    Raises:
        SizeMismatchError: one or more pairs differ in size (up to 10 are named).
        ImageError: a file that is not an image.
    """
    bad = []
    for p in pairs:
        a, b = image_size(p.image), image_size(p.mask)
        if a != b:
            bad.append(_mismatch(p, a, b))
    if bad:
        more = f" ... and {len(bad) - _SHOW} more" if len(bad) > _SHOW else ""
        raise SizeMismatchError(
            f"{len(bad)} photo/mask pair(s) differ in size: " + "; ".join(bad[:_SHOW]) + more
        )


def read_mask(path: str | os.PathLike, *, threshold: float | None = None) -> np.ndarray:
    """Reads a ground-truth mask as float32 ``HxW`` in 0..1 (scaling rules: module docstring).

    Args:
        path: mask file (PNG, BMP, ...; 8 or 16 bit; grey, or RGB(A) with equal colours).
        threshold: None keeps soft values; a number in (0, 1] returns ``mask >= threshold``
            as 0.0 / 1.0.

    Returns:
        float32 ``HxW`` array in 0..1, 1 = salient.

    Raises:
        ImageError: unreadable file, or colour channels that differ (not a grey mask).
        ValueError: `threshold` outside (0, 1].

    Example:
        >>> m = read_mask("DUTS-TR-Mask/ILSVRC2012_test_00000004.png")
        >>> m.dtype, float(m.min()), float(m.max())
        (dtype('float32'), 0.0, 1.0)
    """
    if threshold is not None and not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1] or None, got {threshold!r}")
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    if data.size == 0:
        raise ImageError(
            f"{path}: no such file or empty" if not path.is_file() else f"{path}: file is empty"
        )
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError(f"{path}: not a readable mask image")
    if arr.ndim == 3:
        colour = arr[..., :3] if arr.shape[2] >= 3 else arr[..., :1]
        if colour.shape[2] == 3 and not (
            np.array_equal(colour[..., 0], colour[..., 1])
            and np.array_equal(colour[..., 0], colour[..., 2])
        ):
            raise ImageError(
                f"{path}: a colour mask (its channels differ); saliency masks are grey, "
                "0 = background, 255 (or 1) = salient"
            )
        arr = colour[..., 0]
    if arr.dtype == np.uint8:
        top = 1.0 if int(arr.max()) <= 1 else 255.0
    elif arr.dtype == np.uint16:
        top = 65535.0
    elif arr.dtype == np.bool_:
        top = 1.0
    else:
        raise ImageError(f"{path}: unsupported mask pixel type {arr.dtype}")
    mask = arr.astype(np.float32) / np.float32(top)
    if threshold is not None:
        mask = (mask >= np.float32(threshold)).astype(np.float32)
    return mask


def load_pair(
    pair: SaliencyPair, *, threshold: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(photo uint8 RGB HxWx3, mask float32 HxW 0..1)`` of one pair.

    Raises:
        SizeMismatchError: photo and mask differ in size.
        ImageError: an unreadable file or a photo smaller than :data:`MIN_PAIR_SIDE`.
    """
    rgb = load_image(pair.image, min_side=MIN_PAIR_SIDE)
    mask = read_mask(pair.mask, threshold=threshold)
    if rgb.shape[:2] != mask.shape:
        raise SizeMismatchError(_mismatch(pair, rgb.shape[:2], mask.shape))
    return rgb, mask


def split_pairs(
    pairs: Sequence[SaliencyPair],
    *,
    fraction: float = 0.1,
    holdout: Sequence[str] = (),
    seed: int = 0,
) -> tuple[list[SaliencyPair], list[SaliencyPair]]:
    """``(train, heldout)``: a seeded split by stem (at least one pair on each side).

    Args:
        pairs: all pairs.
        fraction: share held out (ignored when `holdout` names stems).
        holdout: explicit held-out stems.
        seed: seed of the split.

    Raises:
        ValueError: fewer than 2 pairs, unknown held-out stems, or nothing left to train on.
    """
    pairs = sorted(pairs, key=lambda p: p.stem)
    if len(pairs) < 2:
        raise ValueError(f"need at least 2 pairs (one to train, one to hold out), got {len(pairs)}")
    stems = [p.stem for p in pairs]
    if holdout:
        unknown = sorted(set(holdout) - set(stems))
        if unknown:
            raise ValueError(f"held-out stems not among the pairs: {_listing(unknown)}")
        held = set(holdout)
    else:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
        n = min(len(pairs) - 1, max(1, round(fraction * len(pairs))))
        order = np.random.default_rng(seed).permutation(len(pairs))
        held = {stems[i] for i in order[:n]}
    train = [p for p in pairs if p.stem not in held]
    if not train:
        raise ValueError("every pair is held out; keep at least one for training")
    return train, [p for p in pairs if p.stem in held]


def random_crop_flip(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, crop: int, *, flip: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``crop x crop`` window of a photo and its mask, flipped left-right with
    probability 1/2 when `flip`; a photo whose short side is below `crop` is enlarged first
    (bilinear, the mask too, so its values stay in 0..1).

    Returns:
        ``(uint8 crop x crop x 3, float32 crop x crop)``.
    """
    h, w = mask.shape
    if min(h, w) < crop:
        s = crop / min(h, w)
        size = (max(crop, math.ceil(w * s)), max(crop, math.ceil(h * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
        h, w = mask.shape
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    image, mask = image[y : y + crop, x : x + crop], mask[y : y + crop, x : x + crop]
    if flip and rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


class SaliencyPairDataset:
    """Seeded batches of random crops of photo/mask pairs.

    Epoch ``e`` visits the pairs in a permutation drawn from ``(seed, e)`` (wrapping round when
    an epoch holds more crops than pairs); crop offsets and flips of step ``s`` come from
    ``(seed, e, s)``. So :meth:`batch` is a pure function of ``(epoch, step)``. Decoded pairs
    are kept in memory up to `cache_mb` (least recently used first out).

    Args:
        pairs: the training pairs.
        crop_size: side of the square crops, pixels (>= :data:`MIN_PAIR_SIDE`).
        batch_size: crops per batch (>= 1).
        seed: seed of the visiting order, the crops and the flips.
        flip: random horizontal flips.
        threshold: mask binarization (:func:`read_mask`); None keeps soft masks.
        steps_per_epoch: batches per epoch (None: ``ceil(len(pairs) / batch_size)``).
        cache_mb: memory for decoded pairs, MB.

    Example:
        >>> ds = SaliencyPairDataset(pairs, crop_size=224, batch_size=8)
        >>> x, y = ds.batch(0, 0)          # float32 (8, 224, 224, 3) 0..1, (8, 224, 224, 1)
    """

    def __init__(
        self,
        pairs: Sequence[SaliencyPair],
        *,
        crop_size: int,
        batch_size: int,
        seed: int = 0,
        flip: bool = True,
        threshold: float | None = None,
        steps_per_epoch: int | None = None,
        cache_mb: float = 1024.0,
    ):
        if not pairs:
            raise ValueError("no pairs to sample from")
        for name, v, lo in (("crop_size", crop_size, MIN_PAIR_SIDE), ("batch_size", batch_size, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if steps_per_epoch is not None and (
            isinstance(steps_per_epoch, bool)
            or not isinstance(steps_per_epoch, int)
            or steps_per_epoch < 1
        ):
            raise ValueError(f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch!r}")
        self.pairs = list(pairs)
        self.crop_size = crop_size
        self.batch_size = batch_size
        self.seed = int(seed)
        self.flip = bool(flip)
        self.threshold = threshold
        self.steps_per_epoch = steps_per_epoch or math.ceil(len(self.pairs) / batch_size)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = int(cache_mb * 2**20)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The decoded pair `index` (:func:`load_pair`), from the cache when it is there."""
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        pair = load_pair(self.pairs[index], threshold=self.threshold)
        size = pair[0].nbytes + pair[1].nbytes
        if size <= self._cache_limit:
            self._cache[index] = pair
            self._cache_bytes += size
            while self._cache_bytes > self._cache_limit:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= old[0].nbytes + old[1].nbytes
        return pair

    def indices(self, epoch: int, step: int) -> list[int]:
        """Pair indices of batch `step` of `epoch`."""
        order = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self.pairs))
        start = int(step) * self.batch_size
        return [int(order[(start + j) % len(order)]) for j in range(self.batch_size)]

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: float32 ``(N, c, c, 3)`` RGB in 0..1 and ``(N, c, c, 1)`` masks in 0..1."""
        rng = np.random.default_rng([self.seed, int(epoch), int(step)])
        xs, ys = [], []
        for i in self.indices(epoch, step):
            rgb, mask = self.load(i)
            a, b = random_crop_flip(rgb, mask, rng, self.crop_size, flip=self.flip)
            xs.append(a)
            ys.append(b)
        x = np.stack(xs).astype(np.float32) * np.float32(1.0 / 255.0)
        return x, np.stack(ys)[..., None].astype(np.float32)


# ----------------------------------------------------------------------------- toy pairs

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


__all__ = [
    "MIN_PAIR_SIDE",
    "TOY_BACKGROUNDS",
    "TOY_OBJECTS",
    "PairingError",
    "SaliencyPair",
    "SaliencyPairDataset",
    "SizeMismatchError",
    "check_sizes",
    "find_pairs",
    "image_size",
    "load_pair",
    "random_crop_flip",
    "read_mask",
    "split_pairs",
    "write_toy_pairs",
]
