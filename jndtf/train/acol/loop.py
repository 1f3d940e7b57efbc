"""The training loop of :func:`train_acol`: caching the inputs, resuming, fit() epoch by epoch
with a per-step monitor (progress, NaN stop, Ctrl-C checkpoint) and the final outputs."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jndtf.train.acol.checkpoint import (
    TrainState,
    check_resumable,
    checkpoint_path,
    read_checkpoint,
    restore,
    write_checkpoint,
)
from jndtf.train.acol.config import AcolProgress, AcolTrainConfig, AcolTrainResult
from jndtf.train.acol.distribute import make_distribution
from jndtf.train.acol.errors import NonFiniteLossError, TrainingInterrupted
from jndtf.train.acol.manifest import manifest_record
from jndtf.train.acol.trainer import (
    build_trainer,
    check_l1_runs,
    make_term_check,
    save_final_model,
)

#: images of the fixed probe batch on which the terms of eq. (6) are checked.
_PROBE_IMAGES = 8


class _SigintFlag:
    """First Ctrl-C: set a flag (the run checkpoints and stops after the step); second: raise."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def train_acol(
    config: AcolTrainConfig, progress: Callable[[AcolProgress], None] | None = None
) -> AcolTrainResult:
    """Trains an ACoL-JND model with eq. (6), ``L = δ·L1 + η·L2``, and writes model + manifest.

    Args:
        config: the settings (:class:`AcolTrainConfig`).
        progress: called with an :class:`AcolProgress` per image while the inputs are cached,
            after every step (L1, L2, total of the step) and after every epoch (means).

    Returns:
        :class:`AcolTrainResult` with the paths, the loss history and the time.

    Raises:
        FileNotFoundError: the data folder does not exist.
        ValueError: no images, a crop larger than the smallest image, a batch not divisible
            by the replicas, an L1 metric that cannot run at this crop size.
        ImageError: an unreadable image (named).
        FileExistsError: ``output_dir`` holds a checkpoint and ``resume`` is False.
        CheckpointMismatchError: ``resume`` with a checkpoint of other settings or data.
        NonFiniteLossError: NaN/Inf in L1, L2 or the total (epoch, step and files named).
        TrainingInterrupted: Ctrl-C; the state was checkpointed first.

    Ctrl-C is caught only when this runs in the main thread (Python delivers signals there);
    the first one stops after the current step, a second one interrupts at once.
    """
    from jndtf._deps import require

    keras = require("keras", "training ACoL-JND")
    from jndtf.data.image_folder import ImageFolderDataset
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_write_json

    t0 = time.perf_counter()
    cfg = config
    spec = get_model_spec(cfg.preset)
    out = Path(cfg.output_dir)
    ckpt = checkpoint_path(out)
    model_path, manifest_path, log_dir = out / "model.keras", out / "manifest.json", out / "logs"

    meta = None
    if ckpt.is_file():
        if not cfg.resume:
            raise FileExistsError(
                f"{out} already holds a checkpoint ({ckpt}); pass resume=True to continue that "
                "run, or choose another output_dir"
            )
        meta, saved_weights, saved_opt = read_checkpoint(ckpt)

    dist = make_distribution(cfg)
    if cfg.batch_size % dist.replicas:
        raise ValueError(
            f"batch_size {cfg.batch_size} does not split evenly over {dist.replicas} replicas "
            f"({dist.kind}); use a multiple of {dist.replicas}"
        )

    latest_terms, terms_log = {}, []

    def report(phase, epoch, step, steps, values=None, item=None):
        if progress is None:
            return
        training = phase != "inputs"
        values = dict(values or {})
        if training and latest_terms:
            values["terms"] = dict(latest_terms)
        progress(
            AcolProgress(
                phase=phase,
                epoch=epoch,
                epochs=cfg.epochs,
                step=step,
                steps=steps,
                global_step=(epoch - 1) * steps + step if training else 0,
                total_steps=cfg.epochs * steps if training else 0,
                seconds=time.perf_counter() - t0,
                item=item,
                **values,
            )
        )

    def inputs_progress(done, total, name):
        report("inputs", 0, done, total, item=name)

    overrides = {}
    if cfg.saliency_model is not None:
        from jndtf.models.saliency_prior import load_saliency_prior

        overrides["saliency"] = load_saliency_prior(cfg.saliency_model)
    data = ImageFolderDataset(
        cfg.data_dir,
        crop_size=cfg.crop_size,
        batch_size=cfg.batch_size,
        priors=spec.priors,
        normalization=spec.normalization,
        seed=cfg.seed,
        steps_per_epoch=cfg.steps_per_epoch,
        max_images=cfg.max_images,
        cache_dir=cfg.cache_dir,
        progress=inputs_progress,
        prior_overrides=overrides,
    )
    hashes = [r.sha256 for r in data.records]
    if meta is not None:
        check_resumable(ckpt, meta, cfg, hashes)

    if dist.jax_distribution is not None:
        previous_distribution = keras.distribution.distribution()
        keras.distribution.set_distribution(dist.jax_distribution)
    try:
        net, model = build_trainer(spec, cfg, dist)
        check_l1_runs(model, data)
        state = TrainState.fresh() if meta is None else TrainState.from_meta(meta)
        if meta is not None:
            restore(model, saved_weights, saved_opt, meta, ckpt, dist)
        resumed_from = None if meta is None else (state.epoch, state.step)
        steps = data.steps_per_epoch

        def save(synced_model, position_epoch, position_step):
            # synced_model: Callback.model, which (under JAX) attaches the step's state first
            if not dist.chief:
                return
            record = state.to_meta(cfg, hashes, position_epoch, position_step, synced_model, t0)
            opt = [v.numpy() for v in synced_model.optimizer.variables]
            write_checkpoint(ckpt, record, synced_model.get_weights(), opt)
            state.saved = (position_epoch, position_step)

        class _Monitor(keras.callbacks.Callback):
            """Per step: progress, NaN check, Ctrl-C; per epoch: means and the checkpoint."""

            def __init__(self, epoch, start_step, sigint):
                super().__init__()
                self.epoch, self.start_step, self.sigint = epoch, start_step, sigint

            def on_train_batch_end(self, batch, logs=None):
                step = self.start_step + int(batch)
                values = {k: _scalar(logs[k]) for k in ("l1", "l2", "total")}
                if not all(math.isfinite(v) for v in values.values()):
                    state.failure = (self.epoch, step, values)
                    self.model.stop_training = True
                    return
                state.add_step(values)
                done = self.epoch * steps + step + 1
                if term_check is not None and (done == 1 or done % cfg.term_log_every == 0):
                    check_terms(done)
                report("train", self.epoch + 1, step + 1, steps, values)
                if self.sigint.requested and step + 1 < steps:
                    save(self.model, self.epoch, step + 1)
                    state.interrupted = (self.epoch, step + 1)
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                if logs is not None:
                    logs.clear()  # nothing partial or NaN reaches TensorBoard
                if state.failure is not None or state.interrupted is not None:
                    return
                record = state.close_epoch(self.epoch, steps)
                means = {k: record[k] for k in ("l1", "l2", "total")}
                if logs is not None:
                    logs.update({"loss": means["total"], **means})
                save(self.model, self.epoch + 1, 0)
                report("epoch", self.epoch + 1, steps, steps, means)
                if self.sigint.requested and self.epoch + 1 < cfg.epochs:
                    state.interrupted = (self.epoch + 1, 0)
                    self.model.stop_training = True

        board = _tensorboard(keras, log_dir) if (cfg.tensorboard and dist.chief) else None
        term_check = None
        if cfg.term_log_every and dist.chief and dist.strategy is None:
            term_check = make_term_check(model, float(cfg.delta), float(cfg.eta))
        if term_check is not None:
            px, py = data.batch(0, 0)  # the same probe batch (and signs) at every check
            probe = (np.asarray(px)[:_PROBE_IMAGES], np.asarray(py)[:_PROBE_IMAGES])
            writer = _term_writer(log_dir) if board is not None else None

        def check_terms(global_step):
            """Eq. (6) term by term on the probe batch: progress + TensorBoard scalars."""
            if term_check is None:
                return
            found = {"step": global_step, **term_check(*probe)}
            latest_terms.clear()
            latest_terms.update(found)
            terms_log.append(found)
            if writer is not None:
                _write_terms(writer, found)

        with _SigintFlag() as sigint:
            epoch, start = state.epoch, state.step
            while epoch < cfg.epochs:
                callbacks = [_Monitor(epoch, start, sigint)] + ([board] if board else [])
                model.fit(
                    data.keras_dataset(epoch, start),
                    epochs=epoch + 1,
                    initial_epoch=epoch,
                    shuffle=False,
                    callbacks=callbacks,
                    verbose=cfg.verbose,
                )
                if state.failure is not None:
                    e, s, values = state.failure
                    raise NonFiniteLossError(
                        e + 1,
                        s + 1,
                        data.batch_files(e, s),
                        values,
                        ckpt if state.saved is not None or meta is not None else None,
                    )
                if state.interrupted is not None:
                    e, s = state.interrupted
                    raise TrainingInterrupted(ckpt if dist.chief else None, e, s)
                epoch, start = epoch + 1, 0
    finally:
        if dist.jax_distribution is not None:
            keras.distribution.set_distribution(previous_distribution)

    seconds = state.previous_seconds + time.perf_counter() - t0
    final = {k: state.history[-1][k] for k in ("l1", "l2", "total")} if state.history else {}
    result = AcolTrainResult(
        output_dir=out,
        model_path=model_path,
        manifest_path=manifest_path,
        checkpoint_path=ckpt,
        epochs=len(state.history),
        final_losses=final,
        history=tuple(state.history),
        seconds=seconds,
        resumed_from=resumed_from,
        replicas=dist.replicas,
    )
    if not dist.chief:
        return result

    save_final_model(spec, cfg, net, model_path)
    record = manifest_record(cfg, spec, net, data, state, dist, result, t0)
    if terms_log:  # this session's checks of eq. (6) term by term (probe batch)
        record["term_checks"] = terms_log
    atomic_write_json(manifest_path, record)
    return result


