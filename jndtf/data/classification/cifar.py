"""The two official CIFAR-10 distributions, read into ``(images, labels, class_names)``.

- **Binary version** (``cifar-10-batches-bin/``): ``data_batch_1.bin`` .. ``data_batch_5.bin``,
  each a run of 3073-byte records: 1 label byte, then 1024 red, 1024 green and 1024 blue bytes,
  each plane row-major 32x32; class names one per line in ``batches.meta.txt``.
- **Python version** (``cifar-10-batches-py/``): ``data_batch_1`` .. ``data_batch_5``, pickled
  dicts ``{b"batch_label", b"labels", b"data" (10000x3072 uint8, the same plane order),
  b"filenames"}``; names in ``batches.meta`` (``b"label_names"``). Read by interpreting the pickle
  opcodes (:mod:`.pickle_walk`), never by ``pickle.load``.

A record or batch that does not fit (a size that is not whole records, a label without a name,
a truncated pickle) raises :class:`~jndtf.data.classification.DatasetError` naming the file and
the byte offset; nothing is returned in part.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jndtf.data.classification.pickle_walk import PickleLayoutError, walk_pickle
from jndtf.data.classification.types import DatasetError, Labelled, Progress

#: Bytes per binary record: 1 label + 3 planes of 32x32.
RECORD = 1 + 3 * 32 * 32


def planes_to_hwc(rows: np.ndarray) -> np.ndarray:
    """``N x 3072`` CIFAR rows (R, G, B planes, row-major) -> uint8 ``N x 32 x 32 x 3`` RGB."""
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _batches(source: Path, pattern: str, what: str) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise DatasetError(f"{source}: no such file or folder")
    found = sorted(source.glob(pattern))
    if not found:
        raise DatasetError(f"{source}: no {pattern} files here; point at the {what} folder")
    return found


def _check_labels(path: Path, labels: np.ndarray, names: list[str], offset_of) -> None:
    bad = np.flatnonzero(labels >= len(names))
    if bad.size:
        k = int(bad[0])
        raise DatasetError(
            f"{path}: byte {offset_of(k)}: label {int(labels[k])} but the meta file names only "
            f"{len(names)} classes; the batch is corrupt or belongs to another dataset"
        )


def read_cifar10_binary(
    source: str | os.PathLike,
    *,
    batches: Sequence[str | os.PathLike] | None = None,
    progress: Progress | None = None,
) -> Labelled:
    """Reads the CIFAR-10 binary version.

    Args:
        source: the ``cifar-10-batches-bin`` folder (reads every ``data_batch_*.bin``, sorted) or
            one ``.bin`` file; ``batches.meta.txt`` must sit beside the batches.
        batches: explicit batch files instead (e.g. ``[".../test_batch.bin"]``).
        progress: called as ``progress(done, total)`` after each batch file.

    Returns:
        ``(images uint8 N x 32 x 32 x 3 RGB, labels int64 N, class_names)``.

    Raises:
        DatasetError: missing files, a size that is not whole 3073-byte records (names the
            offset of the partial record), a label beyond the named classes.

    Example:
        >>> x, y, names = read_cifar10_binary("cifar-10-batches-bin")
        >>> x.shape, names[:2]
        ((50000, 32, 32, 3), ['airplane', 'automobile'])
    """
    source = Path(source)
    files = (
        [Path(p) for p in batches] if batches else _batches(source, "data_batch_*.bin", "binary")
    )
    meta = (files[0].parent if source.is_file() or batches else source) / "batches.meta.txt"
    if not meta.is_file():
        raise DatasetError(
            f"{meta}: missing; the class names of the binary version are read from it"
        )
    names = [ln.strip() for ln in meta.read_text(encoding="utf-8").splitlines() if ln.strip()]
    images, labels = [], []
    for done, path in enumerate(files, 1):
        if not path.is_file():
            raise DatasetError(f"{path}: no such batch file")
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % RECORD:
            whole = raw.size // RECORD
            raise DatasetError(
                f"{path}: byte {whole * RECORD}: {raw.size} bytes is not a whole number of "
                f"{RECORD}-byte records (record {whole} is cut short); the file is truncated "
                "or not a CIFAR-10 binary batch"
            )
        rec = raw.reshape(-1, RECORD)
        lab = rec[:, 0].astype(np.int64)
        _check_labels(path, lab, names, lambda k: k * RECORD)
        images.append(planes_to_hwc(rec[:, 1:]))
        labels.append(lab)
        if progress is not None:
            progress(done, len(files))
    return Labelled(np.concatenate(images), np.concatenate(labels), names)


def _walk(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        value = walk_pickle(path)
    except PickleLayoutError as e:
        raise DatasetError(str(e)) from None
    if not isinstance(value, dict):
        raise DatasetError(f"{path}: the pickle holds a {type(value).__name__}, not a batch dict")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in value.items()}


def _text(v: object) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def read_cifar10_python(
    source: str | os.PathLike,
    *,
    batches: Sequence[str | os.PathLike] | None = None,
    progress: Progress | None = None,
) -> Labelled:
    """Reads the CIFAR-10 python version without unpickling (see :mod:`.pickle_walk`).

    Args:
        source: the ``cifar-10-batches-py`` folder (every ``data_batch_*``, sorted) or one batch
            file; ``batches.meta`` must sit beside the batches.
        batches: explicit batch files instead (e.g. ``[".../test_batch"]``).
        progress: called as ``progress(done, total)`` after each batch file.

    Returns:
        ``(images uint8 N x 32 x 32 x 3 RGB, labels int64 N, class_names)``.

    Raises:
        DatasetError: an opcode or callable outside the known layout, a truncated file (both
            with the byte offset), missing keys, sizes that disagree, unknown labels.

    Example:
        >>> x, y, names = read_cifar10_python("cifar-10-batches-py")
        >>> y[:3]
        array([6, 9, 9])
    """
    source = Path(source)
    files = [Path(p) for p in batches] if batches else _batches(source, "data_batch_*", "python")
    files = [p for p in files if p.suffix == ""] or files
    meta_path = (files[0].parent if source.is_file() or batches else source) / "batches.meta"
    meta = _walk(meta_path)
    if not isinstance(meta.get("label_names"), list):
        raise DatasetError(f"{meta_path}: no label_names list; not a CIFAR-10 batches.meta")
    names = [_text(v) for v in meta["label_names"]]
    images, labels = [], []
    for done, path in enumerate(files, 1):
        batch = _walk(path)
        data, lab = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or not isinstance(lab, list):
            raise DatasetError(f"{path}: no data array or labels list; not a CIFAR-10 batch")
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DatasetError(
                f"{path}: data is {data.dtype} {data.shape}; a CIFAR-10 batch holds uint8 N x 3072"
            )
        if len(lab) != len(data) or not all(isinstance(v, int) and v >= 0 for v in lab):
            raise DatasetError(
                f"{path}: {len(lab)} labels for {len(data)} images (or labels that are not "
                "non-negative ints); the batch is corrupt"
            )
        lab_arr = np.asarray(lab, dtype=np.int64)
        bad = np.flatnonzero(lab_arr >= len(names))
        if bad.size:
            raise DatasetError(
                f"{path}: image {int(bad[0])} has label {int(lab_arr[bad[0]])} but "
                f"{meta_path.name} names only {len(names)} classes"
            )
        images.append(planes_to_hwc(data))
        labels.append(lab_arr)
        if progress is not None:
            progress(done, len(files))
    return Labelled(np.concatenate(images), np.concatenate(labels), names)
