"""Class-per-folder image trees, on disk or inside a ``.tar``/``.tar.gz`` read without unpacking.

Layout: ``<root>/<class>/<image>`` (suffixes in :data:`jndtf.io.IMAGE_SUFFIXES`). Classes are
the folder names sorted by name (label = position); images within a class are sorted by file
name, so the folder and the archive of the same tree give identical arrays. Files other than
images are skipped; a class folder with no image, or an image that does not decode (corrupt,
truncated), raises :class:`DatasetError` naming it. Images of another size than ``size x size``
are resized (``cv2.INTER_AREA``) and ONE :class:`jndtf.io.ImageWarning` says how many; grey
images are replicated to RGB and alpha is dropped, as :func:`jndtf.io.load_image` does.
"""

from __future__ import annotations

import os
import tarfile
import warnings
import zlib
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from jndtf.data.classification.types import DatasetError, Labelled, Progress
from jndtf.io import (
    IMAGE_SUFFIXES,
    ImageError,
    ImageWarning,
    check_image,
    image_data_end,
    load_image,
)


def _fit(image: np.ndarray, size: int) -> tuple[np.ndarray, bool]:
    if image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if image.shape[:2] == (size, size):
        return image, False
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA), True


def _warn_resized(count: int, total: int, size: int, where: Path) -> None:
    if count:
        warnings.warn(
            f"{where}: {count} of {total} images were not {size}x{size} and were resized to it "
            "(cv2.INTER_AREA)",
            ImageWarning,
            stacklevel=3,
        )


#: Largest archive member read into memory (a 32x32 image is a few kB; a 64 MiB member is
#: not one, and a decompression bomb must not exhaust the memory).
MAX_MEMBER_BYTES = 64 * 2**20

#: Images per buffer while streaming an archive: buffers are scattered into the sorted output
#: and freed one by one, so the peak memory stays near one copy of the data set.
_CHUNK = 1024


