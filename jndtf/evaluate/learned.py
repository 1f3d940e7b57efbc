"""A learned JND model as a plain function ``fn(image) -> HxWxC JND map`` for the evaluation.

The protocol of §4.4 of the ACoL-JND paper treats every JND model alike: a map in pixel units,
injected by eq. (7). Classical models already are such functions (:mod:`jndtf.baselines`); this
module makes a trained Keras network one too, feeding it the same numpy input that training and
the edge runtime use (:func:`jndtf.priors.inputs.model_input`).

A learned model is named as :func:`jndtf.refs.resolve_model` (``runtime="keras"``) reads it:

- a registered name (``"acol"``): :mod:`jndtf.models.registry` gives the input (priors and
  normalization) and the weights are the ones jndtf ships,
  ``jndtf/weights/<family>/<name>.keras`` (:func:`shipped_weights`); a registered name without
  shipped weights raises :class:`FileNotFoundError` saying so.
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

import functools
import importlib
import importlib.util
import os
import pkgutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jndtf.io import check_image
from jndtf.manifest import read_source_manifest
from jndtf.priors.modalities import MODALITY_CHANNELS
from jndtf.refs import WEIGHTS_ROOT, ModelRef, looks_like_path, resolve_model, shipped_models
from jndtf.tiling import DEFAULT_TILE

#: Tiling of large images (see :meth:`LearnedJnd.__call__`): pixels next to a neighbouring
#: tile never used (>= the 52-px receptive-field radius of ACoL-JND) and the cross-fade width.
TILE_MARGIN = 64
TILE_BLEND = 64


def shipped_weights(name: str) -> Path | None:
    """The shipped ``.keras`` file of model `name`, or None (:func:`jndtf.refs.shipped_models`)."""
    return shipped_models("keras").get(name)


def _register_custom_layers() -> None:
    """Imports ``jndtf.models.<family>.layers`` of every family, so ``load_model`` finds the
    ``@register_keras_serializable`` classes saved in a ``.keras`` file."""
    import jndtf.models as models_pkg

    for info in pkgutil.iter_modules(models_pkg.__path__):
        if info.ispkg:
            module = f"jndtf.models.{info.name}.layers"
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)


def _input_from_manifest(path: Path, manifest: dict) -> tuple[tuple[str, ...], str] | None:
    from jndtf.models.registry import get_model_spec

    if "priors" in manifest:
        priors = manifest["priors"]
        if isinstance(priors, str) or not isinstance(priors, Sequence):
            raise ValueError(f"{path}: the manifest's 'priors' must be a list of names")
        norm = manifest.get("normalization", "unit")
        if isinstance(norm, dict):  # jndtf.priors.inputs.normalization_info() layout
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
    :func:`jndtf.priors.inputs.model_input` with the model's priors and normalization, then
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
        from jndtf.priors.inputs import normalization_info

        normalization_info(priors, normalization)  # ValueError for unknown names
        self.priors = tuple(priors)
        self.normalization = normalization
        self.name = name
        self.source = source
        self.model = model
        self.prior_overrides = dict(prior_overrides or {})
        #: tiled maps use the whole image's §3.4 threshold (two passes); False: per tile
        self.global_threshold = True
        self._split = None
        shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
        want = 3 + len(self.priors)
        if shape is not None and (len(shape) != 4 or shape[-1] not in (None, want)):
            raise ValueError(
                f"{source or name}: the network takes input {shape}, but RGB + priors "
                f"{list(self.priors)} make {want} channels (NHWC); give the matching registered "
                "model as SPEC:PATH or fix the manifest's 'priors'"
            )

    def __call__(
        self, image: np.ndarray, *, tile: int | None = DEFAULT_TILE, progress=None
    ) -> np.ndarray:
        """The JND map of `image`; above `tile` pixels on a side it is computed in tiles.

        Tiling (:func:`jndtf.tiling.run_tiled`): tiles of `tile` px overlapping by
        ``2 * TILE_MARGIN + TILE_BLEND``, linear cross-fade. :data:`TILE_MARGIN` (64 px) covers
        ACoL-JND's receptive-field radius: 4 full-resolution 3x3 convs (4 px), branch A's six
        3x3 convs at strides 1, 1, 2, 2, 4, 4 (1 + 1 + 2 + 2 + 4 + 4 = 14 px), Up1 (+4),
        branch B (+14), CNN4's three convs at stride 4 (+12) and Up2 (+4): 52 px. What tiling
        cannot reproduce by itself is the §3.4 threshold ``i4 > mean(i4)``: its mean is over
        the whole image. So a network with that layer runs in two passes: the first computes
        i4 tile by tile and sums each tile's own part (the tiles' overlaps split in the
        middle, 96 px from either tile's edge, beyond i4's 22-px receptive field) into the
        whole image's per-channel mean; the second runs the network with the threshold fixed
        to that mean (a copy of the network sharing its weights). ``tests/test_large_images.py``
        measures the tiled map against the whole one (PSNR), and what the per-tile mean alone
        would cost. The saliency prior is computed once on the whole image (the spectral
        residual works on a 64-px-wide copy of it) and cut per tile, so every tile sees the
        whole image's f_va. ``tile=None`` or 0: always the whole image.

        Args:
            image: uint8 RGB ``HxWx3`` or 0..255 float.
            tile: tile side in pixels (None/0: no tiling).
            progress: ``progress(done_tiles, total_tiles)``.
        """
        from jndtf.tiling import run_tiled

        rgb = check_image(image)
        h, w = rgb.shape[:2]
        if not tile or (h <= tile and w <= tile):
            return self._predict(rgb, self.prior_overrides)
        overrides = dict(self.prior_overrides)
        saliency = self._whole_saliency(rgb) if "saliency" in self.priors else None

        def tile_overrides(box: tuple[int, int, int, int]) -> dict:
            y0, y1, x0, x1 = box
            out = dict(overrides)
            if saliency is not None:
                out["saliency"] = functools.partial(_cut, saliency[y0:y1, x0:x1])
            return out

        split = self._threshold_split() if self.global_threshold else None
        steps = 2 if split is not None else 1

        def report(step: int):
            if progress is None:
                return None
            return lambda done, total: progress(step * total + done, steps * total)

        model = self.model
        if split is not None:
            i4_model, model, fixed = split
            mean = _tiled_channel_mean(
                lambda crop, box: self._network_input(crop, tile_overrides(box)),
                i4_model,
                rgb,
                tile,
                report(0),
            )
            fixed.threshold.assign(mean.astype(np.float32))

        def one_tile(crop: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
            return self._predict(crop, tile_overrides(box), model)

        return run_tiled(
            one_tile,
            rgb,
            tile=tile,
            margin=TILE_MARGIN,
            blend=TILE_BLEND,
            progress=report(steps - 1),
        )

    def _whole_saliency(self, rgb: np.ndarray) -> np.ndarray:
        """f_va of the whole image as :func:`jndtf.priors.inputs.model_input` computes it (on
        the image continued by its mirrored margin, then cropped), float32 ``HxW``."""
        import cv2

        from jndtf.priors import compute_all, inputs

        rgb8 = rgb if rgb.dtype == np.uint8 else np.rint(np.clip(rgb, 0, 255)).astype(np.uint8)
        m = int(getattr(inputs, "PRIOR_MARGIN", 0))
        padded = cv2.copyMakeBorder(rgb8, m, m, m, m, cv2.BORDER_REFLECT) if m else rgb8
        if "saliency" in self.prior_overrides:
            sal = np.asarray(self.prior_overrides["saliency"](padded), np.float32)
        else:
            sal = compute_all(padded, ["saliency"])["saliency"]
        h, w = rgb.shape[:2]
        return np.ascontiguousarray(sal[m : m + h, m : m + w])

    def _threshold_split(self):
        """``(i4 model, network with a fixed threshold, its threshold layer)`` when the network
        has one layer that thresholds at a whole-image channel mean (it declares
        ``whole_image_statistic = "channel_mean"``, e.g. ACoL's §3.4 mask), else None (built
        once, weights shared)."""
        if self._split is not None:
            return self._split or None
        import keras

        found = [
            layer
            for layer in self.model.layers
            if getattr(layer, "whole_image_statistic", None) == "channel_mean"
        ]
        if len(found) != 1:
            self._split = ()
            return None
        fixed = _FixedThreshold.make(found[0].name)

        def clone(layer):
            return fixed if layer is found[0] else layer  # every other layer: shared weights

        copy = keras.models.clone_model(self.model, clone_function=clone)
        i4_model = keras.Model(self.model.inputs[0], found[0].input)
        self._split = (i4_model, copy, fixed)
        return self._split

    def _network_input(self, rgb: np.ndarray, overrides: dict) -> np.ndarray:
        from jndtf.priors.inputs import model_input

        x = model_input(rgb, self.priors, normalization=self.normalization, overrides=overrides)
        return x[None]

    def _predict(self, rgb: np.ndarray, overrides: dict, model=None) -> np.ndarray:
        from keras import ops

        model = self.model if model is None else model
        x = self._network_input(rgb, overrides)
        y = np.asarray(ops.convert_to_numpy(model(x, training=False)), np.float32)
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


def _cut(part: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Saliency override of one tile: the whole image's map `part` for the tile, extended by
    edge values to the size of the (possibly margin-padded) `image` model_input passes; the
    margin is cropped away again by model_input."""
    dy = image.shape[0] - part.shape[0]
    dx = image.shape[1] - part.shape[1]
    if dy == 0 and dx == 0:
        return part
    return np.pad(part, ((dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2)), mode="edge")


