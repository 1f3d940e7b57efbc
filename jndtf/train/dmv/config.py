"""Settings, progress reports and result of :func:`~jndtf.train.dmv.train_dmv`
(``jndtf train dmv``)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from jndtf.settings import option, path_option
from jndtf.train.classifiers.data import parse_count

#: Settings that may differ between a run and its resumption (everything else must match).
RESUMABLE_CHANGES = ("data_dir", "classifiers_dir", "resume", "command", "tensorboard")

#: The four classifiers of the paper, as ``<arch>.keras`` files of a ``train classifiers`` run.
CLASSIFIER_ARCHS = ("alexnet", "vgg", "resnet", "densenet")

CHECKPOINT_NAME = "dmv.ckpt.npz"
MODEL_NAME = "dmv.keras"
MANIFEST_NAME = "dmv.json"
CAM_CACHE_NAME = "cam_cache.npz"


@dataclass(frozen=True)
class DmvTrainConfig:
    """Settings of :func:`train_dmv` (frozen; defaults have no side effects). The paper's
    settings are the defaults (Sec. V-A): Adam 1e-5, weight decay 1e-3, batch 50, α = β = 1,
    horizontal flip p = 0.5.

    Attributes:
        data_dir: labelled images (:func:`jndtf.data.classification.read_classification`);
            the labels only define the stratified split (training uses classifier labels).
        classifiers_dir: run folder of ``jndtf train classifiers`` holding ``alexnet.keras``,
            ``vgg.keras``, ``resnet.keras``, ``densenet.keras`` (frozen here).
        output_dir: run folder: ``dmv.keras``, ``dmv.json``, ``cam_cache.npz``, ``logs/``.
        preset: E-D preset of the ``dmv`` family (``dmv``, ``dmv_tiny``).
        epochs, batch_size: passes over the training split, images per step.
        learning_rate: Adam's rate.
        weight_decay: L2 added to the gradient (PyTorch's coupled ``Adam(weight_decay=)``).
        alpha, beta: weights of Loss2 and Loss3 in eq. (7).
        flip: horizontal flip probability (image and its cached CAM flipped together).
        bn_momentum: momentum of the E-D's batch-norm moving statistics (0.9 = PyTorch's
            default; with Keras' 0.99 a short run validates with statistics far from the
            training batches': e at validation was a third of e in training).
        val_size, max_images, seed: as ``jndtf train classifiers`` (same values: same split).
        tensorboard: write per-epoch scalars to ``logs/``.
        resume: continue from ``dmv.ckpt.npz``.
        command: command line recorded in the manifest (None: ``sys.argv``).
    """

    data_dir: str = path_option(
        "--data", help="Labelled images (the set the classifiers were trained on)."
    )
    classifiers_dir: str = path_option(
        "--classifiers",
        help="Run folder of `jndtf train classifiers` with alexnet/vgg/resnet/densenet.keras.",
    )
    output_dir: str = path_option("--out", "-o", default="runs/dmv", help="Run folder.")
    preset: str = option(default="dmv", help="E-D preset: dmv or dmv_tiny.")
    epochs: int = option(default=30, help="Epochs.")
    batch_size: int = option("--batch-size", default=50, help="Images per step (paper: 50).")
    learning_rate: float = option("--lr", default=1e-5, help="Adam learning rate (paper: 1e-5).")
    weight_decay: float = option(
        default=1e-3, help="L2 weight decay added to the gradient (paper: 1e-3)."
    )
    alpha: float = option(default=1.0, help="Weight of Loss2, eq. (7) (paper: 1).")
    beta: float = option(default=1.0, help="Weight of Loss3, eq. (7) (paper: 1).")
    flip: float = option(default=0.5, help="Horizontal flip probability (paper: 0.5).")
    bn_momentum: float = option(
        default=0.9,
        help="E-D batch-norm moving-average momentum (PyTorch's default; Keras' 0.99 lags).",
    )
    val_size: float = option(
        default=0.1,
        help="Validation images: a count or a fraction; same as the classifiers' run.",
        cli_type=str,
        parse=parse_count,
        show=str,
    )
    max_images: int | None = option(
        default=None, help="Use a stratified subset of this many images (quick runs)."
    )
    train_images: int | None = option(
        "--train-images",
        default=None,
        help="Train on a stratified subset of this many of the training split's images (the "
        "validation split stays the classifiers' one: a CPU-sized run).",
    )
    seed: int = option(default=0, help="Seed of subset, split, batches, flips and weights.")
    tensorboard: bool = option(
        "--tensorboard/--no-tensorboard", default=True, help="Write TensorBoard scalars."
    )
    resume: bool = False
    command: str | None = None

    def __post_init__(self):
        from jndtf.models.registry import available_models

        for name, flag in (("data_dir", "--data"), ("classifiers_dir", "--classifiers")):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} ({flag}) is empty")
        presets = available_models("dmv")
        if self.preset not in presets:
            raise ValueError(
                f"--preset {self.preset!r} is not a DMV-JND-NET; choose from {', '.join(presets)}"
            )
        for name, lo in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if self.max_images is not None and (
            isinstance(self.max_images, bool)
            or not isinstance(self.max_images, int)
            or self.max_images < 20
        ):
            raise ValueError(f"max_images must be an integer >= 20, got {self.max_images!r}")
        if self.train_images is not None and (
            isinstance(self.train_images, bool)
            or not isinstance(self.train_images, int)
            or self.train_images < 10
        ):
            raise ValueError(
                f"train_images (--train-images) must be an integer >= 10, got {self.train_images!r}"
            )
        for name, strict in (
            ("learning_rate", True),
            ("weight_decay", False),
            ("alpha", False),
            ("beta", False),
        ):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= 0 if strict else v < 0):
                raise ValueError(
                    f"{name} must be a finite number {'>' if strict else '>='} 0, got {v!r}"
                )
        if not 0.0 <= self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum!r}")
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f"flip must be a probability in [0, 1], got {self.flip!r}")
        v = self.val_size
        if isinstance(v, bool) or not (
            (isinstance(v, int) and v >= 1) or (isinstance(v, float) and 0.0 < v < 1.0)
        ):
            raise ValueError(
                f"val_size must be an image count >= 1 or a fraction in (0, 1), got {v!r}"
            )

    def resume_key(self) -> dict:
        """The settings a checkpoint must share with this config to be resumed."""
        settings = json.loads(json.dumps(dataclasses.asdict(self)))
        return {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}


@dataclass(frozen=True)
class DmvProgress:
    """One progress report of :func:`train_dmv`.

    Attributes:
        phase: ``"data"`` (reading), ``"cams"`` (merged CAMs, `step` of `steps` images),
            ``"train"`` (after a step: running means), ``"epoch"`` (after validation).
        epoch, epochs, step, steps: position (1-based).
        loss, l1, l2, l3: running means of eq. (7) and its terms over the epoch.
        val_rca: mean RCA over the four classifiers on the validation split (eq. (17)).
        val_psnr: mean PSNR of x̂ (clipped, rounded) vs x on the validation split, dB.
    """

    phase: str
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int | None = None
    loss: float | None = None
    l1: float | None = None
    l2: float | None = None
    l3: float | None = None
    val_rca: float | None = None
    val_psnr: float | None = None


@dataclass(frozen=True)
class DmvTrainResult:
    """What :func:`train_dmv` wrote and measured.

    Attributes:
        model_path, manifest_path: the files written.
        val_rca: ``{arch: RCA}`` of the last epoch on the validation split (fractions).
        val_mean_rca: eq. (17) of those.
        val_psnr: mean PSNR of x̂ vs x on the validation split (dB).
        history: per-epoch records.
        seconds: wall time of all sessions.
        resumed_from: epoch (0-based) the run resumed at, or None.
    """

    model_path: Path
    manifest_path: Path
    val_rca: dict
    val_mean_rca: float
    val_psnr: float
    history: tuple[dict, ...]
    seconds: float
    resumed_from: int | None


def checkpoint_file(settings: dict) -> Path:
    """The checkpoint ``--resume`` continues from: ``<output_dir>/dmv.ckpt.npz``."""
    return Path(settings["output_dir"]) / CHECKPOINT_NAME


def progress_fields(p: DmvProgress) -> dict | None:
    """One progress report as ``jndtf train``'s progress bar shows it."""
    if p.phase == "data":
        return {"description": "reading", "completed": p.step, "total": p.steps, "text": ""}
    if p.phase == "cams":
        return {"description": "merged CAMs", "completed": p.step, "total": p.steps, "text": ""}
    if p.phase == "train":
        return {
            "description": f"epoch {p.epoch}/{p.epochs}",
            "completed": p.step,
            "total": p.steps,
            "text": f"L {p.loss:.4f} (L1 {p.l1:.3f} L2 {p.l2:.3f} L3 {p.l3:.3f})",
        }
    if p.phase == "epoch":
        return {
            "description": f"epoch {p.epoch}/{p.epochs}",
            "text": f"L {p.loss:.4f}  val RCA {100 * p.val_rca:.2f}%  PSNR {p.val_psnr:.2f} dB",
        }
    return None


def report(result: DmvTrainResult) -> str:
    """The line ``jndtf train dmv`` prints on stdout when the run is done."""
    per = ", ".join(f"{a} {100 * v:.2f}%" for a, v in result.val_rca.items())
    return (
        f"validation RCA {100 * result.val_mean_rca:.2f}% ({per}) at mean PSNR "
        f"{result.val_psnr:.2f} dB in {result.seconds:.0f} s -> {result.model_path}"
    )


__all__ = [
    "CAM_CACHE_NAME",
    "CHECKPOINT_NAME",
    "CLASSIFIER_ARCHS",
    "MANIFEST_NAME",
    "MODEL_NAME",
    "RESUMABLE_CHANGES",
    "DmvProgress",
    "DmvTrainConfig",
    "DmvTrainResult",
    "checkpoint_file",
    "progress_fields",
    "report",
]
