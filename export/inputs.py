"""The network input of an export, built by the family's own input builder (its ``ModelSpec``).

Calibration (int8), parity and the manifest all take the input from
:meth:`jndtf.models.registry.ModelSpec.make_input`, so a family whose input is not RGB + HVS
priors exports as it trains:

- **RGB + priors** (ACoL-JND, the default builder :func:`jndtf.priors.inputs.model_input`):
  as before, with the learned prior nets the model was trained with (``prior_overrides``);
- **RGB only** (the CAM classifiers, the saliency net): the same builder with no priors;
- **RGB + modality maps** (hmJND-Net's ``saliency_map``, ``depth``, ``segmentation``): the maps
  come from the modality providers of :mod:`jndtf.priors.modalities` (the classical defaults
  unless `providers` names others), on the whole image; the manifest records each provider's
  ``describe()`` (:func:`~jndtf.priors.modalities.describe_stack`) so the edge runtime can
  rebuild them;
- **RGB + merged CAM** (DMV-JND-NET's ``cam``): only the E-D is exported (4-channel input). The
  CAM is eq. (2) of Jin et al. computed with real CAM classifiers (:class:`CamSource`): each
  classifier's own top-1 class on the whole image (the ``l_n`` of eq. (6), as training's
  :func:`jndtf.train.dmv.loop.merged_cams`), its CAM upsampled to the image and min-max
  normalized, then the mean. Which classifiers: those given (`classifiers`: the run folder of
  ``jndtf train classifiers`` or ``.keras`` files, e.g. the one classifier the deployment
  runs), else the folder the DMV model's own manifest says it was trained through; without
  either the export stops and says what to pass. Untrained classifiers are accepted (their
  CAMs still span [0, 1] after normalization, which is all int8 calibration needs of that
  channel) and the manifest records the files and their sha256.

A family whose input needs a modality this module does not know is refused with a message that
names it.

**hmJND-Net in int8.** Its output is I_rr = 255·clip(I/255 + residual): every error of the
residual is multiplied by 255, so int8 is judged against a residual of a few grey levels (the
tests scale an untrained ``hmjnd_tiny``'s Reshape conv by 0.01: mean |I_rr - I| 2-6 grey
levels; an untrained net's residual saturates I_rr at 0 or 255, where parity means nothing).
Measured at 32x32, 16 calibration crops, 3 held-back crops of ``motorcycle_left``, I_rr PSNR
against Keras (peak 255): fp32 160 dB; all-int8 (float head) 40.3 dB (mean error 2.2 grey
levels: most of the residual); STA blocks in float 65.8 dB (file 173 kB instead of 131 kB);
only the STA blocks' layer norms in float 59.6 dB (128 kB); their MLPs 55.7 dB; Q/K/V/attention/
projection 40.1 dB (no gain). So the family's ``ExportHooks.float_layers`` keeps the layer norms
(``sta*_norm_q/kv/mlp``) in float: their mean/variance/rsqrt ops have almost no MACs.

Above 64x48 and with ``--dynamic --int8`` the export used to stop at LiteRT's allocate with
"failed to create XNNPACK runtime": tensors constant over the calibration set (an SE hidden
ReLU no crop activates, ``hmpf_se_sub``; a branch fed by a flat modality; in a dynamic graph the
window attention's padding-mask ops, all 0 at the 176x176 calibration size) got an empty range,
a scale of ~1e-8, and XNNPACK refuses an int8 ADD/MUL with such an input/output scale ratio.
:func:`jndtf.export.tflite.widen_degenerate_ranges` widens them (the manifest's
``quantization.widened_ranges``), and a dynamic export calibrates on one extra input of an odd
size so the padding mask keeps its range. Measured with a tiny model trained on real photos
(32 crops of ``--calib-data`` photos, parity on 2 held-back crops, I_rr PSNR vs Keras):
``--int8 --size 640x360`` 53.6 dB (max error 4.3 grey levels), 3.81 MB, of which 3.69 MB is the
constant-folded shifted-window mask (14400 windows x 16 x 16, int8); ``--dynamic --int8``
53.3 dB at 176x176, 196 kB; run at 640x360 52-55 dB, at 70x102 (padding) 50-57 dB (before the
odd-size input: 45-49 dB there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Registry modality -> provider kind of :mod:`jndtf.priors.modalities`.
PROVIDER_KINDS = {"saliency_map": "saliency", "depth": "depth", "segmentation": "segmentation"}

#: How the CAM channel is made, in words (the manifest's ``inputs.cam.method``).
CAM_METHOD = (
    "eq. (2) of Jin et al.: the mean over the classifiers of each one's class activation map "
    "(Zhou et al. 2016) for its own top-1 class on the whole image, upsampled bilinearly "
    "(half-pixel centers) to the image and min-max normalized to [0, 1] per classifier "
    "(jndtf.models.classifiers.cam); then cropped with the image"
)

#: The default input builder's modalities (RGB + HVS priors): no extra channel records.
_DEFAULT_MODALITIES = {"rgb", "priors"}


@dataclass
class FamilyModel:
    """A Keras network whose input is built by its family's own builder (what
    :class:`jndtf.evaluate.learned.LearnedJnd` is to RGB + priors): the attributes
    :func:`jndtf.export.export_model` reads."""

    model: object
    name: str
    source: Path | None = None
    priors: tuple[str, ...] = ()
    normalization: str = "unit"
    prior_overrides: dict = field(default_factory=dict)


def uses_family_builder(spec) -> bool:
    """True when `spec`'s input is not the default RGB + priors builder (the model cannot be
    wrapped as a :class:`~jndtf.evaluate.learned.LearnedJnd`)."""
    from jndtf.models.registry import DEFAULT_INPUT_BUILDER

    return spec is not None and spec.input_builder != DEFAULT_INPUT_BUILDER


def _register_layers(family: str) -> None:
    """Makes ``load_model`` find every family's registered layers, and `family`'s own ones
    kept in its ``network.py`` (hmJND-Net's, the CAM classifiers')."""
    import importlib
    import importlib.util

    from jndtf.evaluate.learned import _register_custom_layers

    _register_custom_layers()
    module = f"jndtf.models.{family}.network"
    if importlib.util.find_spec(module) is not None:
        importlib.import_module(module)


def load_family_model(path: Path, spec, name: str | None = None) -> FamilyModel:
    """Loads the ``.keras`` at `path` for a family with its own input builder.

    Raises:
        ValueError: an unloadable file, or a network whose input channels differ from the
            spec's (the message names both).
    """
    from jndtf._deps import require

    keras = require("keras", "exporting learned models")
    _register_layers(spec.family)
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot load the Keras model ({err})") from err
    channels = model.inputs[0].shape[-1]
    if channels != spec.input_channels:
        raise ValueError(
            f"{path}: the network takes {channels} input channels, but {spec.name!r} builds "
            f"{spec.input_channels} ({', '.join(spec.modalities)}); give the matching registered "
            "model as SPEC:PATH"
        )
    return FamilyModel(model, name or path.stem, source=path, normalization=spec.normalization)


# --------------------------------------------------------------------------- CAM classifiers


def _is_cam_classifier(model) -> bool:
    from jndtf.models.classifiers.network import CAM_FEATURES, HEAD

    names = {layer.name for layer in model.layers}
    return CAM_FEATURES in names and HEAD in names


def _class_names(path: Path) -> list[str] | None:
    """Class names recorded for a classifier ``.keras`` (its own manifest, or the
    ``classifiers.json`` of its ``jndtf train classifiers`` run folder); None when unrecorded."""
    from jndtf.manifest import read_source_manifest

    for m in (read_source_manifest(path), _read_json(path.parent / "classifiers.json")):
        names = (m or {}).get("class_names")
        if isinstance(names, list) and names:
            return [str(n) for n in names]
    return None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _classifier_paths(item) -> list[tuple[Path, str | None]]:
    """``(path, preset)`` of the ``.keras`` files one `classifiers` entry names."""
    from jndtf.refs import resolve_model

    text = os.fspath(item)
    path = Path(text)
    if path.is_dir():
        from jndtf.train.dmv.config import CLASSIFIER_ARCHS

        missing = [a for a in CLASSIFIER_ARCHS if not (path / f"{a}.keras").is_file()]
        if missing:
            raise FileNotFoundError(
                f"--classifiers {path}: missing {', '.join(a + '.keras' for a in missing)} (a "
                f"`jndtf train classifiers` run holds {', '.join(CLASSIFIER_ARCHS)}); or name "
                "the .keras files of the classifiers to take the CAM from"
            )
        recorded = _read_json(path / "classifiers.json").get("classifiers") or {}
        return [
            (path / f"{a}.keras", (recorded.get(a) or {}).get("preset")) for a in CLASSIFIER_ARCHS
        ]
    ref = resolve_model(text, runtime="keras", learned=True)  # names the accepted forms
    return [(ref.model_path(), ref.preset)]  # FileNotFoundError: no such file / weights


@dataclass
class CamSource:
    """The merged CAM map c of an image from real CAM classifiers (module docstring)."""

    models: list
    files: list[dict]

    @classmethod
    def load(cls, classifiers) -> CamSource:
        """From a folder, a ``.keras`` path (``PRESET:PATH`` too), a registered classifier
        with shipped weights, or a list of those.

        Raises:
            FileNotFoundError: a missing folder, file or one of a run's four classifiers.
            ValueError: a model that is not a CAM classifier (no ``cam_features``/``head``).
        """
        import keras

        from jndtf.io import file_sha256

        items = [classifiers] if isinstance(classifiers, (str, os.PathLike)) else list(classifiers)
        if not items:
            raise ValueError("classifiers is empty: name at least one CAM classifier")
        _register_layers("classifiers")
        models, files = [], []
        for item in items:
            for path, preset in _classifier_paths(item):
                try:
                    model = keras.saving.load_model(path, compile=False)
                except (OSError, ValueError, TypeError) as err:
                    raise ValueError(f"--classifiers {path}: cannot load it ({err})") from err
                if not _is_cam_classifier(model):
                    raise ValueError(
                        f"--classifiers {path}: not a CAM classifier (it needs the layers "
                        "'cam_features' and 'head' of jndtf.models.classifiers."
                        "build_cam_classifier)"
                    )
                models.append(model)
                files.append({"file": str(path), "sha256": file_sha256(path), "preset": preset})
        return cls(models, files)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` float32 merged CAM of one uint8 RGB image, in [0, 1]."""
        from jndtf.models.classifiers import cam

        x = np.asarray(image, np.float32)[None] / 255.0
        total = np.zeros(x.shape[1:3], np.float64)
        for model in self.models:
            label = int(np.argmax(np.asarray(model(x, training=False))[0]))
            total += cam(model, x, label)[0]
        return (total / len(self.models)).astype(np.float32)

    def record(self) -> dict:
        return {"method": CAM_METHOD, "classifiers": self.files}


