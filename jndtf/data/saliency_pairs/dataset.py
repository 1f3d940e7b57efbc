"""Seeded random crops and flips of photo/mask pairs for training
(overview: :mod:`jndtf.data.saliency_pairs`)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np

from jndtf.data.saliency_pairs.pairing import SaliencyPair
from jndtf.data.saliency_pairs.reading import MIN_PAIR_SIDE, load_pair


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


__all__ = ["SaliencyPairDataset", "random_crop_flip"]
