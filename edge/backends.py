"""The two kinds of JND model the edge runtime runs, behind one two-step interface.

Each backend turns a uint8 RGB frame, already resized to its inference size, into a float32
``hxwxC`` JND map in pixel units 0..255, in two steps so the runtime can run step 1 of frame
t+1 while step 2 of frame t runs (priors and inference in parallel threads):

1. :meth:`prepare`: the network input (for a ``.tflite`` model: RGB + prior maps, built by the
   same :func:`jndtf.priors.inputs.model_input` as training and evaluation, so the runtime sees
   identical inputs);
2. :meth:`infer`: the map.

- :class:`TFLiteJnd`: an exported learned model (ACoL-JND ...), checked against its manifest
  (:func:`jndtf.manifest.read_deploy_spec`); a learned prior net the manifest names (a
  trained saliency ``.tflite`` for f_va) is loaded and sha256-checked too.
- :class:`TFLiteRedundancyJnd`: an exported network that outputs the redundancy-removed image
  I_rr (hmJND-Net, manifest ``outputs.kind == "image"``): step 1 builds RGB / 255 and the
  modality maps with the providers the manifest records, rebuilt by
  :func:`jndtf.edge.manifest.rebuild_providers` (the same :mod:`jndtf.priors.modalities` code as
  training and export); step 2 runs the network and returns JND = ``|I - I_rr|`` per channel
  (Sec. 4.1 of Xie et al., AAAI 2023: the visibility threshold), so everything downstream of a
  JND map (stream, preview, pre-processing) works unchanged.
- :class:`ClassicalJnd`: a training-free model of :mod:`jndtf.baselines` (``"wu2017"`` ...):
  step 1 passes the frame through, step 2 computes the whole model.

Sizes: a fixed-size export runs at its size (the runtime resizes the frame, and the map back);
a dynamic-size hmJND-Net export takes any H, W as it is: its window attention pads Q, K, V to
multiples of the window inside the network and crops back (jndtf.models.hmjnd.network), which
the LiteRT conversion keeps, so the edge pads nothing.

Example:
    >>> b = TFLiteJnd("acol-tflite-fp32.tflite", num_threads=2)
    >>> jnd = b.infer(b.prepare(frame))        # (H, W, 3) float32, pixel units
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from jndtf.edge.interpreter import LiteRTModel
from jndtf.edge.manifest import IMAGE_KIND, output_kind, read_modality_spec, rebuild_providers

from jndtf.manifest import check_io, read_deploy_spec


class ClassicalJnd:
    """A classical JND model of :mod:`jndtf.baselines` by name (luma map, C = 1).

    Raises:
        KeyError: an unknown name (the message lists the available ones).
    """

    def __init__(self, name: str):
        from jndtf import baselines

        self.fn = baselines.get(name)
        self.name = name
        self.input_size = None
        self.manifest = {
            "model_name": name,
            "backend": "classical",
            "implementation": f"jndtf.baselines.get({name!r})",
            "input_size": {"policy": "dynamic", "height": None, "width": None},
            "inputs": {"channels": 3, "priors": []},
            "outputs": {"channels": 1, "jnd_units": "pixel values 0..255"},
        }

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return image

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(x), np.float32)

    def close(self) -> None:
        pass


class _ImageInput:
    """Step 1's result for an image-output model: the network input and the frame it came from
    (the I of ``|I - I_rr|``)."""

    __slots__ = ("image", "x")

    def __init__(self, x: np.ndarray, image: np.ndarray):
        self.x = x
        self.image = image


class TFLiteRedundancyJnd:
    """An exported network that outputs the redundancy-removed image I_rr (hmJND-Net).

    ``prepare(frame)``: the input ``(1, h, w, C)`` float32 in the manifest's channel order,
    RGB / 255 then each modality map (0..1) from its rebuilt provider;
    ``infer(...)``: JND = ``|I - I_rr|``, float32 ``hxwx3``, pixel units 0..255 (Sec. 4.1 of
    Xie, Wang et al., AAAI 2023).

    Args:
        path: the ``.tflite`` file (its manifest beside it; a ``.tflite`` provider network too).
        num_threads: LiteRT threads (also used by provider networks).

    Raises:
        ValueError: manifest missing/malformed/mismatched (sha256), a channel or provider the
            edge cannot build (a Keras provider names what to do), or a model that does not fit
            its manifest.
        FileNotFoundError: a provider network named by the manifest is missing.
        ImportError: no LiteRT interpreter (names ``pip install "jndtf[edge]"``).

    Example:
        >>> b = TFLiteRedundancyJnd("hmjnd_tiny-tflite-int8.tflite")
        >>> jnd = b.infer(b.prepare(frame))        # (H, W, 3) float32 = |frame - I_rr|
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int = 1):
        self.spec = read_modality_spec(path)
        self.manifest = self.spec.manifest
        self.name = str(self.manifest.get("model_name") or self.spec.path.stem)
        self.input_size = self.spec.input_size
        self.providers = rebuild_providers(self.spec, num_threads=num_threads)
        try:
            self.model = LiteRTModel(self.spec.path, num_threads=num_threads)
            check_io(self.spec, self.model)
        except BaseException:
            self._close_providers()
            raise

    def prepare(self, image: np.ndarray) -> _ImageInput:
        from jndtf.priors.modalities import modality_stack

        rgb = np.asarray(image)
        h, w = rgb.shape[:2]
        x = np.empty((1, h, w, self.spec.channels), np.float32)
        # float32 division, as jndtf.models.hmjnd.inputs.hmjnd_input builds training inputs
        np.divide(rgb, np.float32(self.spec.rgb_divisor), out=x[0, ..., :3])
        if self.spec.kinds:
            x[0, ..., 3:] = modality_stack(rgb, self.providers, kinds=self.spec.kinds)
        return _ImageInput(x, rgb)

    def infer(self, inp: _ImageInput) -> np.ndarray:
        y = self.model.run(inp.x)
        h, w = inp.x.shape[1:3]
        if y.shape != (1, h, w, 3):
            raise ValueError(
                f"{self.spec.path.name} returned {y.shape} for a {h}x{w} input; expected "
                f"(1, {h}, {w}, 3) (the redundancy-removed image)"
            )
        # I_rr is 0..255 by the network's θ normalization; an int8 output may step past it
        jnd = np.abs(inp.image.astype(np.float32) - y[0])
        return np.minimum(jnd, np.float32(255.0), out=jnd)

    def _close_providers(self) -> None:
        for p in self.providers:
            getattr(p, "close", lambda: None)()

    def close(self) -> None:
        self.model.close()
        self._close_providers()