class _FixedThreshold:
    """Builds the stand-in for a whole-image channel-mean threshold layer with a given threshold
    (a non-trainable weight set before each image), for tiled inference."""

    @staticmethod
    def make(name: str):
        import keras
        from keras import ops

        class FixedThreshold(keras.layers.Layer):
            def build(self, input_shape):
                self.threshold = self.add_weight(
                    shape=(input_shape[-1],), initializer="zeros", trainable=False, name="mean"
                )

            def call(self, inputs):
                return ops.cast(ops.greater(inputs, self.threshold), inputs.dtype)

        return FixedThreshold(name=name)


def _tiled_channel_mean(make_input, i4_model, rgb: np.ndarray, tile: int, progress) -> np.ndarray:
    """Per-channel mean of i4 over the whole image, tile by tile: each tile adds the part it
    owns (overlaps split in the middle, :data:`TILE_MARGIN` + :data:`TILE_BLEND` / 2 px from
    its edges), so every pixel counts once."""
    from keras import ops

    from jndtf.tiling import tile_starts

    h, w = rgb.shape[:2]
    overlap = 2 * TILE_MARGIN + TILE_BLEND
    ys, xs = tile_starts(h, tile, overlap, 4), tile_starts(w, tile, overlap, 4)

    def owned(spans):
        cuts = [0] + [(spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)] + [None]
        return [(cuts[i], cuts[i + 1]) for i in range(len(spans))]

    total, done, acc = len(ys) * len(xs), 0, None
    for (y0, y1), (oy0, oy1) in zip(ys, owned(ys), strict=True):
        for (x0, x1), (ox0, ox1) in zip(xs, owned(xs), strict=True):
            x = make_input(rgb[y0:y1, x0:x1], (y0, y1, x0, x1))
            i4 = np.asarray(ops.convert_to_numpy(i4_model(x, training=False)))[0]
            oy1_, ox1_ = (y1 if oy1 is None else oy1), (x1 if ox1 is None else ox1)
            part = i4[oy0 - y0 : oy1_ - y0, ox0 - x0 : ox1_ - x0]
            s = part.sum(axis=(0, 1), dtype=np.float64)
            acc = s if acc is None else acc + s
            done += 1
            if progress is not None:
                progress(done, total)
    return acc / float(h * w)