def _cam_source(classifiers, source_manifest: dict, spec) -> CamSource:
    if classifiers is None:
        folder = (source_manifest.get("classifiers") or {}).get("folder")
        if folder and Path(folder).is_dir():
            classifiers = folder
        else:
            recorded = f" (its manifest names {folder}, which does not exist)" if folder else ""
            raise ValueError(
                f"{spec.name!r} takes the merged CAM of CAM classifiers as its 4th input "
                f"channel{recorded}: pass the classifiers to compute it with - "
                "`--classifiers DIR` (classifiers=DIR: the `jndtf train classifiers` run it was "
                "trained through) or the .keras of the classifier the deployment runs"
            )
    return CamSource.load(classifiers)


# --------------------------------------------------------------------------- the input builder


@dataclass
class ExportInputs:
    """``make_input(image) -> HxWxC`` of one export and what the manifest says about it."""

    make_input: Callable[[np.ndarray], np.ndarray]
    record: dict = field(default_factory=dict)


def channel_names(spec) -> list[str]:
    """The input channels by name, in order: ``red, green, blue``, then the prior names or the
    modality names (``saliency_map``, ``depth``, ``segmentation``, ``cam``)."""
    names = []
    for m in spec.modalities:
        if m == "rgb":
            names += ["red", "green", "blue"]
        elif m == "priors":
            names += list(spec.priors)
        else:
            names.append(m)
    return names


