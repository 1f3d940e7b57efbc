"""The models a JND evaluation compares, named by strings.

A reference is a classical baseline (:mod:`jndtf.baselines`), ``uniform`` (a constant map: plain
±noise with no JND shaping, the control every JND model should beat) or a learned model
(:mod:`jndtf.evaluate.learned`: registered name with shipped weights, ``.keras`` path or
``SPEC:PATH``), each optionally ``LABEL=...``, as :func:`jndtf.refs.resolve_model` reads them
(``runtime="keras"``). :func:`resolve_models` turns them into labelled ``fn(image) -> JND map``
functions.

A model whose network outputs an image rather than a map (registry ``output_kind="image"``:
hmJND-Net, whose output is the redundancy-removed image I_rr) is one more learned model: its
map is ``|I - I_rr|`` per channel (:class:`jndtf.evaluate.learned.ImageOutputJnd`), named as
``hmjnd`` (shipped weights), ``hmjnd_tiny:PATH.keras`` or a bare ``PATH.keras`` whose
manifest names the preset.

Two modifiers ask how much of a model's lead is its colour split rather than its spatial map
(issue 14): ``REF@grey`` is REF's map averaged over its channels (one map for R, G and B), and
``REF@split=OTHER`` is REF's grey map given OTHER's per-image colour split (each channel scaled
by OTHER's channel mean over its mean over all channels). Eq. (7) rescales every map to the
target PSNR, so only the map's shape and its channel ratios matter.

Example:
    >>> [e.label for e in resolve_models(["wu2017", "flat=uniform", "yang2005@grey"])]
    ['wu2017', 'flat', 'yang2005@grey']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jndtf.refs import UNIFORM, ModelRef, UnknownModelError, known_models, resolve_model


class EvalError(ValueError):
    """Settings that cannot run, or a step that failed; the message names image and model."""


@dataclass(frozen=True)
class ModelEntry:
    """A resolved model reference: its label and ``fn(image) -> JND map``."""

    label: str
    ref: str
    kind: str  # "classical", "control" or "learned"
    fn: Callable[[np.ndarray], np.ndarray]
    note: str = ""  # how the map is made (the report's model table)


def describe_model(kind: str, fn) -> str:
    """One line on how a model's map is made, for the report: the file a learned model came
    from and, for an image-output model, that its map is ``|I - I_rr|`` and whose modality
    providers built its input."""
    if kind == "control":
        return "constant map (plain ±noise, no JND shaping)"
    if kind == "classical":
        return f"classical ({getattr(fn, '__module__', 'jndtf.baselines')})"
    spec = getattr(fn, "spec", None)
    source = getattr(fn, "source", None)
    if spec is not None:
        return (
            f"|I - I_rr| of {spec.name} ({source}); modality providers from "
            f"{getattr(fn, 'providers_from', '?')}"
        )
    return f"learned network ({source})"


def uniform_jnd(image: np.ndarray) -> np.ndarray:
    """The control: a constant JND map of ones, ``HxWx1`` (eq. (7) then adds ±λ everywhere)."""
    return np.ones((*np.asarray(image).shape[:2], 1), np.float32)


#: The map modifiers :func:`resolve_models` reads after an ``@`` (module docstring).
MODIFIERS = ("grey", "split=OTHER")


def grey_map(jnd: np.ndarray) -> np.ndarray:
    """A JND map averaged over its channels, ``HxWx1`` (a one-channel map is returned as is)."""
    jnd = np.asarray(jnd, np.float32)
    if jnd.ndim == 2:
        return jnd[..., None]
    return jnd.mean(axis=-1, keepdims=True)


def colour_split(jnd: np.ndarray) -> np.ndarray:
    """The per-image colour split of a 3-channel map: channel means over the mean of all, ``(3,)``.

    Raises:
        EvalError: the map has one channel (no split to take) or is zero everywhere.
    """
    jnd = np.asarray(jnd, np.float64)
    if jnd.ndim != 3 or jnd.shape[-1] != 3:
        raise EvalError(f"a colour split needs a map with 3 channels, got shape {jnd.shape}")
    total = jnd.mean()
    if not total > 0:
        raise EvalError("a colour split needs a map that is not zero everywhere")
    return (jnd.reshape(-1, 3).mean(axis=0) / total).astype(np.float32)


def _split_modifier(raw: str) -> tuple[str, str | None, str | None]:
    """``"L=acol@split=wu2017"`` = ``("L=acol", "split", "wu2017")``; else raw, None, None."""
    base, at, mod = raw.rpartition("@")
    if not at:
        return raw, None, None
    if mod == "grey":
        return base, "grey", None
    if mod.startswith("split="):
        other = mod[len("split=") :]
        if not other:
            raise EvalError(f"{raw!r}: @split= needs a model after it, e.g. wu2017@split=acol")
        return base, "split", other
    raise EvalError(f"{raw!r}: unknown map modifier @{mod}; known: @grey, @split=OTHER")


def _modified(fn, mod: str | None, other_fn) -> Callable[[np.ndarray], np.ndarray]:
    if mod is None:
        return fn
    if mod == "grey":
        return lambda image: grey_map(fn(image))
    return lambda image: grey_map(fn(image)) * colour_split(other_fn(image))


def _resolve(text: str) -> ModelRef:
    """:func:`jndtf.refs.resolve_model` for a JND evaluation, which also takes the registered
    image-output models (:data:`jndtf.evaluate.learned.IMAGE_OUTPUT_KINDS`) the resolver keeps
    out of the JND maps (their map is ``|I - I_rr|``); any other refusal stands."""
    try:
        return resolve_model(text, runtime="keras")
    except UnknownModelError as err:
        from jndtf.evaluate.learned import image_output_spec

        try:
            ref = resolve_model(text, runtime="keras", learned=True)
        except UnknownModelError:
            raise err from None
        if image_output_spec(ref) is None:
            raise
        return ref


def resolve_models(refs: tuple[str, ...] | list[str]) -> list[ModelEntry]:
    """Turns model references into labelled JND functions, loading learned models now.

    Args:
        refs: model references (module docstring); empty: every classical model + ``uniform``.

    Raises:
        KeyError: an unknown name (the message lists the known ones).
        FileNotFoundError: a missing ``.keras`` file or a learned model without weights.
        ValueError: a ``.keras`` whose manifest names an unknown model or family, or that
            cannot be loaded (the message names the file).
        EvalError: duplicate labels.
    """
    from jndtf import baselines
    from jndtf.evaluate.learned import image_output_spec, load_image_model, load_learned

    if isinstance(refs, str):
        raise EvalError(f"models must be a sequence of names, got the string {refs!r}")
    refs = list(refs) or [*baselines.available(), UNIFORM]
    parsed: list[tuple[str, ModelRef, str | None, ModelRef | None]] = []
    for raw in refs:
        if not isinstance(raw, str) or not raw.strip():
            raise EvalError(f"a model reference must be a non-empty string, got {raw!r}")
        base, mod, other = _split_modifier(raw)
        ref = _resolve(base)  # all checked before any loads
        other_ref = _resolve(other) if other else None
        parsed.append((raw, ref, mod, other_ref))

    def load(ref: ModelRef) -> tuple[str, str, Callable]:
        if ref.kind == "control":
            return ref.label, "control", uniform_jnd
        if ref.kind == "classical":
            return ref.label, "classical", baselines.get(ref.name)
        fn = load_image_model(ref) if image_output_spec(ref) is not None else load_learned(ref)
        return fn.name, "learned", fn

    entries = []
    for raw, ref, mod, other_ref in parsed:
        label, kind, fn = load(ref)
        other_fn = load(other_ref)[2] if other_ref is not None else None
        if mod is not None and "=" not in raw.rpartition("@")[0]:
            label = raw  # no LABEL= given: the reference with its modifier names the entry
        note = describe_model(kind, fn) + (f", {raw.rpartition('@')[2]}" if mod else "")
        entries.append(ModelEntry(label, raw, kind, _modified(fn, mod, other_fn), note))
    labels = [e.label for e in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise EvalError(
            f"model labels repeat: {dupes}; name them apart with LABEL=REF "
            "(e.g. a=runs/a/best.keras b=runs/b/best.keras)"
        )
    return entries


__all__ = [
    "MODIFIERS",
    "UNIFORM",
    "EvalError",
    "ModelEntry",
    "colour_split",
    "describe_model",
    "grey_map",
    "known_models",
    "resolve_models",
    "uniform_jnd",
]