def read_image_folder(
    root: str | os.PathLike, *, size: int = 32, progress: Progress | None = None
) -> Labelled:
    """Reads a class-per-folder tree ``<root>/<class>/*.png|jpg|...``.

    Args:
        root: the folder whose sub-folders are the classes.
        size: side of the returned square images (CIFAR: 32); others are resized.
        progress: called as ``progress(done, total)`` after each image.

    Returns:
        ``(images uint8 N x size x size x 3 RGB, labels int64 N, class_names)``.

    Raises:
        DatasetError: `root` is not a folder or has no class folders, a class folder holds no
            image, an image is unreadable (the message names the file).

    Example:
        >>> x, y, names = read_image_folder("train")   # train/airplane/0001.jpg, ...
        >>> x.shape, y[:3], names[0]
        ((50000, 32, 32, 3), array([0, 0, 0]), 'airplane')
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; give the folder that holds one folder per class")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: no class folders inside; expected {root}/<class>/<image>")
    files = []
    for c in classes:
        found = [
            p for p in sorted(c.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not found:
            raise DatasetError(
                f"{c}: class folder with no image ({', '.join(IMAGE_SUFFIXES)}); "
                "add images or remove the folder"
            )
        files.append(found)
    total, done, resized = sum(map(len, files)), 0, 0
    images = np.empty((total, size, size, 3), np.uint8)
    for found in files:
        for path in found:
            try:
                image = load_image(path, min_side=1)
            except ImageError as e:
                raise DatasetError(str(e)) from None
            images[done], was = _fit(image, size)
            resized += was
            done += 1
            if progress is not None:
                progress(done, total)
    _warn_resized(resized, total, size, root)
    labels = np.repeat(np.arange(len(files), dtype=np.int64), [len(f) for f in files])
    return Labelled(images, labels, [c.name for c in classes])


def decode_image(raw: bytes, where: str) -> np.ndarray:
    """Decodes an in-memory image file to uint8/float RGB ``HxWx3`` (the conversions of
    :func:`jndtf.io.load_image`); `where` names it in errors.

    Raises:
        DatasetError: empty, not an image, or truncated.
    """
    data = np.frombuffer(raw, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if bgr is None:
        raise DatasetError(f"{where}: not a readable image (corrupt, empty or unsupported format)")
    suffix = PurePosixPath(where).suffix.lower()
    end = image_data_end(raw, suffix)
    if end is None:
        raise DatasetError(f"{where}: the image is truncated (its data ends before its end marker)")
    if bgr.ndim == 3 and bgr.shape[2] == 3:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif bgr.ndim == 3 and bgr.shape[2] == 4:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    try:
        return check_image(bgr, source=where, min_side=1)
    except ImageError as e:
        raise DatasetError(str(e)) from None


def read_image_tar(
    archive: str | os.PathLike, *, size: int = 32, progress: Progress | None = None
) -> Labelled:
    """Reads a class-per-folder tree from a ``.tar``/``.tar.gz`` without unpacking it: members
    are streamed once and decoded in memory with OpenCV; nothing is written to disk.

    The tree may sit under a top folder (``train/<class>/<image>``, as
    ``cifar10-train-jpg75.tar.gz``) or at the archive's root; every image must be at the same
    depth. Same ordering and conversions as :func:`read_image_folder`.

    Args:
        archive: the tar file (any compression ``tarfile`` reads: gz, bz2, xz, none).
        size: side of the returned square images; others are resized.
        progress: called as ``progress(done, None)`` every 1000 images (the total is unknown
            while streaming) and ``progress(n, n)`` at the end.

    Raises:
        DatasetError: not a tar archive, truncated/corrupt compression (names the last good
            member), images at different depths, an empty class folder, an undecodable image
            (names the member).

    Example:
        >>> x, y, names = read_image_tar("cifar10-train-jpg75.tar.gz")
        >>> x.shape, np.bincount(y)[:2]
        ((50000, 32, 32, 3), array([5000, 5000]))
    """
    archive = Path(archive)
    if not archive.is_file():
        raise DatasetError(f"{archive}: no such file")
    chunks: list[np.ndarray | None] = []
    keys: list[tuple[PurePosixPath, str]] = []  # (class folder, file name) per image read
    dirs: set[PurePosixPath] = set()
    resized, last = 0, "(none)"
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                name = PurePosixPath(member.name)
                if member.isdir():
                    dirs.add(name)
                    continue
                if not member.isfile() or name.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if any(part.startswith(".") for part in name.parts):
                    continue  # macOS ._ resource forks and hidden files
                where = f"{archive}: member {member.name}"
                if member.size > MAX_MEMBER_BYTES:
                    raise DatasetError(
                        f"{where}: {member.size} bytes, more than the {MAX_MEMBER_BYTES} an image "
                        "of a classification set may have; remove it from the archive"
                    )
                image, was = _fit(decode_image(tar.extractfile(member).read(), where), size)
                resized += was
                if len(keys) % _CHUNK == 0:
                    chunks.append(np.empty((_CHUNK, size, size, 3), np.uint8))
                chunks[-1][len(keys) % _CHUNK] = image
                keys.append((name.parent, name.name))
                last = member.name
                if progress is not None and len(keys) % 1000 == 0:
                    progress(len(keys), None)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DatasetError(
            f"{archive}: not a readable tar archive or cut short after member {last} ({e}); "
            "re-download it (check its sha256)"
        ) from None
    if not keys:
        raise DatasetError(f"{archive}: no images inside; expected [<top>/]<class>/<image>")
    folders = {k[0] for k in keys}
    roots = {p.parent for p in folders}
    if len(roots) != 1 or any(p == p.parent for p in folders):
        shown = ", ".join(sorted(map(str, folders))[:4])
        raise DatasetError(
            f"{archive}: images sit at different depths ({shown}); expected one folder per "
            "class under one common folder"
        )
    (root,) = roots
    for d in dirs:
        if d.parent == root and d not in folders and not d.name.startswith("."):
            raise DatasetError(f"{archive}: member {d}/ is a class folder with no image")
    classes = sorted(folders, key=lambda p: p.name)
    index = {c: k for k, c in enumerate(classes)}
    n = len(keys)
    order = sorted(range(n), key=lambda i: (index[keys[i][0]], keys[i][1]))
    dest = np.empty(n, np.int64)
    dest[order] = np.arange(n)
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty(n, np.int64)
    labels[dest] = [index[k[0]] for k in keys]
    for k in range(len(chunks)):  # scatter, then free each buffer: ~one copy at the peak
        lo = k * _CHUNK
        m = min(_CHUNK, n - lo)
        images[dest[lo : lo + m]] = chunks[k][:m]
        chunks[k] = None
    if progress is not None:
        progress(n, n)
    _warn_resized(resized, n, size, archive)
    return Labelled(images, labels, [c.name for c in classes])
