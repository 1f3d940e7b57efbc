"""Checkpoints of :func:`~jndtf.train.acol.train_acol` and the run state they hold.

``output_dir/checkpoints/last.npz`` is one ``.npz``: JSON metadata (position, loss history,
running sums of the epoch in progress, the settings and data it was made with), the model
weights ``w#`` and the optimizer state ``o#``. It is rewritten through a temporary file and a
rename, so ``kill -9`` leaves the previous one intact.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.train._common import write_checkpoint
from jndtf.train.acol.config import AcolTrainConfig
from jndtf.train.acol.errors import CheckpointMismatchError

CHECKPOINT_FORMAT = 1


def checkpoint_path(output_dir: str | os.PathLike) -> Path:
    """``output_dir/checkpoints/last.npz``."""
    return Path(output_dir) / "checkpoints" / "last.npz"


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """``(meta, weights, optimizer_variables)`` of a checkpoint written by :func:`train_acol`."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        weights = [z[k] for k in sorted(z.files) if k.startswith("w")]
        opt = [z[k] for k in sorted(z.files) if k.startswith("o")]
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(
            f"{path}: checkpoint format {meta.get('format')!r}, this jndtf reads "
            f"{CHECKPOINT_FORMAT}"
        )
    return meta, weights, opt


def check_resumable(path: Path, meta: dict, config: AcolTrainConfig, data_hashes) -> None:
    """:class:`CheckpointMismatchError` unless the checkpoint was made with `config`'s
    :meth:`~AcolTrainConfig.resume_key` settings and the same training images."""
    saved = meta["config_key"]
    wanted = config.resume_key()
    wanted = json.loads(json.dumps(wanted))  # tuples -> lists, as stored
    diffs = [
        f"{k}={saved.get(k)!r} in the checkpoint, {wanted.get(k)!r} now"
        for k in sorted(set(saved) | set(wanted))
        if saved.get(k) != wanted.get(k)
    ]
    if diffs:
        raise CheckpointMismatchError(
            f"cannot resume from {path}: it was made with other settings ({'; '.join(diffs)}). "
            "Use the checkpoint's settings, or another output_dir for a new run."
        )
    if meta["data_sha256"] != list(data_hashes):
        raise CheckpointMismatchError(
            f"cannot resume from {path}: the training images differ from the checkpoint's "
            f"({len(meta['data_sha256'])} then, {len(data_hashes)} now, or changed content). "
            "Use the same images, or another output_dir for a new run."
        )


def restore(model, weights, opt_values, meta, path, dist) -> None:
    """Loads a checkpoint's weights and optimizer state into `model` under `dist`'s scope
    (:class:`CheckpointMismatchError` when its variables are not this model's)."""
    names = [v.path for v in model.weights]
    opt_names = [v.path for v in model.optimizer.variables]
    if names != meta["weight_paths"] or opt_names != meta["optimizer_paths"]:
        raise CheckpointMismatchError(
            f"cannot resume from {path}: its variables ({len(meta['weight_paths'])} weights, "
            f"{len(meta['optimizer_paths'])} optimizer values) do not match this model's "
            f"({len(names)}, {len(opt_names)}); the network code changed since it was written"
        )
    with dist.scope():
        model.set_weights(weights)
        for var, value in zip(model.optimizer.variables, opt_values, strict=True):
            var.assign(value)


@dataclass
class TrainState:
    """Position, loss history and the running sums of the epoch in progress."""

    epoch: int
    step: int
    history: list
    partial: dict
    previous_seconds: float
    sessions: list
    failure: tuple | None = None
    interrupted: tuple | None = None
    saved: tuple | None = None

    @classmethod
    def fresh(cls):
        return cls(0, 0, [], _empty_partial(), 0.0, [])

    @classmethod
    def from_meta(cls, meta):
        return cls(
            meta["epoch"],
            meta["step"],
            list(meta["history"]),
            dict(meta["partial"]),
            float(meta["seconds"]),
            list(meta["sessions"]),
        )

    def add_step(self, values):
        for k, v in values.items():
            self.partial[k] += v
        self.partial["steps"] += 1

    def close_epoch(self, epoch, steps):
        n = max(self.partial["steps"], 1)
        record = {"epoch": epoch + 1, "steps": steps}
        record.update({k: self.partial[k] / n for k in ("l1", "l2", "total")})
        self.history.append(record)
        self.partial = _empty_partial()
        return record

    def all_sessions(self, t0, epoch, step):
        """Earlier sessions plus this one (seconds, and the position it ended at)."""
        return [*self.sessions, {"seconds": time.perf_counter() - t0, "ended_at": [epoch, step]}]

    def to_meta(self, cfg, hashes, epoch, step, model, t0):
        import jndtf

        return {
            "format": CHECKPOINT_FORMAT,
            "jndtf": jndtf.__version__,
            "epoch": epoch,
            "step": step,
            "history": self.history,
            "partial": self.partial,
            "seconds": self.previous_seconds + time.perf_counter() - t0,
            "sessions": self.all_sessions(t0, epoch, step),
            "config_key": json.loads(json.dumps(cfg.resume_key())),
            "data_sha256": list(hashes),
            "data_state": {"seed": cfg.seed, "epoch": epoch, "step": step},
            "weight_paths": [v.path for v in model.weights],
            "optimizer_paths": [v.path for v in model.optimizer.variables],
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }


def _empty_partial() -> dict:
    return {"l1": 0.0, "l2": 0.0, "total": 0.0, "steps": 0}


__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainState",
    "check_resumable",
    "checkpoint_path",
    "read_checkpoint",
    "restore",
    "write_checkpoint",
]
