"""Learned models by name: ``name -> ModelSpec`` (builder, input channels, priors, output).

The CLI and the export layer look models up here instead of importing each family. A family
registers its named configurations from its ``presets.py`` (pure Python, no Keras import) by
calling :func:`register_model` at import time; the first lookup imports
``jndtf.models.<family>.presets`` for every family folder, so adding a folder is enough (timm's
``_registry.py`` and keras-hub's preset tables work the same way). Importing this module, listing
and looking up models load neither TensorFlow nor Keras; only :meth:`ModelSpec.build` does.

Example:
    >>> from jndtf.models.registry import available_models, get_model_spec
    >>> spec = get_model_spec("acol")
    >>> spec.input_channels, spec.priors
    (6, ('pattern_masking', 'contrast_masking', 'saliency'))
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: What a family's network outputs (``ModelSpec.output_kind``): an HVS JND map (ACoL-JND),
#: a DMV-JND map (machine-vision JND, DMV-JND-NET), a redundancy-removed image, class logits
#: (A-IQA's distortion-group classifier), a saliency map (PoolNet) or an image-quality score.
#: Callers that need a JND map (``jndtf jnd``, ``jndtf eval``) ask ``spec.is_jnd``.
OUTPUT_KINDS = ("jnd_map", "dmv_jnd", "image", "classifier", "saliency", "iqa")

#: Output kinds that are a JND map (pixel values 0..255 a distortion may reach unnoticed).
JND_OUTPUT_KINDS = ("jnd_map", "dmv_jnd")


@dataclass(frozen=True)
class ModelSpec:
    """What a caller needs to build a model and to feed it.

    Attributes:
        name: registry name (e.g. ``"acol"``).
        family: model-family folder under ``jndtf/models`` (e.g. ``"acol"``).
        builder: ``builder(**kwargs) -> keras.Model``; imports Keras only when called.
        input_channels: channels of the network input (NHWC).
        priors: names of the prior maps stacked after the RGB channels, in order (names of
            :data:`jndtf.priors.PRIORS`); empty for RGB-only models.
        normalization: name of the input normalization of :mod:`jndtf.models.inputs`.
        output_channels: channels of the JND map (3 = full RGB, 1 = luma).
        jnd_units: unit of the output map.
        description: one line for listings.
        output_kind: what the network outputs, one of :data:`OUTPUT_KINDS`.
    """

    name: str
    family: str
    builder: Callable[..., Any]
    input_channels: int
    priors: tuple[str, ...] = ()
    normalization: str = "unit"
    output_channels: int = 3
    jnd_units: str = "pixel values 0..255"
    description: str = ""
    output_kind: str = "jnd_map"

    @property
    def is_jnd(self) -> bool:
        """True when the output is a JND map (``output_kind`` in :data:`JND_OUTPUT_KINDS`)."""
        return self.output_kind in JND_OUTPUT_KINDS

    def build(self, **kwargs) -> Any:
        """Builds the Keras model (keyword arguments go to the family's builder)."""
        return self.builder(**kwargs)

    def make_input(self, image: np.ndarray) -> np.ndarray:
        """The network input for one RGB image: :func:`jndtf.models.inputs.model_input` with
        this model's priors and normalization (numpy only)."""
        from jndtf.models.inputs import model_input

        return model_input(image, self.priors, normalization=self.normalization)


_REGISTRY: dict[str, ModelSpec] = {}
_LOCK = threading.RLock()
_discovered = False


def register_model(
    name: str,
    family: str,
    builder: Callable[..., Any],
    input_channels: int,
    priors: Sequence[str] = (),
    *,
    normalization: str = "unit",
    output_channels: int = 3,
    jnd_units: str = "pixel values 0..255",
    description: str = "",
    output_kind: str = "jnd_map",
    overwrite: bool = False,
) -> ModelSpec:
    """Adds a model to the registry and returns its spec.

    Args:
        name: unique registry name (letters, digits, ``_``, ``-``).
        family: family folder name.
        builder: callable returning the Keras model; must not import Keras before it is called.
        input_channels: network input channels; must be >= 3 + len(priors) - the RGB channels
            come first.
        priors: prior-map names stacked after RGB.
        normalization: input normalization name (see :mod:`jndtf.models.inputs`).
        output_channels: JND map channels (1 or 3).
        jnd_units: unit of the output map.
        description: one line for listings.
        output_kind: what the network outputs, one of :data:`OUTPUT_KINDS`.
        overwrite: replace an existing entry of the same name instead of raising.

    Raises:
        ValueError: a bad name, channel count or a duplicate name without `overwrite`.
    """
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"model name must be letters, digits, '_' or '-', got {name!r}")
    if not callable(builder):
        raise ValueError(f"builder of {name!r} is not callable: {builder!r}")
    priors = tuple(str(p) for p in priors)
    if int(input_channels) < 3 + len(priors):
        raise ValueError(
            f"{name!r}: input_channels={input_channels} is fewer than RGB (3) + "
            f"{len(priors)} priors {priors}"
        )
    if output_kind not in OUTPUT_KINDS:
        raise ValueError(
            f"{name!r}: output_kind must be one of {OUTPUT_KINDS}, got {output_kind!r}"
        )
    if output_kind in (*JND_OUTPUT_KINDS, "image", "saliency") and int(output_channels) not in (
        1,
        3,
    ):
        raise ValueError(f"{name!r}: output_channels must be 1 or 3, got {output_channels}")
    spec = ModelSpec(
        name=name,
        family=family,
        builder=builder,
        input_channels=int(input_channels),
        priors=priors,
        normalization=normalization,
        output_channels=int(output_channels),
        jnd_units=jnd_units,
        description=description,
        output_kind=output_kind,
    )
    with _LOCK:
        old = _REGISTRY.get(name)
        if old is not None and not overwrite:
            raise ValueError(
                f"model {name!r} is already registered by family {old.family!r} "
                "(pass overwrite=True to replace it)"
            )
        _REGISTRY[name] = spec
    return spec


def _discover() -> None:
    """Imports ``jndtf.models.<family>.presets`` of every family folder, once."""
    global _discovered
    with _LOCK:
        if _discovered:
            return
        import jndtf.models as models_pkg

        for info in sorted(pkgutil.iter_modules(models_pkg.__path__), key=lambda m: m.name):
            if not info.ispkg:
                continue
            module = f"jndtf.models.{info.name}.presets"
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:  # a family without presets registers nothing
                if err.name != module:
                    raise
        _discovered = True


def available_models(family: str | None = None) -> list[str]:
    """Registered model names (sorted), optionally only those of one family."""
    _discover()
    return sorted(n for n, s in _REGISTRY.items() if family is None or s.family == family)


def get_model_spec(name: str) -> ModelSpec:
    """The spec of model `name`; KeyError lists the registered names."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; available: {', '.join(available_models())}"
        ) from None


def build_model(name: str, **kwargs) -> Any:
    """``get_model_spec(name).build(**kwargs)``."""
    return get_model_spec(name).build(**kwargs)


__all__ = [
    "JND_OUTPUT_KINDS",
    "OUTPUT_KINDS",
    "ModelSpec",
    "available_models",
    "build_model",
    "get_model_spec",
    "register_model",
]
