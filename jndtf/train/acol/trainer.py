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
    from jndtf.models.acol.layers import image_keys, inject_signed, random_signs

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

        def loss_terms(self, y, y_pred):
            """(L1, L2) of eq. (6), batch means. The injection's signs are keyed by each image's
            pixel sum: a pure function of the image, so a resumed run and a run split over
            replicas draw the same signs as one uninterrupted single-device run."""
            x_o = ops.cast(y, "float32")
            jnd = ops.cast(y_pred["jnd"], "float32")
            if config.injection == "signed":
                signs = random_signs(jnd, config.seed, image_keys(y))
                x_d = inject_signed(x_o, jnd, signs)
            else:  # eq. (3) literally
                x_d = ops.cast(y_pred["distorted"], "float32")
            l1 = ops.mean(l1_loss.call(x_o, x_d))
            l2 = ops.mean(l2_loss.call(x_o, jnd))
            return l1, l2

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            l1, l2 = self.loss_terms(y, y_pred)
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
            net = spec.build(width=config.width, padding=config.padding)
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


def layer_group(path: str) -> str:
    """The layer group of a weight path: ``"cnn1_conv2/kernel"`` -> ``"cnn1"``; the groups of
    ACoL-JND are cnn1, branch_a, branch_b and cnn4."""
    layer = path.split("/")[0]
    return layer.rsplit("_conv", 1)[0] if "_conv" in layer else layer


def make_term_check(model, delta: float, eta: float):
    """A function ``(x, y) -> dict`` that measures each term of eq. (6) on one batch.

    It evaluates δ·L1 and η·L2 and the gradient of each term alone with respect to the trainable
    weights, and returns their values and, per layer group (:func:`layer_group`), the two
    gradient norms and δ·L1's share ``|∇δL1| / (|∇δL1| + |∇ηL2|)``. Nothing is updated.
    TensorFlow backend only (None under JAX: the JAX run logs the terms' values only).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    weights = list(model.trainable_variables)
    groups = sorted({layer_group(v.path) for v in weights})

    @tf.function(reduce_retracing=True)
    def norms(x, y):
        with tf.GradientTape(persistent=True) as tape:
            l1, l2 = model.loss_terms(y, model(x, training=True))
            t1, t2 = delta * l1, eta * l2
        g1 = tape.gradient(t1, weights, unconnected_gradients="zero")
        g2 = tape.gradient(t2, weights, unconnected_gradients="zero")
        del tape
        sq = {g: [tf.constant(0.0), tf.constant(0.0)] for g in groups}
        for v, a, b in zip(weights, g1, g2, strict=True):
            acc = sq[layer_group(v.path)]
            acc[0] += tf.reduce_sum(tf.square(tf.cast(a, tf.float32)))
            acc[1] += tf.reduce_sum(tf.square(tf.cast(b, tf.float32)))
        return t1, t2, {g: tf.sqrt(tf.stack(acc)) for g, acc in sq.items()}

    def check(x, y) -> dict:
        t1, t2, per = norms(tf.constant(x), tf.constant(y))
        out = {"delta_l1": float(t1), "eta_l2": float(t2), "groups": {}}
        n1 = n2 = 0.0
        for g, pair in per.items():
            a, b = (float(v) for v in pair.numpy())
            out["groups"][g] = {"l1": a, "l2": b, "share_l1": a / (a + b) if a + b > 0 else 0.0}
            n1, n2 = n1 + a * a, n2 + b * b
        n1, n2 = n1**0.5, n2**0.5
        out["share_l1"] = n1 / (n1 + n2) if n1 + n2 > 0 else 0.0
        return out

    return check


def save_final_model(spec, config: AcolTrainConfig, net, path: Path) -> None:
    """The network in float32 with the trained weights, without optimizer state."""
    from jndtf.train._common import atomic_save_model

    with _dtype_policy("float32"):
        lean = spec.build(width=config.width, padding=config.padding)
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


__all__ = ["build_trainer", "check_l1_runs", "layer_group", "make_term_check", "save_final_model"]
