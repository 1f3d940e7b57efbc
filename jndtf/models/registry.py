"""Learned models by name: ``name -> ModelSpec``, the one place a model family declares itself.

A family registers its named configurations from its ``presets.py`` (pure Python, no Keras
import) by calling :func:`register_model` at import time; the first lookup imports
``jndtf.models.<family>.presets`` for every family folder, so adding a folder is enough (timm's
``_registry.py`` and keras-hub's preset tables work the same way). A :class:`ModelSpec` holds the
builder, the inputs (RGB + prior names, normalization, modalities, the numpy input builder), the
output kind (:data:`OUTPUT_KINDS`), the training entry (:class:`TrainEntry`: ``jndtf train
FAMILY`` is generated from it), the export hooks (:class:`ExportHooks`: QAT rebuild, int8 float
layers) and the MAC count. Code outside the family asks the spec instead of branching on a family
name. Training and export code are given as ``"module:attribute"`` paths, so importing this
module, listing and looking up models load neither TensorFlow nor Keras; only
:meth:`ModelSpec.build` does. ``CONTRIBUTING.md`` walks through adding a family.

Example:
    >>> from jndtf.models.registry import available_models, get_model_spec
    >>> spec = get_model_spec("acol")
    >>> spec.input_channels, spec.priors, spec.output_kind
    (6, ('pattern_masking', 'contrast_masking', 'saliency'), 'jnd_map')
"""

from __future__ import annotations

import importlib
import inspect
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

#: Output kinds in pixel units with 1 or 3 channels: an HVS JND map (0..255 a distortion may
#: reach unnoticed) and a DMV-JND perturbation (signed). Only "jnd_map" is what ``is_jnd`` means.
JND_OUTPUT_KINDS = ("jnd_map", "dmv_jnd")

#: The numpy input builder shared by training and the edge runtime.
DEFAULT_INPUT_BUILDER = "jndtf.priors.inputs:model_input"


def load_object(path: str) -> Any:
    """The object a ``"package.module:attribute"`` path names (imported on call).

    Specs hold their training and export code as such paths, so importing the registry loads
    neither TensorFlow nor Keras.

    Raises:
        ValueError: a path without ``:``.
        ImportError, AttributeError: the module or attribute does not exist.
    """
    module, sep, attr = str(path).partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"expected 'package.module:attribute', got {path!r}")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class TrainEntry:
    """How ``jndtf train FAMILY`` runs a family's training (every field a lazy object path).

    The command's options come from the settings dataclass' fields: a field with
    ``metadata["cli"]`` (:func:`jndtf.settings.option`) is an option, with its default
    and help written once on the field (:mod:`jndtf.cli.train` derives the typer command).

    Attributes:
        settings: ``"module:Class"`` of the frozen settings dataclass.
        run: ``"module:function"``, ``run(settings, **kw) -> result``.
        help: the command's help (first line: the summary in ``jndtf train --help``).
        report: ``"module:function"``, ``report(result) -> str``, the line printed on stdout.
        checkpoint: ``"module:function"``, ``checkpoint(settings_kwargs) -> Path`` of the file
            ``--resume`` continues from; None: the command has no ``--resume``.
        progress: ``"module:function"``, ``progress(p) -> dict | None`` turning one report of
            ``run(settings, progress=...)`` into ``{"description", "completed", "total",
            "text"}`` for the progress bar; None: the run shows Keras' own progress
            (``verbose`` 1 on a terminal, else 2).
        interrupted: ``"module:Exception"`` the run raises after checkpointing on Ctrl-C
            (exit 130, "continue with --resume"); None: none.
    """

    settings: str
    run: str
    help: str = ""
    report: str | None = None
    checkpoint: str | None = None
    progress: str | None = None
    interrupted: str | None = None