def export_inputs(
    learned,
    spec,
    *,
    providers: Mapping | Sequence | None = None,
    classifiers=None,
    source_manifest: dict | None = None,
) -> ExportInputs:
    """The input builder of an export of `learned` described by registry `spec` (None: an
    unregistered model, RGB + its priors).

    Args:
        learned: a :class:`~jndtf.evaluate.learned.LearnedJnd` or :class:`FamilyModel`.
        spec: its :class:`~jndtf.models.registry.ModelSpec` or None.
        providers: modality providers (what :func:`jndtf.priors.modalities.modality_stack`
            takes; None: the classical defaults) for families with modality maps.
        classifiers: the CAM classifiers for a family with a ``cam`` channel (:class:`CamSource`).
        source_manifest: the source ``.keras``'s manifest (a DMV model names its classifiers).

    Raises:
        ValueError: a modality this module cannot build, or a missing CAM source.
    """
    if spec is None or not uses_family_builder(spec):
        from jndtf.priors.inputs import model_input

        def make_input(im):
            return model_input(
                im,
                learned.priors,
                normalization=learned.normalization,
                overrides=learned.prior_overrides,
            )

        record = {}
        if spec is not None and set(spec.modalities) <= _DEFAULT_MODALITIES:
            record = {"modalities": list(spec.modalities), "channel_names": channel_names(spec)}
        return ExportInputs(make_input, record)

    known = {"rgb", "cam", *PROVIDER_KINDS}
    unknown = [m for m in spec.modalities if m not in known]
    if unknown:
        raise ValueError(
            f"{spec.name!r} takes the modalities {unknown}, which jndtf export cannot build yet "
            f"(it builds {sorted(known)})"
        )
    record = {
        "modalities": list(spec.modalities),
        "channel_names": channel_names(spec),
        "builder": f"{spec.input_builder} (ModelSpec.make_input of {spec.name!r})",
    }
    kinds = [PROVIDER_KINDS[m] for m in spec.modalities if m in PROVIDER_KINDS]
    if kinds:
        from jndtf.priors.modalities import _resolve, describe_stack

        resolved = _resolve(providers, kinds)  # ValueError: a missing/unknown provider
        record["providers"] = describe_stack(resolved, kinds=kinds)
    cams = (
        _cam_source(classifiers, source_manifest or {}, spec) if "cam" in spec.modalities else None
    )
    if cams is not None:
        record["cam"] = cams.record()
    mod_names = [m for m in spec.modalities if m in PROVIDER_KINDS]

    def make_family_input(im):
        maps = {}
        if kinds:
            from jndtf.priors.modalities import modality_stack

            stack = modality_stack(im, resolved, kinds=kinds)
            maps = {m: stack[..., i] for i, m in enumerate(mod_names)}
        if cams is not None:
            maps["cam"] = cams(im)
        return spec.make_input(im, **maps)

    record["priors_on"] = (
        "the whole image (modality maps and CAM computed on the whole frame; calibration and "
        "parity crops are cut from the input of the whole image)"
    )
    return ExportInputs(make_family_input, record)


__all__ = [
    "CAM_METHOD",
    "PROVIDER_KINDS",
    "CamSource",
    "ExportInputs",
    "FamilyModel",
    "channel_names",
    "export_inputs",
    "load_family_model",
    "uses_family_builder",
]
