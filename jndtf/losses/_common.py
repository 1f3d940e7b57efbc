"""Small helpers shared by the loss modules (``keras.ops`` only) and their Loss-class base."""

from __future__ import annotations

import keras
from keras import ops


def log_ratio_similarity(a, b, c: float):
    """``ln(a² + b² + c) − ln(2·a·b + c)``, element-wise, for non-negative `a` and `b`.

    The form shared by eq. (5) of ACoL-JND (gradient loss) and eq. (13) of DMV-JND (magnitude
    loss). It is >= 0 and equals 0 where ``a == b``; `c` > 0 keeps both logarithms finite when
    `a` or `b` is 0. Callers pass magnitudes (``a, b >= 0``), so ``2ab + c >= c > 0``.
    """
    return ops.log(a * a + b * b + c) - ops.log(2.0 * a * b + c)


def per_sample_mean(x):
    """Mean over every axis but the first (batch) one: ``(N, ...) -> (N,)``."""
    if len(x.shape) <= 1:
        return x
    return ops.mean(x, axis=tuple(range(1, len(x.shape))))


def dims_agree(a, b) -> bool:
    """True if two static shapes of the same rank agree wherever both dimensions are known."""
    return all(p is None or q is None or p == q for p, q in zip(a, b, strict=True))


def check_rank(x, rank: int, what: str, *, name: str):
    """Raises ValueError unless `x` has the given rank."""
    if len(x.shape) != rank:
        raise ValueError(f"{name}: {what} must have rank {rank}, got shape {tuple(x.shape)}")


def check_positive(value: float, what: str, *, name: str, allow_zero: bool = False) -> float:
    """Validates a numeric setting: finite and > 0 (or >= 0)."""
    v = float(value)
    ok = v >= 0.0 if allow_zero else v > 0.0
    if not (ok and v == v and v != float("inf")):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: {what} must be a finite number {bound}, got {value!r}")
    return v


class SettingsLoss(keras.losses.Loss):
    """A :class:`keras.losses.Loss` whose config is the base config plus its settings.

    Subclasses store each constructor argument in the attribute of the same name and list those
    names in ``SETTINGS``; :meth:`get_config` then returns everything ``__init__`` needs, so
    ``cls.from_config(loss.get_config())`` rebuilds the loss.
    """

    SETTINGS: tuple[str, ...] = ()

    def get_config(self):
        config = super().get_config()
        config.update({key: getattr(self, key) for key in self.SETTINGS})
        return config
