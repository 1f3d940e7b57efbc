"""Distillation data: random crops of (network input, teacher map) pairs.

The teacher's map of each photo is computed ONCE, on the whole photo at full resolution (the map
the student must reproduce is the teacher's at the resolution the student runs at), from the
same network input the student gets (:class:`jndtf.data.image_folder.ImageFolderDataset`'s
cached :func:`jndtf.priors.inputs.model_input`), and cached as ``<cache>/teacher-maps/<key>.npy``
(float32 ``HxWx3``, pixel values) where ``key`` = :func:`teacher_cache_key` of the image's
sha256, the teacher file's sha256 and the input settings: a retrained teacher (another sha256)
gets new maps, never stale ones. Crops of the input and the map are cut at the same offsets
(the image folder's seeded crop plan), so a batch is a pure function of ``(seed, epoch, step)``.

Example:
    >>> teacher = load_teacher("acol")
    >>> data = DistillData("photos", teacher, crop_size=128, batch_size=8, steps_per_epoch=50)
    >>> x, t = data.batch(0, 0)                # (8, 128, 128, 6) 0..1, (8, 128, 128, 3) 0..255
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.io import atomic_write_bytes, file_sha256

#: Version of the teacher-map cache layout; part of every key.
TEACHER_CACHE_FORMAT = 1


def teacher_cache_key(image_sha256: str, teacher_sha256: str, input_settings: dict) -> str:
    """Key of one cached teacher map: sha256 (hex, 40) of the image content hash, the teacher
    file's sha256 and the input settings (:func:`jndtf.data.image_folder.input_settings`)."""
    blob = json.dumps(
        {
            "format": TEACHER_CACHE_FORMAT,
            "image": image_sha256,
            "teacher": teacher_sha256,
            "input": input_settings,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher: its Keras model, input contract, file and sha256."""

    ref: str
    model: object
    priors: tuple[str, ...]
    normalization: str
    path: Path
    sha256: str

    def map_of(self, x: np.ndarray) -> np.ndarray:
        """The teacher's map of one whole network input ``HxWxC`` (float32, pixel values)."""
        out = self.model(x[None], training=False)
        return np.asarray(out, np.float32)[0]


def load_teacher(ref: str, *, priors=None, normalization: str = "unit") -> Teacher:
    """Loads the teacher `ref` (:func:`jndtf.evaluate.learned.load_learned`'s forms).

    Args:
        ref: ``acol``, a ``.keras`` path or ``SPEC:PATH``.
        priors, normalization: the student's input; the teacher's must be the same (None:
            not checked).

    Raises:
        ValueError: the teacher is not a JND map model, takes other priors, or computes a prior
            with a trained net (the student's input would differ from the teacher's).
        FileNotFoundError: a missing file.
    """
    from jndtf.evaluate.learned import load_learned

    learned = load_learned(ref)
    if priors is not None and (tuple(learned.priors), learned.normalization) != (
        tuple(priors),
        normalization,
    ):
        raise ValueError(
            f"teacher {ref!r} takes priors {list(learned.priors)} ({learned.normalization}); "
            f"the student takes {list(priors)} ({normalization}): pick a teacher with the "
            "student's input"
        )
    if learned.prior_overrides:
        raise ValueError(
            f"teacher {ref!r} computes {sorted(learned.prior_overrides)} with a trained net "
            "(--saliency-model); the student's input uses the core priors: distil from a "
            "teacher trained on them"
        )
    path = Path(learned.source)
    return Teacher(
        str(ref),
        learned.model,
        tuple(learned.priors),
        learned.normalization,
        path,
        file_sha256(path),
    )


class DistillData:
    """Seeded random crops of ``(student input, teacher map)`` from a folder of photos.

    Args:
        folder: folder of photos.
        teacher: :class:`Teacher` (its priors are the student's).
        crop_size, batch_size, steps_per_epoch, seed: as
            :class:`jndtf.data.image_folder.ImageFolderDataset`.
        cache_dir: inputs are cached here, teacher maps under ``teacher-maps/`` (None: the
            image folder's default cache).
        progress: ``progress(done, total, name)`` after each photo's input and map are ready.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        teacher: Teacher,
        *,
        crop_size: int,
        batch_size: int,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        progress=None,
    ):
        from jndtf.data.image_folder import ImageFolderDataset

        self.images = ImageFolderDataset(
            folder,
            crop_size=crop_size,
            batch_size=batch_size,
            priors=teacher.priors,
            normalization=teacher.normalization,
            seed=seed,
            steps_per_epoch=steps_per_epoch,
            cache_dir=cache_dir,
        )
        self.teacher = teacher
        self.map_dir = self.images.cache_dir / "teacher-maps"
        self.map_files = []
        records = self.images.records
        for i, r in enumerate(records):
            key = teacher_cache_key(r.sha256, teacher.sha256, self.images.settings)
            path = self.map_dir / f"{key}.npy"
            if not _valid_map(path, (r.height, r.width)):
                x = np.load(r.input_file, mmap_mode="r")
                jnd = teacher.map_of(np.ascontiguousarray(x))
                buf = _npy(jnd)
                atomic_write_bytes(path, buf)
            self.map_files.append(path)
            if progress is not None:
                progress(i + 1, len(records), r.name)
        self._maps: dict[int, np.ndarray] = {}

    @property
    def steps_per_epoch(self) -> int:
        return self.images.steps_per_epoch

    def map_of(self, i: int) -> np.ndarray:
        """The cached teacher map of image `i` (memory-mapped)."""
        m = self._maps.get(i)
        if m is None:
            m = self._maps[i] = np.load(self.map_files[i], mmap_mode="r")
        return m

    def input_of(self, i: int) -> np.ndarray:
        """The cached network input of image `i` (memory-mapped)."""
        return self.images._arrays_of(i)[0]

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(inputs (B, S, S, C) 0..1, teacher maps (B, S, S, 3) pixel values)`` of one step."""
        b, c = self.images.batch_size, self.images.crop_size
        x = np.empty((b, c, c, self.images.input_channels), np.float32)
        t = np.empty((b, c, c, 3), np.float32)
        for k, (i, top, left) in enumerate(self.images.crop_plan(epoch, step)):
            x[k] = self.input_of(i)[top : top + c, left : left + c]
            t[k] = self.map_of(i)[top : top + c, left : left + c]
        return x, t

    def describe(self) -> dict:
        """The data as the manifest records it (folder, images with sha256, crops)."""
        return self.images.describe()


def _npy(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, np.float32), allow_pickle=False)
    return buf.getvalue()


def _valid_map(path: Path, shape: tuple[int, int]) -> bool:
    if not path.is_file():
        return False
    try:
        m = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return m.dtype == np.float32 and m.shape == (*shape, 3)


def map_psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """PSNR (dB, peak 255) of map `pred` against `ref` (pooled MSE; inf when equal)."""
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(ref, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


__all__ = [
    "TEACHER_CACHE_FORMAT",
    "DistillData",
    "Teacher",
    "load_teacher",
    "map_psnr",
    "teacher_cache_key",
]