def _term_writer(log_dir: Path):
    """A ``tf.summary`` writer for the per-step term scalars (``logs/terms``)."""
    import tensorflow as tf

    return tf.summary.create_file_writer(str(log_dir / "terms"))


def _write_terms(writer, found: dict) -> None:
    """TensorBoard scalars of one term check: the two weighted terms, δ·L1's gradient share
    overall and per layer group, and each group's two gradient norms."""
    import tensorflow as tf

    step = found["step"]
    with writer.as_default():
        tf.summary.scalar("terms/delta_l1", found["delta_l1"], step=step)
        tf.summary.scalar("terms/eta_l2", found["eta_l2"], step=step)
        tf.summary.scalar("grad_share_l1/all", found["share_l1"], step=step)
        for group, g in found["groups"].items():
            tf.summary.scalar(f"grad_share_l1/{group}", g["share_l1"], step=step)
            tf.summary.scalar(f"grad_norm_l1/{group}", g["l1"], step=step)
            tf.summary.scalar(f"grad_norm_l2/{group}", g["l2"], step=step)
    writer.flush()


def _scalar(value) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def _tensorboard(keras, log_dir: Path):
    """keras.callbacks.TensorBoard at epoch granularity, or None (with a warning) when the
    packages that write event files are missing: TensorFlow's ``tf.summary`` needs the
    ``tensorboard`` package, which TensorFlow 2.21 no longer installs (the callback would fail
    at the end of the first epoch)."""
    import importlib.util

    missing = [m for m in ("tensorflow", "tensorboard") if importlib.util.find_spec(m) is None]
    if missing:
        import warnings

        warnings.warn(
            f"TensorBoard logs skipped: writing them needs {' and '.join(missing)} "
            f"(pip install {' '.join(missing)})",
            stacklevel=3,
        )
        return None
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch", write_graph=False)


__all__ = ["train_acol"]
