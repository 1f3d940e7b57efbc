"""Generic part of the QAT hand-over: a Keras 3 model's weights as numpy arrays keyed by layer
name (:func:`weights_of`), which the worker loads into the family's ``tf_keras`` rebuild.

The architecture description is the family's ``qat_describe`` export hook
(:class:`jndtf.models.registry.ExportHooks`); ACoL-JND's :func:`describe_acol` lives in
:mod:`jndtf.models.acol.qat_describe` and is re-exported here for old imports.

No TensorFlow import here.

Example:
    >>> weights = weights_of(learned.model)   # {"cnn1_conv1/0": kernel, "cnn1_conv1/1": bias, ...}
"""

from __future__ import annotations

import numpy as np

from jndtf.models.acol.qat_describe import (  # noqa: F401 (the old import path)
    OTHER_LAYERS,
    STACKS,
    NotAnAcolNetwork,
    describe_acol,
)


def weights_of(model) -> dict[str, np.ndarray]:
    """Every weight of `model` as float32 numpy, keyed ``"<layer name>/<index>"`` (index in
    ``layer.get_weights()`` order: kernel 0, bias 1), the form the worker loads by name."""
    out = {}
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            out[f"{layer.name}/{i}"] = np.asarray(w, np.float32)
    return out


__all__ = ["weights_of"]
