"""Helpers every training recipe needs: atomic model/JSON/checkpoint writes, hashes, version
records.

Imports nothing heavy at module level (Keras is imported inside the functions that need it).
Every recipe imports these; ``jndtf.train.aiqa`` keeps its own ``_versions``, which records
TensorFlow's version whenever it is installed and never JAX's (its manifests always did).
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from jndtf.io import atomic_write_bytes
from jndtf.io import file_sha256 as sha256_file


def umask_mode(path: str | os.PathLike) -> None:
    """Gives a file the permissions a plain ``open(..., "w")`` would (mkstemp makes them 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_save_model(model, path: str | os.PathLike) -> None:
    """``model.save`` to a temporary ``.keras`` in the same folder, then an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def inference_copy(model):
    """An uncompiled copy of `model` with the same weights (batch-norm statistics included):
    what a shipped ``.keras`` should hold. Saving the compiled model would add the optimizer's
    state (Adam's two moments: three times the file)."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def atomic_write_json(path: str | os.PathLike, record: dict) -> None:
    """Writes `record` as indented JSON through a temporary file and a rename."""
    atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode())
    umask_mode(path)


def write_checkpoint(path: str | os.PathLike, meta: dict, weights, optimizer_variables) -> None:
    """Writes one ``.npz``: JSON `meta`, the model weights ``w#``, the optimizer state ``o#``,
    through a temporary file and a rename (each recipe reads and validates its own)."""
    arrays = {"meta": np.array(json.dumps(meta))}
    arrays.update({f"w{i:05d}": np.asarray(w) for i, w in enumerate(weights)})
    arrays.update({f"o{i:05d}": np.asarray(v) for i, v in enumerate(optimizer_variables)})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def versions() -> dict[str, str]:
    """Versions of jndtf and the libraries a trained model depends on, plus the Keras backend."""
    import cv2
    import keras

    import jndtf

    out = {
        "jndtf": jndtf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "python": sys.version.split()[0],
        "backend": keras.backend.backend(),
    }
    for name in ("tensorflow", "jax"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = module.__version__
    return out


__all__ = [
    "atomic_save_model",
    "atomic_write_json",
    "sha256_file",
    "umask_mode",
    "versions",
    "write_checkpoint",
]
