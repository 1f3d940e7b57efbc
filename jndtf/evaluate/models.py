"""The models a JND evaluation compares, named by strings.

A reference is a classical baseline (:mod:`jndtf.baselines`), ``uniform`` (a constant map: plain
±noise with no JND shaping, the control every JND model should beat) or a learned model
(:mod:`jndtf.evaluate.learned`: registered name with shipped weights, ``.keras`` path or
``SPEC:PATH``), each optionally ``LABEL=...``, as :func:`jndtf.refs.resolve_model` reads them
(``runtime="keras"``). :func:`resolve_models` turns them into labelled ``fn(image) -> JND map``
functions.

Example:
    >>> [e.label for e in resolve_models(["wu2017", "flat=uniform"])]
    ['wu2017', 'flat']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jndtf.refs import UNIFORM, ModelRef, known_models, resolve_model


class EvalError(ValueError):
    """Settings that cannot run, or a step that failed; the message names image and model."""


@dataclass(frozen=True)
class ModelEntry:
    """A resolved model reference: its label and ``fn(image) -> JND map``."""

    label: str
    ref: str
    kind: str  # "classical", "control" or "learned"
    fn: Callable[[np.ndarray], np.ndarray]


def uniform_jnd(image: np.ndarray) -> np.ndarray:
    """The control: a constant JND map of ones, ``HxWx1`` (eq. (7) then adds ±λ everywhere)."""
    return np.ones((*np.asarray(image).shape[:2], 1), np.float32)


def resolve_models(refs: tuple[str, ...] | list[str]) -> list[ModelEntry]:
    """Turns model references into labelled JND functions, loading learned models now.

    Args:
        refs: model references (module docstring); empty: every classical model + ``uniform``.

    Raises:
        KeyError: an unknown name (the message lists the known ones).
        FileNotFoundError: a missing ``.keras`` file or a learned model without weights.
        EvalError: duplicate labels.
    """
    from jndtf import baselines
    from jndtf.evaluate.learned import load_learned

    if isinstance(refs, str):
        raise EvalError(f"models must be a sequence of names, got the string {refs!r}")
    refs = list(refs) or [*baselines.available(), UNIFORM]
    parsed: list[ModelRef] = []
    for raw in refs:
        if not isinstance(raw, str) or not raw.strip():
            raise EvalError(f"a model reference must be a non-empty string, got {raw!r}")
        parsed.append(resolve_model(raw, runtime="keras"))  # all checked before any loads
    entries = []
    for ref in parsed:
        if ref.kind == "control":
            entries.append(ModelEntry(ref.label, ref.text, "control", uniform_jnd))
        elif ref.kind == "classical":
            entries.append(ModelEntry(ref.label, ref.text, "classical", baselines.get(ref.name)))
        else:
            fn = load_learned(ref)
            entries.append(ModelEntry(fn.name, ref.text, "learned", fn))
    labels = [e.label for e in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise EvalError(
            f"model labels repeat: {dupes}; name them apart with LABEL=REF "
            "(e.g. a=runs/a/best.keras b=runs/b/best.keras)"
        )
    return entries


__all__ = [
    "UNIFORM",
    "EvalError",
    "ModelEntry",
    "known_models",
    "resolve_models",
    "uniform_jnd",
]
