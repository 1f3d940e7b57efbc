"""Settings and result of :func:`jndtf.train.saliency.train_saliency`."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from jndtf.settings import option, path_option

#: Settings that may differ between a run and its resumption (everything else must match).
RESUMABLE_CHANGES = ("data_dir", "masks_dir", "resume", "command", "verbose")


@dataclass(frozen=True)
class SaliencyTrainConfig:
    """Settings of :func:`train_saliency` (frozen; defaults have no side effects).

    Attributes:
        data_dir: folder of photos (e.g. ``DUTS-TR/DUTS-TR-Image``).
        masks_dir: folder of masks with the photos' stems (e.g. ``DUTS-TR/DUTS-TR-Mask``).
        output: path of the ``.keras`` file; the manifest goes to the same name with ``.json``,
            the checkpoint to ``.ckpt.npz``.
        preset: saliency model of the registry: ``poolnet_small`` or ``poolnet_tiny``.
        epochs: passes of ``steps_per_epoch`` batches.
        steps_per_epoch: batches per epoch (None: ``ceil(training pairs / batch_size)``).
        batch_size: crops per batch.
        crop_size: side of the random square crops, pixels (>= 32).
        learning_rate: initial AdamW learning rate (cosine decay to 0 over the run).
        weight_decay: AdamW's decoupled weight decay (PoolNet: 5e-4 L2 with Adam).
        iou_weight: weight of the soft IoU loss added to BCE (0: BCE only, as PoolNet).
        flip: random horizontal flips.
        holdout_fraction: share of the pairs held out for the metrics.
        holdout: explicit held-out stems (overrides `holdout_fraction`).
        eval_max_side: long side at which the held-out photos are run (SaliencyPrior's
            ``max_side``; None: full size).
        mask_threshold: binarize training masks at this value (None: keep soft masks).
        strict_pairs: unmatched stems are an error (False: skipped with a warning).
        seed: seed of the split, the weights, the visiting order, the crops and the flips.
        resume: continue from ``<output>.ckpt.npz`` (refused if it was made with other
            settings; starts afresh when there is none). Without it an existing checkpoint is
            an error, never overwritten.
        jit_compile: XLA-compile the TensorFlow train step (GPU; slower on CPU). JAX always
            compiles.
        command: command line recorded in the manifest (None: ``sys.argv``).
        verbose: Keras progress output (0 silent, 1 bar, 2 a line per epoch).
    """

    data_dir: str = path_option(
        "--data",
        help="Folder of photos (DUTS/MSRA-B layout).",
    )
    masks_dir: str = path_option(
        "--masks",
        help="Folder of masks, matched by file stem.",
    )
    output: str = path_option(
        "--out",
        "-o",
        default="runs/saliency/poolnet_small.keras",
        help="Output .keras file (manifest beside it as .json).",
    )
    preset: str = option(default="poolnet_small", help="poolnet_small or poolnet_tiny.")
    epochs: int = option(default=30, help="Epochs (sets the cosine schedule).")
    steps_per_epoch: int | None = option(
        "--steps", default=None, help="Batches per epoch (default: pairs/batch)."
    )
    batch_size: int = option(default=8, help="Pairs per batch.")
    crop_size: int = option(default=224, help="Random square crop side.")
    learning_rate: float = option("--lr", default=1e-3, help="AdamW learning rate.")
    weight_decay: float = 1e-4
    iou_weight: float = option(default=0.0, help="Weight of the soft IoU loss (0: BCE only).")
    flip: bool = True
    holdout_fraction: float = option(default=0.1, help="Share of pairs held out.")
    holdout: tuple[str, ...] = ()
    eval_max_side: int | None = 384
    mask_threshold: float | None = option(
        default=None,
        help="Binarize soft masks at this value (0..1); default keeps them soft.",
    )
    strict_pairs: bool = True
    seed: int = option(default=0, help="Seed of split, crops and weights.")
    resume: bool = False
    jit_compile: bool = False
    command: str | None = None
    verbose: int = 0

    def __post_init__(self):
        from jndtf.models.registry import available_models

        for name in ("data_dir", "masks_dir"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} is empty: give the folder of {name[:-4]}")
        presets = available_models("saliency")
        if self.preset not in presets:
            raise ValueError(
                f"preset {self.preset!r} is not a saliency model; choose from {', '.join(presets)}"
            )
        ints = {"epochs": 1, "batch_size": 1, "crop_size": 32, "seed": 0, "verbose": 0}
        optional = {"steps_per_epoch": 1, "eval_max_side": 8}
        for name, lo in {**ints, **optional}.items():
            v = getattr(self, name)
            if v is None and name in optional:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        for name, lo, strict in (
            ("learning_rate", 0.0, True),
            ("weight_decay", 0.0, False),
            ("iou_weight", 0.0, False),
        ):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= lo if strict else v < lo):
                raise ValueError(
                    f"{name} must be a finite number {'>' if strict else '>='} {lo}, got {v!r}"
                )
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction!r}")
        if self.mask_threshold is not None and not 0.0 < self.mask_threshold <= 1.0:
            raise ValueError(f"mask_threshold must be in (0, 1] or None, got {self.mask_threshold}")
        if isinstance(self.holdout, str):
            raise ValueError(f"holdout must be a tuple of stems, got the string {self.holdout!r}")
        if not str(self.output).endswith(".keras"):
            raise ValueError(f"output must end with .keras, got {self.output!r}")

    def resume_key(self) -> dict:
        """The settings a checkpoint must share with this config to be resumed."""
        settings = json.loads(json.dumps(dataclasses.asdict(self)))
        return {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}


@dataclass(frozen=True)
class SaliencyTrainResult:
    """What :func:`train_saliency` wrote and measured.

    Attributes:
        model_path, manifest_path: the files written.
        heldout_mae: mean absolute error on the held-out pairs (0..1, lower is better).
        heldout_max_f: maximum F-measure (β² = 0.3) on the held-out pairs (higher is better).
        history: per-epoch ``{"epoch", "loss", "seconds"}``.
        train_stems, heldout_stems: the split.
        seconds: wall time of all sessions.
        resumed_from: the epoch (0-based) the run resumed at, or None.
    """

    model_path: Path
    manifest_path: Path
    heldout_mae: float
    heldout_max_f: float
    history: tuple[dict, ...]
    train_stems: tuple[str, ...]
    heldout_stems: tuple[str, ...]
    seconds: float
    resumed_from: int | None


def checkpoint_file(settings: dict) -> Path:
    """The checkpoint ``--resume`` continues from: ``<output>.ckpt.npz``."""
    output = Path(settings["output"])
    return output.with_name(output.stem + ".ckpt.npz")


def report(result: SaliencyTrainResult) -> str:
    """The line ``jndtf train saliency`` prints on stdout when the run is done."""
    return (
        f"held-out MAE {result.heldout_mae:.4f}, max F {result.heldout_max_f:.4f} in "
        f"{result.seconds:.0f} s -> {result.model_path}"
    )


__all__ = [
    "RESUMABLE_CHANGES",
    "SaliencyTrainConfig",
    "SaliencyTrainResult",
    "checkpoint_file",
    "report",
]
