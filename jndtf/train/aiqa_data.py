"""The A-IQA classifier's training data, made on the fly from clean photos.

A patch is a random crop of a training image (random horizontal flip) distorted by a TID2008 type
at a level 1..5 (:mod:`jndtf.data.distortions`); its label is the type's group. The split is by
source image, so held-out photos never reach training (:func:`split_images`).

Example:
    >>> rng = np.random.default_rng(0)
    >>> x, labels = make_batch([photo], rng, batch=8, crop=64, groups=D.DEFAULT_GROUPS)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jndtf.data import distortions as D

#: Extra photos bundled inside scikit-image's wheel (no download), used with jndtf.samples'
#: five to train the shipped weights. Grey ones are replicated to RGB.
EXTRA_SKIMAGE_PHOTOS = ("immunohistochemistry", "hubble_deep_field", "camera", "moon", "brick")


def load_folder(data_dir: str | os.PathLike, min_side: int) -> dict[str, np.ndarray]:
    """The folder's images as uint8 RGB, by file stem; ValueError when fewer than 2 or too small."""
    from jndtf.io import iter_images, load_image

    images = {p.stem: load_image(p, min_side=min_side) for p in iter_images(data_dir)}
    if len(images) < 2:
        raise ValueError(
            f"{data_dir}: need at least 2 clean images (one to train on, one to hold out), "
            f"found {len(images)}"
        )
    return images


def split_images(
    names: Sequence[str], *, holdout: Sequence[str] = (), fraction: float = 0.25, seed: int = 0
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Train / held-out split by source image: ``(train, heldout)``, both sorted."""
    names = sorted(names)
    if holdout:
        unknown = sorted(set(holdout) - set(names))
        if unknown:
            raise ValueError(f"held-out images not in the folder: {', '.join(unknown)}")
        held = sorted(set(holdout))
    else:
        n = min(len(names) - 1, max(1, round(fraction * len(names))))
        order = np.random.default_rng(seed).permutation(len(names))
        held = sorted(names[i] for i in order[:n])
    train = [n for n in names if n not in held]
    if not train:
        raise ValueError("every image is held out; keep at least one for training")
    return tuple(train), tuple(held)


def make_patch(image, rng, crop: int, name: str, level: int):
    """A random ``crop x crop`` patch of `image` (random h-flip) and its distorted version."""
    h, w = image.shape[:2]
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    ref = image[y : y + crop, x : x + crop]
    if rng.random() < 0.5:
        ref = ref[:, ::-1]
    ref = np.ascontiguousarray(ref)
    return ref, D.distort(ref, name, level, seed=rng)


def make_batch(images: Sequence[np.ndarray], rng, batch: int, crop: int, groups):
    """One batch: ``({"reference", "distorted"} float32 NHWC 0..255, int32 group labels)``.

    Groups are drawn uniformly (so the 7-type noise group is not over-represented), then a type
    within the group and a level 1..5.
    """
    names = list(groups)
    refs, dists, labels = [], [], []
    for _ in range(batch):
        g = int(rng.integers(len(names)))
        members = groups[names[g]]
        kind = members[int(rng.integers(len(members)))]
        level = int(rng.integers(1, len(D.LEVELS) + 1))
        img = images[int(rng.integers(len(images)))]
        ref, dist = make_patch(img, rng, crop, kind, level)
        refs.append(ref)
        dists.append(dist)
        labels.append(g)
    x = {
        "reference": np.stack(refs).astype(np.float32),
        "distorted": np.stack(dists).astype(np.float32),
    }
    return x, np.asarray(labels, np.int32)


def make_heldout_set(images: Sequence[np.ndarray], groups, *, crop: int, per_type: int, seed: int):
    """Fixed held-out patches: `per_type` per distortion type, levels cycling 1..5.

    Returns:
        ``(x, group_labels, type_names)``.
    """
    rng = np.random.default_rng([seed, 7919])
    names = list(groups)
    refs, dists, labels, kinds = [], [], [], []
    for kind in D.NAMES:
        g = names.index(D.group_of(kind, groups))
        for k in range(per_type):
            img = images[int(rng.integers(len(images)))]
            ref, dist = make_patch(img, rng, crop, kind, D.LEVELS[k % len(D.LEVELS)])
            refs.append(ref)
            dists.append(dist)
            labels.append(g)
            kinds.append(kind)
    x = {
        "reference": np.stack(refs).astype(np.float32),
        "distorted": np.stack(dists).astype(np.float32),
    }
    return x, np.asarray(labels, np.int32), kinds


def write_training_photos(folder: str | os.PathLike) -> list[Path]:
    """Writes the photos the shipped weights were trained on: :func:`jndtf.samples.write_samples`
    (astronaut, chelsea, coffee, rocket, motorcycle_left) plus :data:`EXTRA_SKIMAGE_PHOTOS`
    (all inside scikit-image's wheel; grey ones replicated to RGB), as PNG."""
    import skimage.data as skd

    from jndtf.io import save_image
    from jndtf.samples import write_samples

    paths = list(write_samples(folder))
    for name in EXTRA_SKIMAGE_PHOTOS:
        img = np.asarray(getattr(skd, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        path = Path(folder) / f"{name}.png"
        save_image(path, img[..., :3])
        paths.append(path)
    return paths


__all__ = [
    "EXTRA_SKIMAGE_PHOTOS",
    "load_folder",
    "make_batch",
    "make_heldout_set",
    "make_patch",
    "split_images",
    "write_training_photos",
]
