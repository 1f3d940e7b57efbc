"""Data of ``jndtf train hmjnd``: images (or pairs), split, adaptive partition, cached maps.

- **Images.** ``distill``/``self``: every image of ``--data`` (not recursive). ``pairs``: the
  SHEN2020-style layout ``DATA/originals/NAME`` + ``DATA/redundancy_removed/NAME`` (same file
  name, same size; a file without its partner is an error naming it).
- **Split.** Over images, not patches (no patch of a validation or test image is ever trained
  on): names sorted, a seeded permutation, ``max_images`` first, then TRAIN:VAL:TEST (8:1:1) with
  at least one validation image and, from 3 images on, at least one test image.
- **Adaptive partition.** Each image is covered by ``ceil(W/P) x ceil(H/P)`` patches of P x P
  (paper: 224) whose origins are spread evenly from 0 to ``W − P`` (resp. H): the whole image is
  seen, the overlap is as small and as even as the grid allows, no padding. A side under P is an
  error naming the image and ``--patch``.
- **Cached maps.** The modality maps (saliency, depth, segmentation) and the teacher's JND map
  are computed once per whole image and cached as ``.npy`` under ``<cache>/hmjnd-maps/``, keyed
  by the image's sha256 and the provider's :meth:`describe` (or the teacher's sha256).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jndtf.train.hmjnd.config import PAIRS_ORIGINALS, PAIRS_TARGETS

#: Version of the map cache layout; part of every key.
CACHE_VERSION = 1


@dataclass
class Sample:
    """One image: name, file, sha256, uint8 RGB, and the target file (pairs)."""

    name: str
    path: Path
    sha256: str
    image: np.ndarray
    target_path: Path | None = None
    target_sha256: str | None = None
    target: np.ndarray | None = None
    maps: np.ndarray | None = None  # (H, W, 3) float32 saliency, depth, segmentation
    extra: dict = field(default_factory=dict)


def list_images(data_dir: str | Path, mode: str) -> list[tuple[str, Path, Path | None]]:
    """``[(name, image file, target file or None)]`` sorted by name.

    Raises:
        FileNotFoundError: no such folder, no image in it, the pairs layout missing, or an
            original whose partner is missing (named, with the layout).
        ValueError: a partner without its original (named).
    """
    from jndtf.io import iter_images

    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"--data {root}: no such folder")
    if mode != "pairs":
        files = sorted(iter_images(root), key=lambda p: p.name)
        if not files:
            raise FileNotFoundError(f"--data {root}: no image files in it")
        return [(p.name, p, None) for p in files]
    layout = (
        f"--mode pairs reads {root}/{PAIRS_ORIGINALS}/NAME and {root}/{PAIRS_TARGETS}/NAME "
        "(the same file name in both)"
    )
    orig, targ = root / PAIRS_ORIGINALS, root / PAIRS_TARGETS
    for d in (orig, targ):
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: no such folder; {layout}")
    originals = {p.name: p for p in iter_images(orig)}
    targets = {p.name: p for p in iter_images(targ)}
    if not originals:
        raise FileNotFoundError(f"{orig}: no image files in it; {layout}")
    missing = sorted(set(originals) - set(targets))
    if missing:
        raise FileNotFoundError(
            f"{targ / missing[0]}: missing, the partner of {orig / missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; {layout}"
        )
    orphans = sorted(set(targets) - set(originals))
    if orphans:
        raise ValueError(
            f"{targ / orphans[0]} has no original {orig / orphans[0]}"
            + (f" (and {len(orphans) - 1} more)" if len(orphans) > 1 else "")
            + f"; {layout}"
        )
    return [(n, originals[n], targets[n]) for n in sorted(originals)]


def split_indices(
    n: int, split: tuple[int, int, int], seed: int, max_images: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, val, test)`` indices into a sorted list of `n` images (module docstring).

    Raises:
        ValueError: fewer than 2 images (one to train on, one to validate).
    """
    order = np.random.default_rng([seed, 11]).permutation(n)
    if max_images is not None:
        order = order[:max_images]
    m = len(order)
    if m < 2:
        raise ValueError(
            f"--data holds {m} usable image(s); training needs at least 2 (train, val)"
        )
    tr, va, te = split
    total = tr + va + te
    n_val = max(1, round(m * va / total))
    n_test = round(m * te / total) if te else 0
    if te and m >= 3:
        n_test = max(1, n_test)
    while m - n_val - n_test < 1:
        if n_test > (1 if te and m >= 3 else 0):
            n_test -= 1
        elif n_val > 1:
            n_val -= 1
        else:
            n_test -= 1
    val = np.sort(order[:n_val])
    test = np.sort(order[n_val : n_val + n_test])
    train = np.sort(order[n_val + n_test :])
    return train, val, test


def patch_origins(length: int, patch: int) -> list[int]:
    """Origins of the adaptive partition of one side: ``ceil(length/patch)`` patches spread
    evenly from 0 to ``length − patch``.

    Example:
        >>> patch_origins(500, 224)
        [0, 138, 276]
    """
    if length < patch:
        raise ValueError(f"side {length} < patch {patch}")
    n = math.ceil(length / patch)
    if n == 1:
        return [0]
    return [round(i * (length - patch) / (n - 1)) for i in range(n)]


