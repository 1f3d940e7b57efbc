"""The labelled set both DMV-JND recipes train on: read once, optionally cut to a stratified
subset (``max_images``), split into training and validation indices (fixed seed, stratified),
and identified by hashes so a resumed run can check that it sees the same images.

The same ``(data, max_images, val_size, seed)`` give the same split in ``jndtf train
classifiers`` and ``jndtf train dmv`` (:func:`jndtf.data.classification.stratified_split` is a
pure function of the labels, the size and the seed), so DMV-JND-NET is validated on images no
classifier trained on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.data.classification import DatasetError, read_classification, stratified_split


def parse_count(text: str | float | int) -> float | int:
    """``"5000"`` -> 5000 (an image count), ``"0.1"`` -> 0.1 (a fraction): ``--val-size``."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return text
    s = str(text).strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        raise ValueError(
            f"--val-size {text!r}: give an image count (5000) or a fraction in (0, 1) (0.1)"
        ) from None


@dataclass(frozen=True)
class PreparedData:
    """A labelled set with its split.

    Attributes:
        images: uint8 ``N x 32 x 32 x 3`` RGB (after ``max_images``).
        labels: int64 ``N``.
        class_names: one per class.
        train_idx, val_idx: disjoint sorted indices into `images`.
        record: JSON-ready description for the manifest (path, sha256 of the archive file,
            sha256 of the decoded arrays, counts, split settings, sha256 of the validation
            indices).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    train_idx: np.ndarray
    val_idx: np.ndarray
    record: dict


def arrays_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of the decoded images and labels (the identity a resumed run checks)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def prepare_data(
    path: str | Path,
    *,
    max_images: int | None,
    val_size: float | int,
    seed: int,
    progress=None,
) -> PreparedData:
    """Reads `path` (:func:`~jndtf.data.classification.read_classification`), keeps a
    stratified subset of `max_images` (None: all), and splits it.

    Raises:
        DatasetError: unreadable data, or a `val_size` that leaves no training or no
            validation image (the message names ``--val-size`` / ``--max-images``).
    """
    from jndtf.io import file_sha256

    path = Path(path)
    images, labels, names = read_classification(path, progress=progress)
    total = len(labels)
    if max_images is not None and max_images < total:
        _, keep = stratified_split(labels, holdout=int(max_images), seed=seed)
        images, labels = images[keep], labels[keep]
    try:
        train_idx, val_idx = stratified_split(labels, holdout=val_size, seed=seed)
    except DatasetError as e:
        raise DatasetError(
            f"--val-size {val_size} with {len(labels)} images (--max-images {max_images}): {e}"
        ) from None
    record = {
        "path": str(path),
        "archive_sha256": file_sha256(path) if path.is_file() else None,
        "arrays_sha256": arrays_sha256(images, labels),
        "images_read": int(total),
        "images_used": len(labels),
        "max_images": max_images,
        "train_images": len(train_idx),
        "val_images": len(val_idx),
        "val_size": val_size,
        "split_seed": seed,
        "split": "jndtf.data.classification.stratified_split (per-class proportional, seeded)",
        "val_indices_sha256": hashlib.sha256(val_idx.astype(np.int64).tobytes()).hexdigest(),
        "val_per_class": np.bincount(labels[val_idx], minlength=len(names)).tolist(),
    }
    return PreparedData(images, labels, list(names), train_idx, val_idx, record)


__all__ = ["PreparedData", "arrays_sha256", "parse_count", "prepare_data"]
