"""Generic part of the ``tf_keras`` rebuild in the QAT worker: trained weights copied by layer
name (:func:`load_weights`). A family's own rebuild lives in its folder and is named by its
``qat_rebuild`` export hook (:class:`jndtf.models.registry.ExportHooks`); ACoL-JND's is
:mod:`jndtf.models.acol.qat_rebuild`, re-exported here for old imports.

Imports ``tf_keras``: the QAT worker process only.

Example:
    >>> load_weights(model, weights)                    # weights = weights_of(keras3_model)
"""

from __future__ import annotations

import numpy as np
import tf_keras

from jndtf.models.acol.qat_rebuild import (  # noqa: F401 (the old import path)
    CUSTOM_LAYERS,
    Erase,
    JndOutput,
    MeanThresholdMask,
    ResizeLike,
    build_tf_keras_acol,
)


def _inner(layer):
    """The wrapped layer of a tfmot annotation/quantize wrapper, else the layer itself."""
    return getattr(layer, "layer", layer)


def load_weights(model: tf_keras.Model, weights: dict[str, np.ndarray]) -> int:
    """Copies ``"<layer>/<index>"`` arrays into the layers of the same name.

    Works on the plain rebuild and on a tfmot-annotated one (the weights of a wrapper's inner
    layer). Every array must be used and every weighted layer filled.

    Returns:
        The number of arrays copied.

    Raises:
        ValueError: a missing or unused array, or a shape that differs (named).
    """
    used = set()
    for layer in model.layers:
        inner = _inner(layer)
        current = inner.get_weights()
        if not current:
            continue
        new = []
        for i, w in enumerate(current):
            key = f"{inner.name}/{i}"
            if key not in weights:
                raise ValueError(f"no trained weight {key} for the rebuilt layer {inner.name}")
            if tuple(weights[key].shape) != tuple(w.shape):
                raise ValueError(
                    f"weight {key}: trained shape {weights[key].shape}, rebuilt {w.shape}"
                )
            new.append(weights[key])
            used.add(key)
        inner.set_weights(new)
    unused = sorted(set(weights) - used)
    if unused:
        raise ValueError(f"trained weights with no rebuilt layer: {unused[:5]}")
    return len(used)


__all__ = ["load_weights"]