def partition(samples: list[Sample], indices, patch: int) -> list[tuple[int, int, int]]:
    """``[(image index, y, x)]`` of every patch of the images at `indices`.

    Raises:
        ValueError: an image smaller than the patch (names it and ``--patch``).
    """
    out = []
    for i in indices:
        s = samples[int(i)]
        h, w = s.image.shape[:2]
        if min(h, w) < patch:
            raise ValueError(
                f"{s.path} is {w}x{h}, smaller than --patch {patch}: lower --patch or drop it"
            )
        out.extend((int(i), y, x) for y in patch_origins(h, patch) for x in patch_origins(w, patch))
    return out


def _key(*parts: str) -> str:
    return hashlib.sha256(json.dumps([CACHE_VERSION, *parts]).encode()).hexdigest()


def cached_map(cache: Path, key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """``(map, reused)``: ``cache/<key>.npy`` when readable, else ``compute()`` saved there."""
    from jndtf.io import save_npy

    path = cache / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False), True
        except (OSError, ValueError):
            pass  # damaged: recomputed below
    value = np.asarray(compute(), dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    save_npy(path, value)
    return value, False


def modality_maps(sample: Sample, providers: list, cache: Path) -> tuple[np.ndarray, int]:
    """``(H, W, 3)`` float32 maps of `providers` (saliency, depth, segmentation) for one image,
    each from the cache when there; and how many came from it."""
    from jndtf.priors.modalities import check_map

    maps, reused = [], 0
    for p in providers:
        key = _key("modality", sample.sha256, json.dumps(p.describe(), sort_keys=True))
        m, hit = cached_map(
            cache, key, lambda p=p: check_map(p, p(sample.image), sample.image.shape[:2])
        )
        maps.append(m)
        reused += hit
    return np.stack(maps, axis=-1), reused


@dataclass(frozen=True)
class Teacher:
    """A JND model giving pseudo ground truth: label, reference, kind, sha256, ``fn``."""

    ref: str
    label: str
    kind: str
    sha256: str
    sha256_of: str
    fn: Callable[[np.ndarray], np.ndarray]

    def describe(self) -> dict:
        return {
            "ref": self.ref,
            "label": self.label,
            "kind": self.kind,
            "sha256": self.sha256,
            "sha256_of": self.sha256_of,
        }


def load_teacher(ref: str) -> Teacher:
    """The JND model `ref` (:func:`jndtf.evaluate.models.resolve_models`' forms) and the
    sha256 that identifies it: the weights file of a learned model, the source file of a
    classical one.

    Raises:
        KeyError/ValueError: an unknown model (the message lists the known ones).
        FileNotFoundError: a missing weights file.
    """
    from jndtf import baselines
    from jndtf.evaluate.models import resolve_models
    from jndtf.io import file_sha256
    from jndtf.refs import resolve_model

    model_ref = resolve_model(ref, runtime="keras")
    entry = resolve_models([ref])[0]
    if model_ref.kind == "classical":
        fn = baselines.get(model_ref.name)
        src = Path(inspect.getsourcefile(inspect.unwrap(fn)))
        return Teacher(ref, entry.label, "classical", file_sha256(src), str(src.name), entry.fn)
    if model_ref.kind == "control":
        return Teacher(ref, entry.label, "control", _key("uniform"), "uniform map", entry.fn)
    path = Path(model_ref.model_path())
    return Teacher(ref, entry.label, entry.kind, file_sha256(path), str(path), entry.fn)


def teacher_map(sample: Sample, teacher: Teacher, cache: Path) -> tuple[np.ndarray, bool]:
    """The teacher's JND map of the whole image (0..255 units, ``HxWx1`` or ``HxWx3``)."""
    key = _key("teacher", sample.sha256, teacher.sha256, teacher.ref)
    return cached_map(cache, key, lambda: teacher.fn(sample.image))


def read_samples(
    listing: list[tuple[str, Path, Path | None]], indices, progress=None
) -> list[Sample | None]:
    """Loads the images at `indices` (others stay None) and their targets (pairs).

    Raises:
        ImageError: an unreadable file (named).
        ValueError: a target of another size than its original (both named).
    """
    from jndtf.io import file_sha256, load_image

    out: list[Sample | None] = [None] * len(listing)
    for k, i in enumerate(sorted(int(i) for i in indices)):
        name, path, tpath = listing[i]
        img = load_image(path)
        s = Sample(name, path, file_sha256(path), img)
        if tpath is not None:
            t = load_image(tpath)
            if t.shape != img.shape:
                raise ValueError(
                    f"{tpath} is {t.shape[1]}x{t.shape[0]} but its original {path} is "
                    f"{img.shape[1]}x{img.shape[0]}: a pair must have one size"
                )
            s.target_path, s.target_sha256, s.target = tpath, file_sha256(tpath), t
        out[i] = s
        if progress:
            progress(k + 1, len(indices))
    return out


__all__ = [
    "CACHE_VERSION",
    "Sample",
    "Teacher",
    "cached_map",
    "list_images",
    "load_teacher",
    "modality_maps",
    "partition",
    "patch_origins",
    "read_samples",
    "split_indices",
    "teacher_map",
]
