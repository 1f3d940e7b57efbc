"""Distillation of the ACoL-JND student (``jndtf train acol_student --teacher acol --data DIR``).

Issue #14, point 4: the full ACoL-JND costs ~87k MAC per pixel; the student
(:mod:`jndtf.models.acol_student`, ~4.6k) learns to reproduce its map so the edge can run it at
full resolution every frame.

- **Teacher maps** are computed once per photo, on the whole photo at full resolution, from the
  same cached network input the student gets, and cached under ``<cache>/teacher-maps/``
  keyed by the photo's sha256, the teacher file's sha256 and the input settings
  (:mod:`.data`): retraining the teacher and rerunning the same command recomputes them.
- **Training**: seeded random crops of (input, teacher map), loss
  ``mean |s − t| + g · mean |∇s − ∇t|`` in grey levels (:func:`distill_loss`; g =
  ``--grad-weight``, 0 by default), Adam with a cosine-decaying rate (``--lr-schedule``).
- **Validation**: after every epoch (and before the first), the student runs on the whole
  held-out photos (``--val``); the map PSNR (peak 255, pooled MSE) and MAE against the teacher
  go to the manifest's ``training.history``.
- **Checkpoints**: ``<out>/checkpoints/last.npz`` (weights, Adam state, history, settings,
  teacher sha256) after every epoch; ``--resume`` continues (refused with another teacher).
  Outputs: ``<out>/model.keras`` and ``<out>/manifest.json`` (the shipped-weights layout).

Example:
    >>> cfg = StudentTrainConfig(data_dir="photos/train", val_dir="photos/val", teacher="acol")
    >>> result = train_acol_student(cfg)
    >>> result.history[-1]["val_psnr"]
"""

from __future__ import annotations

from jndtf.train.acol_student.config import (
    RESUMABLE_CHANGES,
    StudentTrainConfig,
    StudentTrainResult,
    checkpoint_file,
    report,
)
from jndtf.train.acol_student.data import (
    DistillData,
    Teacher,
    load_teacher,
    map_psnr,
    teacher_cache_key,
)
from jndtf.train.acol_student.loop import (
    DistillLoss,
    distill_loss,
    read_checkpoint,
    train_acol_student,
    validate,
)

__all__ = [
    "RESUMABLE_CHANGES",
    "DistillData",
    "DistillLoss",
    "StudentTrainConfig",
    "StudentTrainResult",
    "Teacher",
    "checkpoint_file",
    "distill_loss",
    "load_teacher",
    "map_psnr",
    "read_checkpoint",
    "report",
    "teacher_cache_key",
    "train_acol_student",
    "validate",
]
