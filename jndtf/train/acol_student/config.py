"""Settings and result of :func:`jndtf.train.acol_student.train_acol_student`."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from jndtf.settings import option, parse_width, path_option

#: Settings a resumed run may change (every other field must match the checkpoint's).
RESUMABLE_CHANGES = ("data_dir", "val_dir", "output_dir", "epochs", "cache_dir", "resume")
RESUMABLE_CHANGES += ("command", "verbose")

#: Values of :attr:`StudentTrainConfig.lr_schedule`.
LR_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class StudentTrainConfig:
    """Settings of :func:`train_acol_student` (frozen; defaults have no side effects).

    Attributes:
        data_dir: folder of training photos (not recursive).
        val_dir: folder of held-out photos (no training step sees them) for the validation map
            PSNR; None: no validation.
        output_dir: run folder: ``model.keras``, ``manifest.json``, ``checkpoints/last.npz``.
        teacher: the teacher JND model, as :func:`jndtf.refs.resolve_model` reads it (``acol``:
            the shipped ACoL-JND; a ``.keras`` path; ``acol:run/model.keras``). Its sha256 keys
            the cached teacher maps; a resumed run must have the same teacher file.
        preset: student preset of the registry (``acol_student``).
        width: width multiplier of the student's hidden layers (``default``, ``tiny``, a number).
        epochs: total epochs (a resumed run continues up to this number).
        steps_per_epoch: batches per epoch.
        batch_size: crops per batch.
        crop_size: side of the random square crops (>= 32, at most the smallest image side).
        learning_rate: Adam learning rate (the start of the schedule).
        lr_schedule: ``"cosine"`` (decay to 0 over ``epochs · steps_per_epoch`` steps; a resumed
            run with other epochs follows the new length) or ``"constant"``.
        grad_weight: weight of the gradient term, ``mean |∇s − ∇t|`` (horizontal and vertical
            differences), added to the L1 ``mean |s − t|`` (both in grey levels); 0: L1 only.
        seed: seed of the weights, the visiting order and the crops.
        cache_dir: cache of the network inputs and the teacher maps (None:
            ``$JNDTF_CACHE_DIR`` or ``~/.cache/jndtf/inputs``; maps under ``teacher-maps/``).
        resume: continue from ``output_dir/checkpoints/last.npz``. Without it an existing
            checkpoint is an error, never overwritten.
        command: command line recorded in the manifest (None: ``sys.argv``).
        verbose: Keras' own progress output (0 silent, 1 bar, 2 a line per epoch).
    """

    data_dir: str = path_option("--data", help="Folder of training photos.")
    output_dir: str = path_option(
        "--out",
        "-o",
        default="runs/acol_student",
        help="Run folder: model.keras, manifest.json, checkpoints/.",
    )
    val_dir: str | None = path_option(
        "--val",
        default=None,
        help="Folder of held-out photos for the per-epoch map PSNR against the teacher.",
    )
    teacher: str = option(
        default="acol",
        help="Teacher JND model: a shipped name (acol), a .keras file or SPEC:PATH.",
    )
    preset: str = option(default="acol_student", help="Student preset of the registry.")
    width: str | float = option(
        default="default",
        help="Width multiplier: default, tiny or a number.",
        cli_type=str,
        parse=parse_width,
    )
    epochs: int = option(default=20, help="Total epochs (a resumed run continues to this).")
    steps_per_epoch: int = option("--steps", default=50, help="Batches per epoch.")
    batch_size: int = option(default=8, help="Crops per batch.")
    crop_size: int = option(default=128, help="Random square crop side, pixels.")
    learning_rate: float = option("--lr", default=2e-3, help="Adam learning rate.")
    lr_schedule: str = option(
        default="cosine", help="cosine (decay to 0 over the run) or constant."
    )
    grad_weight: float = option(
        default=0.0, help="Weight of the gradient term added to L1 (0: L1 only)."
    )
    seed: int = option(default=0, help="Seed of weights, order and crops.")
    cache_dir: str | None = path_option(
        "--cache-dir",
        default=None,
        help="Cache of inputs and teacher maps (default $JNDTF_CACHE_DIR or "
        "~/.cache/jndtf/inputs).",
    )
    resume: bool = False
    command: str | None = None
    verbose: int = 0

    def __post_init__(self):
        from jndtf.models.acol_student.presets import _multiplier
        from jndtf.models.registry import available_models

        if not str(self.data_dir).strip():
            raise ValueError("data_dir is empty: give the folder of training photos (--data)")
        presets = available_models("acol_student")
        if self.preset not in presets:
            raise ValueError(f"preset {self.preset!r} is not a student; choose {presets}")
        _multiplier(self.width)  # ValueError naming the width
        for name, lo in (
            ("epochs", 1),
            ("steps_per_epoch", 1),
            ("batch_size", 1),
            ("crop_size", 32),
            ("seed", 0),
            ("verbose", 0),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        for name, strict in (("learning_rate", True), ("grad_weight", False)):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= 0 if strict else v < 0):
                raise ValueError(
                    f"{name} must be a finite number {'>' if strict else '>='} 0, got {v!r}"
                )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not str(self.teacher).strip():
            raise ValueError("teacher is empty: give a JND model (--teacher acol)")

    def resume_key(self) -> dict:
        """The settings a checkpoint must share with this config to be resumed."""
        settings = json.loads(json.dumps(dataclasses.asdict(self)))
        return {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}


@dataclass(frozen=True)
class StudentTrainResult:
    """What :func:`train_acol_student` wrote and measured.

    Attributes:
        model_path, manifest_path: the files written.
        history: per epoch ``{"epoch", "step", "loss", "val_psnr", "val_mae", "seconds"}``
            (``val_*`` None without a validation folder).
        val_psnr: the last epoch's validation map PSNR (dB, peak 255), or None.
        teacher_sha256: sha256 of the teacher's ``.keras`` file.
        seconds: wall time of all sessions.
        resumed_from: the epoch the run resumed at, or None.
    """

    model_path: Path
    manifest_path: Path
    history: tuple[dict, ...]
    val_psnr: float | None
    teacher_sha256: str
    seconds: float
    resumed_from: int | None


def checkpoint_file(settings: dict) -> Path:
    """The checkpoint ``--resume`` continues from: ``<output_dir>/checkpoints/last.npz``."""
    return Path(settings["output_dir"]) / "checkpoints" / "last.npz"


def report(result: StudentTrainResult) -> str:
    """The line ``jndtf train acol_student`` prints on stdout when the run is done."""
    last = result.history[-1] if result.history else {}
    val = "" if result.val_psnr is None else f", validation map PSNR {result.val_psnr:.2f} dB"
    return (
        f"{len(result.history)} epochs, L1 {last.get('loss', float('nan')):.3f} grey levels"
        f"{val} in {result.seconds:.0f} s -> {result.model_path}"
    )


__all__ = [
    "LR_SCHEDULES",
    "RESUMABLE_CHANGES",
    "StudentTrainConfig",
    "StudentTrainResult",
    "checkpoint_file",
    "report",
]