def load_learned(
    ref: str | os.PathLike | ModelRef, *, spec: str | None = None, name: str | None = None
) -> LearnedJnd | ImageOutputJnd:
    """Loads a learned JND model as ``fn(image) -> HxWxC`` map (module docstring for `ref`).

    An image-output model (hmJND-Net: ``hmjnd``, ``hmjnd_tiny:PATH``, a ``.keras`` whose
    manifest names its preset) is loaded by :func:`load_image_model` (an
    :class:`ImageOutputJnd`, map ``|I - I_rr|``), so ``jndtf jnd``/``inject``/``demo`` take it
    as ``jndtf eval jnd`` does.

    Args:
        ref: a :class:`jndtf.refs.ModelRef` or what :func:`jndtf.refs.resolve_model` takes
            (a shipped/registered name, a ``.keras`` path, ``SPEC:PATH``).
        spec: registered model that describes the input of a ``.keras`` path (overrides the
            manifest).
        name: label of the model (default: the registered name, else the file stem).

    Returns:
        :class:`LearnedJnd` (:class:`ImageOutputJnd` for an image-output model).

    Raises:
        jndtf.refs.UnknownModelError: an unknown name (a KeyError and ValueError; the message
            lists the accepted ones), or a file that is not ``.keras``.
        FileNotFoundError: a missing file, or a registered model without shipped weights.
        ValueError: a classical model, or a file whose input cannot be determined or does not
            fit the priors.
        ImportError: Keras is not installed (names the extra to install).
    """
    from jndtf._deps import require
    from jndtf.models.registry import available_models, get_model_spec

    if not isinstance(ref, ModelRef):
        ref = resolve_model(ref, runtime="keras", learned=True)
    if not ref.learned:
        raise ValueError(f"{ref.text}: a {ref.kind} model, not a learned one")
    if spec is None and image_output_spec(ref) is not None:
        return load_image_model(ref, name=name)  # hmJND-Net: its map is |I - I_rr|
    path = ref.model_path()  # FileNotFoundError: no shipped weights, or a missing file
    if path.suffix != ".keras":
        raise ValueError(f"{path}: learned models are read from .keras files")
    spec = spec if spec is not None else ref.preset
    label = name or ref.label

    manifest = read_source_manifest(path)
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


