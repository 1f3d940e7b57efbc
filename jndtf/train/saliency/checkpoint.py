"""The ``<output>.ckpt.npz`` of :func:`jndtf.train.saliency.train_saliency`: JSON metadata,
weights ``w#`` and optimizer state ``o#`` in one ``.npz``, rewritten atomically after every
epoch (:func:`jndtf.train._common.write_checkpoint`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from jndtf.train._common import write_checkpoint

CHECKPOINT_FORMAT = 1


def read_checkpoint(path: str | Path) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """``(meta, weights, optimizer_variables)`` of a :func:`write_checkpoint` file."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        weights = [z[k] for k in sorted(z.files) if k.startswith("w")]
        opt = [z[k] for k in sorted(z.files) if k.startswith("o")]
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}"
        )
    return meta, weights, opt


def _listing_sha256(pairs) -> str:
    """sha256 of the pairs' stems and file sizes: a cheap identity of the data for resuming."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(f"{p.stem}\0{p.image.stat().st_size}\0{p.mask.stat().st_size}\n".encode())
    return h.hexdigest()


__all__ = ["CHECKPOINT_FORMAT", "read_checkpoint", "write_checkpoint"]