@dataclass(frozen=True)
class ExportHooks:
    """What :mod:`jndtf.export` needs to know about a family beyond its Keras model.

    Attributes:
        exportable: ``jndtf export`` accepts the family (False: a model that is not exported,
            e.g. a classifier only used inside a training loss).
        qat_describe: ``"module:function"``, ``describe(keras_model) -> dict`` (JSON-ready
            architecture for the QAT worker; raises ValueError for a model it cannot
            describe); None: no quantization-aware-training export for this family.
        qat_rebuild: ``"package.module"`` the QAT worker imports (tf_keras; never in this
            process) with ``build(arch, *, input_size=None, wrap=None) -> tf_keras.Model``
            (``wrap`` is called on every layer as it is made), ``CUSTOM_LAYERS`` (name ->
            class) and ``QUANTIZE_CONFIGS`` (custom layer name -> ``"output"`` or ``"noop"``).
        qat_task_loss: ``"module:Class"`` of the family's training loss (a Keras loss,
            ``y_true`` = original RGB 0..255, ``y_pred`` = output) for QAT fine-tuning with
            ``loss="eq6"``; None: distillation only.
        float_layers: Keras layer names an int8 export keeps in float by default (their
            TFLite nodes are denylisted), in addition to the head and thresholds.
    """

    exportable: bool = True
    qat_describe: str | None = None
    qat_rebuild: str | None = None
    qat_task_loss: str | None = None
    float_layers: tuple[str, ...] = ()

    @property
    def supports_qat(self) -> bool:
        """Both QAT hooks are given."""
        return bool(self.qat_describe and self.qat_rebuild)


#: Input modalities a family may declare besides RGB and the prior maps (computed by its own
#: input builder; hmJND-Net's saliency/depth/segmentation maps, DMV-JND-NET's merged CAM map).
MODALITIES = ("rgb", "priors", "saliency_map", "depth", "segmentation", "reference", "cam")


