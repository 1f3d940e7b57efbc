"""The models a JND evaluation compares, named by strings.

A reference is a classical baseline (:mod:`jndtf.baselines`), ``uniform`` (a constant map: plain
±noise with no JND shaping, the control every JND model should beat) or a learned model
(:mod:`jndtf.evaluate.learned`: registered name with shipped weights, ``.keras`` path or
``SPEC:PATH``), each optionally ``LABEL=...``. :func:`resolve_models` turns them into labelled
``fn(image) -> JND map`` functions.

Example:
    >>> [e.label for e in resolve_models(["wu2017", "flat=uniform"])]
    ['wu2017', 'flat']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: The control model: a constant JND map (eq. (7) then adds plain ±λ noise everywhere).
UNIFORM = "uniform"


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


#: registered families whose networks do not output a JND map
NOT_JND_FAMILIES = ("saliency", "aiqa")


def known_models() -> dict[str, list[str]]:
    """The model names :func:`resolve_models` accepts without a path, by kind."""
    from jndtf import baselines
    from jndtf.models.registry import available_models, get_model_spec

    # Only registered models whose output is a JND map (the saliency nets are priors).
    learned = [m for m in available_models() if get_model_spec(m).family not in NOT_JND_FAMILIES]
    return {"classical": baselines.available(), "control": [UNIFORM], "learned": learned}


def _known_text() -> str:
    k = known_models()
    return (
        f"classical: {', '.join(k['classical'])}; control: {UNIFORM}; learned (registered, "
        f"need shipped weights): {', '.join(k['learned'])}; or a .keras path / SPEC:PATH, "
        "optionally LABEL=..."
    )


def _split_label(ref: str) -> tuple[str | None, str]:
    head, sep, tail = ref.partition("=")
    if sep and head and tail and all(c.isalnum() or c in "_-." for c in head):
        return head, tail
    return None, ref


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
    from jndtf.evaluate.learned import load_learned, looks_like_path, split_spec
    from jndtf.models.registry import available_models

    if isinstance(refs, str):
        raise EvalError(f"models must be a sequence of names, got the string {refs!r}")
    refs = list(refs) or [*baselines.available(), UNIFORM]
    parsed = []
    for raw in refs:
        if not isinstance(raw, str) or not raw.strip():
            raise EvalError(f"a model reference must be a non-empty string, got {raw!r}")
        label, ref = _split_label(raw.strip())
        spec, target = split_spec(ref)
        if ref == UNIFORM:
            kind = "control"
        elif ref in baselines.available():
            kind = "classical"
        elif spec is not None or looks_like_path(target) or ref in available_models():
            kind = "learned"
        else:
            raise KeyError(f"unknown JND model {ref!r}; known: {_known_text()}")
        parsed.append((label, ref, kind))
    entries = []
    for label, ref, kind in parsed:
        if kind == "control":
            entries.append(ModelEntry(label or UNIFORM, ref, kind, uniform_jnd))
        elif kind == "classical":
            entries.append(ModelEntry(label or ref, ref, kind, baselines.get(ref)))
        else:
            fn = load_learned(ref, name=label)
            entries.append(ModelEntry(fn.name, ref, kind, fn))
    labels = [e.label for e in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise EvalError(
            f"model labels repeat: {dupes}; name them apart with LABEL=REF "
            "(e.g. a=runs/a/best.keras b=runs/b/best.keras)"
        )
    return entries


__all__ = [
    "NOT_JND_FAMILIES",
    "UNIFORM",
    "EvalError",
    "ModelEntry",
    "known_models",
    "resolve_models",
    "uniform_jnd",
]
