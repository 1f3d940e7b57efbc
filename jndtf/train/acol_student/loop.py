"""The distillation loop of the ACoL-JND student (overview: :mod:`jndtf.train.acol_student`)."""

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
from keras import ops

from jndtf.train.acol_student.config import StudentTrainConfig, StudentTrainResult

#: Version of ``checkpoints/last.npz``'s metadata.
CHECKPOINT_FORMAT = 1


def distill_loss(teacher_map, student_map, grad_weight: float = 0.0):
    """Distillation loss per batch, in grey levels:
    ``mean |s − t| + g · (mean |∂x s − ∂x t| + mean |∂y s − ∂y t|)``.

    Args:
        teacher_map, student_map: ``(N, H, W, C)`` maps in pixel values (grey levels).
        grad_weight: g, the weight of the gradient term (forward differences along W and H).

    Returns:
        Scalar tensor in grey levels.

    Example:
        >>> float(distill_loss(np.zeros((1, 4, 4, 3)), np.ones((1, 4, 4, 3))))
        1.0
    """
    t = ops.cast(teacher_map, "float32")
    s = ops.cast(student_map, "float32")
    loss = ops.mean(ops.abs(s - t))
    if grad_weight:
        d = s - t
        gx = ops.mean(ops.abs(d[:, :, 1:, :] - d[:, :, :-1, :]))
        gy = ops.mean(ops.abs(d[:, 1:, :, :] - d[:, :-1, :, :]))
        loss = loss + grad_weight * (gx + gy)
    return loss


@keras.saving.register_keras_serializable(package="jndtf")
class DistillLoss(keras.losses.Loss):
    """:func:`distill_loss` as a Keras loss (``y_true`` = teacher map, ``y_pred`` = student's).

    Example:
        >>> model.compile(optimizer="adam", loss=DistillLoss(grad_weight=0.5))
    """

    def __init__(self, grad_weight: float = 0.0, name: str = "distill", **kwargs):
        super().__init__(name=name, **kwargs)
        self.grad_weight = float(grad_weight)

    def call(self, y_true, y_pred):
        return distill_loss(y_true, y_pred, self.grad_weight)

    def get_config(self):
        return {**super().get_config(), "grad_weight": self.grad_weight}


def validate(model, data) -> dict:
    """Map PSNR (dB, peak 255, pooled over every pixel of every photo) and MAE (grey levels) of
    `model` against the teacher on the whole photos of `data` (:class:`DistillData`)."""
    sq, ab, n, per_image = 0.0, 0.0, 0, []
    for i in range(len(data.map_files)):
        x = np.ascontiguousarray(data.input_of(i))
        s = np.asarray(model(x[None], training=False), np.float64)[0]
        d = s - np.asarray(data.map_of(i), np.float64)
        sq += float(np.sum(d * d))
        ab += float(np.sum(np.abs(d)))
        n += d.size
        mse_i = float(np.mean(d * d))
        per_image.append(math.inf if mse_i == 0 else 10 * math.log10(255.0**2 / mse_i))
    mse = sq / n
    return {
        "psnr": math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse),
        "mae": ab / n,
        "psnr_per_image": [round(p, 3) for p in per_image],
    }