class TFLiteJnd:
    """An exported learned JND model (``.tflite`` + manifest).

    Args:
        path: the ``.tflite`` file (its manifest beside it).
        num_threads: LiteRT threads (also used by a learned prior net).

    Raises:
        ValueError: manifest missing/malformed/mismatched (sha256), or a model that does not
            fit its manifest; a learned prior net whose sha256 differs from the manifest's
            (checked before it loads).
        FileNotFoundError: a learned prior net named by the manifest is missing.
        ImportError: no LiteRT interpreter (names ``pip install "jndtf[edge]"``).
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int = 1):
        self.spec = read_deploy_spec(path)
        if self.spec.output_kind != "jnd_map":
            raise ValueError(
                f"{self.spec.path}: its manifest says the network outputs a "
                f"{self.spec.output_kind!r} map, not a JND map; give the edge runtime an exported "
                "JND model (jndtf export MODEL --int8), a redundancy-removed-image model "
                "(hmJND-Net) or a classical model name"
            )
        self.manifest = self.spec.manifest
        self.name = str(self.manifest.get("model_name") or self.spec.path.stem)
        self.input_size = self.spec.input_size
        self.overrides = _load_overrides(self.spec, num_threads)
        self.model = LiteRTModel(self.spec.path, num_threads=num_threads)
        check_io(self.spec, self.model)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        from jndtf.priors.inputs import model_input

        x = model_input(
            image, self.spec.priors, normalization=self.spec.normalization, overrides=self.overrides
        )
        return x[None]

    def infer(self, x: np.ndarray) -> np.ndarray:
        y = self.model.run(x)
        h, w = x.shape[1:3]
        if y.shape != (1, h, w, self.spec.output_channels):
            raise ValueError(
                f"{self.spec.path.name} returned {y.shape} for a {h}x{w} input; expected "
                f"(1, {h}, {w}, {self.spec.output_channels})"
            )
        return y[0]

    def close(self) -> None:
        self.model.close()
        for prior in self.overrides.values():
            prior.close()


def _load_overrides(spec, num_threads: int) -> dict:
    """The learned prior nets of the manifest (their sha256 already checked by
    :func:`jndtf.manifest.verify` in :func:`jndtf.manifest.read_deploy_spec`)."""
    from jndtf.priors.learned import SaliencyPrior

    # max_side exactly as recorded (None: full resolution), as jndtf.evaluate.learned does.
    return {
        rec.name: SaliencyPrior(
            rec.path, max_side=rec.max_side, rescale=rec.rescale, num_threads=num_threads
        )
        for rec in spec.prior_overrides
    }


def shipped_edge_model(name: str) -> Path | None:
    """The shipped edge export of learned model `name` (``"acol"``: its int8 ``.tflite``), or
    None when none ships (:func:`jndtf.refs.shipped_models`, ``runtime="litert"``)."""
    from jndtf.refs import shipped_models

    return shipped_models("litert").get(name) if isinstance(name, str) else None


def fixed_input_size(model) -> tuple[int, int] | None:
    """``(H, W)`` a model reference was exported at, read from its manifest without opening
    the model (no interpreter, no sha256: the backend checks those when it opens), or None
    for a dynamic export, a classical model or a file whose manifest cannot be read (opening
    it then says why)."""
    from jndtf.refs import ModelRef, resolve_model

    ref = model if isinstance(model, ModelRef) else resolve_model(model, runtime="litert")
    if ref.kind not in ("shipped", "tflite") or ref.path is None:
        return None
    try:
        size = ref.read_manifest().get("input_size") or {}
        if size.get("policy") == "fixed":
            return int(size["height"]), int(size["width"])
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def load_backend(model, num_threads: int = 1):
    """The backend for a model reference, as :func:`jndtf.refs.resolve_model` reads it with
    ``runtime="litert"``: a classical name of :func:`jndtf.baselines.available`, a shipped name
    (``"acol"``: its int8 export at 320x180, :func:`shipped_edge_model`) or a ``.tflite`` path
    (:class:`TFLiteRedundancyJnd` when its manifest's ``outputs.kind`` is ``"image"``, else
    :class:`TFLiteJnd`).

    Raises:
        FileNotFoundError: a missing file.
        ValueError: neither a known name nor a model file (the message lists both kinds), or
            ``uniform`` (the evaluation's control, no JND model to stream).
    """
    from jndtf.refs import ModelRef, resolve_model

    ref = model if isinstance(model, ModelRef) else resolve_model(model, runtime="litert")
    if ref.kind == "classical":
        return ClassicalJnd(ref.name)
    if ref.kind == "control":
        raise ValueError(
            f"{ref.text!r} is the evaluation's control (jndtf eval), not a JND model to run "
            "on frames; give a shipped name, an exported .tflite or a classical model"
        )
    path = ref.path
    if path is None or not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if output_kind(path) == IMAGE_KIND:
        return TFLiteRedundancyJnd(path, num_threads=num_threads)
    return TFLiteJnd(path, num_threads=num_threads)


__all__ = [
    "ClassicalJnd",
    "TFLiteJnd",
    "TFLiteRedundancyJnd",
    "fixed_input_size",
    "load_backend",
    "shipped_edge_model",
]
