"""A learned JND model as a plain function ``fn(image) -> HxWxC JND map`` for the evaluation.

The protocol of §4.4 of the ACoL-JND paper treats every JND model alike: a map in pixel units,
injected by eq. (7). Classical models already are such functions (:mod:`jndtf.baselines`); this
module makes a trained Keras network one too, feeding it the same numpy input that training and
the edge runtime use (:func:`jndtf.models.inputs.model_input`).

A learned model is named in one of three ways:

- a registered name (``"acol"``): :mod:`jndtf.models.registry` gives the input (priors and
  normalization) and the weights are the ones jndtf ships,
  ``jndtf/weights/<family>/<name>.keras`` (:func:`shipped_weights`). None are shipped yet: such a
  name raises :class:`FileNotFoundError` saying so, until the file exists.
- a ``.keras`` path: the input is described by the manifest beside it (``<stem>.json``, keys
  ``priors`` + ``normalization``, or ``preset``/``model`` naming a registered model); without a
  manifest a 3-channel network is taken as RGB-only.
- ``SPEC:PATH`` (``"acol:runs/acol/best.keras"``): the registered model SPEC describes the input,
  the file holds the weights.

Example:
    >>> fn = load_learned("acol:runs/acol/best.keras")
    >>> jnd = fn(image)                 # uint8 RGB HxWx3 -> float32 HxWx3, pixel units
    >>> jnd.shape == image.shape
    True
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jndtf.io import check_image

#: Folder of the weights jndtf ships, ``<family>/<name>.keras`` beside ``<name>.json``.
WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "weights"


def shipped_weights(name: str) -> Path | None:
    """The shipped ``.keras`` file of registered model `name`, or None when there is none.

    Looks for ``jndtf/weights/<family>/<name>.keras`` (the layout of the shipped A-IQA
    classifier, ``jndtf/weights/aiqa/``).

    Raises:
        KeyError: `name` is not a registered model (the message lists them).
    """
    from jndtf.models.registry import get_model_spec

    spec = get_model_spec(name)
    path = WEIGHTS_ROOT / spec.family / f"{name}.keras"
    return path if path.is_file() else None


def looks_like_path(ref: str | os.PathLike) -> bool:
    """True when a model reference names a file rather than a registered name."""
    if isinstance(ref, os.PathLike):
        return True
    return ref.endswith(".keras") or "/" in ref or os.sep in ref or Path(ref).is_file()


def split_spec(ref: str) -> tuple[str | None, str]:
    """``"acol:path.keras"`` -> ``("acol", "path.keras")`` when ``acol`` is a registered model;
    anything else -> ``(None, ref)``."""
    from jndtf.models.registry import available_models

    head, sep, tail = ref.partition(":")
    if sep and tail and head in available_models():
        return head, tail
    return None, ref


def _register_custom_layers() -> None:
    """Imports ``jndtf.models.<family>.layers`` of every family, so ``load_model`` finds the
    ``@register_keras_serializable`` classes saved in a ``.keras`` file."""
    import jndtf.models as models_pkg

    for info in pkgutil.iter_modules(models_pkg.__path__):
        if info.ispkg:
            module = f"jndtf.models.{info.name}.layers"
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)


def _read_manifest(path: Path) -> dict:
    """``NAME.json`` beside ``NAME.keras`` (shipped weights, export), else the ``manifest.json``
    of a `jndtf train` run folder; {} when there is neither."""
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        manifest = path.parent / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{manifest}: not a readable JSON manifest ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{manifest}: the manifest must be a JSON object")
    return data


def _input_from_manifest(path: Path, manifest: dict) -> tuple[tuple[str, ...], str] | None:
    from jndtf.models.registry import get_model_spec

    if "priors" in manifest:
        priors = manifest["priors"]
        if isinstance(priors, str) or not isinstance(priors, Sequence):
            raise ValueError(f"{path}: the manifest's 'priors' must be a list of names")
        norm = manifest.get("normalization", "unit")
        if isinstance(norm, dict):  # jndtf.models.inputs.normalization_info() layout
            norm = norm.get("name", "unit")
        return tuple(str(p) for p in priors), str(norm)
    for key in ("preset", "model"):
        if isinstance(manifest.get(key), str):
            spec = get_model_spec(manifest[key])
            return spec.priors, spec.normalization
    return None


class LearnedJnd:
    """A Keras JND network wrapped as ``fn(image) -> float32 HxWxC`` map in 0..255 pixel units.

    The image (uint8 RGB ``HxWx3`` or 0..255 float) goes through
    :func:`jndtf.models.inputs.model_input` with the model's priors and normalization, then
    through the network as a batch of one (NHWC); the output is the JND map of eq. (7) of the
    ACoL-JND paper, C = 3 (full RGB) or 1 (luma).

    Attributes:
        name: label of the model (registry name or file stem).
        source: the ``.keras`` file the weights came from.
        priors: prior maps stacked after RGB, in order.
        normalization: input normalization name.
        model: the loaded :class:`keras.Model`.
    """

    def __init__(
        self,
        model,
        *,
        priors: Sequence[str] = (),
        normalization: str = "unit",
        name: str = "learned",
        source: Path | None = None,
        prior_overrides: dict | None = None,
    ):
        from jndtf.models.inputs import normalization_info

        normalization_info(priors, normalization)  # ValueError for unknown names
        self.priors = tuple(priors)
        self.normalization = normalization
        self.name = name
        self.source = source
        self.model = model
        self.prior_overrides = dict(prior_overrides or {})
        shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
        want = 3 + len(self.priors)
        if shape is not None and (len(shape) != 4 or shape[-1] not in (None, want)):
            raise ValueError(
                f"{source or name}: the network takes input {shape}, but RGB + priors "
                f"{list(self.priors)} make {want} channels (NHWC); give the matching registered "
                "model as SPEC:PATH or fix the manifest's 'priors'"
            )

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from keras import ops

        from jndtf.models.inputs import model_input

        rgb = check_image(image)
        x = model_input(
            rgb, self.priors, normalization=self.normalization, overrides=self.prior_overrides
        )
        y = np.asarray(ops.convert_to_numpy(self.model(x[None], training=False)), np.float32)
        h, w = rgb.shape[:2]
        if y.ndim != 4 or y.shape[0] != 1 or y.shape[1:3] != (h, w) or y.shape[3] not in (1, 3):
            raise ValueError(
                f"{self.name}: the network returned shape {y.shape} for a {h}x{w} image; a JND "
                f"model must return (1, {h}, {w}, 1 or 3)"
            )
        jnd = y[0]
        if not np.all(np.isfinite(jnd)):
            raise ValueError(f"{self.name}: the JND map contains NaN or Inf values")
        if jnd.min() < 0:
            raise ValueError(
                f"{self.name}: the JND map has negative values (min {jnd.min():.4g}); eq. (7) "
                "needs a map >= 0 (the random matrix R carries the sign)"
            )
        return jnd

    def __repr__(self) -> str:
        return f"LearnedJnd({self.name!r}, source={str(self.source)!r}, priors={self.priors})"


def load_learned(
    ref: str | os.PathLike, *, spec: str | None = None, name: str | None = None
) -> LearnedJnd:
    """Loads a learned JND model as ``fn(image) -> HxWxC`` map (module docstring for `ref`).

    Args:
        ref: a registered model name (uses its shipped weights), a ``.keras`` path, or
            ``SPEC:PATH``.
        spec: registered model that describes the input of a ``.keras`` path (overrides the
            manifest).
        name: label of the model (default: the registered name, else the file stem).

    Returns:
        :class:`LearnedJnd`.

    Raises:
        KeyError: an unknown registered name (the message lists the registered models).
        FileNotFoundError: a missing file, or a registered model without shipped weights.
        ValueError: a file whose input cannot be determined or does not fit the priors.
        ImportError: Keras is not installed (names the extra to install).
    """
    from jndtf._deps import require
    from jndtf.models.registry import available_models, get_model_spec

    if isinstance(ref, str) and spec is None:
        spec, ref = split_spec(ref)
    if not looks_like_path(ref):
        model_spec = get_model_spec(str(ref))
        path = shipped_weights(model_spec.name)
        if path is None:
            where = WEIGHTS_ROOT / model_spec.family / f"{model_spec.name}.keras"
            raise FileNotFoundError(
                f"learned model {model_spec.name!r} is registered but jndtf ships no trained "
                f"weights for it yet (looked for {where}); train it and pass the file, e.g. "
                f"'{model_spec.name}:path/to/model.keras'"
            )
        spec, label = model_spec.name, name or model_spec.name
    else:
        path = Path(ref)
        label = name or path.stem
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such model file")
        if path.suffix != ".keras":
            raise ValueError(f"{path}: learned models are read from .keras files")

    manifest = _read_manifest(path)
    if spec is not None:
        model_spec = get_model_spec(spec)  # KeyError listing the registered names
        found = (model_spec.priors, model_spec.normalization)
    else:
        found = _input_from_manifest(path, manifest)
    overrides = _prior_overrides(path, manifest)

    keras = require("keras", "evaluating learned JND models")
    _register_custom_layers()
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot load the Keras model ({err})") from err
    if found is None:
        channels = model.inputs[0].shape[-1]
        if channels != 3:
            raise ValueError(
                f"{path}: the network takes {channels} input channels and no manifest "
                f"({path.with_suffix('.json').name}) says which priors build them; pass it as "
                f"SPEC:PATH with a registered model ({', '.join(available_models())})"
            )
        found = ((), "unit")
    return LearnedJnd(
        model,
        priors=found[0],
        normalization=found[1],
        name=label,
        source=path,
        prior_overrides=overrides,
    )


def _prior_overrides(path: Path, manifest: dict) -> dict:
    """The trained prior nets a model was trained with (manifest ``inputs.prior_overrides``,
    written by ``jndtf train acol --saliency-model``), loaded so inference sees the same input."""
    from jndtf.models.saliency_prior import load_saliency_prior

    records = (manifest.get("inputs") or {}).get("prior_overrides") or {}
    out = {}
    for name, rec in records.items():
        if name != "saliency" or not isinstance(rec, dict) or not rec.get("model"):
            raise ValueError(f"{path}: the manifest names an unsupported prior override {name!r}")
        model = Path(rec["model"])
        if not model.is_file():
            raise FileNotFoundError(
                f"{path} was trained with the saliency net {model}, which is "
                "missing; put it back or retrain without --saliency-model"
            )
        prior = load_saliency_prior(
            model, max_side=rec.get("max_side"), rescale=bool(rec.get("rescale", False))
        )
        if rec.get("model_sha256") and prior.model_sha256 != rec["model_sha256"]:
            raise ValueError(f"{model}: its sha256 differs from the one {path} was trained with")
        out[name] = prior
    return out


__all__ = ["WEIGHTS_ROOT", "LearnedJnd", "load_learned", "looks_like_path", "shipped_weights"]
