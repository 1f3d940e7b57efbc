"""The training function of the PoolNet saliency recipe (overview: :mod:`jndtf.train.saliency`).

The checkpoint and metric functions are looked up on :mod:`jndtf.train.saliency` when a run
starts, so a test that patches them there (to simulate a crash) patches the run.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import shlex
import sys
import time
from pathlib import Path

import keras
import numpy as np

from jndtf.train.saliency.checkpoint import CHECKPOINT_FORMAT, _listing_sha256
from jndtf.train.saliency.config import SaliencyTrainConfig, SaliencyTrainResult
from jndtf.train.saliency.losses import SaliencyLoss


def train_saliency(config: SaliencyTrainConfig) -> SaliencyTrainResult:
    """Trains the compact PoolNet on photo/mask pairs and writes model + manifest.

    Args:
        config: the settings (:class:`SaliencyTrainConfig`).

    Returns:
        :class:`SaliencyTrainResult` with the paths, the held-out MAE / max F-measure and the
        loss history.

    Raises:
        FileNotFoundError: a folder is missing.
        PairingError, SizeMismatchError: photos and masks do not pair (names them).
        FileExistsError: a checkpoint exists and ``resume`` is False.
        ValueError: a checkpoint made with other settings or other data; too few pairs.
        FloatingPointError: the loss became NaN/Inf (the last epoch's checkpoint is kept).
    """
    from jndtf.data.saliency_pairs import (
        SaliencyPairDataset,
        check_sizes,
        find_pairs,
        split_pairs,
    )
    from jndtf.models.registry import get_model_spec
    from jndtf.models.saliency.network import logits_model
    from jndtf.models.saliency.presets import get_preset, macs_per_pixel
    from jndtf.train import saliency as api  # read_checkpoint, write_checkpoint, evaluate_saliency
    from jndtf.train._common import atomic_save_model, atomic_write_json, sha256_file, versions

    t0 = time.perf_counter()
    cfg = config
    spec = get_model_spec(cfg.preset)
    output = Path(cfg.output)
    manifest_path = output.with_suffix(".json")
    ckpt = output.with_name(output.stem + ".ckpt.npz")

    meta = None
    if ckpt.is_file():
        if not cfg.resume:
            raise FileExistsError(
                f"{ckpt} holds an unfinished run; pass resume=True to continue it, or remove it "
                "(or choose another output) to start afresh"
            )
        meta, saved_weights, saved_opt = api.read_checkpoint(ckpt)

    pairs = find_pairs(cfg.data_dir, cfg.masks_dir, strict=cfg.strict_pairs)
    check_sizes(pairs)
    train_pairs, held_pairs = split_pairs(
        pairs, fraction=cfg.holdout_fraction, holdout=cfg.holdout, seed=cfg.seed
    )
    listing = _listing_sha256(pairs)
    if meta is not None:
        wanted = cfg.resume_key()
        diffs = [
            f"{k}={meta['config_key'].get(k)!r} then, {wanted.get(k)!r} now"
            for k in sorted(set(wanted) | set(meta["config_key"]))
            if meta["config_key"].get(k) != wanted.get(k)
        ]
        if diffs:
            raise ValueError(f"cannot resume from {ckpt}: other settings ({'; '.join(diffs)})")
        if meta["data_listing_sha256"] != listing:
            raise ValueError(
                f"cannot resume from {ckpt}: the pairs differ from the checkpoint's "
                f"({meta['pairs']} then, {len(pairs)} now, or changed files)"
            )
    data = SaliencyPairDataset(
        train_pairs,
        crop_size=cfg.crop_size,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        flip=cfg.flip,
        threshold=cfg.mask_threshold,
        steps_per_epoch=cfg.steps_per_epoch,
    )
    steps = data.steps_per_epoch

    keras.utils.set_random_seed(cfg.seed)
    net = spec.build()
    model = logits_model(net)
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.epochs * steps)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay, name="adamw")
    jit = True if keras.backend.backend() == "jax" else cfg.jit_compile
    model.compile(optimizer=optimizer, loss=SaliencyLoss(cfg.iou_weight), jit_compile=jit)
    model.optimizer.build(model.trainable_variables)

    history: list[dict] = []
    sessions: list[dict] = []
    start, previous_seconds = 0, 0.0
    if meta is not None:
        names = [v.path for v in model.weights]
        opt_names = [v.path for v in model.optimizer.variables]
        if names != meta["weight_paths"] or opt_names != meta["optimizer_paths"]:
            raise ValueError(
                f"cannot resume from {ckpt}: its variables do not match this model's (the "
                "network code changed since it was written)"
            )
        model.set_weights(saved_weights)
        for var, value in zip(model.optimizer.variables, saved_opt, strict=True):
            var.assign(value)
        start = int(meta["epoch"])
        history = list(meta["history"])
        sessions = list(meta["sessions"])
        previous_seconds = float(meta["seconds"])

    class _Epoch(keras.utils.PyDataset):
        def __init__(self, epoch):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = epoch

        def __len__(self):
            return steps

        def __getitem__(self, idx):
            return data.batch(self.epoch, int(idx))

    def session_record(epoch):
        return [*sessions, {"seconds": time.perf_counter() - t0, "ended_at_epoch": epoch}]

    for epoch in range(start, cfg.epochs):
        te = time.perf_counter()
        hist = model.fit(
            _Epoch(epoch),
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            verbose=cfg.verbose,
        )
        loss = float(hist.history["loss"][-1])
        if not math.isfinite(loss):
            kept = (
                f"the checkpoint {ckpt} of epoch {epoch} is kept"
                if ckpt.is_file()
                else ("no checkpoint was written yet")
            )
            raise FloatingPointError(
                f"non-finite loss ({loss}) in epoch {epoch + 1}; {kept}. Lower learning_rate "
                "and resume, or check the masks"
            )
        history.append(
            {"epoch": epoch + 1, "loss": loss, "seconds": round(time.perf_counter() - te, 2)}
        )
        record = {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch + 1,
            "history": history,
            "seconds": previous_seconds + time.perf_counter() - t0,
            "sessions": session_record(epoch + 1),
            "config_key": cfg.resume_key(),
            "data_listing_sha256": listing,
            "pairs": len(pairs),
            "weight_paths": [v.path for v in model.weights],
            "optimizer_paths": [v.path for v in model.optimizer.variables],
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        api.write_checkpoint(
            ckpt, record, model.get_weights(), [np.asarray(v) for v in model.optimizer.variables]
        )

    metrics = api.evaluate_saliency(
        net, held_pairs, max_side=cfg.eval_max_side, threshold=cfg.mask_threshold
    )
    atomic_save_model(net, output)
    seconds = previous_seconds + time.perf_counter() - t0
    preset = get_preset(cfg.preset)
    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    record = {
        "family": spec.family,
        "preset": cfg.preset,
        "model_name": net.name,
        "description": spec.description,
        "architecture": json.loads(json.dumps(preset)),
        "paper": "Liu, Hou, Cheng, Feng & Jiang, 'A Simple Pooling-Based Design for Real-Time "
        "Salient Object Detection', CVPR 2019 (PoolNet); compact encoder trained from scratch",
        "inputs": {
            "channels": 3,
            "normalization": "RGB / 255 (0..1)",
            "layout": "NHWC float32, H and W dynamic",
        },
        "outputs": {
            "channels": 1,
            "units": spec.jnd_units,
            "activation": "sigmoid (logits in layer 'logits')",
        },
        "prior": {
            "use": "jndtf.models.saliency_prior.SaliencyPrior(model_path, max_side=...)",
            "max_side": cfg.eval_max_side,
            "replaces": "the classical 'saliency' prior (spectral residual) as f_va",
        },
        "macs_per_pixel": macs_per_pixel(cfg.preset),
        "params": int(net.count_params()),
        "training": {
            "data": {
                "images_dir": str(cfg.data_dir),
                "masks_dir": str(cfg.masks_dir),
                "pairs": len(pairs),
                "train_pairs": len(train_pairs),
                "heldout_stems": [p.stem for p in held_pairs],
                "listing_sha256": listing,
            },
            "loss": {
                "equation": "mean BCE(mask, sigmoid(logits)) + iou_weight * soft IoU loss",
                "iou_weight": cfg.iou_weight,
            },
            "optimizer": {
                "name": "adamw",
                "learning_rate": cfg.learning_rate,
                "schedule": "cosine decay to 0",
                "weight_decay": cfg.weight_decay,
            },
            "augmentation": {"random_crop": cfg.crop_size, "horizontal_flip": cfg.flip},
            "settings": settings,
            "epochs": len(history),
            "steps_per_epoch": steps,
            "history": history,
            "sessions": session_record(len(history)),
        },
        "command": cfg.command if cfg.command is not None else shlex.join(sys.argv),
        "metrics": {
            "heldout_mae": metrics["mae"],
            "heldout_max_f": metrics["max_f"],
            "beta2": metrics["beta2"],
            "heldout_pairs": metrics["pairs"],
            "eval_max_side": metrics["max_side"],
            "protocol": "SaliencyPrior at eval_max_side, map vs mask at the mask's size, mask "
            "binarized at 0.5; max F over 256 thresholds of P, R averaged over images",
        },
        "versions": versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "sha256": sha256_file(output),
    }
    atomic_write_json(manifest_path, record)
    ckpt.unlink(missing_ok=True)
    return SaliencyTrainResult(
        model_path=output,
        manifest_path=manifest_path,
        heldout_mae=metrics["mae"],
        heldout_max_f=metrics["max_f"],
        history=tuple(history),
        train_stems=tuple(p.stem for p in train_pairs),
        heldout_stems=tuple(p.stem for p in held_pairs),
        seconds=seconds,
        resumed_from=None if meta is None else int(meta["epoch"]),
    )


__all__ = ["train_saliency"]
