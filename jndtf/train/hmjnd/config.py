"""Settings, progress reports and result of :func:`~jndtf.train.hmjnd.train_hmjnd`
(``jndtf train hmjnd``)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from jndtf.settings import option, path_option

#: The three ways to get a target (module docstring of :mod:`jndtf.train.hmjnd`).
MODES = ("distill", "self", "pairs")

#: Settings that may differ between a run and its resumption (everything else must match).
RESUMABLE_CHANGES = ("data_dir", "cache_dir", "resume", "command", "tensorboard")

CHECKPOINT_NAME = "hmjnd.ckpt.npz"
MODEL_NAME = "hmjnd.keras"
MANIFEST_NAME = "hmjnd.json"

#: SHEN2020-style pair layout under ``--data`` (``--mode pairs``).
PAIRS_ORIGINALS = "originals"
PAIRS_TARGETS = "redundancy_removed"


def parse_split(text: str | tuple) -> tuple[int, int, int]:
    """``"8:1:1"`` -> ``(8, 1, 1)``: train:validation:test proportions (ValueError naming
    ``--split`` otherwise)."""
    if isinstance(text, tuple | list):
        parts = list(text)
    else:
        parts = str(text).split(":")
    try:
        values = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(
            f"--split {text!r}: give three integers TRAIN:VAL:TEST, e.g. 8:1:1"
        ) from None
    if len(values) != 3 or values[0] < 1 or values[1] < 1 or values[2] < 0:
        raise ValueError(
            f"--split {text!r}: give TRAIN:VAL:TEST with TRAIN >= 1, VAL >= 1, TEST >= 0 (8:1:1)"
        )
    return values


def _show_split(value: tuple[int, int, int]) -> str:
    return ":".join(str(v) for v in value)


def _parse_strength(text):
    from jndtf.apply.calibrate import parse_strength

    try:
        return parse_strength(text)
    except ValueError as e:
        raise ValueError(str(e).replace("--strength", "--teacher-strength")) from None


@dataclass(frozen=True)
class HmjndTrainConfig:
    """Settings of :func:`train_hmjnd` (frozen; defaults have no side effects). The paper's
    settings are the defaults where it gives them (Sec. 4.1): Adam 1e-4 with linear decay,
    224 x 224 patches, an 8:1:1 split, loss eq. (2).

    Attributes:
        data_dir: a folder of photos (``distill``, ``self``) or the pairs layout
            ``originals/`` + ``redundancy_removed/`` with the same file names (``pairs``).
        mode: ``distill`` (I_gt = eq. (14) pre-processing under a teacher's JND map),
            ``self`` (no target: quality-constrained energy, :mod:`jndtf.train.hmjnd`) or
            ``pairs`` (I_gt from ``redundancy_removed/``).
        teacher: JND model of ``distill``, as :func:`jndtf.refs.resolve_model` reads it
            (``yang2005``, ``wu2017``, ``acol``, a ``.keras`` path, ``SPEC:PATH``).
        teacher_strength: s multiplying the teacher's map before eq. (14), a number or
            ``auto`` (the calibrated s, :func:`jndtf.apply.calibrate.resolve_strength`).
        output_dir: run folder: ``hmjnd.keras``, ``hmjnd.json``, ``logs/``.
        preset: ``hmjnd`` or ``hmjnd_tiny``.
        epochs, batch_size: passes over the training patches, patches per step.
        learning_rate: Adam's rate at step 0, decayed linearly to 0 at the last step.
        patch: side of the square patches of the adaptive partition (paper: 224).
        split: train:validation:test proportions over images (paper: 8:1:1).
        lambda_fea, lambda_pix: weights of eq. (2) (``distill``, ``pairs``; ``lambda_fea``
            also in ``self``).
        quality_metric, quality_target, quality_weight, energy_weight: ``self`` mode's loss.
        saliency, depth, segmentation: modality providers (``classical`` or a
            ``.tflite``/``.keras`` path, :func:`jndtf.models.modality_models.modality_provider`).
        max_images, seed: subset size (quick runs) and the seed of subset, split, order, weights.
        cache_dir: cache of the modality and teacher maps (None: ``$JNDTF_CACHE_DIR`` or
            ``~/.cache/jndtf/inputs``; under ``hmjnd-maps/``).
        tensorboard: write per-epoch scalars to ``logs/``.
        resume: continue from ``hmjnd.ckpt.npz``.
        command: command line recorded in the manifest (None: ``sys.argv``).
    """

    data_dir: str = path_option(
        "--data",
        help="Folder of photos (distill, self) or of originals/ + redundancy_removed/ (pairs).",
    )
    mode: str = option(
        default="distill",
        help="distill (I_gt = eq. (14) under --teacher), self (quality-constrained energy) "
        "or pairs (SHEN2020-style pairs).",
    )
    teacher: str = option(
        default="yang2005",
        help="Teacher JND model of --mode distill: yang2005, wu2017, acol, a .keras file.",
    )
    teacher_strength: float | str = option(
        "--teacher-strength",
        default=1.0,
        help="s multiplying the teacher's map before eq. (14): a number or auto (calibrated).",
        cli_type=str,
        parse=_parse_strength,
        show=str,
    )
    output_dir: str = path_option("--out", "-o", default="runs/hmjnd", help="Run folder.")
    preset: str = option(default="hmjnd", help="hmjnd or hmjnd_tiny.")
    epochs: int = option(default=50, help="Epochs.")
    batch_size: int = option("--batch-size", default=4, help="Patches per step.")
    learning_rate: float = option(
        "--lr", default=1e-4, help="Adam learning rate, decayed linearly to 0 (paper: 1e-4)."
    )
    patch: int = option(default=224, help="Patch side of the adaptive partition (paper: 224).")
    split: tuple[int, int, int] = option(
        default=(8, 1, 1),
        help="Train:validation:test proportions over images (paper: 8:1:1).",
        cli_type=str,
        parse=parse_split,
        show=_show_split,
    )
    lambda_fea: float = option("--lambda-fea", default=1.0, help="Weight of L_fea, eq. (2).")
    lambda_pix: float = option("--lambda-pix", default=1.0, help="Weight of L_pix, eq. (2).")
    quality_metric: str = option(
        "--quality-metric", default="ssim", help="--mode self: IQA metric kept at the target."
    )
    quality_target: float = option(
        "--quality-target", default=0.95, help="--mode self: the metric's target value."
    )
    quality_weight: float = option(
        "--quality-weight", default=100.0, help="--mode self: weight of the quality hinge²."
    )
    energy_weight: float = option(
        "--energy-weight", default=1.0, help="--mode self: weight of the mean |I - I_rr| reward."
    )
    saliency: str = option(default="classical", help="Saliency provider: classical or a file.")
    depth: str = option(default="classical", help="Depth provider: classical or a file.")
    segmentation: str = option(
        default="classical", help="Segmentation provider: classical or a file."
    )
    max_images: int | None = option(default=None, help="Use a seeded subset of this many images.")
    seed: int = option(default=0, help="Seed of subset, split, order and weights.")
    cache_dir: str | None = path_option(
        "--cache-dir",
        default=None,
        help="Cache of modality/teacher maps (default $JNDTF_CACHE_DIR or ~/.cache/jndtf/inputs).",
    )
    tensorboard: bool = option(
        "--tensorboard/--no-tensorboard", default=True, help="Write TensorBoard scalars."
    )
    resume: bool = False
    command: str | None = None

    def __post_init__(self):
        from jndtf.models.registry import available_models

        if not str(self.data_dir).strip():
            raise ValueError("data_dir (--data) is empty: give the folder of training photos")
        if self.mode not in MODES:
            raise ValueError(f"--mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.mode == "distill" and not str(self.teacher).strip():
            raise ValueError("--teacher is empty: --mode distill needs a JND model (yang2005)")
        presets = available_models("hmjnd")
        if self.preset not in presets:
            raise ValueError(
                f"--preset {self.preset!r} is not an hmJND-Net; choose from {', '.join(presets)}"
            )
        for name, lo in (("epochs", 1), ("batch_size", 1), ("patch", 8), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if self.max_images is not None and (
            isinstance(self.max_images, bool)
            or not isinstance(self.max_images, int)
            or self.max_images < 2
        ):
            raise ValueError(f"max_images must be an integer >= 2, got {self.max_images!r}")
        object.__setattr__(self, "split", parse_split(self.split))
        for name, strict in (
            ("learning_rate", True),
            ("lambda_fea", False),
            ("lambda_pix", False),
            ("quality_weight", False),
            ("energy_weight", False),
            ("quality_target", False),
        ):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= 0 if strict else v < 0):
                raise ValueError(
                    f"{name} must be a finite number {'>' if strict else '>='} 0, got {v!r}"
                )
        s = self.teacher_strength
        if not (s == "auto" or (isinstance(s, int | float) and math.isfinite(s) and s >= 0)):
            raise ValueError(f"--teacher-strength must be a number >= 0 or auto, got {s!r}")
        if self.mode == "self":
            from jndtf.losses.iqa_loss import resolve_metric

            try:
                resolve_metric(self.quality_metric)
            except KeyError as e:
                raise ValueError(f"--quality-metric: {e.args[0]}") from None

    def resume_key(self) -> dict:
        """The settings a checkpoint must share with this config to be resumed."""
        settings = json.loads(json.dumps(dataclasses.asdict(self)))
        return {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}


@dataclass(frozen=True)
class HmjndProgress:
    """One progress report of :func:`train_hmjnd`.

    Attributes:
        phase: ``"data"`` (reading images, modality/teacher maps: `step` of `steps`),
            ``"train"`` (after a step: running means), ``"epoch"`` (after validation).
        epoch, epochs, step, steps: position (1-based).
        loss: running mean of the mode's loss over the epoch.
        val_loss: the same loss on the validation patches.
        val_quality: MS-SSIM (SSIM on images under 176 px) of the eq. (13) injected image at
            MSE 100 on the validation images (None when it could not be computed).
    """

    phase: str
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int | None = None
    loss: float | None = None
    val_loss: float | None = None
    val_quality: float | None = None


@dataclass(frozen=True)
class HmjndTrainResult:
    """What :func:`train_hmjnd` wrote and measured.

    Attributes:
        model_path, manifest_path: the files written.
        mode: the training mode.
        val_loss: the mode's loss on the validation patches after the last epoch.
        val_quality: MS-SSIM (or SSIM) at MSE 100 on the validation images, last epoch.
        val_metric: ``"ms_ssim"`` or ``"ssim"``.
        history: per-epoch records.
        seconds: wall time of all sessions.
        resumed_from: epoch (0-based) the run resumed at, or None.
    """

    model_path: Path
    manifest_path: Path
    mode: str
    val_loss: float
    val_quality: float | None
    val_metric: str
    history: tuple[dict, ...]
    seconds: float
    resumed_from: int | None


def checkpoint_file(settings: dict) -> Path:
    """The checkpoint ``--resume`` continues from: ``<output_dir>/hmjnd.ckpt.npz``."""
    return Path(settings["output_dir"]) / CHECKPOINT_NAME


def _q(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def progress_fields(p: HmjndProgress) -> dict | None:
    """One progress report as ``jndtf train``'s progress bar shows it."""
    if p.phase == "data":
        return {"description": "maps", "completed": p.step, "total": p.steps, "text": ""}
    if p.phase == "train":
        return {
            "description": f"epoch {p.epoch}/{p.epochs}",
            "completed": p.step,
            "total": p.steps,
            "text": f"loss {p.loss:.5f}",
        }
    if p.phase == "epoch":
        return {
            "description": f"epoch {p.epoch}/{p.epochs}",
            "text": f"loss {p.loss:.5f}  val {p.val_loss:.5f}  "
            f"val quality@MSE100 {_q(p.val_quality)}",
        }
    return None


def report(result: HmjndTrainResult) -> str:
    """The line ``jndtf train hmjnd`` prints on stdout when the run is done."""
    return (
        f"hmJND-Net ({result.mode}): validation loss {result.val_loss:.5f}, "
        f"{result.val_metric} at MSE 100 {_q(result.val_quality)} in {result.seconds:.0f} s "
        f"-> {result.model_path}"
    )


__all__ = [
    "CHECKPOINT_NAME",
    "MANIFEST_NAME",
    "MODEL_NAME",
    "MODES",
    "PAIRS_ORIGINALS",
    "PAIRS_TARGETS",
    "RESUMABLE_CHANGES",
    "HmjndProgress",
    "HmjndTrainConfig",
    "HmjndTrainResult",
    "checkpoint_file",
    "parse_split",
    "progress_fields",
    "report",
]
