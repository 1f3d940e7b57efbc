"""The training function of the CAM classifiers (overview: :mod:`jndtf.train.classifiers`)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jndtf.train.classifiers.config import (
    CHECKPOINT_NAME,
    MANIFEST_NAME,
    ClassifiersProgress,
    ClassifiersTrainConfig,
    ClassifiersTrainResult,
    arch_of,
)

#: Images per forward pass when scoring the validation split.
EVAL_BATCH = 500

PAPER = (
    "Jin et al., 'Just Noticeable Difference for Deep Machine Vision', IEEE TCSVT 2022 "
    "(DMV-JND), Sec. IV-A: the four CAM classifiers (Zhou et al. 2016)"
)


def predict_labels(model, images: np.ndarray, batch: int = EVAL_BATCH) -> np.ndarray:
    """Argmax labels of a classifier on uint8 (or 0..255 float) RGB images, in batches."""
    out = []
    for lo in range(0, len(images), batch):
        xb = np.asarray(images[lo : lo + batch], dtype=np.float32) / 255.0
        out.append(np.argmax(np.asarray(model.predict_on_batch(xb)), axis=-1))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def set_bn_momentum(model, momentum: float) -> int:
    """Sets the moving-average momentum of every BatchNormalization layer of `model` (before
    its train function is traced); returns how many layers it changed."""
    import keras

    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
    return count


def train_classifiers(
    config: ClassifiersTrainConfig,
    progress: Callable[[ClassifiersProgress], None] | None = None,
) -> ClassifiersTrainResult:
    """Trains the CAM classifiers `config.arch` names, one after the other, and writes
    ``<arch>.keras`` per classifier and ``classifiers.json`` into the run folder.

    Per classifier: Adam with decoupled weight decay (``keras.optimizers.AdamW``) and a cosine
    decay of the rate to 0 over the run, softmax cross-entropy on the logits, batches of
    :func:`jndtf.data.classification.epoch_batches` (the paper's horizontal flip), validation
    accuracy after every epoch. The checkpoint (all variables + optimizer state + history) is
    rewritten atomically after every epoch; a resumed run continues at the next epoch with the
    same batches, so it ends with the weights an uninterrupted run would have.

    A run folder may be filled in several runs (``--arch resnet`` then ``--arch vgg``) as long
    as the data and split are the same; an existing ``<arch>.keras`` is never overwritten.

    Raises:
        DatasetError: the data cannot be read, or the split is impossible.
        FileExistsError: a checkpoint exists and ``resume`` is False; an ``<arch>.keras`` to
            train exists already.
        ValueError: a checkpoint or an earlier manifest made with other settings or data.
        FloatingPointError: the loss became NaN/Inf (the last epoch's checkpoint is kept).
    """
    import keras

    from jndtf.data.classification import epoch_batches
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import (
        atomic_save_model,
        atomic_write_json,
        inference_copy,
        sha256_file,
        versions,
    )
    from jndtf.train._state import (
        ScalarLog,
        interrupts_resumable,
        open_checkpoint,
        restore,
        save_state,
    )
    from jndtf.train.classifiers.data import prepare_data

    t0 = time.perf_counter()
    cfg = config
    say = progress or (lambda p: None)
    out = Path(cfg.output_dir)
    ckpt = out / CHECKPOINT_NAME
    manifest_path = out / MANIFEST_NAME
    presets = cfg.presets()

    meta, saved_vars, saved_opt = open_checkpoint(ckpt, cfg.resume, cfg.resume_key())
    done: dict = dict(meta["done"]) if meta else {}
    for preset in presets:
        arch = arch_of(preset)
        interrupted_here = meta is not None and meta.get("current") == preset
        if arch not in done and not interrupted_here and (out / f"{arch}.keras").exists():
            raise FileExistsError(
                f"{out / f'{arch}.keras'} exists already; remove it to train {preset} again, or "
                "choose another --out"
            )
    previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None

    data = prepare_data(
        cfg.data_dir,
        max_images=cfg.max_images,
        val_size=cfg.val_size,
        seed=cfg.seed,
        progress=lambda d, t: say(ClassifiersProgress("data", step=d, steps=t)),
    )
    for what, record in (("checkpoint", meta), ("manifest", previous)):
        if record is None:
            continue
        theirs = record["data"]
        for key in ("arrays_sha256", "val_indices_sha256"):
            if theirs.get(key) != data.record[key]:
                where = ckpt if what == "checkpoint" else manifest_path
                raise ValueError(
                    f"{where} was made from other images or another split ({key} differs): "
                    f"give the same --data, --max-images, --val-size and --seed, or another --out"
                )
    x_tr, y_tr = data.images[data.train_idx], data.labels[data.train_idx]
    x_val, y_val = data.images[data.val_idx], data.labels[data.val_idx]
    steps = math.ceil(len(y_tr) / cfg.batch_size)
    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    command = cfg.command if cfg.command is not None else shlex.join(sys.argv)
    sessions = list(meta["sessions"]) if meta else []
    previous_seconds = float(meta["seconds"]) if meta else 0.0
    resumed_from = None
    trained: dict = {}

    def base_meta(current, epoch, history):
        return {
            "config_key": cfg.resume_key(),
            "data": data.record,
            "done": done,
            "current": current,
            "epoch": epoch,
            "history": history,
            "seconds": previous_seconds + time.perf_counter() - t0,
            "sessions": [*sessions, {"seconds": round(time.perf_counter() - t0, 2)}],
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }

    with interrupts_resumable(ckpt):
        for preset in presets:
            arch = arch_of(preset)
            if arch in done:
                continue
            spec = get_model_spec(preset)
            keras.utils.set_random_seed(cfg.seed)
            model = spec.build()
            set_bn_momentum(model, cfg.bn_momentum)
            schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.epochs * steps)
            optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)
            model.compile(
                optimizer=optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
            optimizer.build(model.trainable_variables)
            start, history = 0, []
            if meta is not None and meta.get("current") == preset and meta["epoch"] > 0:
                restore(ckpt, meta, model, optimizer, saved_vars, saved_opt)
                start, history = int(meta["epoch"]), list(meta["history"])
                resumed_from = (preset, start)
            log = ScalarLog(out / "logs" / arch, cfg.tensorboard)
            for epoch in range(start, cfg.epochs):
                te = time.perf_counter()
                loss_sum, hits, seen = 0.0, 0.0, 0
                batches = epoch_batches(
                    x_tr,
                    y_tr,
                    batch_size=cfg.batch_size,
                    seed=cfg.seed,
                    epoch=epoch,
                    flip=cfg.flip,
                    shift=cfg.shift,
                )
                for step, (xb, yb) in enumerate(batches, start=1):
                    # train_on_batch reports this batch's loss and accuracy (metrics are reset per
                    # call): the epoch means are accumulated here, weighted by the batch size
                    model.reset_metrics()
                    logs = model.train_on_batch(xb.astype(np.float32) / 255.0, yb, return_dict=True)
                    loss_sum += float(logs["loss"]) * len(yb)
                    hits += float(logs["accuracy"]) * len(yb)
                    seen += len(yb)
                    say(
                        ClassifiersProgress(
                            "train",
                            preset,
                            epoch + 1,
                            cfg.epochs,
                            step,
                            steps,
                            loss_sum / seen,
                            hits / seen,
                        )
                    )
                loss, acc = loss_sum / seen, hits / seen
                if not math.isfinite(loss):
                    kept = (
                        f"{ckpt} (epoch {epoch}) is kept" if ckpt.is_file() else "no checkpoint yet"
                    )
                    raise FloatingPointError(
                        f"{preset}: non-finite loss ({loss}) in epoch {epoch + 1}; {kept}. Lower "
                        "--lr and resume"
                    )
                val_acc = float(np.mean(predict_labels(model, x_val) == y_val))
                history.append(
                    {
                        "epoch": epoch + 1,
                        "loss": loss,
                        "accuracy": acc,
                        "val_accuracy": val_acc,
                        "seconds": round(time.perf_counter() - te, 2),
                    }
                )
                log.write(epoch + 1, {"loss": loss, "accuracy": acc, "val_accuracy": val_acc})
                save_state(ckpt, base_meta(preset, epoch + 1, history), model, optimizer)
                say(
                    ClassifiersProgress(
                        "epoch", preset, epoch + 1, cfg.epochs, steps, steps, loss, acc, val_acc
                    )
                )
            path = out / f"{arch}.keras"
            # weights only: a compiled model would also save AdamW's two moments (3x the size)
            atomic_save_model(inference_copy(model), path)
            per_epoch = [h["seconds"] for h in history]
            done[arch] = {
                "preset": preset,
                "file": path.name,
                "sha256": sha256_file(path),
                "params": int(model.count_params()),
                "macs_per_pixel": spec.macs_per_pixel(),
                "epochs": len(history),
                "steps_per_epoch": steps,
                "val_accuracy": history[-1]["val_accuracy"],
                "best_val_accuracy": max(h["val_accuracy"] for h in history),
                "seconds_per_epoch": round(float(np.median(per_epoch)), 2),
                "history": history,
                "optimizer": {
                    "name": "AdamW (Adam + decoupled weight decay)",
                    "learning_rate": cfg.learning_rate,
                    "schedule": "cosine decay to 0 over epochs x steps",
                    "weight_decay": cfg.weight_decay,
                },
                "settings": settings,
                "command": command,
                "versions": versions(),
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            }
            trained[arch] = path
            save_state(ckpt, base_meta(None, 0, []))
            run_record = _write_manifest(manifest_path, previous, done, data, command)
            # NAME.json beside NAME.keras: what jndtf.manifest.read_source_manifest (export) reads
            atomic_write_json(
                path.with_suffix(".json"),
                {
                    **{k: v for k, v in run_record.items() if k not in ("classifiers", "updated")},
                    "preset": preset,
                    "arch": arch,
                    "description": spec.description,
                    "run_manifest": MANIFEST_NAME,
                    **done[arch],
                },
            )

    ckpt.unlink(missing_ok=True)
    return ClassifiersTrainResult(
        output_dir=out,
        manifest_path=manifest_path,
        models=trained,
        val_accuracy={a: done[a]["val_accuracy"] for a in (arch_of(p) for p in presets)},
        history={a: done[a]["history"] for a in (arch_of(p) for p in presets)},
        seconds=previous_seconds + time.perf_counter() - t0,
        resumed_from=resumed_from,
    )


def _write_manifest(path: Path, previous: dict | None, done: dict, data, command: str) -> dict:
    """Writes ``classifiers.json``: the classifiers of the run folder (earlier runs' kept);
    returns the record."""
    from jndtf.train._common import atomic_write_json

    classifiers = dict(previous["classifiers"]) if previous else {}
    classifiers.update(done)
    record = {
        "family": "classifiers",
        "paper": PAPER,
        "class_names": data.class_names,
        "inputs": {
            "channels": 3,
            "layout": "NHWC float32 RGB / 255 (0..1), H and W dynamic (trained at 32x32)",
            "normalization": "(x/255 - 0.5)/0.5 = 2u - 1, applied by the model's first "
            "layer 'normalize'; feed RGB / 255",
        },
        "outputs": {"kind": "logits", "classes": len(data.class_names)},
        "cam": "jndtf.models.classifiers.cam(model, x, class) on layers 'cam_features' and 'head'",
        "data": data.record,
        "classifiers": {k: classifiers[k] for k in sorted(classifiers)},
        "command": command,
        "updated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(path, record)
    return record


__all__ = ["predict_labels", "set_bn_momentum", "train_classifiers"]