# --------------------------------------------------------------------------- image-output models

#: Registry output kinds whose network returns an image I_rr, not a map (hmJND-Net): their JND
#: map is ``|I - I_rr|`` (the visibility threshold of Xie, Wang et al., AAAI 2023, Sec. 4.1).
IMAGE_OUTPUT_KINDS = ("image",)

#: Tile side of image-output models (smaller than :data:`jndtf.tiling.DEFAULT_TILE`: hmJND-Net's
#: window attention holds ``heads x M² x M²`` logits per window. Measured, preset ``hmjnd``
#: traced (:func:`_graph_call`), 2 cores: one 512x512 call peaks at 2.3 GB RSS (0.8 GB before
#: it; 9.1 GB eager); a 1136x818 photo in 512-px tiles, two passes, 2.7 GB and 98 s).
IMAGE_TILE = 512

#: Cross-fade width of tiled image-output maps (pixels).
IMAGE_TILE_BLEND = 32

#: Registry modality name -> provider kind of :mod:`jndtf.priors.modalities`.
_PROVIDER_KINDS = MODALITY_CHANNELS


def provider_from_record(record: dict, where: str | os.PathLike):
    """:func:`jndtf.priors.modalities.provider_from_record` (the one implementation training,
    evaluation and the edge runtime share) with Keras' safe loader for a ``.keras`` provider
    network (:func:`jndtf.models.modality_models.safe_load_keras`).

    Raises:
        FileNotFoundError, ValueError: as the core function (names `where` and the provider).
    """
    from jndtf.models.modality_models import safe_load_keras
    from jndtf.priors import modalities

    return modalities.provider_from_record(record, where, keras_loader=safe_load_keras)


def providers_from_manifest(path: Path, manifest: dict, kinds) -> tuple[list, str]:
    """``(providers, where they came from)`` of the modality `kinds` of the model at `path`:
    :func:`jndtf.priors.modalities.providers_from_manifest` (the manifest's
    ``modality_providers`` or ``inputs.providers``, else the classical defaults), ``.keras``
    provider networks loaded by Keras' safe loader."""
    from jndtf.models.modality_models import safe_load_keras
    from jndtf.priors import modalities

    return modalities.providers_from_manifest(path, manifest, kinds, keras_loader=safe_load_keras)


def _registered_spec(name: str, path: Path, what: str):
    from jndtf.models.registry import available_models, get_model_spec

    if name not in available_models():
        raise ValueError(
            f"{path}: its manifest names the {what} {name!r}, which jndtf does not know "
            f"(registered: {', '.join(available_models())}); pass the file as SPEC:PATH with "
            "the registered model that describes its input"
        )
    return get_model_spec(name)


