"""The model that :func:`~jndtf.train.acol.train_acol` fits: the JND network, eq. (3)'s
distorted image and eq. (6)'s loss ``L = δ·L1 + η·L2`` (both terms in float32).

It also holds two workarounds for Keras 3.15 under ``MultiWorkerMirroredStrategy`` (vector
logs, no symbolic build inside fit()) and saves the trained network alone, in float32.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from jndtf.train.acol.config import AcolTrainConfig
from jndtf.train.acol.distribute import Distribution


def _make_l1(config: AcolTrainConfig):
    """Eq. (4)'s loss object: AIQALoss or IQALoss(metric)."""
    if config.l1 == "aiqa":
        from jndtf.losses import AIQALoss

        return AIQALoss(classifier=config.aiqa_classifier)
    from jndtf.losses import IQALoss

    return IQALoss(config.l1)


@contextlib.contextmanager
def _dtype_policy(name: str):
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_trainer(spec, config: AcolTrainConfig, dist: Distribution):
    """``(net, train_model)``: the JND network and the model fit() trains (eq. (6) loss)."""
    import keras
    from keras import ops

    from jndtf.losses import GradientLoss
    from jndtf.models.acol import with_distorted_output

    delta, eta = float(config.delta), float(config.eta)
    vector_logs = dist.kind == "multi_worker"
    replicas = dist.replicas if dist.strategy is not None else 1

    class _Last(keras.metrics.Metric):
        """The value of the last step (per replica; fit() averages the replicas)."""

        def __init__(self, name):
            super().__init__(name=name, dtype="float32")
            self.value = self.add_variable((), "zeros", aggregation="mean", name="value")

        def update_state(self, value):
            self.value.assign(ops.cast(value, "float32"))

        def result(self):
            return ops.convert_to_tensor(self.value)

        def reset_state(self):
            self.value.assign(0.0)

    class _AcolTrainer(keras.Model):
        """x -> {"jnd", "distorted"}; loss eq. (6) on y = x_o (pixel values)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.terms = {name: _Last(name) for name in ("l1", "l2", "total")}

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            x_o = ops.cast(y, "float32")
            l1 = ops.mean(l1_loss.call(x_o, ops.cast(y_pred["distorted"], "float32")))
            l2 = ops.mean(l2_loss.call(x_o, ops.cast(y_pred["jnd"], "float32")))
            total = delta * l1 + eta * l2
            for name, value in (("l1", l1), ("l2", l2), ("total", total)):
                self.terms[name].update_state(value)
            # fit() sums the replicas' gradients: each replica contributes 1/replicas
            return total / replicas if replicas > 1 else total

        @property
        def metrics(self):
            return [*super().metrics, *self.terms.values()]

        def get_metrics_result(self):
            result = super().get_metrics_result()
            if vector_logs:
                # Keras 3.15 reduces multi-worker logs with reduce(MEAN, axis=0), which fails
                # on scalars (tensorflow#72388): give it shape (1,) values.
                result = {k: ops.reshape(v, (1,)) for k, v in result.items()}
            return result

        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            # Keras 3.15 reduces a (x, y) batch with strategy.reduce before building, which
            # MultiWorkerMirroredStrategy rejects; everything is built before fit() here.
            if self.built and self.optimizer is not None and self.optimizer.built:
                return None
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    with dist.scope():
        l1_loss = _make_l1(config)  # A-IQA's classifier: its variables under the strategy too
        l2_loss = GradientLoss()
        keras.utils.set_random_seed(config.seed)
        policy = "mixed_float16" if config.mixed_precision else keras.config.dtype_policy().name
        with _dtype_policy(policy):
            net = spec.build(width=config.width)
        with _dtype_policy("float32"):  # x_d = x_o + x_j in float32 (eq. (3))
            core = with_distorted_output(net)
        inputs = keras.Input((None, None, spec.input_channels), name="inputs")
        model = _AcolTrainer(inputs, core(inputs), name=f"{net.name}_trainer")
        # explicit names: the checkpoint matches optimizer variables by path
        optimizer = keras.optimizers.Adam(config.learning_rate, name="adam")
        if config.mixed_precision:  # dynamic loss scaling of the float16 gradients
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name="loss_scale")
        model.compile(
            optimizer=optimizer,
            jit_compile=True if keras.backend.backend() == "jax" else config.jit_compile,
        )
        model.optimizer.build(model.trainable_variables)
    return net, model


def save_final_model(spec, config: AcolTrainConfig, net, path: Path) -> None:
    """The network in float32 with the trained weights, without optimizer state."""
    from jndtf.train._common import atomic_save_model

    with _dtype_policy("float32"):
        lean = spec.build(width=config.width)
    lean.set_weights([np.asarray(w, np.float32) for w in net.get_weights()])
    atomic_save_model(lean, path)


def check_l1_runs(model, data) -> None:
    """Evaluates eq. (6) once on a zero crop so a metric that cannot run at this crop size (e.g.
    A-IQA's MS-SSIM below 176 px) fails now, with its own message, not mid-run."""
    x = np.zeros((1, data.crop_size, data.crop_size, data.input_channels), np.float32)
    y = np.zeros((1, data.crop_size, data.crop_size, 3), np.float32)
    try:
        model.compute_loss(x, y, model(x))
    except ValueError as err:
        raise ValueError(f"the loss cannot run on {data.crop_size} px crops: {err}") from err
    model.reset_metrics()


__all__ = ["build_trainer", "check_l1_runs", "save_final_model"]
