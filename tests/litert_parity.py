"""One LiteRT-vs-Keras comparison for every test of a dynamic-shape .tflite export."""

from __future__ import annotations

import numpy as np


def dynamic_parity(interp, keras_model, sizes, make_input, out_channels: int, atol: float):
    """Resizes the interpreter's input to each (h, w), runs both models on ``make_input(h, w)``,
    asserts equal shapes ``(1, h, w, out_channels)`` and values within `atol`; returns the max
    abs difference per size."""
    detail = interp.get_input_details()[0]
    diffs = {}
    for h, w in sizes:
        x = make_input(h, w)
        interp.resize_tensor_input(detail["index"], [1, h, w, x.shape[-1]])
        interp.allocate_tensors()
        interp.set_tensor(detail["index"], x)
        interp.invoke()
        got = interp.get_tensor(interp.get_output_details()[0]["index"])
        want = np.asarray(keras_model(x))
        assert got.shape == want.shape == (1, h, w, out_channels)
        diffs[(h, w)] = float(np.abs(got - want).max())
        np.testing.assert_allclose(got, want, atol=atol, rtol=0, err_msg=f"{h}x{w}")
    return diffs