def manifest_spec(path: Path, manifest: dict):
    """The registered model a ``.keras`` file's manifest names (``preset``/``model``, else a
    ``family`` that is also one of its presets), or None when it names none (or describes
    its input by ``priors``).

    Raises:
        ValueError: the manifest names a model or family jndtf does not know (names the file).
    """
    from jndtf.models.registry import available_models, get_model_spec

    if "priors" in manifest:
        return None  # self-described RGB + priors input (LearnedJnd's manifest form)
    for key in ("preset", "model"):
        if isinstance(manifest.get(key), str):
            return _registered_spec(manifest[key], path, "model")
    family = manifest.get("family")
    if not isinstance(family, str):
        return None
    families = {get_model_spec(m).family for m in available_models()}
    if family not in families:
        raise ValueError(
            f"{path}: its manifest names the model family {family!r}, which jndtf does not "
            f"know (families: {', '.join(sorted(families))}); pass it as SPEC:PATH"
        )
    if family in available_models():
        return get_model_spec(family)
    return None


def image_output_spec(ref: ModelRef):
    """The registered spec of `ref` when it is an image-output model (:data:`IMAGE_OUTPUT_KINDS`:
    a registered name or ``SPEC:PATH`` of such a preset, or a ``.keras`` whose manifest names
    one), else None. Loads no Keras.

    Raises:
        ValueError: a ``.keras`` whose manifest names an unknown model or family.
    """
    from jndtf.models.registry import get_model_spec

    if not ref.learned or ref.kind not in ("shipped", "family", "keras"):
        return None
    if ref.preset is not None:
        spec = get_model_spec(ref.preset)
    elif ref.path is not None and ref.path.is_file():
        spec = manifest_spec(ref.path, read_source_manifest(ref.path))
    else:
        return None
    return spec if spec is not None and spec.output_kind in IMAGE_OUTPUT_KINDS else None


