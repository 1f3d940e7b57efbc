"""A fixed-seed, per-class proportional train/validation split, and seeded epoch batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from jndtf.data.classification.types import DatasetError


def stratified_split(
    labels: np.ndarray, holdout: float | int = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices into disjoint train and validation sets with every class held out in
    proportion to its size.

    The validation size is ``holdout`` images (an int) or ``round(holdout * N)`` (a float in
    (0, 1)); class ``c`` with ``n_c`` images gives ``floor(V * n_c / N)`` of them, and the
    images still missing go to the classes with the largest remainders (ties: lower label), so
    the counts sum to exactly ``V``. Which images: the first ones of a permutation of each
    class drawn from ``numpy.random.default_rng([seed, c])``, so a class's split does not
    depend on the other classes. The default (10 %) holds out 5,000 of CIFAR-10's 50,000
    training images, 500 per class.

    Returns:
        ``(train_idx, val_idx)``: sorted int64 index arrays, disjoint, covering ``0..N-1``.

    Raises:
        DatasetError: labels not a 1-D array of non-negative ints, or a holdout that leaves
            no validation or no training image.

    Example:
        >>> tr, va = stratified_split(np.repeat(np.arange(10), 5000), 0.1, seed=0)
        >>> len(tr), len(va), np.bincount(np.asarray(labels)[va])[:3]
        (45000, 5000, array([500, 500, 500]))
    """
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise DatasetError(
            f"labels must be a 1-D array of non-negative ints, got {y.dtype} {y.shape}"
        )
    n = y.size
    if isinstance(holdout, (bool, np.bool_)):
        raise DatasetError("holdout must be an image count or a fraction in (0, 1)")
    if isinstance(holdout, (int, np.integer)):
        v = int(holdout)
    elif 0.0 < float(holdout) < 1.0:
        v = round(float(holdout) * n)
    else:
        raise DatasetError(f"holdout {holdout!r}: give a fraction in (0, 1) or an image count")
    if not 0 < v < n:
        raise DatasetError(
            f"holdout of {v} images out of {n}: at least one image must go to each side"
        )
    counts = np.bincount(y)
    exact = v * counts / n
    take = np.floor(exact).astype(np.int64)
    missing = v - int(take.sum())
    order = np.lexsort((np.arange(counts.size), -(exact - take)))
    take[order[:missing]] += 1
    val = []
    for c in np.flatnonzero(counts):
        members = np.flatnonzero(y == c)
        perm = np.random.default_rng([seed, int(c)]).permutation(members.size)
        val.append(members[perm[: take[c]]])
    val_idx = np.sort(np.concatenate(val)).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx


def epoch_batches(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 50,
    seed: int = 0,
    epoch: int = 0,
    flip: float = 0.5,
    shuffle: bool = True,
    start_step: int = 0,
    shift: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``(images, labels)`` batches, with the DMV-JND paper's augmentation: a
    horizontal flip with probability `flip` (0.5 in Sec. IV-A; 0 for evaluation), and, where
    `shift` > 0, a random translation by up to `shift` pixels in each direction with zero fill
    (the "pad 4, random 32x32 crop" of He et al. 2016 for `shift` = 4; not in the DMV-JND paper,
    used to train the classifiers). The shifts are drawn after the flips, so `shift` = 0 yields
    the batches this function always yielded.

    The order (a permutation from ``default_rng([seed, epoch])``) and the flips (a draw per
    image from the same generator) are a pure function of ``(seed, epoch)``, so a resumed run
    that starts at `start_step` sees exactly the batches an uninterrupted one would. The last
    batch may be smaller. Images stay uint8 0..255: normalization is the model's input step.

    Yields:
        ``(uint8 B x H x W x 3, int64 B)``.

    Example:
        >>> for x, y in epoch_batches(images[train_idx], labels[train_idx], epoch=3):
        ...     model.train_on_batch(normalize(x), y)
    """
    x, y = np.asarray(images), np.asarray(labels)
    bad_shift = isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0
    if (
        x.ndim != 4
        or len(x) != len(y)
        or batch_size < 1
        or not 0.0 <= flip <= 1.0
        or bad_shift
        or (x.ndim == 4 and shift >= min(x.shape[1:3]))
    ):
        raise DatasetError(
            f"epoch_batches: images {x.shape} and labels {y.shape} must be N x H x W x C and N, "
            f"batch_size >= 1, flip in [0, 1], shift an int in [0, min(H, W)) (got "
            f"{batch_size}, {flip}, {shift!r})"
        )
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    flips = rng.random(len(x)) < flip
    shifts = rng.integers(-shift, shift + 1, size=(len(x), 2)) if shift else None
    for lo in range(start_step * batch_size, len(x), batch_size):
        idx = order[lo : lo + batch_size]
        xb = x[idx]
        f = flips[lo : lo + batch_size]
        xb[f] = xb[f, :, ::-1]
        if shifts is not None:
            xb = _translate(xb, shifts[lo : lo + batch_size], shift)
        yield xb, y[idx].astype(np.int64)


def _translate(xb: np.ndarray, offsets: np.ndarray, pad: int) -> np.ndarray:
    """Each image of `xb` moved by its ``(dy, dx)`` of `offsets` (|d| <= `pad`), zero fill:
    the crop at ``(pad + dy, pad + dx)`` of the image zero-padded by `pad` on every side."""
    n, h, w = xb.shape[:3]
    padded = np.zeros((n, h + 2 * pad, w + 2 * pad, *xb.shape[3:]), xb.dtype)
    padded[:, pad : pad + h, pad : pad + w] = xb
    out = np.empty_like(xb)
    for i, (dy, dx) in enumerate(offsets):
        out[i] = padded[i, pad + dy : pad + dy + h, pad + dx : pad + dx + w]
    return out
