"""A user's own modality network (saliency, depth, segmentation) from a ``.keras`` file.

The providers live in the core (:mod:`jndtf.priors.modalities`), which never imports Keras: it
checks a ``.keras`` file without Keras (no Lambda layers, no pickled content) and then calls the
loader it is given. This module is that loader, with Keras' own ``safe_mode=True``, so a
training or evaluation run plugs a user network in with one call; a ``.tflite`` file or the
classical default needs nothing from here (the edge runtime loads those without TensorFlow).

Example:
    >>> provider = modality_provider("depth", "my_depth.keras")  # doctest: +SKIP
    >>> provider(image).shape  # doctest: +SKIP
    (360, 640)
"""

from __future__ import annotations

import os
from pathlib import Path


def safe_load_keras(path: str | os.PathLike):
    """``keras.saving.load_model(path, compile=False, safe_mode=True)``: Keras refuses a Lambda
    layer's code here too (the core's check before it names the layer and the file)."""
    import keras

    return keras.saving.load_model(Path(path), compile=False, safe_mode=True)


def modality_provider(kind: str, spec="classical", **options):
    """:func:`jndtf.priors.modalities.get_provider`, with :func:`safe_load_keras` as the
    loader of a ``.keras`` `spec` (unless `options` give another)."""
    from jndtf.priors.modalities import get_provider

    if isinstance(spec, str | os.PathLike) and Path(spec).suffix == ".keras":
        options.setdefault("keras_loader", safe_load_keras)
    return get_provider(kind, spec, **options)


__all__ = ["modality_provider", "safe_load_keras"]