def _own_radius(layer) -> int:
    """How far (pixels) one layer reaches: a conv ``(k // 2) * dilation``, a window attention
    ``window - 1`` (a token sees only its own, possibly shifted, window), else 0."""
    kernel = getattr(layer, "kernel_size", None)
    if kernel is not None:
        rate = getattr(layer, "dilation_rate", None) or (1,) * len(kernel)
        return max(int(k) // 2 * int(d) for k, d in zip(kernel, rate, strict=False))
    if hasattr(layer, "window") and hasattr(layer, "shift"):
        return int(layer.window) - 1
    return 0


def receptive_radius(model) -> int:
    """The receptive-field radius (pixels) of a functional Keras network: the longest path
    through its graph, each layer adding :func:`_own_radius` (global layers such as SE channel
    attention are not counted: :class:`ImageOutputJnd` fixes their means). Falls back to the
    sum over all layers (as if all were in series) when the graph cannot be walked."""
    import keras

    reach: dict[int, int] = {}
    try:
        for layer in model.layers:
            inputs = keras.tree.flatten(layer.input)
            before = max((reach.get(id(t._keras_history.operation), 0) for t in inputs), default=0)
            reach[id(layer)] = before + _own_radius(layer)
    except (AttributeError, ValueError):
        return sum(_own_radius(layer) for layer in model.layers)
    return max(reach.values(), default=0)


def _graph_call(model):
    """``x -> model(x, training=False)`` as numpy, traced as a graph on TensorFlow (eager
    keeps every temporary: hmJND-Net at 512x512 peaked at 9.1 GB eager, 2.3 GB traced)."""
    import keras
    from keras import ops

    if keras.backend.backend() != "tensorflow":
        return lambda x: ops.convert_to_numpy(model(x, training=False))
    import tensorflow as tf

    fn = tf.function(lambda t: model(t, training=False), reduce_retracing=True)

    def call(x):
        out = fn(tf.convert_to_tensor(x))
        if isinstance(out, (list, tuple)):
            return [o.numpy() for o in out]
        return out.numpy()

    return call


class ImageOutputJnd:
    """A network that outputs the redundancy-removed image I_rr (hmJND-Net), wrapped as
    ``fn(image) -> float32 HxWx3`` JND map ``|I - I_rr|`` in 0..255 pixel units.

    The input is built as training built it (:mod:`jndtf.train.hmjnd`): each modality map from
    its provider on the whole image (:func:`jndtf.priors.modalities.modality_stack`, the
    providers rebuilt from the model's manifest, :func:`providers_from_manifest`), then the
    family's input builder (``ModelSpec.make_input``: :func:`jndtf.models.hmjnd.inputs.
    hmjnd_input`, RGB / 255 + the maps). Any size: the network pads to its window multiple
    itself and crops back.

    Attributes:
        name: label; source: the ``.keras`` file; spec: the registered model describing the
        input; providers: the modality providers; providers_from: where they came from;
        model: the loaded :class:`keras.Model`.
    """

    def __init__(self, model, spec, providers, *, name: str, source: Path | None, providers_from):
        self.model = model
        self.spec = spec
        self.providers = list(providers)
        self.providers_from = providers_from
        self.name = name
        self.source = source
        self.modalities = [m for m in spec.modalities if m != "rgb"]
        self.kinds = [_PROVIDER_KINDS[m] for m in self.modalities]
        windows = [int(layer.window) for layer in model.layers if hasattr(layer, "shift")]
        #: tile origins are multiples of every window (the tile's windows are the image's)
        self.align = int(np.lcm.reduce(windows)) if windows else 1
        self.radius = receptive_radius(model)
        self.margin = -(-self.radius // self.align) * self.align
        self._call = _graph_call(model)
        self._split = None

    def network_input(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` float32 input of the whole image (RGB + modality maps)."""
        from jndtf.priors.modalities import modality_stack

        rgb = check_image(image)
        rgb8 = rgb if rgb.dtype == np.uint8 else np.clip(rgb, 0, 255).astype(np.uint8)
        maps = {}
        if self.kinds:
            stack = modality_stack(rgb8, self.providers, kinds=self.kinds)
            maps = {m: stack[..., i] for i, m in enumerate(self.modalities)}
        return self.spec.make_input(rgb, **maps)

    def redundancy_removed(
        self, image: np.ndarray, *, tile: int | None = IMAGE_TILE, progress=None
    ) -> np.ndarray:
        """I_rr, float32 ``HxWx3`` in 0..255; above `tile` pixels on a side in tiles.

        Tiling (:func:`jndtf.tiling.run_tiled`): the input (maps included) is built on the
        whole image and cut per tile; tile origins are multiples of the window size, so each
        tile's (shifted) windows are the whole image's; a tile's outer :attr:`margin` pixels
        (>= the receptive-field radius, :func:`receptive_radius`, rounded up to the window)
        are never used, then a :data:`IMAGE_TILE_BLEND`-px cross-fade.
        The SE channel attention of HMPF averages over the whole image, so the network runs
        in two passes: the first sums each SE layer's input per channel over the tiles (each
        pixel once: the overlaps split in the middle) into the whole image's mean; the second
        runs a copy of the network (weights shared) with those means fixed. The tiled I_rr
        then equals the whole one up to float rounding (``tests/test_eval_hmjnd.py``).
        """
        from jndtf.tiling import run_tiled

        x = self.network_input(image)
        h, w = x.shape[:2]
        if not tile or (h <= tile and w <= tile):
            return self._check(np.asarray(self._call(x[None]), np.float32), h, w)
        overlap = 2 * self.margin + IMAGE_TILE_BLEND
        if tile <= overlap:
            raise ValueError(
                f"{self.name}: tile {tile} px must be larger than the overlap {overlap} px "
                f"(2 x margin {self.margin} + blend {IMAGE_TILE_BLEND})"
            )
        stat_model, model, fixed = self._se_split()
        steps = 2 if fixed else 1

        def report(step: int):
            if progress is None:
                return None
            return lambda done, total: progress(step * total + done, steps * total)

        if fixed:
            means = _tiled_means(
                x, stat_model, tile, self.margin, IMAGE_TILE_BLEND, self.align, report(0)
            )
            for layer, mean in zip(fixed, means, strict=True):
                layer.mean.assign(mean.astype(np.float32))

        def one_tile(_crop, box):
            y0, y1, x0, x1 = box
            y = np.asarray(model(x[None, y0:y1, x0:x1]), np.float32)
            return self._check(y, y1 - y0, x1 - x0)

        return run_tiled(
            one_tile,
            x[..., :3],
            tile=tile,
            margin=self.margin,
            blend=IMAGE_TILE_BLEND,
            align=self.align,
            progress=report(steps - 1),
        )

    def __call__(
        self, image: np.ndarray, *, tile: int | None = IMAGE_TILE, progress=None
    ) -> np.ndarray:
        """The JND map ``|I - I_rr|``, float32 ``HxWx3`` (:meth:`redundancy_removed`)."""
        rgb = check_image(image).astype(np.float32)
        jnd = np.abs(rgb - self.redundancy_removed(image, tile=tile, progress=progress))
        if not np.all(np.isfinite(jnd)):
            raise ValueError(f"{self.name}: the JND map contains NaN or Inf values")
        return jnd

    def _check(self, y: np.ndarray, h: int, w: int) -> np.ndarray:
        if y.ndim != 4 or y.shape[0] != 1 or y.shape[1:3] != (h, w) or y.shape[3] != 3:
            raise ValueError(
                f"{self.name}: the network returned shape {y.shape} for a {h}x{w} image; an "
                f"image-output model must return (1, {h}, {w}, 3)"
            )
        return y[0]

    def _se_split(self):
        """``(model of the SE layers' inputs, network with fixed SE means, their layers)``;
        ``(None, model, [])`` when the network has no SE layer (built once, weights shared)."""
        if self._split is not None:
            return self._split
        import keras

        found = [layer for layer in self.model.layers if _is_channel_attention(layer)]
        if not found:
            self._split = (None, self._call, [])
            return self._split
        fixed = {id(layer): _FixedChannelAttention.make(layer) for layer in found}

        def clone(layer):
            return fixed.get(id(layer), layer)  # every other layer: shared weights

        copy = keras.models.clone_model(self.model, clone_function=clone)
        stat_model = keras.Model(self.model.inputs[0], [layer.input for layer in found])
        layers = [fixed[id(layer)] for layer in found]
        self._split = (_graph_call(stat_model), _graph_call(copy), layers)
        return self._split

    def __repr__(self) -> str:
        return (
            f"ImageOutputJnd({self.name!r}, source={str(self.source)!r}, "
            f"spec={self.spec.name!r}, providers from {self.providers_from})"
        )


def _is_channel_attention(layer) -> bool:
    """An SE layer (hmJND-Net's ChannelAttention: weights w1, b1, w2, b2 on the GAP)."""
    return type(layer).__name__ == "ChannelAttention" and all(
        hasattr(layer, n) for n in ("w1", "b1", "w2", "b2")
    )


class _FixedChannelAttention:
    """Builds the stand-in for an SE layer with its global average fixed (a non-trainable
    weight set before each image), sharing the SE layer's fully connected weights."""

    @staticmethod
    def make(source):
        import keras
        from keras import ops

        class FixedChannelAttention(keras.layers.Layer):
            def build(self, input_shape):
                self.mean = self.add_weight(
                    shape=(input_shape[-1],), initializer="zeros", trainable=False, name="mean"
                )

            def call(self, x):
                z = ops.expand_dims(ops.cast(self.mean, x.dtype), 0)
                s = ops.relu(ops.matmul(z, source.w1) + source.b1)
                s = ops.sigmoid(ops.matmul(s, source.w2) + source.b2)
                return x * s[:, None, None, :]

        return FixedChannelAttention(name=source.name)


def _tiled_means(x, stat_model, tile, margin, blend, align, progress) -> list[np.ndarray]:
    """Per-channel means over the whole image of each output of `stat_model`, tile by tile:
    each tile adds the part it owns (overlaps split in the middle, ``margin + blend / 2`` px
    from its edges), so every pixel counts once (`stat_model`: numpy in, numpy out)."""
    from jndtf.tiling import tile_starts

    h, w = x.shape[:2]
    overlap = 2 * margin + blend
    ys, xs = tile_starts(h, tile, overlap, align), tile_starts(w, tile, overlap, align)

    def owned(spans):
        cuts = [0] + [(spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)] + [None]
        return [(cuts[i], cuts[i + 1]) for i in range(len(spans))]

    total, done, acc = len(ys) * len(xs), 0, None
    for (y0, y1), (oy0, oy1) in zip(ys, owned(ys), strict=True):
        for (x0, x1), (ox0, ox1) in zip(xs, owned(xs), strict=True):
            outs = stat_model(x[None, y0:y1, x0:x1])
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            oy1_, ox1_ = (y1 if oy1 is None else oy1), (x1 if ox1 is None else ox1)
            sums = [
                np.asarray(o)[0][oy0 - y0 : oy1_ - y0, ox0 - x0 : ox1_ - x0].sum(
                    axis=(0, 1), dtype=np.float64
                )
                for o in outs
            ]
            acc = sums if acc is None else [a + s for a, s in zip(acc, sums, strict=True)]
            done += 1
            if progress is not None:
                progress(done, total)
    return [a / float(h * w) for a in acc]


def load_image_model(ref: str | os.PathLike | ModelRef, *, name: str | None = None):
    """Loads an image-output model (hmJND-Net) as ``fn(image) -> |I - I_rr|``.

    `ref`: a registered name (the shipped ``jndtf/weights/<family>/<name>.keras``,
    :func:`shipped_weights`), ``SPEC:PATH`` or a ``.keras`` path whose manifest names the
    family's preset. The modality providers are rebuilt from the manifest
    (:func:`providers_from_manifest`).

    Raises:
        FileNotFoundError: no shipped weights, a missing file or a missing provider network.
        ValueError: not an image-output model, a manifest naming an unknown model/family or
            another family than SPEC, an unloadable file or a network of the wrong shape;
            every message names the file.
    """
    from jndtf._deps import require

    if not isinstance(ref, ModelRef):
        ref = resolve_model(ref, runtime="keras", learned=True)
    spec = image_output_spec(ref)
    if spec is None:
        raise ValueError(
            f"{ref.text}: not an image-output model (registered ones: output_kind in "
            f"{IMAGE_OUTPUT_KINDS}); name its preset as SPEC:PATH"
        )
    path = ref.path
    if path is None and ref.kind == "family":
        path = shipped_weights(ref.name)
    if path is None:
        path = ref.model_path()  # FileNotFoundError: registered, no shipped weights
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file (the path does not exist)")
    if path.suffix != ".keras":
        raise ValueError(f"{path}: learned models are read from .keras files")
    manifest = read_source_manifest(path)
    recorded = manifest_spec(path, manifest)
    if recorded is not None and recorded.family != spec.family:
        raise ValueError(
            f"{path}: its manifest says family {recorded.family!r} ({recorded.name}), but it "
            f"was given as {spec.name!r} (family {spec.family!r})"
        )
    unknown = [m for m in spec.modalities if m != "rgb" and m not in _PROVIDER_KINDS]
    if unknown:
        raise ValueError(f"{spec.name!r}: no modality provider builds {unknown}")
    kinds = [_PROVIDER_KINDS[m] for m in spec.modalities if m != "rgb"]
    providers, source = providers_from_manifest(path, manifest, kinds)

    keras = require("keras", "evaluating learned JND models")
    _register_custom_layers()
    module = f"jndtf.models.{spec.family}.network"
    if importlib.util.find_spec(module) is not None:
        importlib.import_module(module)  # the family's layers (hmJND-Net keeps them there)
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot load the Keras model ({err})") from err
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != spec.input_channels:
        raise ValueError(
            f"{path}: the network takes input {shape}, but {spec.name!r} builds "
            f"{spec.input_channels} channels ({', '.join(spec.modalities)}); give the matching "
            "registered model as SPEC:PATH"
        )
    label = name or ref.label
    return ImageOutputJnd(model, spec, providers, name=label, source=path, providers_from=source)


__all__ = [
    "IMAGE_OUTPUT_KINDS",
    "IMAGE_TILE",
    "WEIGHTS_ROOT",
    "ImageOutputJnd",
    "LearnedJnd",
    "image_output_spec",
    "load_image_model",
    "load_learned",
    "looks_like_path",
    "manifest_spec",
    "provider_from_record",
    "providers_from_manifest",
    "shipped_weights",
]
