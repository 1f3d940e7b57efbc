"""Labelled 32x32 image sets for the CIFAR-10 classifiers and DMV-JND (issue #11).

Every reader returns :class:`Labelled` ``(images uint8 N x 32 x 32 x 3 RGB, labels int64 N,
class_names)``, reads with numpy, the standard library and OpenCV only (no TensorFlow), and
either returns everything or raises :class:`DatasetError` naming the file (and the byte offset
or archive member): nothing is returned in part.

- :func:`read_image_folder`: a class-per-folder tree ``<root>/<class>/<image>``;
- :func:`read_image_tar`: the same tree inside a ``.tar(.gz)``, streamed, never unpacked
  (e.g. ``cifar10-train-jpg75.tar.gz``);
- :func:`read_cifar10_binary`: the CIFAR-10 binary version (``data_batch_N.bin``);
- :func:`read_cifar10_python`: the CIFAR-10 python version, pickle opcodes interpreted by a
  walker that accepts only the known layout (never ``pickle.load``);
- :func:`read_classification`: picks one of the four from what `path` is;
- :func:`stratified_split`: fixed-seed per-class proportional hold-out (default 10 %);
- :func:`epoch_batches`: seeded, resumable epoch batches with the paper's horizontal flip;
- :func:`tiny_digits`: a few hundred synthesized labelled images for tests and the demo.

Example:
    >>> from jndtf.data.classification import read_classification, stratified_split
    >>> x, y, names = read_classification("cifar10-train-jpg75.tar.gz")
    >>> train_idx, val_idx = stratified_split(y, holdout=0.1, seed=0)
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from jndtf.data.classification.cifar import read_cifar10_binary, read_cifar10_python
from jndtf.data.classification.folders import read_image_folder, read_image_tar
from jndtf.data.classification.pickle_walk import PickleLayoutError, walk_pickle
from jndtf.data.classification.split import epoch_batches, stratified_split
from jndtf.data.classification.tiny import tiny_digits
from jndtf.data.classification.types import DatasetError, Labelled, Progress

__all__ = [
    "DatasetError",
    "Labelled",
    "PickleLayoutError",
    "Progress",
    "epoch_batches",
    "read_cifar10_binary",
    "read_cifar10_python",
    "read_classification",
    "read_image_folder",
    "read_image_tar",
    "stratified_split",
    "tiny_digits",
    "walk_pickle",
]


#: Archive names read as tar even when damaged (so the error is the tar reader's, naming it).
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def read_classification(
    path: str | os.PathLike, *, size: int = 32, progress: Progress | None = None
) -> Labelled:
    """Reads a labelled set from whatever `path` is:

    - a tar archive (``.tar``, ``.tar.gz``, ``.tgz``, ...) -> :func:`read_image_tar`;
    - a folder with ``data_batch_*.bin`` (or a ``.bin`` file) -> :func:`read_cifar10_binary`;
    - a folder with ``batches.meta`` (or a ``data_batch_N`` file) -> :func:`read_cifar10_python`;
    - any other folder -> :func:`read_image_folder` (one sub-folder per class).

    `size` applies to the image trees (CIFAR batches are 32x32 by definition).

    Raises:
        DatasetError: `path` does not exist, or the chosen reader's errors.
    """
    path = Path(path)
    if path.is_dir():
        if any(path.glob("data_batch_*.bin")):
            return read_cifar10_binary(path, progress=progress)
        if (path / "batches.meta").is_file():
            return read_cifar10_python(path, progress=progress)
        return read_image_folder(path, size=size, progress=progress)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file or folder")
    if path.suffix == ".bin":
        return read_cifar10_binary(path, progress=progress)
    if path.name.lower().endswith(_TAR_SUFFIXES) or tarfile.is_tarfile(path):
        return read_image_tar(path, size=size, progress=progress)
    if (path.parent / "batches.meta").is_file():
        return read_cifar10_python(path, progress=progress)
    raise DatasetError(
        f"{path}: neither a tar archive, a CIFAR-10 batch nor a folder; give a class-per-folder "
        "tree, its .tar(.gz), or a CIFAR-10 batches folder"
    )
