"""Distribution of :func:`~jndtf.train.acol.train_acol` over devices and machines.

TensorFlow backend: ``tf.distribute.MirroredStrategy`` (local GPUs or named devices) or
``MultiWorkerMirroredStrategy`` (one process per machine, ``TF_CONFIG`` names the cluster; the
chief writes the outputs). JAX backend: ``keras.distribution.DataParallel`` over the local
devices of one process. :attr:`AcolTrainConfig.distribution` picks one, ``"auto"`` by what it finds.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

from jndtf.train.acol.config import AcolTrainConfig


def _tf_config_workers() -> int:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except ValueError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from None
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))


def _is_chief() -> bool:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    cluster = json.loads(raw).get("cluster", {})
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


@dataclass
class Distribution:
    kind: str  # none | mirrored | multi_worker | data_parallel
    replicas: int
    chief: bool
    strategy: object = None  # tf.distribute.Strategy
    jax_distribution: object = None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> dict:
        out = {"kind": self.kind, "replicas": self.replicas}
        if self.kind == "multi_worker":
            out["workers"] = _tf_config_workers()
        return out


def make_distribution(config: AcolTrainConfig) -> Distribution:
    import keras

    backend = keras.backend.backend()
    kind = config.distribution
    if backend == "tensorflow":
        import tensorflow as tf

        if kind == "data_parallel":
            raise ValueError(
                "distribution='data_parallel' is the JAX backend's; under TensorFlow use "
                "'mirrored' (local GPUs) or 'multi_worker' (TF_CONFIG)"
            )
        if kind == "auto":
            if _tf_config_workers() > 1:
                kind = "multi_worker"
            elif config.devices or len(tf.config.list_physical_devices("GPU")) > 1:
                kind = "mirrored"
            else:
                kind = "none"
        if kind == "none":
            return Distribution("none", 1, True)
        if kind == "mirrored":
            strategy = tf.distribute.MirroredStrategy(list(config.devices) or None)
            return Distribution("mirrored", strategy.num_replicas_in_sync, True, strategy)
        if _tf_config_workers() < 1:
            raise ValueError(
                "distribution='multi_worker' needs TF_CONFIG naming the cluster and this task"
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return Distribution("multi_worker", strategy.num_replicas_in_sync, _is_chief(), strategy)
    if backend == "jax":
        import jax

        if kind in ("mirrored", "multi_worker"):
            raise ValueError(
                f"distribution={kind!r} needs the TensorFlow backend; under JAX use "
                "'data_parallel' (the local devices of one process) or 'none'"
            )
        devices = jax.devices()
        if kind == "auto":
            kind = "data_parallel" if len(devices) > 1 else "none"
        if kind == "none" or len(devices) == 1:
            return Distribution("none", 1, True)
        dist = keras.distribution.DataParallel(devices=devices)
        return Distribution("data_parallel", len(devices), True, jax_distribution=dist)
    raise RuntimeError(f"train_acol supports the tensorflow and jax backends, not {backend!r}")


__all__ = ["Distribution", "make_distribution"]
