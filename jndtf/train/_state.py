"""What the recipes ``train classifiers``, ``train dmv`` and ``train hmjnd`` share beyond
:mod:`jndtf.train._common`: opening a run's checkpoint (:func:`open_checkpoint`), the
``.ckpt.npz`` reader, restoring a model's and an optimizer's variables from it, settings
comparison for ``--resume``, and per-epoch TensorBoard scalars.

A checkpoint holds ``model.variables`` (not only ``model.weights``: the dropout layers' seed
generator state is a variable too, and an exact resume needs it) and the optimizer's variables
(its step counter, Adam's moments), written by :func:`jndtf.train._common.write_checkpoint`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from jndtf.train._common import write_checkpoint

CHECKPOINT_FORMAT = 1


def save_state(path: Path, meta: dict, model=None, optimizer=None) -> None:
    """Writes `meta` (+ the model's and optimizer's variables when given), atomically."""
    meta = {**meta, "format": CHECKPOINT_FORMAT}
    weights = [np.asarray(v) for v in model.variables] if model is not None else []
    opt = [np.asarray(v) for v in optimizer.variables] if optimizer is not None else []
    if model is not None:
        meta["variable_paths"] = [v.path for v in model.variables]
    if optimizer is not None:
        meta["optimizer_paths"] = [v.path for v in optimizer.variables]
    write_checkpoint(path, meta, weights, opt)


def require_tensorflow_backend(command: str) -> None:
    """RuntimeError naming `command` unless Keras runs on TensorFlow (a recipe whose step uses
    ``tf.GradientTape``)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"{command} runs on the TensorFlow backend (its step uses tf.GradientTape); "
            f"KERAS_BACKEND is {keras.backend.backend()!r}: set KERAS_BACKEND=tensorflow"
        )


def open_checkpoint(
    path: Path, resume: bool, resume_key: dict
) -> tuple[dict | None, list[np.ndarray], list[np.ndarray]]:
    """``(meta, variables, optimizer variables)`` of the run's checkpoint `path`, or
    ``(None, [], [])`` when there is none.

    Raises:
        FileExistsError: a checkpoint exists and `resume` is False (nothing is overwritten).
        ValueError: the checkpoint was made with other settings than `resume_key`
            (:func:`check_resume_key`).
    """
    if not path.is_file():
        return None, [], []
    if not resume:
        raise FileExistsError(
            f"{path} holds an unfinished run; continue it with --resume, or remove it (or "
            "choose another --out) to start afresh"
        )
    meta, variables, opt = read_state(path)
    check_resume_key(path, meta["config_key"], resume_key)
    return meta, variables, opt


def read_state(path: Path) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """``(meta, variables, optimizer_variables)`` of a :func:`save_state` file.

    Raises:
        ValueError: not a checkpoint of this format (names the file).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            weights = [z[k] for k in sorted(z.files) if k.startswith("w")]
            opt = [z[k] for k in sorted(z.files) if k.startswith("o")]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: not a readable jndtf checkpoint ({e}); remove it") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}"
        )
    return meta, weights, opt


def restore(path: Path, meta: dict, model, optimizer, weights, opt) -> None:
    """Assigns the saved variables to `model` and `optimizer` (built).

    Raises:
        ValueError: the variables do not match (the network code or preset changed).
    """
    # Shapes, not paths: Keras numbers some variable names per process ("seed_generator_3")
    mine = [tuple(v.shape) for v in (*model.variables, *optimizer.variables)]
    saved = [tuple(np.shape(a)) for a in (*weights, *opt)]
    if mine != saved or len(model.variables) != len(weights):
        raise ValueError(
            f"cannot resume from {path}: its variables do not match this model's (the network "
            "code or preset changed since it was written); remove it to start afresh"
        )
    for var, value in zip(model.variables, weights, strict=True):
        var.assign(value)
    for var, value in zip(optimizer.variables, opt, strict=True):
        var.assign(value)


def check_resume_key(path: Path, saved: dict, wanted: dict) -> None:
    """Raises ValueError naming every setting that differs between a checkpoint and now."""
    diffs = [
        f"{k}={saved.get(k)!r} then, {wanted.get(k)!r} now"
        for k in sorted(set(wanted) | set(saved))
        if saved.get(k) != wanted.get(k)
    ]
    if diffs:
        raise ValueError(f"cannot resume from {path}: other settings ({'; '.join(diffs)})")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; the checkpoint of its last finished epoch (if any) is kept.

    Attributes:
        checkpoint: the checkpoint to resume from, or None when no epoch had finished.
    """

    def __init__(self, checkpoint: Path | None):
        self.checkpoint = checkpoint
        super().__init__(
            f"interrupted; {checkpoint} keeps the state after the last finished epoch (the "
            "epoch in progress is redone)"
            if checkpoint is not None
            else "interrupted before the first epoch ended; nothing was saved to resume"
        )


@contextmanager
def interrupts_resumable(checkpoint: Path) -> Iterator[None]:
    """Turns Ctrl-C (KeyboardInterrupt) inside the block into :class:`TrainingInterrupted`
    naming `checkpoint` if it exists (``jndtf train`` then exits 130, "continue with
    --resume")."""
    try:
        yield
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        raise TrainingInterrupted(checkpoint if checkpoint.is_file() else None) from None


class ScalarLog:
    """Per-epoch TensorBoard scalars in `log_dir`; a no-op (one warning) without TensorFlow's
    ``tf.summary`` backend (the ``tensorboard`` package, which TensorFlow 2.21 no longer
    installs)."""

    def __init__(self, log_dir: Path, enabled: bool = True):
        import importlib.util

        self.writer = None
        if not enabled:
            return
        missing = [m for m in ("tensorflow", "tensorboard") if importlib.util.find_spec(m) is None]
        if missing:
            warnings.warn(
                f"TensorBoard logs skipped: writing them needs {' and '.join(missing)} "
                f"(pip install {' '.join(missing)}), or pass --no-tensorboard",
                stacklevel=2,
            )
            return
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(log_dir))

    def write(self, step: int, values: dict) -> None:
        if self.writer is None:
            return
        import tensorflow as tf

        with self.writer.as_default():
            for name, value in values.items():
                if value is not None:
                    tf.summary.scalar(name, float(value), step=step)
        self.writer.flush()


__all__ = [
    "CHECKPOINT_FORMAT",
    "ScalarLog",
    "TrainingInterrupted",
    "check_resume_key",
    "interrupts_resumable",
    "read_state",
    "restore",
    "save_state",
]
