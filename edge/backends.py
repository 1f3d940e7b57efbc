"""The two kinds of JND model the edge runtime runs, behind one two-step interface.

Each backend turns a uint8 RGB frame, already resized to its inference size, into a float32
``hxwxC`` JND map in pixel units 0..255, in two steps so the runtime can run step 1 of frame
t+1 while step 2 of frame t runs (priors and inference in parallel threads):

1. :meth:`prepare`: the network input (for a ``.tflite`` model: RGB + prior maps, built by the
   same :func:`jndtf.models.inputs.model_input` as training and evaluation, so the runtime sees
   identical inputs);
2. :meth:`infer`: the map.

- :class:`TFLiteJnd`: an exported learned model (ACoL-JND ...), checked against its manifest
  (:func:`jndtf.edge.manifest.read_model_spec`); a learned prior net the manifest names (a
  trained saliency ``.tflite`` for f_va) is loaded and sha256-checked too.
- :class:`ClassicalJnd`: a training-free model of :mod:`jndtf.baselines` (``"wu2017"`` ...):
  step 1 passes the frame through, step 2 computes the whole model.

Example:
    >>> b = TFLiteJnd("acol-tflite-fp32.tflite", num_threads=2)
    >>> jnd = b.infer(b.prepare(frame))        # (H, W, 3) float32, pixel units
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from jndtf.edge.interpreter import LiteRTModel
from jndtf.edge.manifest import check_io, read_model_spec


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
        self.spec = read_model_spec(path)
        self.manifest = self.spec.manifest
        self.name = str(self.manifest.get("model_name") or self.spec.path.stem)
        self.input_size = self.spec.input_size
        self.overrides = _load_overrides(self.spec, num_threads)
        self.model = LiteRTModel(self.spec.path, num_threads=num_threads)
        check_io(self.spec, self.model)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        from jndtf.models.inputs import model_input

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
    :func:`jndtf.export.manifest.verify` in :func:`jndtf.edge.manifest.read_model_spec`)."""
    from jndtf.models.saliency_prior import SaliencyPrior

    # max_side exactly as recorded (None: full resolution), as jndtf.evaluate.learned does.
    return {
        rec.name: SaliencyPrior(
            rec.path, max_side=rec.max_side, rescale=rec.rescale, num_threads=num_threads
        )
        for rec in spec.prior_overrides
    }


#: Learned models shipped as edge exports: ``jndtf/weights/NAME/edge/NAME-tflite-int8.tflite``
#: (made by ``jndtf export NAME --int8 --size 320x180 -o jndtf/weights/NAME/edge``).
SHIPPED_FORMAT = "tflite-int8"


def shipped_edge_model(name: str) -> Path | None:
    """The shipped edge export of learned model `name` (``"acol"``), or None when none ships."""
    import jndtf

    if not isinstance(name, str) or not name.isidentifier():
        return None
    path = (
        Path(jndtf.__file__).parent / "weights" / name / "edge" / f"{name}-{SHIPPED_FORMAT}.tflite"
    )
    return path if path.is_file() else None


def load_backend(model, num_threads: int = 1):
    """The backend for a model reference: a classical name of :func:`jndtf.baselines.available`,
    the name of a learned model shipped as an edge export (:func:`shipped_edge_model`: ``"acol"``,
    int8 at 320x180) or a ``.tflite`` path.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: neither a known name nor a model file (the message lists both kinds).
    """
    from jndtf import baselines

    if isinstance(model, str) and model in baselines.available():
        return ClassicalJnd(model)
    shipped = shipped_edge_model(model) if isinstance(model, str) else None
    if shipped is not None:
        return TFLiteJnd(shipped, num_threads=num_threads)
    path = Path(model)
    if path.is_file() or path.suffix:
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        return TFLiteJnd(path, num_threads=num_threads)
    raise ValueError(
        f"unknown model {model!r}: give 'acol' (shipped int8 export), an exported .tflite "
        "(any learned model: jndtf export MODEL --int8) or a classical model: "
        + ", ".join(baselines.available())
    )


__all__ = ["ClassicalJnd", "TFLiteJnd", "load_backend", "shipped_edge_model"]
