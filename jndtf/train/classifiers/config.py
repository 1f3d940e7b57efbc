"""Settings, progress reports and result of
:func:`~jndtf.train.classifiers.train_classifiers` (``jndtf train classifiers``)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from jndtf.settings import COMMA_LIST, option, path_option
from jndtf.train.classifiers.data import parse_count

#: Settings that may differ between a run and its resumption (everything else must match).
RESUMABLE_CHANGES = ("data_dir", "resume", "command", "tensorboard")

#: Checkpoint and manifest names inside the run folder.
CHECKPOINT_NAME = "classifiers.ckpt.npz"
MANIFEST_NAME = "classifiers.json"


def _arch_choices() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Every trainable preset (the four designs and the MobileNet-style unseen classifier) and
    the group names ``all``, ``small``, ``tiny``."""
    from jndtf.models.classifiers.mobilenet import MOBILENET_PRESETS
    from jndtf.models.classifiers.presets import (
        FULL_PRESETS,
        PRESETS,
        SMALL_PRESETS,
        TINY_PRESETS,
    )

    groups = {"all": FULL_PRESETS, "small": SMALL_PRESETS, "tiny": TINY_PRESETS}
    return (*PRESETS, *MOBILENET_PRESETS), groups


@dataclass(frozen=True)
class ClassifiersTrainConfig:
    """Settings of :func:`train_classifiers` (frozen; defaults have no side effects).

    Attributes:
        data_dir: labelled images: a class-per-folder tree, its ``.tar(.gz)`` or a CIFAR-10
            binary/python folder (:func:`jndtf.data.classification.read_classification`).
        output_dir: run folder: ``<arch>.keras`` per classifier, ``classifiers.json``.
        arch: presets to train, in order: ``all`` (the paper's four), ``tiny`` (the four
            ``*_tiny``), or names of the ``classifiers`` family (``resnet``, ``vgg_tiny``...).
            Each file is named by its architecture (``resnet.keras`` for ``resnet_tiny`` too).
        epochs: passes over the training split per classifier.
        batch_size: images per step (paper: 50).
        learning_rate: peak Adam learning rate (cosine decay to 0 over the run).
        weight_decay: decoupled weight decay (AdamW).
        flip: horizontal flip probability (paper: 0.5).
        bn_momentum: momentum of every batch norm's moving mean/variance, set on the built
            model (0.9 = PyTorch's default 0.1; Keras' 0.99 needs ~500 steps before the
            moving statistics catch up, so short runs validated at chance).
        val_size: validation images (an int) or fraction (a float); stratified, fixed seed.
        max_images: keep a stratified subset of this many images first (quick runs).
        seed: seed of the subset, the split, the batches, the flips and the weights.
        tensorboard: write per-epoch scalars to ``logs/<arch>``.
        resume: continue from ``classifiers.ckpt.npz`` (refused with other settings).
        command: command line recorded in the manifest (None: ``sys.argv``).
    """

    data_dir: str = path_option(
        "--data", help="Labelled images: class-per-folder tree, its .tar.gz, or CIFAR-10 batches."
    )
    output_dir: str = path_option(
        "--out", "-o", default="runs/classifiers", help="Run folder (one .keras per arch)."
    )
    arch: tuple[str, ...] = option(
        default=("all",),
        help="all (alexnet,vgg,resnet,densenet), small (the CPU-sized four the package ships), "
        "tiny (test widths), or comma-separated presets (mobilenet: the unseen fifth).",
        **COMMA_LIST,
    )
    epochs: int = option(default=60, help="Epochs per classifier.")
    batch_size: int = option("--batch-size", default=50, help="Images per step (paper: 50).")
    learning_rate: float = option("--lr", default=1e-3, help="Peak Adam rate (cosine to 0).")
    weight_decay: float = option(default=5e-2, help="Decoupled (AdamW) weight decay.")
    flip: float = option(default=0.5, help="Horizontal flip probability (paper: 0.5).")
    shift: int = option(
        default=4,
        help="Random translation up to this many pixels, zero fill (pad-4 crop of He et al.; "
        "0: the paper's flip alone).",
    )
    bn_momentum: float = option(
        default=0.9,
        help="Batch-norm moving-average momentum (PyTorch's default; Keras' 0.99 lags on short "
        "runs).",
    )
    val_size: float = option(
        default=0.1,
        help="Validation images: a count (5000) or a fraction (0.1); stratified, seeded.",
        cli_type=str,
        parse=parse_count,
        show=str,
    )
    max_images: int | None = option(
        default=None, help="Use a stratified subset of this many images (quick runs)."
    )
    seed: int = option(default=0, help="Seed of subset, split, batches, flips and weights.")
    tensorboard: bool = option(
        "--tensorboard/--no-tensorboard", default=True, help="Write TensorBoard scalars."
    )
    resume: bool = False
    command: str | None = None

    def __post_init__(self):
        if not str(self.data_dir).strip():
            raise ValueError("data_dir (--data) is empty: give the labelled images")
        if isinstance(self.arch, str):
            object.__setattr__(self, "arch", (self.arch,))
        self.presets()  # validates --arch
        for name, lo in (("epochs", 1), ("batch_size", 1), ("seed", 0), ("shift", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if self.max_images is not None and (
            isinstance(self.max_images, bool) or not isinstance(self.max_images, int)
        ):
            raise ValueError(f"max_images must be an integer, got {self.max_images!r}")
        if self.max_images is not None and self.max_images < 20:
            raise ValueError(f"max_images must be >= 20, got {self.max_images}")
        for name, strict in (("learning_rate", True), ("weight_decay", False)):
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

    def presets(self) -> tuple[str, ...]:
        """The presets `arch` names, in order (``all``/``tiny`` expanded).

        Raises:
            ValueError: an unknown name, or two presets of one architecture.
        """
        known, groups = _arch_choices()
        out: list[str] = []
        for name in self.arch:
            if name in groups:
                out += groups[name]
            elif name in known:
                out.append(name)
            else:
                raise ValueError(
                    f"--arch {name!r} is not a classifier; choose {', '.join(groups)} or from "
                    f"{', '.join(known)}"
                )
        if not out:
            raise ValueError("--arch is empty: give all, small, tiny or preset names")
        archs = [arch_of(p) for p in out]
        dupes = sorted({a for a in archs if archs.count(a) > 1})
        if dupes:
            raise ValueError(
                f"--arch names architecture(s) {dupes} twice ({', '.join(out)}); each is saved "
                "as <arch>.keras, give one preset per architecture"
            )
        return tuple(out)

    def resume_key(self) -> dict:
        """The settings a checkpoint must share with this config to be resumed."""
        settings = json.loads(json.dumps(dataclasses.asdict(self)))
        return {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}


def arch_of(preset: str) -> str:
    """The architecture (``alexnet``, ``vgg``, ``resnet``, ``densenet``, ``mobilenet``) of a
    preset: the name of its ``.keras`` in the run folder."""
    from jndtf.models.classifiers.mobilenet import MOBILENET_PRESETS
    from jndtf.models.classifiers.presets import get_preset

    if preset in MOBILENET_PRESETS:
        return "mobilenet"
    return str(get_preset(preset)["arch"])


@dataclass(frozen=True)
class ClassifiersProgress:
    """One progress report of :func:`train_classifiers`.

    Attributes:
        phase: ``"data"`` (reading: `step` images of `steps`, None while unknown),
            ``"train"`` (after a step), ``"epoch"`` (after an epoch's validation).
        preset: the classifier being trained (None while reading).
        epoch, epochs: 1-based epoch and epochs of the run.
        step, steps: 1-based step within the epoch and steps per epoch.
        loss, accuracy: running means of the epoch's training loss and accuracy.
        val_accuracy: the epoch's validation accuracy (phase ``"epoch"``).
    """

    phase: str
    preset: str | None = None
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int | None = None
    loss: float | None = None
    accuracy: float | None = None
    val_accuracy: float | None = None


@dataclass(frozen=True)
class ClassifiersTrainResult:
    """What :func:`train_classifiers` wrote and measured.

    Attributes:
        output_dir, manifest_path: the run folder and its ``classifiers.json``.
        models: ``{arch: path of the .keras}`` trained in this run.
        val_accuracy: ``{arch: validation accuracy of the last epoch}`` (fraction).
        history: ``{arch: per-epoch records}`` (``epoch, loss, accuracy, val_accuracy,
            seconds``).
        seconds: wall time of all sessions.
        resumed_from: ``(preset, epoch)`` the run resumed at (epoch 0-based), or None.
    """

    output_dir: Path
    manifest_path: Path
    models: dict
    val_accuracy: dict
    history: dict
    seconds: float
    resumed_from: tuple[str, int] | None


def checkpoint_file(settings: dict) -> Path:
    """The checkpoint ``--resume`` continues from: ``<output_dir>/classifiers.ckpt.npz``."""
    return Path(settings["output_dir"]) / CHECKPOINT_NAME


def progress_fields(p: ClassifiersProgress) -> dict | None:
    """One progress report as ``jndtf train``'s progress bar shows it."""
    if p.phase == "data":
        return {"description": "reading", "completed": p.step, "total": p.steps, "text": ""}
    if p.phase == "train":
        return {
            "description": f"{p.preset} epoch {p.epoch}/{p.epochs}",
            "completed": p.step,
            "total": p.steps,
            "text": f"loss {p.loss:.4f}  acc {100 * p.accuracy:.1f}%",
        }
    if p.phase == "epoch":
        return {
            "description": f"{p.preset} epoch {p.epoch}/{p.epochs}",
            "text": f"loss {p.loss:.4f}  acc {100 * p.accuracy:.1f}%  "
            f"val acc {100 * p.val_accuracy:.1f}%",
        }
    return None


def report(result: ClassifiersTrainResult) -> str:
    """The line ``jndtf train classifiers`` prints on stdout when the run is done."""
    accs = ", ".join(f"{a} {100 * v:.2f}%" for a, v in result.val_accuracy.items())
    return f"validation accuracy {accs} in {result.seconds:.0f} s -> {result.manifest_path}"


__all__ = [
    "CHECKPOINT_NAME",
    "MANIFEST_NAME",
    "RESUMABLE_CHANGES",
    "ClassifiersProgress",
    "ClassifiersTrainConfig",
    "ClassifiersTrainResult",
    "arch_of",
    "checkpoint_file",
    "progress_fields",
    "report",
]
