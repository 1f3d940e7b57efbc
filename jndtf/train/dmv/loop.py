"""The training function of DMV-JND-NET (overview: :mod:`jndtf.train.dmv`)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jndtf.train.dmv.config import (
    CAM_CACHE_NAME,
    CHECKPOINT_NAME,
    CLASSIFIER_ARCHS,
    MANIFEST_NAME,
    MODEL_NAME,
    DmvProgress,
    DmvTrainConfig,
    DmvTrainResult,
)

#: Images per forward pass for CAMs and validation.
EVAL_BATCH = 500

#: Pixel units per unit of the paper's [-1, 1] images: the losses' ``jnd_unit``.
JND_UNIT = 127.5

PAPER = (
    "Jin, Zhang, Fu, Zhang, Lin, Lou & Zhao, 'Just Noticeable Difference for Deep Machine "
    "Vision', IEEE TCSVT 2022 (DMV-JND-NET, eqs. (2)-(17))"
)


def load_classifiers(folder: str | Path) -> tuple[list, dict]:
    """The four frozen CAM classifiers of a ``jndtf train classifiers`` run folder, in the
    paper's order, and ``{arch: {"file", "sha256", "preset"}}``.

    Raises:
        FileNotFoundError: the folder, or one of ``alexnet.keras``, ``vgg.keras``,
            ``resnet.keras``, ``densenet.keras`` is missing (named, with the command that
            trains it).
    """
    import keras

    from jndtf.io import file_sha256

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"--classifiers {folder}: no such folder; train the four classifiers first with "
            f"`jndtf train classifiers --data DATA --arch all -o {folder}`"
        )
    missing = [a for a in CLASSIFIER_ARCHS if not (folder / f"{a}.keras").is_file()]
    if missing:
        names = ", ".join(f"{a}.keras" for a in missing)
        raise FileNotFoundError(
            f"--classifiers {folder}: missing {names} (DMV-JND-NET needs all four of "
            f"{', '.join(CLASSIFIER_ARCHS)}); train it with `jndtf train classifiers --data DATA "
            f"--arch {','.join(missing)} -o {folder}`"
        )
    manifest = folder / "classifiers.json"
    recorded = json.loads(manifest.read_text())["classifiers"] if manifest.is_file() else {}
    models, info = [], {}
    for arch in CLASSIFIER_ARCHS:
        path = folder / f"{arch}.keras"
        model = keras.saving.load_model(path, compile=False)
        model.trainable = False
        models.append(model)
        info[arch] = {
            "file": str(path),
            "sha256": file_sha256(path),
            "preset": recorded.get(arch, {}).get("preset"),
            "val_accuracy": recorded.get(arch, {}).get("val_accuracy"),
        }
    return models, info


def labeler(models, batch: int = EVAL_BATCH) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``images -> (N, len(models))`` argmax labels of each classifier on uint8 or
    0..255 float images; one traced TensorFlow function runs all the models on a batch (traced
    once per batch shape, not once per model and call)."""
    import tensorflow as tf

    models = list(models)

    @tf.function(reduce_retracing=True)
    def labels_of(x):
        return tf.stack([tf.argmax(m(x / 255.0, training=False), -1) for m in models], 1)

    def run(images: np.ndarray) -> np.ndarray:
        out = [
            np.asarray(labels_of(tf.constant(images[lo : lo + batch], tf.float32)))
            for lo in range(0, len(images), batch)
        ]
        return np.concatenate(out).astype(np.int64) if out else np.zeros((0, len(models)), int)

    return run


def merged_cams(models, images: np.ndarray, labels: np.ndarray, progress=None) -> np.ndarray:
    """Eq. (2) with each classifier's own label: ``c = 1/4 Σ_n cam(S_n, x, l_n)``, (N, H, W).

    ``l_n`` is classifier n's label on the original image (eq. (6)), so each CAM shows where
    that classifier looked for the class it decided on (Zhou et al. use the top class too).
    """
    from jndtf.models.classifiers import cam

    out = np.empty(images.shape[:3], np.float32)
    for lo in range(0, len(images), EVAL_BATCH):
        x = images[lo : lo + EVAL_BATCH].astype(np.float32) / 255.0
        total = np.zeros(x.shape[:3], np.float64)
        for n, model in enumerate(models):
            total += cam(model, x, labels[lo : lo + EVAL_BATCH, n])
        out[lo : lo + EVAL_BATCH] = (total / len(models)).astype(np.float32)
        if progress:
            progress(min(lo + EVAL_BATCH, len(images)), len(images))
    return out


