"""Small helpers shared by the loss modules (``keras.ops`` only)."""

from __future__ import annotations

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
