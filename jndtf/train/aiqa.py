"""Training recipe of the A-IQA distortion-group classifier (``jndtf train aiqa --data DIR``).

From a folder of clean images, every training batch is made on the fly: a random crop of a random
training image (random horizontal flip), a distortion group drawn uniformly, a TID2008 type drawn
uniformly within it and a level 1..5 (:mod:`jndtf.data.distortions`); the label is the group.
The split is *by source image*: the held-out images never appear in training, and the held-out
accuracy is measured on a fixed, seeded set of their patches (``val_per_type`` per type). Batches
are seeded by (seed, epoch, step), so a run is repeatable on the same machine.

Outputs: ``<output>.keras`` (the classifier, without optimizer state), ``<output>.json``
(manifest: family, preset, inputs, groups, data and split, settings, command, held-out accuracy
overall / per group / per type, versions, sha256) and, while training, ``<output>.ckpt.keras``
rewritten atomically after every epoch (removed at the end).

Example:
    >>> cfg = AIQATrainConfig(data_dir="photos", output="runs/aiqa/clf.keras", epochs=2)
    >>> result = train_aiqa(cfg)
    >>> result.heldout_accuracy
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jndtf.data import distortions as D
from jndtf.settings import option, path_option
from jndtf.train.aiqa_data import (
    EXTRA_SKIMAGE_PHOTOS,
    load_folder,
    make_batch,
    make_heldout_set,
    split_images,
    write_training_photos,
)


@dataclass(frozen=True)
class AIQATrainConfig:
    """Settings of :func:`train_aiqa` (frozen; defaults have no side effects).

    Attributes:
        data_dir: folder of clean images (PNG/JPEG/..., not recursive), at least 2 images.
        output: path of the ``.keras`` file to write; the manifest goes to the same name
            with ``.json``.
        preset: classifier preset (:data:`jndtf.models.aiqa.presets.PRESETS`).
        epochs: passes of ``steps_per_epoch`` batches.
        steps_per_epoch: batches per epoch (patches are made on the fly, so an "epoch" is a
            number of steps, not a pass over a fixed set).
        batch_size: patches per batch.
        crop_size: side of the square patches, pixels (>= 16).
        learning_rate: initial Adam learning rate (cosine decay to 0 over the run).
        holdout_fraction: share of the source images held out (at least one image).
        holdout: explicit held-out image names (file stems); overrides `holdout_fraction`.
        val_per_type: held-out patches per distortion type (x 17).
        seed: seed of the split, the patches and the weights' initialization.
        groups: group -> distortion types (None: the five CD-MMF groups of
            :data:`jndtf.data.distortions.DEFAULT_GROUPS`).
        command: the command line to record in the manifest (default: ``sys.argv``).
        verbose: Keras progress output (0 silent, 1 bar, 2 one line per epoch).
    """

    data_dir: str = path_option(
        "--data",
        help="Folder of clean images (at least 2).",
    )
    output: str = path_option(
        "--out",
        "-o",
        default="runs/aiqa/aiqa_resnet_tiny.keras",
        help="Output .keras file; the manifest is written beside it as .json.",
    )
    preset: str = option(default="aiqa_resnet_tiny", help="Classifier preset.")
    epochs: int = option(default=30, help="Epochs (of --steps batches each).")
    steps_per_epoch: int = option(
        "--steps", default=40, help="Batches per epoch (patches are made on the fly)."
    )
    batch_size: int = option(default=32, help="Patches per batch.")
    crop_size: int = option(default=64, help="Patch side in pixels (>= 16).")
    learning_rate: float = option(default=2e-3, help="Initial Adam learning rate.")
    holdout_fraction: float = option(
        default=0.25, help="Share of the source images held out for the accuracy figure."
    )
    holdout: tuple[str, ...] = ()
    val_per_type: int = 12
    seed: int = option(default=0, help="Seed of the split, patches and weights.")
    groups: Mapping[str, Sequence[str]] | None = field(default=None, hash=False)
    command: str | None = None
    verbose: int = 2

    def __post_init__(self):
        ints = {
            "epochs": 1,
            "steps_per_epoch": 1,
            "batch_size": 1,
            "crop_size": D.MIN_SIDE,
            "val_per_type": 1,
        }
        for name, lo in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction!r}")
        if not str(self.output).endswith(".keras"):
            raise ValueError(f"output must end with .keras, got {self.output!r}")
        D.check_groups(self.groups)


@dataclass(frozen=True)
class AIQATrainResult:
    """What :func:`train_aiqa` wrote and measured."""

    model_path: Path
    manifest_path: Path
    heldout_accuracy: float
    heldout_accuracy_per_group: dict[str, float]
    train_images: tuple[str, ...]
    heldout_images: tuple[str, ...]
    seconds: float


# ----------------------------------------------------------------------------------- data


# ------------------------------------------------------------------------------ versions


def _versions() -> dict[str, str]:
    """Like :func:`jndtf.train._common.versions`, but the A-IQA manifest has always recorded
    TensorFlow's version whenever it is installed (importing it under JAX) and never JAX's."""
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
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return out


# -------------------------------------------------------------------------------- training


def train_aiqa(config: AIQATrainConfig) -> AIQATrainResult:
    """Trains the A-IQA distortion-group classifier and writes model + manifest.

    Args:
        config: the settings (:class:`AIQATrainConfig`).

    Returns:
        :class:`AIQATrainResult` with the paths and the held-out accuracy.

    Raises:
        ValueError: too few or too small images, bad settings.
        KeyError: unknown preset.
    """
    import keras

    from jndtf.models.aiqa.network import build_classifier
    from jndtf.models.aiqa.presets import get_preset
    from jndtf.train._common import atomic_save_model, atomic_write_json, sha256_file

    t0 = time.perf_counter()
    cfg = config
    groups = D.check_groups(cfg.groups)
    preset = get_preset(cfg.preset)
    preset["num_groups"] = len(groups)
    output = Path(cfg.output)
    manifest = output.with_suffix(".json")
    ckpt = output.with_name(output.stem + ".ckpt.keras")

    photos = load_folder(cfg.data_dir, min_side=cfg.crop_size)
    train_names, held_names = split_images(
        list(photos), holdout=cfg.holdout, fraction=cfg.holdout_fraction, seed=cfg.seed
    )
    train_imgs = [photos[n] for n in train_names]
    held_imgs = [photos[n] for n in held_names]
    x_val, y_val, val_kinds = make_heldout_set(
        held_imgs, groups, crop=cfg.crop_size, per_type=cfg.val_per_type, seed=cfg.seed
    )

    keras.utils.set_random_seed(cfg.seed)
    model = build_classifier(cfg.preset, num_groups=len(groups))
    total_steps = cfg.epochs * cfg.steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, total_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )

    class _Stream(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0

        def __len__(self):
            return cfg.steps_per_epoch

        def __getitem__(self, idx):
            rng = np.random.default_rng([cfg.seed, self.epoch, int(idx)])
            return make_batch(train_imgs, rng, cfg.batch_size, cfg.crop_size, groups)

        def on_epoch_end(self):
            self.epoch += 1

    class _Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            atomic_save_model(self.model, ckpt)

    history = model.fit(
        _Stream(),
        epochs=cfg.epochs,
        validation_data=(x_val, y_val),
        validation_batch_size=64,
        callbacks=[_Checkpoint()],
        verbose=cfg.verbose,
    )

    pred = np.argmax(model.predict(x_val, batch_size=64, verbose=0), axis=-1)
    correct = pred == y_val
    accuracy = float(correct.mean())
    names = list(groups)
    per_group = {g: float(correct[y_val == i].mean()) for i, g in enumerate(names)}
    kinds = np.asarray(val_kinds)
    per_type = {k: float(correct[kinds == k].mean()) for k in D.NAMES}
    confusion = np.zeros((len(names), len(names)), dtype=int)
    for t, p in zip(y_val, pred, strict=True):
        confusion[t, p] += 1

    # ship the classifier without the optimizer state (a third of the size, nothing to resume)
    lean = build_classifier(cfg.preset, num_groups=len(groups))
    lean.set_weights(model.get_weights())
    atomic_save_model(lean, output)
    ckpt.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    command = cfg.command if cfg.command is not None else " ".join(sys.argv)
    settings = dataclasses.asdict(cfg)
    settings["groups"] = {g: list(m) for g, m in groups.items()}
    record = {
        "family": "aiqa",
        "preset": cfg.preset,
        "architecture": {k: list(v) if isinstance(v, tuple) else v for k, v in preset.items()},
        "inputs": {
            "reference": "float32 NHWC RGB, 0..255 (clean image x_o)",
            "distorted": "float32 NHWC RGB, 0..255 (x_d)",
            "min_side": D.MIN_SIDE,
        },
        "outputs": "logits (N, num_groups) in the order of group_order",
        "group_order": names,
        "groups": {g: list(m) for g, m in groups.items()},
        "group_source": "Liu, Lin & Kuo, IEEE TIP 22(5) 2013 (CD-MMF), TID2008's 17 types",
        "distortion_levels": list(D.LEVELS),
        "training": {
            "data_dir": str(cfg.data_dir),
            "train_images": list(train_names),
            "heldout_images": list(held_names),
            "settings": settings,
            "final_train_loss": float(history.history["loss"][-1]),
            "final_train_accuracy": float(history.history["accuracy"][-1]),
        },
        "command": command,
        "metrics": {
            "heldout_accuracy": accuracy,
            "heldout_patches": len(y_val),
            "heldout_accuracy_per_group": per_group,
            "heldout_accuracy_per_type": per_type,
            "heldout_confusion": {"rows_true_cols_pred": names, "counts": confusion.tolist()},
        },
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "params": int(model.count_params()),
        "sha256": sha256_file(output),
    }
    atomic_write_json(manifest, record)
    return AIQATrainResult(
        model_path=output,
        manifest_path=manifest,
        heldout_accuracy=accuracy,
        heldout_accuracy_per_group=per_group,
        train_images=train_names,
        heldout_images=held_names,
        seconds=seconds,
    )


def report(result: AIQATrainResult) -> str:
    """The line ``jndtf train aiqa`` prints on stdout when the run is done."""
    return (
        f"held-out accuracy {result.heldout_accuracy:.3f} "
        f"({', '.join(result.heldout_images)} held out) in {result.seconds:.0f} s -> "
        f"{result.model_path}"
    )


__all__ = [
    "EXTRA_SKIMAGE_PHOTOS",
    "AIQATrainConfig",
    "AIQATrainResult",
    "load_folder",
    "make_batch",
    "make_heldout_set",
    "report",
    "split_images",
    "train_aiqa",
    "write_training_photos",
]