def _cache_key(data_sha: str, info: dict) -> str:
    h = hashlib.sha256(data_sha.encode())
    for arch in CLASSIFIER_ARCHS:
        h.update(info[arch]["sha256"].encode())
    return h.hexdigest()


def cached_cams(path: Path, key: str, compute) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(cams, labels, reused)``: from `path` when its key matches, else ``compute()``
    written there atomically (an ``.npz`` of the cams, the labels and the key)."""
    from jndtf.io import atomic_write_bytes

    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    return z["cams"], z["labels"], True
        except (OSError, ValueError, KeyError):
            pass  # unreadable or older: recomputed below
    cams, labels = compute()
    buf = io.BytesIO()
    np.savez(buf, cams=cams, labels=labels, key=np.array(key))
    atomic_write_bytes(path, buf.getvalue())
    return cams, labels, False


def _order_and_flips(n: int, batch_size: int, seed: int, epoch: int, flip: float):
    """The batches of :func:`jndtf.data.classification.epoch_batches` as ``(indices, flipped)``
    so the image and its cached CAM are flipped together: the indices travel as the labels,
    the flips are read off a 1x2 probe image per index (``[0, 1]`` becomes ``[1, 0]``)."""
    from jndtf.data.classification import epoch_batches

    probe = np.zeros((n, 1, 2, 1), np.uint8)
    probe[:, 0, 1, 0] = 1
    for pb, idx in epoch_batches(
        probe, np.arange(n), batch_size=batch_size, seed=seed, epoch=epoch, flip=flip
    ):
        yield idx, pb[:, 0, 0, 0] == 1


def _psnr_per_image(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PSNR (dB, peak 255) of each image pair; identical images give inf."""
    err = (x.astype(np.float64) - y.astype(np.float64)) ** 2
    mse = err.reshape(len(x), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


def train_dmv(
    config: DmvTrainConfig, progress: Callable[[DmvProgress], None] | None = None
) -> DmvTrainResult:
    """Trains DMV-JND-NET's E-D with the paper's loss through four frozen classifiers and
    writes ``dmv.keras`` + ``dmv.json`` into the run folder (overview in
    :mod:`jndtf.train.dmv`).

    Raises:
        FileNotFoundError: the classifiers folder or one of its four ``.keras`` is missing.
        DatasetError: the data cannot be read, or the split is impossible.
        FileExistsError: a checkpoint exists and ``resume`` is False.
        ValueError: a checkpoint made with other settings or data.
        FloatingPointError: the loss became NaN/Inf (the last epoch's checkpoint is kept).
        RuntimeError: a Keras backend other than TensorFlow.
    """
    from jndtf.train._state import require_tensorflow_backend

    require_tensorflow_backend("jndtf train dmv")
    import keras
    import tensorflow as tf

    from jndtf.losses.dmv import dmv_cross_entropy, dmv_magnitude_loss, dmv_spatial_loss
    from jndtf.metrics import mean_rca, relative_classification_accuracy
    from jndtf.models.dmv.presets import macs_per_pixel
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model, atomic_write_json, sha256_file, versions
    from jndtf.train._state import (
        ScalarLog,
        interrupts_resumable,
        open_checkpoint,
        restore,
        save_state,
    )
    from jndtf.train.classifiers.data import prepare_data
    from jndtf.train.classifiers.loop import set_bn_momentum

    t0 = time.perf_counter()
    cfg = config
    say = progress or (lambda p: None)
    out = Path(cfg.output_dir)
    ckpt = out / CHECKPOINT_NAME

    meta, saved_vars, saved_opt = open_checkpoint(ckpt, cfg.resume, cfg.resume_key())

    classifiers, info = load_classifiers(cfg.classifiers_dir)
    data = prepare_data(
        cfg.data_dir,
        max_images=cfg.max_images,
        val_size=cfg.val_size,
        seed=cfg.seed,
        progress=lambda d, t: say(DmvProgress("data", step=d, steps=t)),
    )
    if meta is not None and meta["data"]["arrays_sha256"] != data.record["arrays_sha256"]:
        raise ValueError(
            f"cannot resume from {ckpt}: it was made from other images (give the same --data, "
            "--max-images, --val-size and --seed)"
        )
    manifest = Path(cfg.classifiers_dir) / "classifiers.json"
    classifier_data = json.loads(manifest.read_text())["data"] if manifest.is_file() else None
    val_unseen = (
        None
        if classifier_data is None
        else classifier_data.get("arrays_sha256") == data.record["arrays_sha256"]
        and classifier_data.get("val_indices_sha256") == data.record["val_indices_sha256"]
    )

    out.mkdir(parents=True, exist_ok=True)

    labels_of = labeler(classifiers)

    def compute():
        labels = labels_of(data.images)
        cams = merged_cams(
            classifiers,
            data.images,
            labels,
            progress=lambda d, t: say(DmvProgress("cams", step=d, steps=t)),
        )
        return cams, labels

    cams, labels, reused = cached_cams(
        out / CAM_CACHE_NAME, _cache_key(data.record["arrays_sha256"], info), compute
    )
    train_idx = data.train_idx
    if cfg.train_images is not None and cfg.train_images < len(train_idx):
        from jndtf.data.classification import stratified_split

        # the chosen ones are the "held out" part of a stratified split of the training split
        _, pick = stratified_split(data.labels[train_idx], cfg.train_images, seed=cfg.seed)
        train_idx = train_idx[pick]
    x_tr, c_tr = data.images[train_idx], cams[train_idx]
    x_val, c_val, l_val = (
        data.images[data.val_idx],
        cams[data.val_idx],
        labels[data.val_idx],
    )

    spec = get_model_spec(cfg.preset)
    keras.utils.set_random_seed(cfg.seed)
    net = spec.build()
    set_bn_momentum(net, cfg.bn_momentum)
    optimizer = keras.optimizers.Adam(cfg.learning_rate)
    optimizer.build(net.trainable_variables)
    start, history = 0, []
    if meta is not None:
        restore(ckpt, meta, net, optimizer, saved_vars, saved_opt)
        start, history = int(meta["epoch"]), list(meta["history"])
    sessions = list(meta["sessions"]) if meta else []
    previous_seconds = float(meta["seconds"]) if meta else 0.0
    alpha, beta, wd = float(cfg.alpha), float(cfg.beta), float(cfg.weight_decay)

    def terms(x, c, training):
        """Eq. (7) per image and its terms; x 0..255 float (B, H, W, 3), c (B, H, W)."""
        e = net(tf.concat([x / 255.0, c[..., None]], axis=-1), training=training)
        x_hat = x + e  # eq. (4), unclipped (a clip would stop Loss1's gradient)
        s = [tf.stop_gradient(m(x / 255.0, training=False)) for m in classifiers]
        s_hat = [m(x_hat / 255.0, training=False) for m in classifiers]
        l1 = dmv_cross_entropy(s, s_hat, from_logits=True)
        l2 = dmv_magnitude_loss(c, e, jnd_unit=JND_UNIT)
        l3 = dmv_spatial_loss(c, e, jnd_unit=JND_UNIT)
        return l1 + alpha * l2 + beta * l3, l1, l2, l3, e

    @tf.function(reduce_retracing=True)
    def train_step(x, c):
        with tf.GradientTape() as tape:
            loss, l1, l2, l3, _ = terms(x, c, True)
            mean = tf.reduce_mean(loss)
        variables = net.trainable_variables
        grads = tape.gradient(mean, variables)
        # PyTorch's Adam(weight_decay=wd): L2 added to the gradient before the moments
        grads = [g + wd * v for g, v in zip(grads, variables, strict=True)]
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return tf.stack([mean, tf.reduce_mean(l1), tf.reduce_mean(l2), tf.reduce_mean(l3)])

    @tf.function(reduce_retracing=True)
    def eval_step(x, c):
        loss, l1, l2, l3, e = terms(x, c, False)
        return tf.stack([tf.reduce_sum(t) for t in (loss, l1, l2, l3)]), e

    def validate() -> dict:
        sums = np.zeros(4)
        x_hat = np.empty(x_val.shape, np.float32)
        for lo in range(0, len(x_val), EVAL_BATCH):
            xb = x_val[lo : lo + EVAL_BATCH].astype(np.float32)
            s, e = eval_step(tf.constant(xb), tf.constant(c_val[lo : lo + EVAL_BATCH]))
            sums += np.asarray(s, np.float64)
            x_hat[lo : lo + EVAL_BATCH] = np.clip(xb + np.asarray(e), 0.0, 255.0)
        written = np.round(x_hat).astype(np.uint8)  # what `jndtf dmv` writes (lossless PNG)
        after = labels_of(written)
        after_float = labels_of(x_hat)
        rca = {
            a: relative_classification_accuracy(l_val[:, n], after[:, n])
            for n, a in enumerate(CLASSIFIER_ARCHS)
        }
        rca_float = {
            a: relative_classification_accuracy(l_val[:, n], after_float[:, n])
            for n, a in enumerate(CLASSIFIER_ARCHS)
        }
        psnr = _psnr_per_image(x_val, written)
        mean_abs_e = float(np.mean(np.abs(x_hat - x_val.astype(np.float32))))
        loss, l1, l2, l3 = (sums / len(x_val)).tolist()
        return {
            "val_loss": loss,
            "val_l1": l1,
            "val_l2": l2,
            "val_l3": l3,
            "val_rca": rca,
            "val_mean_rca": mean_rca(rca.values()),
            "val_rca_unrounded": rca_float,
            "val_mean_rca_unrounded": mean_rca(rca_float.values()),
            "val_psnr": float(np.mean(np.minimum(psnr, 100.0))),
            "val_mean_abs_change": mean_abs_e,
        }

    steps = math.ceil(len(x_tr) / cfg.batch_size)
    log = ScalarLog(out / "logs", cfg.tensorboard)
    with interrupts_resumable(ckpt):
        for epoch in range(start, cfg.epochs):
            te = time.perf_counter()
            sums, seen = np.zeros(4), 0
            batches = _order_and_flips(len(x_tr), cfg.batch_size, cfg.seed, epoch, cfg.flip)
            for step, (idx, flipped) in enumerate(batches, start=1):
                xb, cb = x_tr[idx].astype(np.float32), c_tr[idx]
                xb[flipped] = xb[flipped, :, ::-1]
                cb[flipped] = cb[flipped, :, ::-1]
                values = np.asarray(train_step(tf.constant(xb), tf.constant(cb)), np.float64)
                sums += values * len(idx)
                seen += len(idx)
                m = sums / seen
                say(DmvProgress("train", epoch + 1, cfg.epochs, step, steps, *m.tolist()))
            loss, l1, l2, l3 = (sums / seen).tolist()
            if not math.isfinite(loss):
                kept = f"{ckpt} (epoch {epoch}) is kept" if ckpt.is_file() else "no checkpoint yet"
                raise FloatingPointError(
                    f"non-finite loss ({loss}) in epoch {epoch + 1}; {kept}. Lower --lr and resume"
                )
            record = {"epoch": epoch + 1, "loss": loss, "l1": l1, "l2": l2, "l3": l3, **validate()}
            record["seconds"] = round(time.perf_counter() - te, 2)
            history.append(record)
            log.write(
                epoch + 1,
                {
                    **{k: record[k] for k in ("loss", "l1", "l2", "l3", "val_loss", "val_psnr")},
                    "val_mean_rca": record["val_mean_rca"],
                    **{f"val_rca/{a}": v for a, v in record["val_rca"].items()},
                },
            )
            save_state(
                ckpt,
                {
                    "config_key": cfg.resume_key(),
                    "data": data.record,
                    "epoch": epoch + 1,
                    "history": history,
                    "seconds": previous_seconds + time.perf_counter() - t0,
                    "sessions": [*sessions, {"seconds": round(time.perf_counter() - t0, 2)}],
                    "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                },
                net,
                optimizer,
            )
            say(
                DmvProgress(
                    "epoch",
                    epoch + 1,
                    cfg.epochs,
                    steps,
                    steps,
                    loss,
                    l1,
                    l2,
                    l3,
                    record["val_mean_rca"],
                    record["val_psnr"],
                )
            )

    model_path = out / MODEL_NAME
    atomic_save_model(net, model_path)
    seconds = previous_seconds + time.perf_counter() - t0
    last = history[-1]
    atomic_write_json(
        out / MANIFEST_NAME,
        {
            "family": spec.family,
            "preset": cfg.preset,
            "model_name": net.name,
            "description": spec.description,
            "paper": PAPER,
            "inputs": {
                "channels": 4,
                "modalities": ["rgb", "cam"],
                "layout": "NHWC float32: RGB / 255 (0..1) stacked with the merged CAM c "
                "(eq. (2)) in 0..1; H and W dynamic (trained at 32x32)",
                "builder": "jndtf.models.dmv.inputs:dmv_input",
                "cam": "c = 1/4 sum_n cam(S_n, x, l_n), l_n = argmax S_n(x) (each classifier's "
                "own label), per image min-max normalized",
            },
            "outputs": {
                "channels": 3,
                "units": spec.jnd_units,
                "use": "x̂ = clip(x + e, 0, 255) (eq. (4)); rounded to uint8 when written",
            },
            "class_names": data.class_names,
            "classifiers": {"folder": str(cfg.classifiers_dir), **info},
            "macs_per_pixel": macs_per_pixel(cfg.preset),
            "params": int(net.count_params()),
            "training": {
                "data": {
                    **data.record,
                    "train_images_used": len(train_idx),
                    "val_unseen_by_classifiers": val_unseen,
                    "cam_cache": str(out / CAM_CACHE_NAME),
                    "cam_cache_reused": reused,
                },
                "loss": {
                    "equation": "eq. (7): Loss1 + alpha*Loss2 + beta*Loss3 (eqs. (8)-(15)), "
                    "jndtf.losses.dmv, Loss3 on |e|",
                    "alpha": cfg.alpha,
                    "beta": cfg.beta,
                    "jnd_unit": JND_UNIT,
                },
                "optimizer": {
                    "name": "Adam",
                    "learning_rate": cfg.learning_rate,
                    "weight_decay": cfg.weight_decay,
                    "weight_decay_kind": "L2 added to the gradient (PyTorch Adam)",
                },
                "augmentation": {"horizontal_flip": cfg.flip, "cam": "flipped with the image"},
                "batch_size": cfg.batch_size,
                "steps_per_epoch": steps,
                "epochs": len(history),
                "history": history,
                "settings": json.loads(json.dumps(dataclasses.asdict(cfg))),
            },
            "metrics": {
                "val_rca": last["val_rca"],
                "val_mean_rca": last["val_mean_rca"],
                "val_rca_unrounded": last["val_rca_unrounded"],
                "val_psnr": last["val_psnr"],
                "protocol": "eqs. (16)-(17): labels of each classifier on x̂ = round(clip(x + "
                "e)) vs its labels on x, over the validation split; PSNR per image (capped at "
                "100 dB), averaged",
            },
            "command": cfg.command if cfg.command is not None else shlex.join(sys.argv),
            "versions": versions(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "sha256": sha256_file(model_path),
        },
    )
    ckpt.unlink(missing_ok=True)
    return DmvTrainResult(
        model_path=model_path,
        manifest_path=out / MANIFEST_NAME,
        val_rca=last["val_rca"],
        val_mean_rca=last["val_mean_rca"],
        val_psnr=last["val_psnr"],
        history=tuple(history),
        seconds=seconds,
        resumed_from=None if meta is None else int(meta["epoch"]),
    )


__all__ = [
    "cached_cams",
    "labeler",
    "load_classifiers",
    "merged_cams",
    "train_dmv",
]
