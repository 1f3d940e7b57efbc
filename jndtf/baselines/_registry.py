"""Name -> classical JND model. Each model module registers itself with :func:`register`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

JNDFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BaselineInfo:
    """A registered classical model: its function and a one-line citation."""

    name: str
    fn: JNDFunction
    citation: str
    channels: int = 1  # 1: a luma map broadcast to RGB; 3: a per-channel map


_REGISTRY: dict[str, BaselineInfo] = {}


def register(name: str, citation: str, channels: int = 1):
    """Decorator: registers ``fn(image) -> float32 HxWxC JND map`` under `name`."""

    def deco(fn: JNDFunction) -> JNDFunction:
        if name in _REGISTRY:
            raise ValueError(f"baseline {name!r} is registered twice")
        _REGISTRY[name] = BaselineInfo(name, fn, citation, channels)
        return fn

    return deco


def get(name: str) -> JNDFunction:
    """The JND function registered as `name`, e.g. ``get("wu2017")(image)``.

    Raises:
        KeyError: unknown name; the message lists the known ones.
    """
    try:
        return _REGISTRY[name].fn
    except KeyError:
        known = ", ".join(available())
        raise KeyError(f"unknown JND baseline {name!r}; available: {known}") from None


def info(name: str) -> BaselineInfo:
    """Registration record of `name` (function, citation, channel count)."""
    get(name)
    return _REGISTRY[name]


def available() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)
