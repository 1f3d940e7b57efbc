"""Pairing photos with masks by file stem, and the seeded split by stem
(overview: :mod:`jndtf.data.saliency_pairs`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.io import IMAGE_SUFFIXES

#: Names shown in an error message before "... and N more".
_SHOW = 10


class PairingError(ValueError):
    """Photos and masks do not pair one to one by file stem (the message lists the stems)."""


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


__all__ = ["PairingError", "SaliencyPair", "find_pairs", "split_pairs"]