def read_checkpoint(path: Path) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """``(meta, weights, optimizer variables)`` of a checkpoint written by the loop."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        weights = [z[k] for k in sorted(z.files) if k.startswith("w")]
        opt = [z[k] for k in sorted(z.files) if k.startswith("o")]
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}"
        )
    return meta, weights, opt


def train_acol_student(config: StudentTrainConfig, progress=None) -> StudentTrainResult:
    """Distils the student from the teacher and writes ``model.keras`` + ``manifest.json``.

    Args:
        config: the settings (:class:`StudentTrainConfig`).
        progress: unused (Keras shows its own progress; ``verbose``).

    Returns:
        :class:`StudentTrainResult`.

    Raises:
        FileNotFoundError: a missing folder or teacher file.
        FileExistsError: a checkpoint exists and ``resume`` is False.
        ValueError: a checkpoint made with other settings or another teacher; a teacher with
            another input than the student's.
        FloatingPointError: the loss became NaN/Inf (the last epoch's checkpoint is kept).
    """
    from jndtf.models.acol_student.presets import get_preset, macs_per_pixel
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import (
        atomic_save_model,
        atomic_write_json,
        sha256_file,
        versions,
        write_checkpoint,
    )
    from jndtf.train.acol_student.data import DistillData, load_teacher

    t0 = time.perf_counter()
    cfg = config
    spec = get_model_spec(cfg.preset)
    out = Path(cfg.output_dir)
    ckpt = out / "checkpoints" / "last.npz"
    meta = None
    if ckpt.is_file():
        if not cfg.resume:
            raise FileExistsError(
                f"{ckpt} holds an unfinished run; pass --resume to continue it, or remove it "
                "(or choose another --out) to start afresh"
            )
        meta, saved_weights, saved_opt = read_checkpoint(ckpt)
    elif cfg.resume:
        raise FileNotFoundError(f"--resume: no checkpoint {ckpt} to continue")

    teacher = load_teacher(cfg.teacher, priors=spec.priors, normalization=spec.normalization)
    if meta is not None:
        wanted = cfg.resume_key()
        diffs = [
            f"{k}={meta['config_key'].get(k)!r} then, {wanted.get(k)!r} now"
            for k in sorted(set(wanted) | set(meta["config_key"]))
            if meta["config_key"].get(k) != wanted.get(k)
        ]
        if diffs:
            raise ValueError(f"cannot resume from {ckpt}: other settings ({'; '.join(diffs)})")
        if meta["teacher_sha256"] != teacher.sha256:
            raise ValueError(
                f"cannot resume from {ckpt}: the teacher {teacher.path} (sha256 "
                f"{teacher.sha256[:12]}) is not the one it was distilled from "
                f"({meta['teacher_sha256'][:12]}); start a new run (another --out)"
            )

    def say(msg):
        if cfg.verbose:
            print(msg, file=sys.stderr, flush=True)

    def prep(what):
        return lambda done, total, name: say(f"{what}: teacher map {done}/{total} {name}")

    data = DistillData(
        cfg.data_dir,
        teacher,
        crop_size=cfg.crop_size,
        batch_size=cfg.batch_size,
        steps_per_epoch=cfg.steps_per_epoch,
        seed=cfg.seed,
        cache_dir=cfg.cache_dir,
        progress=prep("train"),
    )
    val = None
    if cfg.val_dir is not None:
        val = DistillData(
            cfg.val_dir,
            teacher,
            crop_size=32,
            batch_size=1,
            cache_dir=cfg.cache_dir,
            progress=prep("validation"),
        )
        overlap = {r.sha256 for r in val.images.records} & {r.sha256 for r in data.images.records}
        if overlap:
            raise ValueError(
                f"{len(overlap)} validation photo(s) of {cfg.val_dir} are also in {cfg.data_dir} "
                "(same content): hold them out of the training folder"
            )
    steps = data.steps_per_epoch

    keras.utils.set_random_seed(cfg.seed)
    model = spec.build(width=cfg.width)
    rate = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, cfg.epochs * steps)
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=DistillLoss(cfg.grad_weight),
        jit_compile=keras.backend.backend() == "jax",
    )
    model.optimizer.build(model.trainable_variables)

    history: list[dict] = []
    start, previous_seconds = 0, 0.0
    if meta is not None:
        if [v.path for v in model.weights] != meta["weight_paths"]:
            raise ValueError(
                f"cannot resume from {ckpt}: its variables do not match this model's (the "
                "network code changed since it was written)"
            )
        model.set_weights(saved_weights)
        for var, value in zip(model.optimizer.variables, saved_opt, strict=True):
            var.assign(value)
        start = int(meta["epoch"])
        history = list(meta["history"])
        previous_seconds = float(meta["seconds"])

    class _Epoch(keras.utils.PyDataset):
        def __init__(self, epoch):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = epoch

        def __len__(self):
            return steps

        def __getitem__(self, idx):
            return data.batch(self.epoch, int(idx))

    if start == 0 and val is not None:  # the curve's starting point: the untrained student
        v = validate(model, val)
        history.append(
            {
                "epoch": 0,
                "step": 0,
                "loss": None,
                "val_psnr": round(v["psnr"], 3),
                "val_mae": round(v["mae"], 4),
                "seconds": 0.0,
            }
        )
        say(f"epoch 0: validation map PSNR {v['psnr']:.2f} dB")
    for epoch in range(start, cfg.epochs):
        te = time.perf_counter()
        hist = model.fit(
            _Epoch(epoch), epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=cfg.verbose
        )
        loss = float(hist.history["loss"][-1])
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss ({loss}) in epoch {epoch + 1}; "
                + (f"the checkpoint {ckpt} is kept" if ckpt.is_file() else "no checkpoint yet")
                + ". Lower --lr and resume"
            )
        entry = {"epoch": epoch + 1, "step": (epoch + 1) * steps, "loss": round(loss, 5)}
        if val is not None:
            v = validate(model, val)
            entry.update(val_psnr=round(v["psnr"], 3), val_mae=round(v["mae"], 4))
        else:
            entry.update(val_psnr=None, val_mae=None)
        entry["seconds"] = round(time.perf_counter() - te, 2)
        history.append(entry)
        say(
            f"epoch {epoch + 1}/{cfg.epochs}: L1 {loss:.4f}"
            + ("" if val is None else f", validation map PSNR {entry['val_psnr']:.2f} dB")
        )
        record = {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch + 1,
            "history": history,
            "seconds": previous_seconds + time.perf_counter() - t0,
            "config_key": cfg.resume_key(),
            "teacher_sha256": teacher.sha256,
            "weight_paths": [v.path for v in model.weights],
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        write_checkpoint(
            ckpt, record, model.get_weights(), [np.asarray(v) for v in model.optimizer.variables]
        )

    model_path = out / "model.keras"
    manifest_path = out / "manifest.json"
    net = spec.build(width=cfg.width)  # the network alone: no optimizer state in the file
    net.set_weights(model.get_weights())
    atomic_save_model(net, model_path)
    seconds = previous_seconds + time.perf_counter() - t0
    from jndtf.priors.inputs import code_fingerprint, normalization_info

    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    last_val = history[-1]["val_psnr"] if history else None
    manifest = {
        "family": spec.family,
        "preset": cfg.preset,
        "width": cfg.width,
        "model_name": model.name,
        "description": spec.description,
        "architecture": json.loads(json.dumps(get_preset(cfg.preset))),
        "macs_per_pixel": macs_per_pixel(cfg.preset, cfg.width),
        "inputs": {
            "channels": spec.input_channels,
            "priors": list(spec.priors),
            "normalization": normalization_info(spec.priors, spec.normalization),
            "builder": "jndtf.priors.inputs.model_input(image, priors, normalization='unit')",
            "priors_on": "the whole image (crops are cut from its input)",
            "code_sha256": code_fingerprint(),
        },
        "outputs": {"channels": spec.output_channels, "jnd_units": spec.jnd_units},
        "teacher": {"ref": cfg.teacher, "file": str(teacher.path), "sha256": teacher.sha256},
        "training": {
            "method": "distillation: L1 (+ grad_weight x gradient L1) to the teacher's map, "
            f"computed once per photo at full resolution; Adam, {cfg.lr_schedule} rate",
            "data": data.describe(),
            "validation": None if val is None else val.describe(),
            "history": history,
            "settings": settings,
        },
        "validation": None
        if val is None
        else {"map_psnr_db": last_val, "against": "teacher, full resolution"},
        "command": cfg.command or shlex.join(["jndtf", *sys.argv[1:]]),
        "versions": versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "params": int(model.count_params()),
        "sha256": sha256_file(model_path),
    }
    atomic_write_json(manifest_path, manifest)
    ckpt.unlink(missing_ok=True)
    return StudentTrainResult(
        model_path=model_path,
        manifest_path=manifest_path,
        history=tuple(history),
        val_psnr=last_val,
        teacher_sha256=teacher.sha256,
        seconds=seconds,
        resumed_from=start if meta is not None else None,
    )


__all__ = [
    "CHECKPOINT_FORMAT",
    "DistillLoss",
    "distill_loss",
    "read_checkpoint",
    "train_acol_student",
    "validate",
]