@dataclass(frozen=True)
class ModelSpec:
    """The one place a model family declares itself (one per registered name).

    Attributes:
        name: registry name (e.g. ``"acol"``).
        family: model-family folder under ``jndtf/models`` (e.g. ``"acol"``).
        builder: ``builder(**kwargs) -> keras.Model``; imports Keras only when called.
        input_channels: channels of the network input (NHWC).
        priors: names of the prior maps stacked after the RGB channels, in order (names of
            :data:`jndtf.priors.PRIORS`); empty for RGB-only models.
        normalization: name of the input normalization of :mod:`jndtf.priors.inputs`.
        output_channels: channels of the output (3 = full RGB, 1 = luma; classes of a
            classifier).
        jnd_units: unit of the output map.
        description: one line for listings.
        output_kind: what the network outputs, one of :data:`OUTPUT_KINDS`.
        modalities: the network's inputs, in order, from :data:`MODALITIES` (default:
            ``("rgb", "priors")`` with priors, else ``("rgb",)``).
        input_builder: ``"module:function"``, ``build(image, priors, normalization=...) ->
            HxWxC float32`` (default: the numpy builder shared by training and the edge).
        train: how ``jndtf train FAMILY`` runs (:class:`TrainEntry`), or None.
        export: :class:`ExportHooks`.
        macs: multiply-accumulates per input pixel: a number, or ``"module:function"``
            called as ``f(name, width=...)``; None: unknown.
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
    modalities: tuple[str, ...] = ()
    input_builder: str = DEFAULT_INPUT_BUILDER
    train: TrainEntry | None = None
    export: ExportHooks = ExportHooks()
    macs: float | str | None = None

    @property
    def is_jnd(self) -> bool:
        """True when the output is an HVS JND map (``"jnd_map"``: non-negative grey levels, what
        ``jndtf jnd``, ``eval jnd`` and eq. (7) take). A DMV-JND's signed perturbation e
        (``"dmv_jnd"``) is not one: it has its own commands."""
        return self.output_kind == "jnd_map"

    def build(self, **kwargs) -> Any:
        """Builds the Keras model (keyword arguments go to the family's builder)."""
        return self.builder(**kwargs)

    def make_input(self, image: np.ndarray, **modalities: np.ndarray) -> np.ndarray:
        """The network input for one RGB image: :attr:`input_builder` (by default
        :func:`jndtf.priors.inputs.model_input`) with this model's priors and normalization
        (numpy only); `modalities` (e.g. ``cam=`` for DMV-JND-NET) go to the builder."""
        build = load_object(self.input_builder)
        return build(image, self.priors, normalization=self.normalization, **modalities)

    def macs_per_pixel(self, width: float | str | None = None) -> float | None:
        """Multiply-accumulates per input pixel at `width` (None: the family's default), or
        None when the family does not count them or does not know `width`.

        Example:
            >>> get_model_spec("acol").macs_per_pixel()
            87147.0
        """
        if self.macs is None:
            return None
        if not isinstance(self.macs, str):
            return float(self.macs)
        count = load_object(self.macs)
        kwargs = {}
        if width is not None and "width" in inspect.signature(count).parameters:
            kwargs["width"] = width
        try:
            return float(count(self.name, **kwargs))
        except (KeyError, ValueError):
            return None


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
    modalities: Sequence[str] = (),
    input_builder: str = DEFAULT_INPUT_BUILDER,
    train: TrainEntry | None = None,
    export: ExportHooks | None = None,
    macs: float | str | None = None,
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
        normalization: input normalization name (see :mod:`jndtf.priors.inputs`).
        output_channels: JND map channels (1 or 3).
        jnd_units: unit of the output map.
        description: one line for listings.
        output_kind: what the network outputs, one of :data:`OUTPUT_KINDS`.
        modalities, input_builder, train, export, macs: see :class:`ModelSpec`. Families of
            one registration usually share one :class:`TrainEntry` and :class:`ExportHooks`.
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
    modalities = tuple(modalities) or (("rgb", "priors") if priors else ("rgb",))
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ValueError(f"{name!r}: unknown modalities {unknown}; known: {MODALITIES}")
    if train is not None and not isinstance(train, TrainEntry):
        raise ValueError(f"{name!r}: train must be a TrainEntry, got {type(train).__name__}")
    export = ExportHooks() if export is None else export
    if not isinstance(export, ExportHooks):
        raise ValueError(f"{name!r}: export must be ExportHooks, got {type(export).__name__}")
    if bool(export.qat_describe) != bool(export.qat_rebuild):
        raise ValueError(f"{name!r}: give both qat_describe and qat_rebuild, or neither")
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
        modalities=modalities,
        input_builder=str(input_builder),
        train=train,
        export=export,
        macs=macs,
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


def available_families() -> list[str]:
    """Family names of the registered models (sorted)."""
    _discover()
    return sorted({s.family for s in _REGISTRY.values()})


def family_spec(family: str) -> ModelSpec:
    """The first registered spec (by name) of `family`, which carries the family's train entry
    and export hooks; KeyError lists the families."""
    names = available_models(family)
    if not names:
        raise KeyError(f"unknown model family {family!r}; available: {available_families()}")
    specs = [_REGISTRY[n] for n in names]
    return next((s for s in specs if s.train is not None), specs[0])


def trainable_families() -> dict[str, TrainEntry]:
    """``{family: TrainEntry}`` of every family that registers a training entry."""
    return {f: e for f in available_families() if (e := family_spec(f).train) is not None}


def build_model(name: str, **kwargs) -> Any:
    """``get_model_spec(name).build(**kwargs)``."""
    return get_model_spec(name).build(**kwargs)


__all__ = [
    "DEFAULT_INPUT_BUILDER",
    "JND_OUTPUT_KINDS",
    "MODALITIES",
    "OUTPUT_KINDS",
    "ExportHooks",
    "ModelSpec",
    "TrainEntry",
    "available_families",
    "available_models",
    "build_model",
    "family_spec",
    "get_model_spec",
    "load_object",
    "register_model",
    "trainable_families",
]
